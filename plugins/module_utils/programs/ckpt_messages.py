# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one check of a message a peer daemon sent over CPG, before it touches any state.

:func:`check_message` takes a decoded replication message (ckpt_protocol.decode_replication)
and returns a checked record: a new dict holding exactly the fields the store reads, each of the
type and within the range the store relies on. Anything else raises :class:`MalformedMessage`.
It is a pure function of the message: every member gets the same bytes in the same order, so
every member accepts or rejects a message alike and the replicas stay identical.

An operation (``t == "op"``) whose token is sound but whose arguments are not is rejected with
``MalformedMessage.token`` set: the store answers it INVALID_PARAM (the same on every member, no
state changed), and the sender's daemon gives that answer to its client.

Arguments a version of the store does not read are dropped, not refused: a newer daemon may add
optional ones, and every member ignores them alike.

Stdlib only: this file is installed on the nodes for the checkpoint daemon.
"""

from __future__ import annotations

# Exact types on purpose: a bool is not an integer here, nor a subclass of bytes bytes.
# pylint: disable=unidiomatic-typecheck
from typing import Any

from ..shared.ais_errors import AisError
from ..shared.ckpt_attributes import validate_attributes
from ..shared.ckpt_protocol import (
    MSG_DIGEST,
    MSG_EXPIRE,
    MSG_OP,
    MSG_QUORUM,
    MSG_SECTION_EXPIRE,
    MSG_STATE,
    MSG_STATE_PART,
    MSG_SYNC_DONE,
    OP_CLOSE,
    OP_OPEN,
    OP_RETENTION_DURATION_SET,
    OP_SECTION_CREATE,
    OP_SECTION_DELETE,
    OP_SECTION_EXPIRATION_SET,
    OP_SECTION_OVERWRITE,
    OP_SECTION_WRITE,
    OP_UNLINK,
    SA_TIME_END,
)

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)
# Bounds of what a peer may name: a cid is "<nodeid>.<pid>.<handle>" (well below this).
MAX_CID_LENGTH = 128
MAX_TEXT = 4096  # names, hashes: anything longer is not ours


class MalformedMessage(ValueError):
    """A replicated message whose fields do not fit its type. Every member meets the same message
    in the same state, so every member rejects it alike and the replicas stay identical.

    ``token`` is set for an operation whose token is sound: its sender's client gets an answer.
    """

    def __init__(self, text: str, token: int | None = None):
        super().__init__(text)
        self.token = token


class _Bad(Exception):
    """A field that does not fit (internal: turned into MalformedMessage with its context)."""


_KINDS = {int: "an integer", str: "a string", bytes: "bytes", bool: "a boolean", list: "a list", dict: "a map"}


def _typed(value: Any, what: str, kind: type) -> Any:
    """``value`` if its type is exactly ``kind`` (one of _KINDS), else _Bad naming ``what``."""
    if type(value) is not kind:
        raise _Bad(f"{what} must be {_KINDS[kind]}, got {type(value).__name__}")
    return value


def _int(value: Any, what: str, low: int = 0, high: int = I64_MAX) -> int:
    if not low <= _typed(value, what, int) <= high:
        raise _Bad(f"{what} {value} is outside {low}..{high}")
    return value


def _str(value: Any, what: str, limit: int = MAX_TEXT, empty: bool = True) -> str:
    if len(_typed(value, what, str)) > limit or (not empty and not value):
        raise _Bad(f"{what} must be {0 if empty else 1}..{limit} characters")
    return value


def _bytes(value: Any, what: str) -> bytes:  # a field check of _OP_ARGS
    return _typed(value, what, bytes)


def _cid(value: Any) -> str:
    return _str(value, "cid", MAX_CID_LENGTH, empty=False)


def _pairs(value: Any, what: str, entry: str, shape: str, first, second) -> list:
    """``value``, a list (``what``) of two-item lists (each an ``entry``), as ``[first(a), second(b)]``
    of each entry's items ``a, b``; ``shape`` is the error for an entry of another length."""
    out = []
    for item in _typed(value, what, list):
        pair = _typed(item, entry, list)
        if len(pair) != 2:
            raise _Bad(shape)
        out.append([first(pair[0]), second(pair[1])])
    return out


def _view(value: Any) -> list:
    return _pairs(
        value,
        "view",
        "view member",
        "a view member is [nodeid, pid]",
        lambda nodeid: _int(nodeid, "nodeid", 0, 2**32 - 1),
        lambda pid: _int(pid, "pid", 0, 2**32 - 1),
    )


def _sa_time(value: Any, what: str) -> int:
    return _int(value, what, 0, SA_TIME_END)


def _sections(value: Any) -> list:
    # The empty id is the default section (SA_CKPT_DEFAULT_SECTION_ID) of a max_sections 1 checkpoint.
    return _pairs(
        value,
        "sections",
        "section entry",
        "a section entry is [id, data]",
        lambda sid: _bytes(sid, "section id"),
        lambda data: _bytes(data, "section data"),
    )


def _expirations(value: Any) -> list:
    return _pairs(
        value,
        "expirations",
        "expiration entry",
        "an expiration entry is [section id, time]",
        lambda sid: _bytes(sid, "section id"),
        lambda expiration: _sa_time(expiration, "expiration"),
    )


# -- operations ----------------------------------------------------------------------------------
#
# Per operation: its arguments and their checks; "?" marks an optional one. The store's rules
# (flags, names, limits of the checkpoint) stay in the store: here only what it may rely on.


def _opt_attrs(value: Any, what: str) -> Any:
    if value is None:
        return None
    return _typed(value, what, dict)  # validate_attributes (in the store's open) checks the rest


_OP_ARGS: dict = {
    OP_OPEN: {
        "name": lambda v, w: _str(v, w, MAX_TEXT),
        "flags": lambda v, w: _int(v, w, I64_MIN),
        "handle": _int,
        "?attrs": _opt_attrs,
    },
    OP_CLOSE: {"cid": lambda v, w: _cid(v), "handle": _int},
    OP_UNLINK: {"name": lambda v, w: _str(v, w, MAX_TEXT)},
    OP_SECTION_CREATE: {"cid": lambda v, w: _cid(v), "section": _bytes, "data": _bytes, "?expiration": _sa_time},
    OP_SECTION_DELETE: {"cid": lambda v, w: _cid(v), "section": _bytes},
    OP_SECTION_WRITE: {
        "cid": lambda v, w: _cid(v),
        "section": _bytes,
        "data": _bytes,
        "?offset": lambda v, w: _int(v, w, I64_MIN),
    },
    OP_SECTION_OVERWRITE: {"cid": lambda v, w: _cid(v), "section": _bytes, "data": _bytes},
    OP_SECTION_EXPIRATION_SET: {"cid": lambda v, w: _cid(v), "section": _bytes, "expiration": _sa_time},
    OP_RETENTION_DURATION_SET: {"cid": lambda v, w: _cid(v), "retention": _sa_time},
}


def op_schema(op: str) -> dict | None:
    """The argument checks of ``op`` (for the daemon's own requests and for tests)."""
    return _OP_ARGS.get(op)


def _check_args(op: str, args: Any) -> dict:
    schema = _OP_ARGS[op]
    args = _typed(args, "args", dict)
    checked = {}
    for spec, check in schema.items():
        key = spec.lstrip("?")
        if key not in args:
            if spec.startswith("?"):
                continue
            raise _Bad(f"missing argument {key!r}")
        checked[key] = check(args[key], key)
    return checked


def _check_op(msg: dict) -> dict:
    token = _int(msg.get("token"), "token")
    op = msg.get("op")
    if type(op) is not str or op not in _OP_ARGS:
        # Not an operation of this table: the store answers BAD_OPERATION (or, for one added
        # to the store without an entry here, checks its arguments itself).
        args = msg.get("args")
        return {"t": MSG_OP, "op": op, "token": token, "args": args if type(args) is dict else {}}
    try:
        args = _check_args(op, msg.get("args"))
    except _Bad as exc:
        raise MalformedMessage(f"malformed {op} operation (token {token}): {exc}", token) from None
    return {"t": MSG_OP, "op": op, "token": token, "args": args}


# -- everything else -------------------------------------------------------------------------------


def _check_expire(msg: dict) -> dict:
    return {"t": MSG_EXPIRE, "cid": _cid(msg.get("cid")), "zero_epoch": _int(msg.get("zero_epoch"), "zero_epoch")}


def _check_section_expire(msg: dict) -> dict:
    return {
        "t": MSG_SECTION_EXPIRE,
        "cid": _cid(msg.get("cid")),
        "section": _typed(msg.get("section"), "section", bytes),
        "expiration": _sa_time(msg.get("expiration"), "expiration"),
    }


def _quorum_facts(value: Any) -> dict:
    facts = _typed(value, "quorum", dict)
    return {
        "quorate": _typed(facts.get("quorate"), "quorate", bool),
        "votes": _int(facts.get("votes"), "votes", 0, 2**32 - 1),
        "quorum": _int(facts.get("quorum"), "quorum", 0, 2**32 - 1),
    }


def _check_quorum(msg: dict) -> dict:
    return {"t": MSG_QUORUM, "view": _view(msg.get("view")), "quorum": _quorum_facts(msg.get("quorum"))}


def _check_digest(msg: dict) -> dict:
    ckpts = {}
    for cid, entry in _typed(msg.get("ckpts"), "ckpts", dict).items():
        entry = _typed(entry, "digest entry", list)
        if len(entry) != 5:
            raise _Bad("a digest entry is [name, generation, hash, unlinked, handles]")
        name, gen, chash, unlinked, mine = entry
        handles = [_int(h, "handle") for h in _typed(mine, "handles", list)]
        ckpts[_cid(cid)] = [
            _str(name, "name", MAX_TEXT, empty=False),
            _int(gen, "generation"),
            _str(chash, "hash", 64),
            _typed(unlinked, "unlinked", bool),
            handles,
        ]
    checked = {"t": MSG_DIGEST, "view": _view(msg.get("view")), "ckpts": ckpts}
    if "repl" in msg:
        # An odd announcement is not refused: it makes the view speak version 1 (ckpt_store).
        checked["repl"] = msg["repl"] if type(msg["repl"]) is int else None
    if "features" in msg:
        # Likewise: an odd list announces no feature (ckpt_store, "Mixed versions").
        features = msg["features"]
        ok = type(features) is list and len(features) <= 64 and all(type(f) is str and len(f) <= 64 for f in features)
        checked["features"] = features if ok else []
    # The member's quorate epoch and votequorum facts (ckpt_store, "Quorum").
    if "qepoch" in msg:
        checked["qepoch"] = _int(msg["qepoch"], "qepoch")
    if "quorum" in msg:
        checked["quorum"] = _quorum_facts(msg["quorum"])
    return checked


def _check_ckpt(data: Any) -> dict:
    data = _typed(data, "ckpt", dict)
    code, why, attrs = validate_attributes(_typed(data.get("attrs"), "attrs", dict))
    if code is not AisError.OK:
        raise _Bad(f"attrs: {why}")
    if set(data["attrs"]) != set(attrs):
        raise _Bad("attrs must carry every creation attribute")
    sections = _sections(data.get("sections"))
    if len(sections) > attrs["max_sections"]:
        raise _Bad("more sections than max_sections")
    for sid, value in sections:
        if len(sid) > attrs["max_section_id_size"] or len(value) > attrs["max_section_size"]:
            raise _Bad("a section beyond the checkpoint's limits")
    checked = {
        "cid": _cid(data.get("cid")),
        "name": _str(data.get("name"), "name", MAX_TEXT, empty=False),
        "attrs": attrs,
        "sections": sections,
        "generation": _int(data.get("generation"), "generation"),
        "unlinked": _typed(data.get("unlinked"), "unlinked", bool),
        "zero_epoch": _int(data.get("zero_epoch"), "zero_epoch"),
    }
    # Absent from a member that predates them (Checkpoint.load: no expirations, the creation retention).
    if data.get("expirations") is not None:
        checked["expirations"] = _expirations(data["expirations"])
    if data.get("retention") is not None:
        checked["retention"] = _sa_time(data["retention"], "retention")
    return checked


def _check_state(msg: dict) -> dict:
    return {"t": MSG_STATE, "view": _view(msg.get("view")), "ckpt": _check_ckpt(msg.get("ckpt"))}


def _check_state_part(msg: dict) -> dict:
    return {
        "t": MSG_STATE_PART,
        "view": _view(msg.get("view")),
        "cid": _cid(msg.get("cid")),
        "sections": _sections(msg.get("sections")),
    }


def _check_sync_done(msg: dict) -> dict:
    return {"t": MSG_SYNC_DONE, "view": _view(msg.get("view"))}


_CHECKS = {
    MSG_QUORUM: _check_quorum,
    MSG_EXPIRE: _check_expire,
    MSG_SECTION_EXPIRE: _check_section_expire,
    MSG_DIGEST: _check_digest,
    MSG_STATE: _check_state,
    MSG_STATE_PART: _check_state_part,
    MSG_SYNC_DONE: _check_sync_done,
}


def check_message(sender: Any, msg: Any) -> dict:
    """The checked record of one delivered message, or MalformedMessage (see the module text).

    A message of a type this version does not know is returned as ``{"t": type}``: the store
    answers it MESSAGE_ERROR, as before.
    """
    if type(msg) is not dict:
        raise MalformedMessage(f"malformed message from {sender}: a {type(msg).__name__}, not a map")
    kind = msg.get("t")
    if type(kind) is not str:
        return {"t": kind}  # the store answers MESSAGE_ERROR
    if kind == MSG_OP:
        try:
            return _check_op(msg)
        except _Bad as exc:
            raise MalformedMessage(f"malformed op message from {sender}: {exc}") from None
    check = _CHECKS.get(kind)
    if check is None:
        return {"t": kind}
    try:
        return check(msg)
    except _Bad as exc:
        raise MalformedMessage(f"malformed {kind} message from {sender}: {exc}") from None

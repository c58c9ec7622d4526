# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checkpoint service's replicated state machine (SA Forum AIS Checkpoint, B-series).

Pure logic, no I/O: the daemon feeds it CPG events (configuration changes and messages in
agreed order) and sends what it returns. Every member applies the same messages in the same
order, so every member holds the same checkpoints; reads are served from the local copy.

Configuration changes. On every confchg all members enter SYNC: client calls get TRY_AGAIN
and operations delivered during SYNC are ignored by everyone alike (their senders answer
TRY_AGAIN). Each member multicasts a digest (per checkpoint: name, generation, content hash,
and the handles its own clients hold). When the digests of every member of the current view
are in, all members run the same rule: per checkpoint, the source is the holder with the
highest generation, ties to the lowest (nodeid, pid); if any member lacks the checkpoint or
holds a different (generation, hash), the source multicasts the whole checkpoint. Then every
member multicasts "sync done"; SYNC ends when all have. A confchg during SYNC restarts it.

After a partition heals, both sides may have changed the same checkpoint: the side with more
updates (higher generation) wins, ties to the lowest nodeid. Two checkpoints created with the
same name on both sides: the one whose creator id sorts lowest keeps the name, the other is
unlinked (open handles keep working until closed). State is only in memory: data survives as
long as one member that holds it stays up.

Retention. When the last handle on a checkpoint closes (or its holder leaves the membership),
its retention timer starts on every member; the lowest member (the leader) multicasts an
expiry when it runs out, and everyone deletes the checkpoint if it is still unused. The
retention duration can be changed after creation (saCkptCheckpointRetentionDurationSet); the
creation attributes an open compares stay those the checkpoint was created with.

Section expiry. A section's expiration time is an absolute SaTimeT (ns since the epoch, in the
client's clock), stored as given; SA_TIME_END means never. Only the leader compares it with its
own wall clock, and multicasts MSG_SECTION_EXPIRE; every member deletes the section when that
message is delivered, if the section still has that expiration time (a later
saCkptSectionExpirationTimeSet delivered first wins alike everywhere). Clock skew between the
nodes therefore changes when a section goes, never whether the replicas agree.

Default section. A checkpoint created with max_sections 1 has exactly one section from its
creation on, SA_CKPT_DEFAULT_SECTION_ID (the empty id): it cannot be created, deleted or given
an expiration time, and is read and written like any other.

Mixed versions. The default section, expiration times and retention set change replicated state
that a daemon from before them would not apply alike. So they are on only while every member of
the view announced them in its sync digest ("features"), decided alike on every member like the
wire version; until then a checkpoint gets no default section, the new calls answer
NOT_SUPPORTED and the leader expires no section.

Stdlib only: this file is installed on the nodes for the checkpoint daemon.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from ..shared.ais_errors import AisError
from ..shared.ckpt_attributes import validate_attributes
from ..shared.ckpt_protocol import (
    DEFAULT_SECTION_ID,
    MAX_NAME_LENGTH,
    MSG_DIGEST,
    MSG_EXPIRE,
    MSG_OP,
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
    OPEN_CREATE,
    OPEN_EXCLUSIVE,
    OPEN_FLAGS_ALL,
    REPLICATION_VERSION,
    SA_TIME_END,
    SYNC_MESSAGES,
)
from .ckpt_messages import MalformedMessage, check_message

# (nodeid, pid) of a daemon in the group.
Member = tuple

# What a daemon announces in its sync digest, on once every member of the view does: the default
# section, section expiration times and the retention duration set after creation (issue 17).
FEATURE_SA_CALLS = "sa-calls"
FEATURES = frozenset((FEATURE_SA_CALLS,))

# Section data per sync message: well below what one CPG message carries comfortably.
STATE_CHUNK = 256 * 1024


@dataclass
class Checkpoint:
    cid: str
    name: str
    attrs: dict
    sections: dict = field(default_factory=dict)  # section id (bytes) -> data (bytes)
    generation: int = 0
    unlinked: bool = False
    zero_epoch: int = 0  # bumped each time the last handle goes away
    openers: set = field(default_factory=set)  # {(nodeid, pid, handle id)}
    expirations: dict = field(default_factory=dict)  # section id -> expiration (ns); absent: never
    retention: int | None = None  # set after creation; None: attrs["retention_duration"]
    _hash: str | None = None
    _used: int | None = None  # bytes in all sections; None: count again

    @property
    def used(self) -> int:
        if self._used is None:
            self._used = sum(len(data) for data in self.sections.values())
        return self._used

    def touch(self, used: int | None = None) -> None:
        """One more update; ``used`` is the byte count after it, when the caller knows it."""
        self.generation += 1
        self._hash = None
        self._used = used

    @property
    def retention_duration(self) -> int:
        """The retention duration in force (ns): the creation attribute, or what was set since."""
        return self.attrs["retention_duration"] if self.retention is None else self.retention

    def content_hash(self) -> str:
        if self._hash is None:
            digest = hashlib.sha256(repr(sorted(self.attrs.items())).encode())
            for sid in sorted(self.sections):
                digest.update(len(sid).to_bytes(4, "big") + sid)
                digest.update(len(self.sections[sid]).to_bytes(4, "big") + self.sections[sid])
            if self.expirations or self.retention is not None:
                # Only then: a checkpoint without either hashes as it did before.
                digest.update(repr((sorted(self.expirations.items()), self.retention)).encode())
            self._hash = digest.hexdigest()[:16]
        return self._hash

    def dump(self) -> dict:
        return {
            "cid": self.cid,
            "name": self.name,
            "attrs": dict(self.attrs),
            "sections": [[sid, data] for sid, data in sorted(self.sections.items())],
            "generation": self.generation,
            "unlinked": self.unlinked,
            "zero_epoch": self.zero_epoch,
            "expirations": [[sid, when] for sid, when in sorted(self.expirations.items())],
            "retention": self.retention,
        }

    @classmethod
    def load(cls, data: dict) -> Checkpoint:
        return cls(
            cid=data["cid"],
            name=data["name"],
            attrs=dict(data["attrs"]),
            sections={bytes(sid): bytes(value) for sid, value in data["sections"]},
            generation=int(data["generation"]),
            unlinked=bool(data["unlinked"]),
            zero_epoch=int(data["zero_epoch"]),
            # Absent from a member that predates them: no expirations, the creation retention.
            expirations={bytes(sid): int(when) for sid, when in data.get("expirations") or []},
            retention=None if data.get("retention") is None else int(data["retention"]),
        )


@dataclass
class Result:
    """The outcome of one operation, for the daemon to answer its client with."""

    code: AisError
    detail: str = ""
    values: dict = field(default_factory=dict)
    malformed: bool = False  # rejected by check_message: the daemon logs it


def _view_key(members: list) -> list:
    return sorted([int(nodeid), int(pid)] for nodeid, pid in members)


class CheckpointStore:
    """All checkpoints of the cluster as this member sees them, plus the sync protocol."""

    def __init__(self, me: Member, now: float = 0.0):
        self.me = (int(me[0]), int(me[1]))
        self.checkpoints: dict[str, Checkpoint] = {}  # cid -> checkpoint
        self.names: dict[str, str] = {}  # name -> cid of the linked checkpoint
        self.view: list = []  # sorted [nodeid, pid] of the current members
        self.syncing = True  # until our first view has synced
        self._digests: dict = {}
        self._done: set = set()
        self._pending_openers: dict[str, set] = {}  # handles per checkpoint, from this round's digests
        self._zero_since: dict[str, float] = {}  # cid -> local time its last handle went away
        self._expiry_sent: dict[str, int] = {}  # cid -> zero_epoch an expiry was sent for
        self._section_expiry_sent: dict[str, set] = {}  # cid -> {(section id, expiration)} asked for
        # The leader's clock for section expiration times (ns since the epoch); tests replace it.
        self.wall_clock_ns = time.time_ns
        self._now = now
        self.sync_rounds = 0
        # Replication payload version the whole view speaks (see ckpt_protocol): 1 until a
        # sync in which every member announced more. Decided alike on every member.
        self.wire_version = 1
        self.max_wire_version = REPLICATION_VERSION  # what we announce (tests lower it)
        # Features every member of the view announced (see "Mixed versions"); tests lower ours.
        self.announced_features = FEATURES
        self.features: frozenset = frozenset()

    # -- queries (local reads) -------------------------------------------------------------

    @property
    def leader(self) -> Member | None:
        return tuple(self.view[0]) if self.view else None

    def lookup(self, name: str) -> Checkpoint | None:
        cid = self.names.get(name)
        return self.checkpoints.get(cid) if cid else None

    def status(self) -> dict:
        return {
            "synced": not self.syncing,
            "members": [list(m) for m in self.view],
            "leader": list(self.leader) if self.leader else None,
            "checkpoints": len(self.names),
            "sync_rounds": self.sync_rounds,
        }

    def listing(self) -> list:
        return [
            {
                "name": ckpt.name,
                "cid": ckpt.cid,
                "sections": len(ckpt.sections),
                "bytes": ckpt.used,
                "generation": ckpt.generation,
                "open_handles": len(ckpt.openers),
                "retention_duration": ckpt.retention_duration,
                "unlinked": ckpt.unlinked,
            }
            for ckpt in sorted(self.checkpoints.values(), key=lambda c: (c.name, c.cid))
        ]

    # -- configuration changes and sync ---------------------------------------------------

    def on_confchg(self, members: list, now: float) -> list:
        """A new view of the group; returns the messages to multicast (our digest)."""
        self._now = now
        new_view = _view_key(members)
        gone = {tuple(m) for m in self.view} - {tuple(m) for m in new_view}
        for ckpt in list(self.checkpoints.values()):
            before = len(ckpt.openers)
            ckpt.openers = {o for o in ckpt.openers if (o[0], o[1]) not in gone}
            if before and not ckpt.openers:
                self._last_handle_gone(ckpt, now)
        self.view = new_view
        self.syncing = True
        self.wire_version = 1  # a joiner may speak only version 1: until the digests tell
        self.sync_rounds += 1
        self._digests = {}
        self._done = set()
        return [self._digest()]

    def _digest(self) -> dict:
        ckpts = {}
        for cid, ckpt in self.checkpoints.items():
            mine = sorted(o[2] for o in ckpt.openers if (o[0], o[1]) == self.me)
            ckpts[cid] = [ckpt.name, ckpt.generation, ckpt.content_hash(), ckpt.unlinked, mine]
        digest = {"t": MSG_DIGEST, "view": self.view, "ckpts": ckpts, "repl": self.max_wire_version}
        if self.announced_features:
            digest["features"] = sorted(self.announced_features)
        return digest

    def _plan(self) -> list:
        """Every digest is in: decide sources deterministically; return our state messages."""
        holders: dict[str, list] = {}
        for member in sorted(self._digests):
            for cid, (_name, gen, chash, _unlinked, _mine) in self._digests[member]["ckpts"].items():
                holders.setdefault(cid, []).append((member, gen, chash))
        out = []
        for cid in sorted(holders):
            entries = holders[cid]
            # Highest generation wins; ties to the lowest (nodeid, pid).
            source, gen, chash = sorted(entries, key=lambda e: (-e[1], e[0]))[0]
            complete = len(entries) == len(self.view) and all((g, h) == (gen, chash) for _m, g, h in entries)
            if not complete and source == self.me and cid in self.checkpoints:
                out.extend(self._state_messages(self.checkpoints[cid]))
        # Handles are rebuilt from what each member reports for its own clients.
        openers: dict[str, set] = {}
        for member, digest in self._digests.items():
            for cid, entry in digest["ckpts"].items():
                for hid in entry[4]:
                    openers.setdefault(cid, set()).add((member[0], member[1], int(hid)))
        self._pending_openers = openers
        out.append({"t": MSG_SYNC_DONE, "view": self.view})
        return out

    def _state_messages(self, ckpt: Checkpoint) -> list:
        """The whole checkpoint, in messages of at most STATE_CHUNK bytes of section data."""
        dump = ckpt.dump()
        sections, dump["sections"] = dump["sections"], []
        chunks: list = [[]]
        size = 0
        for entry in sections:
            if chunks[-1] and size + len(entry[1]) > STATE_CHUNK:
                chunks.append([])
                size = 0
            chunks[-1].append(entry)
            size += len(entry[1])
        out = [{"t": MSG_STATE, "view": self.view, "ckpt": dict(dump, sections=chunks[0])}]
        out.extend({"t": MSG_STATE_PART, "view": self.view, "cid": ckpt.cid, "sections": c} for c in chunks[1:])
        return out

    def _finish_sync(self, now: float) -> None:
        # A digest without "repl" comes from a daemon that speaks version 1 only.
        versions = [d.get("repl", 1) for d in self._digests.values()]
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in versions)
        self.wire_version = max(1, min([*versions, self.max_wire_version])) if versions and ok else 1
        features = set(self.announced_features)
        for digest in self._digests.values():
            theirs = digest.get("features")
            features &= set(theirs) if isinstance(theirs, list) and all(isinstance(f, str) for f in theirs) else set()
        self.features = frozenset(features)
        for cid, ckpt in self.checkpoints.items():
            ckpt.openers = set(self._pending_openers.get(cid, set()))
        # Keep only checkpoints that some member still holds (a deleted one on one side of a
        # partition returns if the other side kept it: updates win over deletions).
        self._resolve_names()
        for cid, ckpt in list(self.checkpoints.items()):
            if not ckpt.openers:
                if ckpt.unlinked:
                    self._delete(cid)
                else:
                    # Conservative: every retention timer restarts at the end of a sync.
                    self._zero_since[cid] = now
                    self._expiry_sent.pop(cid, None)
            else:
                self._zero_since.pop(cid, None)
        self._section_expiry_sent = {}  # the leader asks again for what is still due
        self.syncing = False

    def _resolve_names(self) -> None:
        by_name: dict[str, list] = {}
        for cid, ckpt in self.checkpoints.items():
            if not ckpt.unlinked:
                by_name.setdefault(ckpt.name, []).append(cid)
        self.names = {}
        for name, cids in by_name.items():
            winner = min(cids, key=_cid_order)
            self.names[name] = winner
            for loser in cids:
                if loser != winner:
                    self.checkpoints[loser].unlinked = True

    def _deliver_sync(self, sender: Member, msg: dict, now: float) -> list:
        if msg.get("view") != self.view:
            return []  # from an earlier view: ignored by everyone alike
        kind = msg["t"]
        if kind == MSG_DIGEST and self.syncing:
            self._digests[sender] = msg
            if len(self._digests) == len(self.view):
                return self._plan()
        elif kind == MSG_STATE and self.syncing:
            ckpt = Checkpoint.load(msg["ckpt"])
            self.checkpoints[ckpt.cid] = ckpt
        elif kind == MSG_STATE_PART and self.syncing and msg.get("cid") in self.checkpoints:
            ckpt = self.checkpoints[msg["cid"]]
            ckpt.sections.update((bytes(sid), bytes(data)) for sid, data in msg["sections"])
            ckpt._hash = None
            ckpt._used = None
        elif kind == MSG_SYNC_DONE and self.syncing:
            self._done.add(sender)
            if len(self._done) == len(self.view):
                self._finish_sync(now)
        return []

    # -- message delivery ----------------------------------------------------------------------

    def on_deliver(self, sender: Member, msg: dict, now: float) -> tuple[list, Result | None]:
        """Apply one message in agreed order. Returns (messages to multicast, result).

        The result is for operations (``t == "op"``): every member computes the same one; the
        sender's daemon answers its client with it.
        """
        self._now = now
        sender = (int(sender[0]), int(sender[1]))
        try:
            # Every field checked before anything changes (ckpt_messages): alike on every member.
            msg = check_message(sender, msg)
        except MalformedMessage as exc:
            if exc.token is None:
                raise
            return [], Result(AisError.INVALID_PARAM, str(exc), malformed=True)
        kind = msg.get("t")
        if isinstance(kind, str) and kind in SYNC_MESSAGES:  # a peer may send any type here
            try:
                return self._deliver_sync(sender, msg, now), None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise MalformedMessage(f"malformed {kind} message from {sender}: {exc!r}") from exc
        if kind == MSG_EXPIRE:
            # Not during SYNC: our digest already announced the checkpoint, and a joiner may be
            # its only holder. Everyone ignores it alike; the leader asks again after the sync.
            if not self.syncing:
                self._expire(msg.get("cid"), msg.get("zero_epoch"))
            return [], None
        if kind == MSG_SECTION_EXPIRE:
            if not self.syncing:  # as MSG_EXPIRE: the leader asks again after the sync
                self._expire_section(msg.get("cid"), msg.get("section"), msg.get("expiration"))
            return [], None
        if kind != MSG_OP:
            return [], Result(AisError.MESSAGE_ERROR, f"unknown message type {kind!r}")
        if self.syncing:
            return [], Result(AisError.TRY_AGAIN, "the checkpoint service is synchronising after a membership change")
        op = msg.get("op")
        handler = self._OPS.get(op) if isinstance(op, str) else None
        if handler is None:
            return [], Result(AisError.BAD_OPERATION, f"unknown operation {op!r}")
        try:
            return [], handler(self, sender, msg.get("args") or {}, now)
        except (KeyError, TypeError, ValueError) as exc:
            return [], Result(AisError.INVALID_PARAM, f"malformed arguments: {exc}")

    def tick(self, now: float, wall_ns: int | None = None) -> list:
        """Timers: the leader asks for the deletion of checkpoints whose retention ran out, and
        of sections whose expiration time (``wall_ns``, default its wall clock) has passed."""
        self._now = now
        if self.syncing or self.leader != self.me:
            return []
        out = []
        if FEATURE_SA_CALLS in self.features:
            out = self._due_sections(self.wall_clock_ns() if wall_ns is None else wall_ns)
        for cid, since in sorted(self._zero_since.items()):
            ckpt = self.checkpoints.get(cid)
            if ckpt is None or ckpt.openers:
                continue
            retention_s = ckpt.retention_duration / 1e9
            if now - since >= retention_s and self._expiry_sent.get(cid) != ckpt.zero_epoch:
                self._expiry_sent[cid] = ckpt.zero_epoch
                out.append({"t": MSG_EXPIRE, "cid": cid, "zero_epoch": ckpt.zero_epoch})
        return out

    # -- operations (applied in agreed order on every member) ----------------------------------

    def _op_open(self, sender: Member, args: dict, now: float) -> Result:
        name, flags, hid = args["name"], int(args["flags"]), int(args["handle"])
        attrs = args.get("attrs")
        if flags & ~OPEN_FLAGS_ALL or not flags & 0x3:
            return Result(AisError.BAD_FLAGS, f"open flags {flags:#x}: use READ (1) and/or WRITE (2), CREATE (4)")
        if not isinstance(name, str) or not name:
            return Result(AisError.INVALID_PARAM, "checkpoint name must be a non-empty string")
        if len(name.encode()) > MAX_NAME_LENGTH:
            return Result(AisError.NAME_TOO_LONG, f"checkpoint names are limited to {MAX_NAME_LENGTH} bytes")
        creating = bool(flags & OPEN_CREATE)
        if creating != (attrs is not None):
            return Result(AisError.INVALID_PARAM, "creation attributes go with CREATE, and only with CREATE")
        if flags & OPEN_EXCLUSIVE and not creating:
            return Result(AisError.BAD_FLAGS, "EXCLUSIVE needs CREATE")
        norm = {}
        if creating:
            code, why, norm = validate_attributes(attrs)
            if code is not AisError.OK:
                return Result(code, why)
        ckpt = self.lookup(name)
        if ckpt is None:
            if not creating:
                return Result(AisError.NOT_EXIST, f"no checkpoint named {name!r}")
            cid = f"{sender[0]}.{sender[1]}.{hid}"
            ckpt = Checkpoint(cid=cid, name=name, attrs=norm)
            if norm["max_sections"] == 1 and FEATURE_SA_CALLS in self.features:
                ckpt.sections[DEFAULT_SECTION_ID] = b""  # the default section, from creation on
            self.checkpoints[cid] = ckpt
            self.names[name] = cid
            created = True
        else:
            if flags & OPEN_EXCLUSIVE:
                return Result(
                    AisError.EXIST,
                    f"checkpoint {name!r} exists (exclusive create); "
                    f"{len(ckpt.openers)} handle(s) still open, retention "
                    f"{ckpt.retention_duration / 1e9:g}s",
                )
            if creating and norm != ckpt.attrs:
                return Result(AisError.EXIST, f"checkpoint {name!r} exists with other creation attributes")
            created = False
        ckpt.openers.add((sender[0], sender[1], hid))
        self._zero_since.pop(ckpt.cid, None)
        return Result(AisError.OK, values={"cid": ckpt.cid, "created": created, "attrs": dict(ckpt.attrs)})

    def _op_close(self, sender: Member, args: dict, now: float) -> Result:
        ckpt = self.checkpoints.get(args["cid"])
        if ckpt is None:
            return Result(AisError.OK)  # already gone with its last handle: closing is idempotent
        key = (sender[0], sender[1], int(args["handle"]))
        if key in ckpt.openers:
            ckpt.openers.discard(key)
            if not ckpt.openers:
                self._last_handle_gone(ckpt, now)
        return Result(AisError.OK)

    def _op_unlink(self, sender: Member, args: dict, now: float) -> Result:
        ckpt = self.lookup(args["name"])
        if ckpt is None:
            return Result(AisError.NOT_EXIST, f"no checkpoint named {args['name']!r}")
        del self.names[ckpt.name]
        ckpt.unlinked = True
        if not ckpt.openers:
            self._delete(ckpt.cid)
        return Result(AisError.OK)

    def _writable(self, args: dict) -> tuple[Checkpoint | None, Result | None]:
        ckpt = self.checkpoints.get(args["cid"])
        if ckpt is None:
            return None, Result(AisError.BAD_HANDLE, "the checkpoint of this handle no longer exists")
        return ckpt, None

    def _op_section_create(self, sender: Member, args: dict, now: float) -> Result:
        ckpt, err = self._writable(args)
        if err:
            return err
        sid, data = bytes(args["section"]), bytes(args["data"])
        expiration = args.get("expiration", SA_TIME_END)
        if ckpt.attrs["max_sections"] == 1 and DEFAULT_SECTION_ID in ckpt.sections:
            # As openais: the default section is the one section such a checkpoint has.
            return Result(AisError.EXIST, "a checkpoint with max_sections 1 has only its default section")
        if not sid or len(sid) > ckpt.attrs["max_section_id_size"]:
            return Result(AisError.INVALID_PARAM, f"section id must be 1..{ckpt.attrs['max_section_id_size']} bytes")
        if not _sa_time(expiration):
            return Result(AisError.INVALID_PARAM, f"expiration time {expiration!r} is not an SaTimeT")
        if expiration != SA_TIME_END and FEATURE_SA_CALLS not in self.features:
            return _not_everywhere()
        if sid in ckpt.sections:
            return Result(AisError.EXIST, f"section {sid!r} exists")
        if len(ckpt.sections) >= ckpt.attrs["max_sections"]:
            return Result(AisError.NO_SPACE, f"checkpoint holds its maximum of {ckpt.attrs['max_sections']} sections")
        if len(data) > ckpt.attrs["max_section_size"]:
            # SA_AIS_ERR_INVALID_PARAM: initialDataSize larger than maxSectionSize (as openais).
            return Result(AisError.INVALID_PARAM, f"{len(data)} bytes exceed max_section_size")
        if ckpt.used + len(data) > ckpt.attrs["checkpoint_size"]:
            return Result(AisError.NO_SPACE, "checkpoint_size would be exceeded")
        ckpt.sections[sid] = data
        if expiration != SA_TIME_END:
            ckpt.expirations[sid] = expiration
        ckpt.touch(ckpt.used + len(data))
        return Result(AisError.OK)

    def _op_section_delete(self, sender: Member, args: dict, now: float) -> Result:
        ckpt, err = self._writable(args)
        if err:
            return err
        sid = bytes(args["section"])
        if sid == DEFAULT_SECTION_ID:
            return Result(AisError.INVALID_PARAM, "the default section cannot be deleted")
        if sid not in ckpt.sections:
            return Result(AisError.NOT_EXIST, f"no section {sid!r}")
        used = ckpt.used - len(ckpt.sections[sid])
        del ckpt.sections[sid]
        ckpt.expirations.pop(sid, None)
        ckpt.touch(used)
        return Result(AisError.OK)

    def _op_section_write(self, sender: Member, args: dict, now: float) -> Result:
        """saCkptCheckpointWrite: write ``data`` at ``offset`` inside an existing section."""
        ckpt, err = self._writable(args)
        if err:
            return err
        sid, data, offset = bytes(args["section"]), bytes(args["data"]), int(args.get("offset", 0))
        old = ckpt.sections.get(sid)
        if old is None:
            return Result(AisError.NOT_EXIST, f"no section {sid!r}")
        if offset < 0 or offset > len(old):
            return Result(AisError.INVALID_PARAM, f"offset {offset} is outside the section ({len(old)} bytes)")
        new = old[:offset] + data + old[offset + len(data) :]
        return self._replace(ckpt, sid, old, new)

    def _op_section_overwrite(self, sender: Member, args: dict, now: float) -> Result:
        ckpt, err = self._writable(args)
        if err:
            return err
        sid, data = bytes(args["section"]), bytes(args["data"])
        old = ckpt.sections.get(sid)
        if old is None:
            return Result(AisError.NOT_EXIST, f"no section {sid!r}")
        return self._replace(ckpt, sid, old, data)

    def _replace(self, ckpt: Checkpoint, sid: bytes, old: bytes, new: bytes) -> Result:
        if len(new) > ckpt.attrs["max_section_size"]:
            # SA_AIS_ERR_INVALID_PARAM, as openais answers overwrite and write beyond it.
            return Result(AisError.INVALID_PARAM, f"{len(new)} bytes exceed max_section_size")
        used = ckpt.used - len(old) + len(new)
        if used > ckpt.attrs["checkpoint_size"]:
            return Result(AisError.NO_SPACE, "checkpoint_size would be exceeded")
        ckpt.sections[sid] = new
        ckpt.touch(used)
        return Result(AisError.OK)

    def _op_section_expiration_set(self, sender: Member, args: dict, now: float) -> Result:
        """saCkptSectionExpirationTimeSet: an absolute time (ns), SA_TIME_END for never."""
        ckpt, err = self._writable(args)
        if err:
            return err
        sid, expiration = bytes(args["section"]), args["expiration"]
        if FEATURE_SA_CALLS not in self.features:
            return _not_everywhere()
        if not _sa_time(expiration):
            return Result(AisError.INVALID_PARAM, f"expiration time {expiration!r} is not an SaTimeT")
        if sid == DEFAULT_SECTION_ID:
            return Result(AisError.INVALID_PARAM, "the default section cannot expire")
        if sid not in ckpt.sections:
            return Result(AisError.NOT_EXIST, f"no section {sid!r}")
        if expiration == SA_TIME_END:
            ckpt.expirations.pop(sid, None)
        else:
            ckpt.expirations[sid] = expiration
        ckpt.touch(ckpt.used)
        return Result(AisError.OK)

    def _op_retention_duration_set(self, sender: Member, args: dict, now: float) -> Result:
        """saCkptCheckpointRetentionDurationSet: BAD_OPERATION once the checkpoint is unlinked."""
        ckpt, err = self._writable(args)
        if err:
            return err
        retention = args["retention"]
        if FEATURE_SA_CALLS not in self.features:
            return _not_everywhere()
        if not _sa_time(retention):
            return Result(AisError.INVALID_PARAM, f"retention duration {retention!r} is not an SaTimeT")
        if ckpt.unlinked:
            return Result(AisError.BAD_OPERATION, "the checkpoint is unlinked")
        ckpt.retention = retention
        ckpt.touch(ckpt.used)
        return Result(AisError.OK)

    # The operations this store applies, by the name on the wire (ckpt_protocol.REPLICATED_OPS).
    _OPS = {
        OP_OPEN: _op_open,
        OP_CLOSE: _op_close,
        OP_UNLINK: _op_unlink,
        OP_SECTION_CREATE: _op_section_create,
        OP_SECTION_DELETE: _op_section_delete,
        OP_SECTION_WRITE: _op_section_write,
        OP_SECTION_OVERWRITE: _op_section_overwrite,
        OP_SECTION_EXPIRATION_SET: _op_section_expiration_set,
        OP_RETENTION_DURATION_SET: _op_retention_duration_set,
    }

    # -- retention -------------------------------------------------------------------------------

    def _last_handle_gone(self, ckpt: Checkpoint, now: float) -> None:
        ckpt.zero_epoch += 1
        if ckpt.unlinked:
            self._delete(ckpt.cid)
            return
        self._zero_since[ckpt.cid] = now

    def _expire(self, cid: Any, zero_epoch: Any) -> None:
        ckpt = self.checkpoints.get(cid)
        if ckpt is not None and not ckpt.openers and ckpt.zero_epoch == zero_epoch:
            self._delete(cid)

    def _delete(self, cid: str) -> None:
        ckpt = self.checkpoints.pop(cid, None)
        if ckpt is not None and self.names.get(ckpt.name) == cid:
            del self.names[ckpt.name]
        self._zero_since.pop(cid, None)
        self._expiry_sent.pop(cid, None)
        self._section_expiry_sent.pop(cid, None)

    # -- section expiry ----------------------------------------------------------------------------

    def _due_sections(self, wall_ns: int) -> list:
        """The leader: an expiry message for each section whose expiration time has passed."""
        out = []
        for cid in sorted(self.checkpoints):
            ckpt = self.checkpoints[cid]
            if not ckpt.expirations:
                continue
            sent = self._section_expiry_sent.setdefault(cid, set())
            for sid, when in sorted(ckpt.expirations.items()):
                if when <= wall_ns and (sid, when) not in sent:
                    sent.add((sid, when))
                    out.append({"t": MSG_SECTION_EXPIRE, "cid": cid, "section": sid, "expiration": when})
        return out

    def _expire_section(self, cid: Any, sid: Any, expiration: Any) -> None:
        """Delete the section if it still has the expiration time the leader saw pass."""
        ckpt = self.checkpoints.get(cid) if isinstance(cid, str) else None
        if ckpt is None or not isinstance(sid, bytes) or not _sa_time(expiration):
            return
        self._section_expiry_sent.get(cid, set()).discard((sid, expiration))
        if ckpt.expirations.get(sid) != expiration or sid not in ckpt.sections:
            return  # given another expiration time, or deleted, before this was delivered
        used = ckpt.used - len(ckpt.sections[sid])
        del ckpt.sections[sid]
        del ckpt.expirations[sid]
        ckpt.touch(used)


def _not_everywhere() -> Result:
    return Result(AisError.NOT_SUPPORTED, "a member of the group runs a quorate-ckptd without this call; upgrade it")


def _sa_time(value: Any) -> bool:
    """An SaTimeT: an integer in 0..SA_TIME_END (nanoseconds)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= SA_TIME_END


def _cid_order(cid: str) -> tuple:
    parts = cid.split(".")
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        return (float("inf"), cid)

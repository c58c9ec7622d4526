# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checkpoint service's wire protocol: one source for the daemon, the client and the CLI.

A frame is ``magic (2 bytes "QC") | version (u8) | kind (u8) | length (u32, big endian) | body``.
The body is a small self-describing binary encoding of None/bool/int/float/bytes/str/list/dict,
so section data stays binary (no base64) and nothing needs a third-party codec on the nodes.
The same encoding carries the daemons' replication messages over CPG.

Stdlib only: this file is also installed on the nodes for the checkpoint daemons.
"""

from __future__ import annotations

import struct
from typing import Any

from .ais_errors import AisError, AisException

MAGIC = b"QC"
PROTOCOL_VERSION = 1
HEADER = struct.Struct(">2sBBI")
# A frame carries at most one section (max 1 MiB of data by default) plus framing; anything
# larger is a broken or hostile peer and the connection is closed after an error reply.
MAX_FRAME = 2 * 1024 * 1024

# Frame kinds.
KIND_REQUEST = 1
KIND_REPLY = 2

# Open flags (SA Forum B-series) and our one extension.
OPEN_READ = 0x1
OPEN_WRITE = 0x2
OPEN_CREATE = 0x4
# Extension: fail with EXIST if the checkpoint exists at all (the exclusive create a controld's
# local checkpoint needs; it makes Case.EXIST_CREATE observable, docs/design.md#the-two-named-cases).
OPEN_EXCLUSIVE = 0x8
OPEN_FLAGS_ALL = OPEN_READ | OPEN_WRITE | OPEN_CREATE | OPEN_EXCLUSIVE

# Limits the service enforces (SA_MAX_NAME_LENGTH is 256).
MAX_NAME_LENGTH = 256

# SA_TIME_END (saAis.h): the largest SaTimeT, "never" for a section's expiration time (an
# absolute time in nanoseconds since the epoch) and a checkpoint's retention duration.
SA_TIME_END = 0x7FFFFFFFFFFFFFFF
# SA_CKPT_DEFAULT_SECTION_ID is the zero-length id {0, NULL}: the one section a checkpoint
# created with max_sections 1 has from its creation on.
DEFAULT_SECTION_ID = b""

_T_NONE, _T_FALSE, _T_TRUE, _T_INT, _T_FLOAT, _T_BYTES, _T_STR, _T_LIST, _T_DICT = range(9)
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")
_MAX_DEPTH = 16
# Tag and payload packed in one call: the hot path of the daemons encodes every operation.
_TAG_LEN = struct.Struct(">BI")
_TAG_I64 = struct.Struct(">Bq")
_TAG_F64 = struct.Struct(">Bd")
_NONE, _FALSE, _TRUE = bytes((_T_NONE,)), bytes((_T_FALSE,)), bytes((_T_TRUE,))
# Encoded dict keys: the same few names ("op", "args", "data", ...) in every message.
_KEY_CACHE: dict = {}
_KEY_CACHE_MAX = 512
_KEY_CACHE_LEN = 64


# -- operations and message types: the one table ------------------------------------------------
#
# Client operations: the "op" of a request frame, and of a replicated "op" message.
OP_HELLO = "hello"
OP_STATUS = "status"
OP_LIST = "list"
OP_OPEN = "open"
OP_CLOSE = "close"
OP_UNLINK = "unlink"
OP_SECTION_CREATE = "section_create"
OP_SECTION_DELETE = "section_delete"
OP_SECTION_WRITE = "section_write"
OP_SECTION_OVERWRITE = "section_overwrite"
OP_SECTION_READ = "section_read"
OP_SECTION_ITERATE = "section_iterate"
OP_SECTION_EXPIRATION_SET = "section_expiration_set"  # saCkptSectionExpirationTimeSet
OP_RETENTION_DURATION_SET = "retention_duration_set"  # saCkptCheckpointRetentionDurationSet
# Section operations multicast in agreed order. The order is part of the wire format: a
# version-2 section record carries the position (from 1) in this tuple.
SECTION_OPS = (OP_SECTION_CREATE, OP_SECTION_DELETE, OP_SECTION_WRITE, OP_SECTION_OVERWRITE)
WRITE_OPS = frozenset(SECTION_OPS)
# Section operations the daemon answers from its local copy.
READ_OPS = frozenset((OP_SECTION_READ, OP_SECTION_ITERATE))
# Operations the daemon answers itself, without the group or a handle.
LOCAL_OPS = frozenset((OP_HELLO, OP_STATUS, OP_LIST))
# Operations on an open handle that change its checkpoint's attributes, multicast in agreed
# order (never compact section records: SECTION_OPS above is wire format).
HANDLE_OPS = frozenset((OP_SECTION_EXPIRATION_SET, OP_RETENTION_DURATION_SET))
# Operations the replicated store applies (the "op" of a MSG_OP message).
REPLICATED_OPS = frozenset((OP_OPEN, OP_CLOSE, OP_UNLINK, *SECTION_OPS, *HANDLE_OPS))
CLIENT_OPS = LOCAL_OPS | REPLICATED_OPS | READ_OPS

# Replicated message types: the "t" of a message between the daemons over CPG.
MSG_OP = "op"  # a client operation, applied in agreed order
MSG_EXPIRE = "expire"  # the leader: a checkpoint's retention ran out
MSG_SECTION_EXPIRE = "section_expire"  # the leader: a section's expiration time has passed
MSG_QUORUM = "quorum"  # a member's votequorum facts changed (applied in agreed order)
MSG_DIGEST = "digest"  # sync: what a member holds
MSG_STATE = "state"  # sync: a whole checkpoint (its first chunk of sections)
MSG_STATE_PART = "state_part"  # sync: more sections of a checkpoint
MSG_SYNC_DONE = "sync_done"  # sync: a member sent all it had to
MSG_BATCH = "batch"  # version 1: several encoded messages in one CPG payload
# The sync protocol's messages: always sent as version-1 payloads (a joiner may read only that).
SYNC_MESSAGES = frozenset((MSG_DIGEST, MSG_STATE, MSG_STATE_PART, MSG_SYNC_DONE))


class ProtocolError(ValueError):
    """A frame or body that does not decode; the peer is out of step or hostile."""


def _encode(value: Any, out: bytearray, depth: int = 0) -> None:
    # Exact types first (the common case), then subclasses through isinstance. The bytes are
    # the same either way: this is only about speed.
    if depth > _MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    kind = type(value)
    if kind is str:
        raw = value.encode("utf-8")
        out += _TAG_LEN.pack(_T_STR, len(raw))
        out += raw
    elif kind is bytes:
        out += _TAG_LEN.pack(_T_BYTES, len(value))
        out += value
    elif kind is dict:
        out += _TAG_LEN.pack(_T_DICT, len(value))
        for key, item in value.items():
            _encode_key(key, out)
            _encode(item, out, depth + 1)
    elif kind is int:
        out += _TAG_I64.pack(_T_INT, value)
    elif value is None:
        out += _NONE
    elif value is True:
        out += _TRUE
    elif value is False:
        out += _FALSE
    elif isinstance(value, int):
        out += _TAG_I64.pack(_T_INT, value)
    elif isinstance(value, float):
        out += _TAG_F64.pack(_T_FLOAT, value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        out += _TAG_LEN.pack(_T_BYTES, len(raw))
        out += raw
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out += _TAG_LEN.pack(_T_STR, len(raw))
        out += raw
    elif isinstance(value, (list, tuple)):
        out += _TAG_LEN.pack(_T_LIST, len(value))
        for item in value:
            _encode(item, out, depth + 1)
    elif isinstance(value, dict):
        out += _TAG_LEN.pack(_T_DICT, len(value))
        for key, item in value.items():
            _encode_key(key, out)
            _encode(item, out, depth + 1)
    else:
        raise ProtocolError(f"cannot encode {type(value).__name__}")


def _encode_key(key: Any, out: bytearray) -> None:
    cached = _KEY_CACHE.get(key) if isinstance(key, str) else None
    if cached is None:
        if not isinstance(key, str):
            raise ProtocolError(f"dict keys must be str, got {type(key).__name__}")
        raw = key.encode("utf-8")
        cached = _TAG_LEN.pack(_T_STR, len(raw)) + raw
        if len(key) <= _KEY_CACHE_LEN and len(_KEY_CACHE) < _KEY_CACHE_MAX:
            _KEY_CACHE[key] = cached
    out += cached


def encode(value: Any) -> bytes:
    out = bytearray()
    _encode(value, out)
    return bytes(out)


_unpack_u32 = _U32.unpack_from
_unpack_i64 = _I64.unpack_from
_unpack_f64 = _F64.unpack_from


def _decode(buf: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > _MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    size = len(buf)
    if pos >= size:
        raise ProtocolError("truncated body")
    tag = buf[pos]
    pos += 1
    if tag in _T_SIZED:
        if pos + 4 > size:
            raise ProtocolError("truncated length")
        length = _unpack_u32(buf, pos)[0]
        pos += 4
        if tag == _T_STR or tag == _T_BYTES:
            end = pos + length
            if end > size:
                raise ProtocolError("truncated string")
            if tag == _T_BYTES:
                return buf[pos:end], end
            try:
                return buf[pos:end].decode("utf-8"), end
            except UnicodeDecodeError as exc:
                raise ProtocolError("string is not UTF-8") from exc
        # Each element takes at least one byte: a length beyond the buffer is a lie.
        if length > size - pos:
            raise ProtocolError("container length exceeds the body")
        depth += 1
        if tag == _T_DICT:
            result = {}
            for _index in range(length):
                # Keys are strings: decoded inline, without a call per key.
                if pos + 5 <= size and buf[pos] == _T_STR:
                    end = pos + 5 + _unpack_u32(buf, pos + 1)[0]
                    if end > size:
                        raise ProtocolError("truncated string")
                    try:
                        key = buf[pos + 5 : end].decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise ProtocolError("string is not UTF-8") from exc
                    pos = end
                else:
                    key, pos = _decode(buf, pos, depth)
                    if not isinstance(key, str):
                        raise ProtocolError("dict key is not a string")
                # Scalar values inline too (the same checks as below, one call fewer each).
                vtag = buf[pos] if pos < size else -1
                if vtag == _T_INT and pos + 9 <= size:
                    result[key] = _unpack_i64(buf, pos + 1)[0]
                    pos += 9
                elif vtag == _T_BYTES and pos + 5 <= size:
                    end = pos + 5 + _unpack_u32(buf, pos + 1)[0]
                    if end > size:
                        raise ProtocolError("truncated string")
                    result[key] = buf[pos + 5 : end]
                    pos = end
                elif vtag == _T_STR and pos + 5 <= size:
                    end = pos + 5 + _unpack_u32(buf, pos + 1)[0]
                    if end > size:
                        raise ProtocolError("truncated string")
                    try:
                        result[key] = buf[pos + 5 : end].decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise ProtocolError("string is not UTF-8") from exc
                    pos = end
                else:
                    result[key], pos = _decode(buf, pos, depth)
            return result, pos
        items = []
        for _index in range(length):
            item, pos = _decode(buf, pos, depth)
            items.append(item)
        return items, pos
    if tag == _T_INT or tag == _T_FLOAT:
        if pos + 8 > size:
            raise ProtocolError("truncated number")
        if tag == _T_INT:
            return _unpack_i64(buf, pos)[0], pos + 8
        return _unpack_f64(buf, pos)[0], pos + 8
    if tag == _T_NONE:
        return None, pos
    if tag == _T_TRUE:
        return True, pos
    if tag == _T_FALSE:
        return False, pos
    raise ProtocolError(f"unknown type tag {tag}")


_T_SIZED = frozenset((_T_BYTES, _T_STR, _T_LIST, _T_DICT))


def decode(data: bytes | bytearray | memoryview) -> Any:
    buf = data if isinstance(data, bytes) else bytes(data)
    value, pos = _decode(buf, 0, 0)
    if pos != len(buf):
        raise ProtocolError(f"{len(buf) - pos} trailing bytes")
    return value


# -- replication payloads (daemon to daemon, over CPG) ------------------------------------------
#
# Version 1 (every daemon speaks it): a CPG payload is one message in the body encoding above, or
# {"t": "batch", "m": [encoded message, ...]}. Version 2 (a daemon announces it in its sync digest;
# a group uses it only once every member of the view announced it, see ckpt_store):
#
#   "QR" | version (u8) | record | record | ...
#
# record = kind (u8) and then either
#   REC_SECTION: op (u8) | flags (u8) | token (u64, below 2**63) | offset (i64) | cid length (u16) |
#                section id length (u16) | data length (u32) | cid (UTF-8) | section id | data
#                (a section operation; flags bit 0: the offset is set)
#   REC_MESSAGE: length (u32) | one message in the body encoding
#
# A version-1 payload starts with a type tag (< 16), never with "Q", so both decode side by side.
# The sync protocol's own messages always go as version 1 (a joiner may speak only that).

REPLICATION_MAGIC = b"QR"
REPLICATION_VERSION = 2
REC_SECTION = 1
REC_MESSAGE = 2
_REPL_HEADER = struct.Struct(">2sB")
_REC_SECTION = struct.Struct(">BBBQqHHI")  # kind first: one pack per record
_REC_MESSAGE = struct.Struct(">BI")
_REPL_HEADER_BYTES = _REPL_HEADER.pack(REPLICATION_MAGIC, REPLICATION_VERSION)
_SECTION_OP_CODE = {name: code for code, name in enumerate(SECTION_OPS, 1)}
_SECTION_ARGS = frozenset(("cid", "section", "data"))
_SECTION_ARGS_OFFSET = frozenset(("cid", "section", "data", "offset"))
_U16_MAX, _U32_MAX = 0xFFFF, 0xFFFFFFFF
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _plain_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def encode_record(msg: Any) -> bytes:
    """One message as a version-2 record: compact for section operations, else the body encoding."""
    if isinstance(msg, dict) and msg.get("t") == MSG_OP and len(msg) == 4:
        code = _SECTION_OP_CODE.get(msg.get("op"))
        args, token = msg.get("args"), msg.get("token")
        if code is not None and isinstance(args, dict) and _plain_int(token) and 0 <= token <= _I64_MAX:
            cid, sid, data = args.get("cid"), args.get("section"), args.get("data")
            offset = args.get("offset", 0)
            if (
                (args.keys() == _SECTION_ARGS or args.keys() == _SECTION_ARGS_OFFSET)
                and isinstance(cid, str)
                and isinstance(sid, bytes)
                and isinstance(data, bytes)
                and _plain_int(offset)
                and _I64_MIN <= offset <= _I64_MAX
            ):
                raw_cid = cid.encode("utf-8")
                if len(raw_cid) <= _U16_MAX and len(sid) <= _U16_MAX and len(data) <= _U32_MAX:
                    flags = 1 if "offset" in args else 0
                    head = _REC_SECTION.pack(REC_SECTION, code, flags, token, offset, len(raw_cid), len(sid), len(data))
                    return b"".join((head, raw_cid, sid, data))
    body = encode(msg)
    if len(body) > _U32_MAX:
        raise ProtocolError("message too large for a replication record")
    return _REC_MESSAGE.pack(REC_MESSAGE, len(body)) + body


def replication_payload(records: list) -> bytes:
    """A version-2 CPG payload from records made by :func:`encode_record`."""
    return _REPL_HEADER_BYTES + b"".join(records)


_unpack_section = _REC_SECTION.unpack_from
_SECTION_SIZE = _REC_SECTION.size
_MESSAGE_SIZE = _REC_MESSAGE.size


def decode_replication(data: bytes | bytearray | memoryview) -> tuple[list, list]:
    """Decode one CPG payload of either version: returns (messages, errors).

    A record whose own body does not decode is skipped with its error (its length is known); a
    payload that is broken in its structure raises ProtocolError for the rest of it. Every member
    gets the same bytes, so every member skips the same messages.
    """
    buf = data if isinstance(data, bytes) else bytes(data)
    if not buf.startswith(REPLICATION_MAGIC):
        msg = decode(buf)
        if isinstance(msg, dict) and msg.get("t") == MSG_BATCH:
            batch = msg.get("m")
            if not isinstance(batch, list):
                raise ProtocolError("a batch without a list of messages")
            messages, errors = [], []
            for raw in batch:
                try:
                    if not isinstance(raw, bytes):
                        raise ProtocolError(f"a batched message is {type(raw).__name__}, not bytes")
                    messages.append(decode(raw))
                except ProtocolError as exc:
                    errors.append(exc)
            return messages, errors
        return [msg], []
    if len(buf) < _REPL_HEADER.size:
        raise ProtocolError("truncated replication header")
    version = buf[2]
    if version != REPLICATION_VERSION:
        raise ProtocolError(f"replication version {version} is not supported (this side speaks 1 and 2)")
    messages, errors = [], []
    pos, size = _REPL_HEADER.size, len(buf)
    while pos < size:
        kind = buf[pos]
        if kind == REC_SECTION:
            if pos + _SECTION_SIZE > size:
                raise ProtocolError("truncated section record")
            _kind, code, flags, token, offset, cid_len, sid_len, data_len = _unpack_section(buf, pos)
            start = pos + _SECTION_SIZE
            sid_at = start + cid_len
            data_at = sid_at + sid_len
            pos = data_at + data_len
            if pos > size:
                raise ProtocolError("truncated section record")
            if not 1 <= code <= len(SECTION_OPS) or flags & ~1:
                errors.append(ProtocolError(f"section record with op {code} flags {flags:#x}"))
                continue
            try:
                cid = buf[start:sid_at].decode("utf-8")
            except UnicodeDecodeError:
                errors.append(ProtocolError("section record: checkpoint id is not UTF-8"))
                continue
            args = {"cid": cid, "section": buf[sid_at:data_at], "data": buf[data_at:pos]}
            if flags:
                args["offset"] = offset
            messages.append({"t": MSG_OP, "op": SECTION_OPS[code - 1], "token": token, "args": args})
        elif kind == REC_MESSAGE:
            if pos + _MESSAGE_SIZE > size:
                raise ProtocolError("truncated message record")
            end = pos + _MESSAGE_SIZE + _unpack_u32(buf, pos + 1)[0]
            if end > size:
                raise ProtocolError("truncated message record")
            try:
                messages.append(decode(buf[pos + _MESSAGE_SIZE : end]))
            except ProtocolError as exc:
                errors.append(exc)
            pos = end
        else:
            raise ProtocolError(f"unknown replication record kind {kind}")
    return messages, errors


def frame(kind: int, body: Any) -> bytes:
    payload = encode(body)
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(payload)} bytes exceeds the {MAX_FRAME} byte limit")
    return HEADER.pack(MAGIC, PROTOCOL_VERSION, kind, len(payload)) + payload


def parse_header(header: bytes) -> tuple[int, int]:
    """Validate a frame header; returns (kind, body length)."""
    magic, version, kind, length = HEADER.unpack(header)
    if magic != MAGIC:
        raise ProtocolError("bad magic: not a quorate checkpoint frame")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version} is not supported (this side speaks {PROTOCOL_VERSION})")
    if kind not in (KIND_REQUEST, KIND_REPLY):
        raise ProtocolError(f"unknown frame kind {kind}")
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes exceeds the {MAX_FRAME} byte limit")
    return kind, length


class FrameReader:
    """Incremental frame parser for a byte stream (the daemon's non-blocking sockets)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need = HEADER.size  # bytes the buffered frame needs before it can be parsed

    def feed(self, data: bytes) -> list:
        """Add bytes; return the complete frames as (kind, body) pairs. Raises ProtocolError."""
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return []  # a large frame arriving in pieces: no copy until it is complete
            buf = bytes(self._buf)
        else:
            buf = data if isinstance(data, bytes) else bytes(data)
        frames = []
        pos, size, hsize = 0, len(buf), HEADER.size
        need = hsize
        while size - pos >= hsize:
            kind, length = parse_header(buf[pos : pos + hsize])
            end = pos + hsize + length
            if end > size:
                need = end - pos
                break
            frames.append((kind, decode(buf[pos + hsize : end])))
            pos = end
        self._need = need
        self._buf = bytearray(buf[pos:]) if pos < size else bytearray()
        return frames


class StreamReader:
    """Frames one at a time from a byte stream (the daemon's client sockets).

    Unlike :class:`FrameReader` it hands out one frame per :meth:`next_frame`, so the caller
    can stop between frames (its limits are checked per request, not per read), and it tells
    how many bytes it holds and whether they end in a partial frame.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def push(self, data: bytes) -> None:
        if self._pos and self._pos * 2 >= len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_frame(self) -> tuple | None:
        """The next complete frame as (kind, body), or None. Raises ProtocolError."""
        pos, hsize = self._pos, HEADER.size
        if len(self._buf) - pos < hsize:
            return None
        kind, length = parse_header(bytes(self._buf[pos : pos + hsize]))
        end = pos + hsize + length
        if end > len(self._buf):
            return None
        with memoryview(self._buf) as view:  # one copy of the body (decode's), not two
            body = decode(view[pos + hsize : end])
        self._pos = end
        if end == len(self._buf):
            self._buf = bytearray()
            self._pos = 0
        return kind, body

    def has_frame(self) -> bool:
        """A complete frame is buffered (or a header that fails to parse)."""
        pos, hsize = self._pos, HEADER.size
        if len(self._buf) - pos < hsize:
            return False
        try:
            _kind, length = parse_header(bytes(self._buf[pos : pos + hsize]))
        except ProtocolError:
            return True
        return len(self._buf) - pos >= hsize + length


def request(op: str, req_id: int, **args: Any) -> bytes:
    return frame(KIND_REQUEST, {"op": op, "id": req_id, "args": args})


def reply(req_id: int, code: AisError, detail: str = "", **values: Any) -> bytes:
    if not values and _plain_int(req_id) and isinstance(detail, str) and _I64_MIN <= req_id <= _I64_MAX:
        # The daemon's most common frame (an OK write): the same bytes as the general path
        # below, packed in one go.
        raw = detail.encode("utf-8")
        body = b"".join(
            (
                _REPLY_ID,
                _I64.pack(req_id),
                _REPLY_RC,
                _I64.pack(int(code)),
                _REPLY_DETAIL,
                _U32.pack(len(raw)),
                raw,
                _REPLY_EMPTY,
            )
        )
        return HEADER.pack(MAGIC, PROTOCOL_VERSION, KIND_REPLY, len(body)) + body
    return frame(KIND_REPLY, {"id": req_id, "rc": int(code), "detail": detail, "values": values})


# The fixed parts of a reply without values, as the body encoding writes them.
_REPLY_ID = _TAG_LEN.pack(_T_DICT, 4) + _TAG_LEN.pack(_T_STR, 2) + b"id" + bytes((_T_INT,))
_REPLY_RC = _TAG_LEN.pack(_T_STR, 2) + b"rc" + bytes((_T_INT,))
_REPLY_DETAIL = _TAG_LEN.pack(_T_STR, 6) + b"detail" + bytes((_T_STR,))
_REPLY_EMPTY = _TAG_LEN.pack(_T_STR, 6) + b"values" + _TAG_LEN.pack(_T_DICT, 0)


def raise_for_reply(body: dict, operation: Any = None) -> dict:
    """Turn an error reply into :class:`AisException`; return the values of an OK one."""
    code = AisError.from_code(body.get("rc", AisError.LIBRARY))
    if code is not AisError.OK:
        exc = AisException(code, str(body.get("detail", "")))
        if operation is not None:
            exc.operation = operation
        raise exc
    values = body.get("values")
    return values if isinstance(values, dict) else {}


def protocol_version_text(major: int, minor: int) -> bytes:
    """The protocol section format (docs/design.md#the-problem): ``"<2-hex major> <2-hex minor>\\0"``."""
    if not (0 <= major <= 0xFF and 0 <= minor <= 0xFF):
        raise ValueError(f"protocol version {major}.{minor} does not fit two hex digits each")
    return f"{major:02x} {minor:02x}".encode("ascii") + b"\0"


def parse_protocol_version(data: bytes) -> tuple[int, int]:
    text = data.rstrip(b"\0").decode("ascii", "replace")
    parts = text.split()
    if len(parts) != 2:
        raise ValueError(f"not a protocol version: {data!r}")
    return int(parts[0], 16), int(parts[1], 16)

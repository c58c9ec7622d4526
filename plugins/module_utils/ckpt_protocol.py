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
# Extension: fail with EXIST if the checkpoint exists at all (the O_EXCL the seed's controld
# relies on, which is what makes its fast-restart "write && EXIST" case observable).
OPEN_EXCLUSIVE = 0x8
OPEN_FLAGS_ALL = OPEN_READ | OPEN_WRITE | OPEN_CREATE | OPEN_EXCLUSIVE

# Limits the service enforces (SA_MAX_NAME_LENGTH is 256).
MAX_NAME_LENGTH = 256

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


def request(op: str, req_id: int, **args: Any) -> bytes:
    return frame(KIND_REQUEST, {"op": op, "id": req_id, "args": args})


def reply(req_id: int, code: AisError, detail: str = "", **values: Any) -> bytes:
    return frame(KIND_REPLY, {"id": req_id, "rc": int(code), "detail": detail, "values": values})


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
    """The seed's section format: ``"<2-hex major> <2-hex minor>\\0"``."""
    if not (0 <= major <= 0xFF and 0 <= minor <= 0xFF):
        raise ValueError(f"protocol version {major}.{minor} does not fit two hex digits each")
    return f"{major:02x} {minor:02x}".encode("ascii") + b"\0"


def parse_protocol_version(data: bytes) -> tuple[int, int]:
    text = data.rstrip(b"\0").decode("ascii", "replace")
    parts = text.split()
    if len(parts) != 2:
        raise ValueError(f"not a protocol version: {data!r}")
    return int(parts[0], 16), int(parts[1], 16)

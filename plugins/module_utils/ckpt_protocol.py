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


class ProtocolError(ValueError):
    """A frame or body that does not decode; the peer is out of step or hostile."""


def _encode(value: Any, out: list, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if value is None:
        out.append(bytes((_T_NONE,)))
    elif value is True:
        out.append(bytes((_T_TRUE,)))
    elif value is False:
        out.append(bytes((_T_FALSE,)))
    elif isinstance(value, int):
        out.append(bytes((_T_INT,)) + _I64.pack(value))
    elif isinstance(value, float):
        out.append(bytes((_T_FLOAT,)) + _F64.pack(value))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        out.append(bytes((_T_BYTES,)) + _U32.pack(len(value)))
        out.append(bytes(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out.append(bytes((_T_STR,)) + _U32.pack(len(raw)))
        out.append(raw)
    elif isinstance(value, (list, tuple)):
        out.append(bytes((_T_LIST,)) + _U32.pack(len(value)))
        for item in value:
            _encode(item, out, depth + 1)
    elif isinstance(value, dict):
        out.append(bytes((_T_DICT,)) + _U32.pack(len(value)))
        for key, item in value.items():
            if not isinstance(key, str):
                raise ProtocolError(f"dict keys must be str, got {type(key).__name__}")
            _encode(key, out, depth + 1)
            _encode(item, out, depth + 1)
    else:
        raise ProtocolError(f"cannot encode {type(value).__name__}")


def encode(value: Any) -> bytes:
    out: list = []
    _encode(value, out)
    return b"".join(out)


def _decode(buf: memoryview, pos: int, depth: int) -> tuple[Any, int]:
    if depth > _MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if pos >= len(buf):
        raise ProtocolError("truncated body")
    tag = buf[pos]
    pos += 1
    if tag == _T_NONE:
        return None, pos
    if tag == _T_TRUE:
        return True, pos
    if tag == _T_FALSE:
        return False, pos
    if tag in (_T_INT, _T_FLOAT):
        if pos + 8 > len(buf):
            raise ProtocolError("truncated number")
        codec = _I64 if tag == _T_INT else _F64
        return codec.unpack_from(buf, pos)[0], pos + 8
    if tag not in (_T_BYTES, _T_STR, _T_LIST, _T_DICT):
        raise ProtocolError(f"unknown type tag {tag}")
    if pos + 4 > len(buf):
        raise ProtocolError("truncated length")
    length = _U32.unpack_from(buf, pos)[0]
    pos += 4
    if tag in (_T_BYTES, _T_STR):
        if pos + length > len(buf):
            raise ProtocolError("truncated string")
        raw = bytes(buf[pos : pos + length])
        pos += length
        if tag == _T_BYTES:
            return raw, pos
        try:
            return raw.decode("utf-8"), pos
        except UnicodeDecodeError as exc:
            raise ProtocolError("string is not UTF-8") from exc
    if tag in (_T_LIST, _T_DICT):
        # Each element takes at least one byte: a length beyond the buffer is a lie.
        if length > len(buf) - pos:
            raise ProtocolError("container length exceeds the body")
        if tag == _T_LIST:
            items = []
            for _index in range(length):
                item, pos = _decode(buf, pos, depth + 1)
                items.append(item)
            return items, pos
        result = {}
        for _index in range(length):
            key, pos = _decode(buf, pos, depth + 1)
            if not isinstance(key, str):
                raise ProtocolError("dict key is not a string")
            result[key], pos = _decode(buf, pos, depth + 1)
        return result, pos


def decode(data: bytes) -> Any:
    value, pos = _decode(memoryview(data), 0, 0)
    if pos != len(data):
        raise ProtocolError(f"{len(data) - pos} trailing bytes")
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

    def feed(self, data: bytes) -> list:
        """Add bytes; return the complete frames as (kind, body) pairs. Raises ProtocolError."""
        self._buf.extend(data)
        frames = []
        while len(self._buf) >= HEADER.size:
            kind, length = parse_header(bytes(self._buf[: HEADER.size]))
            end = HEADER.size + length
            if len(self._buf) < end:
                break
            body = decode(bytes(self._buf[HEADER.size : end]))
            del self._buf[:end]
            frames.append((kind, body))
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

from __future__ import annotations

import struct

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError, AisException, Operation
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import (
    HEADER,
    KIND_REPLY,
    KIND_REQUEST,
    MAX_FRAME,
    REC_MESSAGE,
    REC_SECTION,
    REPLICATION_MAGIC,
    REPLICATION_VERSION,
    FrameReader,
    ProtocolError,
    decode,
    decode_replication,
    encode,
    encode_record,
    frame,
    parse_protocol_version,
    protocol_version_text,
    raise_for_reply,
    replication_payload,
    reply,
    request,
)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(-(2**63), id="int-min"),
        pytest.param(2**63 - 1, id="int-max"),
        pytest.param(1.5, id="float"),
        pytest.param(b"\x00\xffbinary", id="bytes"),
        pytest.param("grüße", id="unicode"),
        pytest.param([1, [b"x", {"k": None}]], id="nested"),
        pytest.param({"op": "open", "args": {"name": "g", "attrs": {"max_sections": 4}}}, id="request"),
    ],
)
def test_roundtrip(value):
    assert decode(encode(value)) == value


def test_tuples_become_lists_and_bytes_stay_bytes():
    assert decode(encode((1, b"a"))) == [1, b"a"]


@pytest.mark.parametrize(
    "data, message",
    [
        pytest.param(b"", "truncated body", id="empty"),
        pytest.param(b"\x63", "unknown type tag", id="unknown-tag"),
        pytest.param(b"\x03\x00", "truncated number", id="short-int"),
        pytest.param(b"\x05\x00\x00\x00\x09abc", "truncated string", id="short-bytes"),
        pytest.param(b"\x06\x00\x00\x00\x02\xff\xfe", "not UTF-8", id="bad-utf8"),
        pytest.param(b"\x07\xff\xff\xff\xff", "container length exceeds", id="lying-list-length"),
        pytest.param(b"\x08\x00\x00\x00\x01\x03" + b"\x00" * 8 + b"\x00", "dict key is not a string", id="int-key"),
        pytest.param(encode(1) + b"x", "trailing bytes", id="trailing"),
        pytest.param(b"\x07\x00\x00\x00\x01" * 40 + b"\x00", "nested too deeply", id="deep"),
    ],
)
def test_malformed_bodies_are_protocol_errors(data, message):
    with pytest.raises(ProtocolError, match=message):
        decode(data)


def test_unencodable_values_are_refused():
    with pytest.raises(ProtocolError):
        encode({1: "non-str key"})
    with pytest.raises(ProtocolError):
        encode(object())


def test_frames_parse_incrementally_byte_by_byte():
    stream = request("open", 1, name="g", flags=1) + request("status", 2)
    reader = FrameReader()
    frames = []
    for index in range(len(stream)):
        frames.extend(reader.feed(stream[index : index + 1]))
    assert [(k, b["op"], b["id"]) for k, b in frames] == [(KIND_REQUEST, "open", 1), (KIND_REQUEST, "status", 2)]


@pytest.mark.parametrize(
    "header, message",
    [
        pytest.param(HEADER.pack(b"XX", 1, KIND_REQUEST, 1), "bad magic", id="magic"),
        pytest.param(HEADER.pack(b"QC", 9, KIND_REQUEST, 1), "version 9 is not supported", id="version"),
        pytest.param(HEADER.pack(b"QC", 1, 7, 1), "unknown frame kind", id="kind"),
        pytest.param(HEADER.pack(b"QC", 1, KIND_REQUEST, MAX_FRAME + 1), "exceeds", id="oversize"),
    ],
)
def test_bad_headers_are_refused_before_reading_a_body(header, message):
    with pytest.raises(ProtocolError, match=message):
        FrameReader().feed(header)


def test_oversized_frames_are_not_built():
    with pytest.raises(ProtocolError, match="exceeds"):
        frame(KIND_REQUEST, b"x" * (MAX_FRAME + 1))


def test_replies_raise_their_sa_error_with_the_operation():
    body = decode(reply(3, AisError.NOT_EXIST, "no checkpoint")[HEADER.size :])
    with pytest.raises(AisException) as info:
        raise_for_reply(body, Operation.OPEN_READ)
    assert info.value.code is AisError.NOT_EXIST and info.value.verdict.case.value == "not_exist_read"
    ok = decode(reply(4, AisError.OK, handle=7)[HEADER.size :])
    assert raise_for_reply(ok) == {"handle": 7}
    assert struct.unpack(">2sBBI", reply(1, AisError.OK)[: HEADER.size])[2] == KIND_REPLY


def test_protocol_version_section_format():
    assert protocol_version_text(1, 0) == b"01 00\0"
    assert protocol_version_text(0x1F, 0xA) == b"1f 0a\0"
    assert parse_protocol_version(b"1f 0a\0") == (31, 10)
    with pytest.raises(ValueError):
        protocol_version_text(256, 0)
    with pytest.raises(ValueError):
        parse_protocol_version(b"garbage\0")


def _reference_encode(value, out):
    """The first (straightforward) encoder: the fast one must produce the very same bytes."""
    if value is None:
        out.append(bytes((0,)))
    elif value is True:
        out.append(bytes((2,)))
    elif value is False:
        out.append(bytes((1,)))
    elif isinstance(value, int):
        out.append(bytes((3,)) + struct.pack(">q", value))
    elif isinstance(value, float):
        out.append(bytes((4,)) + struct.pack(">d", value))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        out.append(bytes((5,)) + struct.pack(">I", len(value)) + bytes(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out.append(bytes((6,)) + struct.pack(">I", len(raw)) + raw)
    elif isinstance(value, (list, tuple)):
        out.append(bytes((7,)) + struct.pack(">I", len(value)))
        for item in value:
            _reference_encode(item, out)
    else:
        out.append(bytes((8,)) + struct.pack(">I", len(value)))
        for key, item in value.items():
            _reference_encode(key, out)
            _reference_encode(item, out)
    return out


class _Str(str):
    pass


class _Int(int):
    pass


class _Dict(dict):
    pass


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"t": "op", "op": "section_overwrite", "token": 7, "args": {"data": b"\x00" * 1024}}, id="op"),
        pytest.param({"t": "batch", "m": [b"a", b"bc"]}, id="batch"),
        pytest.param([None, True, False, -1, 2**40, 0.25, "é", b"", bytearray(b"ba"), memoryview(b"mv")], id="scalars"),
        pytest.param(_Dict({_Str("k"): _Int(3), "t": (1, [2])}), id="subclasses"),
        pytest.param({"k" * 200: 1, "ü": {"ü": 2}}, id="long-and-unicode-keys"),
    ],
)
def test_the_encoding_is_byte_for_byte_the_documented_one(value):
    assert encode(value) == b"".join(_reference_encode(value, []))
    assert encode(value) == encode(value)  # cached keys give the same bytes the second time


def test_decode_takes_any_bytes_like_and_keys_of_other_types_are_refused():
    data = encode({"a": [1, b"x"]})
    assert decode(bytearray(data)) == decode(memoryview(data)) == {"a": [1, b"x"]}
    assert isinstance(decode(bytearray(encode(b"raw"))), bytes)
    with pytest.raises(ProtocolError, match="dict key is not a string"):
        decode(b"\x08\x00\x00\x00\x01\x05\x00\x00\x00\x01k\x00")
    with pytest.raises(ProtocolError, match="truncated string"):
        decode(b"\x08\x00\x00\x00\x01\x06\x00\x00\x00\x09k")  # a key longer than the body
    with pytest.raises(ProtocolError, match="not UTF-8"):
        decode(b"\x08\x00\x00\x00\x01\x06\x00\x00\x00\x01\xff\x00")


def test_a_large_frame_in_pieces_and_several_frames_in_one_read():
    big = request("section_overwrite", 1, handle=1, section=b"s", data=b"d" * 300_000)
    small = request("status", 2)
    reader = FrameReader()
    frames = []
    stream = big + small + small[:5]
    for start in range(0, len(stream), 4096):
        frames.extend(reader.feed(stream[start : start + 4096]))
    assert [b["id"] for _k, b in frames] == [1, 2]
    assert frames[0][1]["args"]["data"] == b"d" * 300_000
    assert [b["id"] for _k, b in reader.feed(small[5:] + small)] == [2, 2]
    assert reader.feed(b"") == []


# --------------------------------------------------------------------------- replication payloads

_DATA = bytes(range(256)) * 4
_SECTION_MSGS = [
    {"t": "op", "op": "section_create", "token": 1, "args": {"cid": "1.2.3", "section": b"s1", "data": _DATA}},
    {"t": "op", "op": "section_delete", "token": 2, "args": {"cid": "1.2.3", "section": b"s1", "data": b""}},
    {"t": "op", "op": "section_write", "token": 3, "args": {"cid": "ü.1", "section": b"\0", "data": b"x", "offset": 7}},
    {"t": "op", "op": "section_write", "token": 4, "args": {"cid": "1", "section": b"s", "data": b"", "offset": -1}},
    {"t": "op", "op": "section_overwrite", "token": 2**63 - 1, "args": {"cid": "", "section": b"", "data": _DATA}},
]
_OTHER_MSGS = [
    {"t": "op", "op": "open", "token": 5, "args": {"name": "g", "flags": 7, "attrs": None, "handle": 1}},
    {"t": "op", "op": "section_overwrite", "token": 6, "args": {"cid": "1", "section": b"s", "data": b"", "x": 1}},
    {"t": "op", "op": "section_overwrite", "token": 7, "args": {"cid": 1, "section": b"s", "data": b""}},
    {"t": "op", "op": "section_overwrite", "token": -1, "args": {"cid": "1", "section": b"s", "data": b""}},
    {"t": "op", "op": "section_overwrite", "token": True, "args": {"cid": "1", "section": b"s", "data": b""}},
    {"t": "op", "op": "section_write", "token": 8, "args": {"cid": "1", "section": b"s", "data": b"", "offset": 1.5}},
    {"t": "op", "op": "section_overwrite", "token": 9, "args": {"cid": "1", "section": b"s" * 70000, "data": b""}},
    {"t": "op", "op": "section_overwrite", "token": 10, "args": {"cid": "1", "section": "s", "data": b""}},
    {"t": "op", "op": "section_overwrite", "token": 11, "args": ["not", "a", "map"]},
    {"t": "expire", "cid": "1.2.3", "zero_epoch": 2},
    ["not", "a", "map"],
]


@pytest.mark.parametrize("msg", _SECTION_MSGS + _OTHER_MSGS)
def test_every_message_survives_a_version_2_payload(msg):
    messages, errors = decode_replication(replication_payload([encode_record(msg)]))
    assert (messages, errors) == ([msg], [])


def test_section_operations_get_the_compact_record_and_the_rest_the_body_encoding():
    for msg in _SECTION_MSGS:
        record = encode_record(msg)
        assert record[0] == REC_SECTION
        assert len(record) < len(encode(msg))
    for msg in _OTHER_MSGS:
        assert encode_record(msg) == struct.pack(">BI", REC_MESSAGE, len(encode(msg))) + encode(msg)
    # A 1 KiB overwrite: 27 bytes of record header plus the cid and section id.
    assert len(encode_record(_SECTION_MSGS[-1])) == 27 + len(_DATA)


def test_a_mixed_payload_keeps_the_order_and_version_1_payloads_still_decode():
    msgs = _SECTION_MSGS + _OTHER_MSGS
    payload = replication_payload([encode_record(m) for m in msgs])
    assert payload.startswith(REPLICATION_MAGIC + bytes((REPLICATION_VERSION,)))
    assert decode_replication(payload) == (msgs, [])
    assert decode_replication(memoryview(payload)) == (msgs, [])
    # Version 1: one message, or a batch of encoded messages (a bad one is skipped with its error).
    assert decode_replication(encode(msgs[0])) == ([msgs[0]], [])
    messages, errors = decode_replication(encode({"t": "batch", "m": [encode(msgs[0]), b"\x63", encode(msgs[1])]}))
    assert messages == msgs[:2] and len(errors) == 1 and "unknown type tag" in str(errors[0])
    assert decode_replication(replication_payload([])) == ([], [])
    messages, errors = decode_replication(encode({"t": "batch", "m": [7, encode(msgs[0])]}))
    assert messages == msgs[:1] and "is int, not bytes" in str(errors[0])


def _section_record(code=4, flags=0, cid=b"1", sid=b"s", data=b"d", cid_len=None):
    head = struct.pack(
        ">BBBQqHHI", REC_SECTION, code, flags, 1, 0, len(cid) if cid_len is None else cid_len, len(sid), len(data)
    )
    return head + cid + sid + data


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        pytest.param(b"QR", "truncated replication header", id="short-header"),
        pytest.param(b"QR\x03", "replication version 3 is not supported", id="future-version"),
        pytest.param(b"QR\x01", "replication version 1 is not supported", id="version-1-in-a-v2-envelope"),
        pytest.param(b"QR\x02\x09", "unknown replication record kind 9", id="unknown-record"),
        pytest.param(b"QR\x02" + _section_record()[:20], "truncated section record", id="short-section-header"),
        pytest.param(b"QR\x02" + _section_record()[:-1], "truncated section record", id="short-section-data"),
        pytest.param(b"QR\x02" + _section_record(cid_len=900), "truncated section record", id="lying-cid-length"),
        pytest.param(b"QR\x02\x02\x00\x00", "truncated message record", id="short-message-header"),
        pytest.param(b"QR\x02\x02\x00\x00\x00\x09\x00", "truncated message record", id="short-message-body"),
        pytest.param(b"\x08\x00\x00", "truncated length", id="broken-version-1"),
        pytest.param(encode({"t": "batch", "m": 5}), "a batch without a list", id="version-1-batch-not-a-list"),
        pytest.param(encode({"t": "batch"}), "a batch without a list", id="version-1-batch-without-messages"),
    ],
)
def test_a_structurally_broken_payload_raises(payload, match):
    with pytest.raises(ProtocolError, match=match):
        decode_replication(payload)


def test_a_bad_record_with_a_known_length_is_skipped_and_the_rest_applies():
    good = encode_record(_SECTION_MSGS[0])
    records = [
        _section_record(code=0),
        _section_record(code=5),
        _section_record(flags=2),
        _section_record(cid=b"\xff"),
        struct.pack(">BI", REC_MESSAGE, 1) + b"\x63",
        good,
    ]
    messages, errors = decode_replication(replication_payload(records))
    assert messages == [_SECTION_MSGS[0]]
    assert [type(e) for e in errors] == [ProtocolError] * 5
    assert "not UTF-8" in str(errors[3]) and "unknown type tag" in str(errors[4])


@pytest.mark.parametrize("req_id", [0, 1, -3, 2**63 - 1])
@pytest.mark.parametrize("code", [AisError.OK, AisError.TRY_AGAIN, AisError.NOT_EXIST])
@pytest.mark.parametrize("detail", ["", "no section b'x' — ü"])
def test_the_short_reply_is_byte_for_byte_the_general_one(req_id, code, detail):
    general = frame(KIND_REPLY, {"id": req_id, "rc": int(code), "detail": detail, "values": {}})
    assert reply(req_id, code, detail) == general
    assert FrameReader().feed(reply(req_id, code, detail)) == [(KIND_REPLY, decode(general[HEADER.size :]))]


def test_subclasses_get_the_same_bytes_as_their_base_types_and_bools_are_not_ints():
    msg = _Dict(
        t="op", op="section_write", token=_Int(3), args=_Dict(cid=_Str("1.2"), section=b"s", data=b"d", offset=_Int(1))
    )
    record = encode_record(msg)
    assert record[0] == REC_SECTION and decode_replication(replication_payload([record])) == ([msg], [])
    for req_id in (_Int(5), True):
        general = frame(KIND_REPLY, {"id": req_id, "rc": 1, "detail": _Str("x"), "values": {}})
        assert reply(req_id, AisError.OK, _Str("x")) == general

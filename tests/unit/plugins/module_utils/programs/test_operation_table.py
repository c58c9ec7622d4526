"""One table for the operation names, the replicated message types and the cs_error_t codes.

The names are wire format: these tests pin them, and check that every user takes them from the
one table (ckpt_protocol for operations and message types, cpg for cs_error_t).
"""

from __future__ import annotations

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils.programs import ckpt_store, ckptd, cpg
from ansible_collections.quorate.cluster.plugins.module_utils.programs.ckpt_store import CheckpointStore
from ansible_collections.quorate.cluster.plugins.module_utils.shared import ckpt_protocol as proto
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError

ME = (1, 101)


def test_operation_names_are_the_wire_strings():
    assert {name: getattr(proto, name) for name in dir(proto) if name.startswith("OP_")} == {
        "OP_HELLO": "hello",
        "OP_STATUS": "status",
        "OP_LIST": "list",
        "OP_OPEN": "open",
        "OP_CLOSE": "close",
        "OP_UNLINK": "unlink",
        "OP_SECTION_CREATE": "section_create",
        "OP_SECTION_DELETE": "section_delete",
        "OP_SECTION_WRITE": "section_write",
        "OP_SECTION_OVERWRITE": "section_overwrite",
        "OP_SECTION_READ": "section_read",
        "OP_SECTION_ITERATE": "section_iterate",
        "OP_SECTION_EXPIRATION_SET": "section_expiration_set",
        "OP_RETENTION_DURATION_SET": "retention_duration_set",
    }
    # The position in SECTION_OPS is the op code of a version-2 section record.
    assert proto.SECTION_OPS == ("section_create", "section_delete", "section_write", "section_overwrite")


def test_message_types_are_the_wire_strings():
    assert {name: getattr(proto, name) for name in dir(proto) if name.startswith("MSG_")} == {
        "MSG_OP": "op",
        "MSG_EXPIRE": "expire",
        "MSG_SECTION_EXPIRE": "section_expire",
        "MSG_QUORUM": "quorum",
        "MSG_DIGEST": "digest",
        "MSG_STATE": "state",
        "MSG_STATE_PART": "state_part",
        "MSG_SYNC_DONE": "sync_done",
        "MSG_BATCH": "batch",
    }
    assert proto.SYNC_MESSAGES == {"digest", "state", "state_part", "sync_done"}


def test_operation_sets_partition_the_client_operations():
    groups = [proto.LOCAL_OPS, proto.READ_OPS, proto.REPLICATED_OPS]
    assert sum(len(group) for group in groups) == len(proto.CLIENT_OPS)
    assert proto.WRITE_OPS <= proto.REPLICATED_OPS
    assert proto.CLIENT_OPS == {getattr(proto, name) for name in dir(proto) if name.startswith("OP_")}


def test_the_daemon_and_the_store_use_the_table():
    assert ckptd.READ_OPS is proto.READ_OPS
    assert ckptd.WRITE_OPS is proto.WRITE_OPS
    assert ckptd.SYNC_MESSAGES is proto.SYNC_MESSAGES
    assert not hasattr(ckptd, "CS_ERR_TRY_AGAIN")
    assert ckpt_store.SYNC_MESSAGES is proto.SYNC_MESSAGES


def test_store_dispatches_every_replicated_operation_explicitly():
    assert set(CheckpointStore._OPS) == proto.REPLICATED_OPS
    for op, handler in CheckpointStore._OPS.items():
        assert handler is getattr(CheckpointStore, f"_op_{op}")


def _synced_store() -> CheckpointStore:
    store = CheckpointStore(ME)
    queue = store.on_confchg([ME], 0.0)
    while queue:
        out, _result = store.on_deliver(ME, queue.pop(0), 0.0)
        queue.extend(out)
    assert not store.syncing
    return store


@pytest.mark.parametrize("op", ["nope", "section_read", "hello", "_replace", ["open"], None, 7])
def test_store_answers_an_operation_it_does_not_apply_with_bad_operation(op):
    store = _synced_store()
    out, result = store.on_deliver(ME, {"t": proto.MSG_OP, "op": op, "token": 1, "args": {}}, 1.0)
    assert out == []
    assert result.code is AisError.BAD_OPERATION
    assert result.detail == f"unknown operation {op!r}"


@pytest.mark.parametrize("kind", [["digest"], {"t": 1}, None, "batch"])
def test_store_answers_an_unknown_message_type_with_message_error(kind):
    store = _synced_store()
    out, result = store.on_deliver(ME, {"t": kind}, 1.0)
    assert out == []
    assert result.code is AisError.MESSAGE_ERROR


def test_cs_error_constants_are_the_one_table():
    names = {code: cpg.cs_error_name(code) for code in range(0, 101)}
    constants = {name: getattr(cpg, name) for name in dir(cpg) if name == "CS_OK" or name.startswith("CS_ERR_")}
    assert len(set(constants.values())) == len(constants)
    for name, code in constants.items():
        assert names[code] == name
    assert cpg.cs_error_name(29) == "CS_ERR_UNKNOWN_29"
    # 1..27 and 100 are numbered as SaAisErrorT.
    for error in AisError:
        expected = "CS_OK" if error is AisError.OK else f"CS_ERR_{error.name}"
        assert cpg.cs_error_name(int(error)) == expected


def test_cpg_error_try_again_is_the_constant():
    assert cpg.CpgError(cpg.CS_ERR_TRY_AGAIN, "cpg_mcast_joined").try_again
    assert not cpg.CpgError(cpg.CS_ERR_LIBRARY, "cpg_mcast_joined").try_again

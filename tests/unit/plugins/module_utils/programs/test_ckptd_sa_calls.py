"""Issue 17 through the daemon and the client: the default section, section expiration times,
the retention duration set after creation, and INVALID_PARAM for data beyond max_section_size."""

from __future__ import annotations

import time

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError, AisException
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import (
    DEFAULT_SECTION_ID,
    OPEN_READ,
    SA_TIME_END,
)

ATTRS = {
    "creation_flags": 0,
    "checkpoint_size": 1024,
    "retention_duration": 300_000_000,
    "max_sections": 4,
    "max_section_size": 256,
    "max_section_id_size": 32,
}


def code_of(call, *args) -> AisError:
    with pytest.raises(AisException) as info:
        call(*args)
    return info.value.code


def test_the_default_section_through_the_client(daemon):
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("one", dict(ATTRS, max_sections=1))
        assert client.section_iterate(handle) == [{"id": b"", "size": 0}]
        client.section_overwrite(handle, DEFAULT_SECTION_ID, b"hello")
        client.section_write(handle, b"", b"J")
        assert client.section_read(handle, b"") == b"Jello"
        assert code_of(client.section_create, handle, b"x", b"") is AisError.EXIST
        assert code_of(client.section_delete, handle, b"") is AisError.INVALID_PARAM
        assert code_of(client.section_expiration_time_set, handle, b"", 1) is AisError.INVALID_PARAM


def test_expiration_times_through_the_client(daemon):
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("g", ATTRS)
        later = time.time_ns() + 3600 * 10**9
        client.section_create(handle, b"a", b"1", expiration_ns=later)
        client.section_create(handle, b"b", b"2")
        assert client.section_iterate(handle) == [
            {"id": b"a", "size": 1, "expiration": later},
            {"id": b"b", "size": 1},
        ]
        client.section_expiration_time_set(handle, b"a", SA_TIME_END)
        client.section_expiration_time_set(handle, b"b", time.time_ns() + 200_000_000)
        assert client.section_iterate(handle)[0] == {"id": b"a", "size": 1}
        deadline = time.monotonic() + 5
        while len(client.section_iterate(handle)) == 2:  # the leader (this daemon) expires b
            assert time.monotonic() < deadline, "section b did not expire"
            time.sleep(0.05)
        assert code_of(client.section_read, handle, b"b") is AisError.NOT_EXIST
        assert code_of(client.section_expiration_time_set, handle, b"b", 1) is AisError.NOT_EXIST
        assert code_of(client.section_expiration_time_set, handle, b"a", -1) is AisError.INVALID_PARAM
        assert code_of(client.section_create, handle, b"c", b"", -5) is AisError.INVALID_PARAM
        reader = client.open("g", OPEN_READ)
        assert code_of(client.section_expiration_time_set, reader, b"a", 1) is AisError.ACCESS


def test_retention_duration_set_through_the_client(daemon):
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("g", ATTRS)
        reader = client.open("g", OPEN_READ)
        client.retention_duration_set(reader, 60 * 10**9)  # as openais: no access mode needed
        assert client.list()[0]["retention_duration"] == 60 * 10**9
        assert client.open("g", OPEN_READ | 0x2 | 0x4, ATTRS)  # the creation attributes still match
        assert code_of(client.retention_duration_set, handle, -1) is AisError.INVALID_PARAM
        assert code_of(client.retention_duration_set, handle, True) is AisError.INVALID_PARAM
        client.unlink("g")
        assert code_of(client.retention_duration_set, handle, 0) is AisError.BAD_OPERATION
        assert code_of(client.retention_duration_set, 999, 0) is AisError.BAD_HANDLE


def test_data_beyond_max_section_size_is_invalid_param_through_the_client(daemon):
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("g", ATTRS)
        assert code_of(client.section_create, handle, b"s", b"x" * 257) is AisError.INVALID_PARAM
        client.section_create(handle, b"s", b"x" * 200)
        assert code_of(client.section_overwrite, handle, b"s", b"x" * 257) is AisError.INVALID_PARAM
        assert code_of(client.section_write, handle, b"s", b"x" * 100, 200) is AisError.INVALID_PARAM
        assert client.section_read(handle, b"s") == b"x" * 200


def test_while_a_member_predates_the_calls_the_daemon_answers_not_supported(daemon):
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("g", ATTRS)
        client.section_create(handle, b"s", b"v")
        daemon.store.features = frozenset()  # as after a sync with a member from before them
        later = time.time_ns() + 10**12
        assert code_of(client.retention_duration_set, handle, 1) is AisError.NOT_SUPPORTED
        assert code_of(client.section_expiration_time_set, handle, b"s", later) is AisError.NOT_SUPPORTED
        assert code_of(client.section_create, handle, b"t", b"", later) is AisError.NOT_SUPPORTED
        client.section_create(handle, b"t", b"")  # without an expiration time: as before
        assert client.list()[0]["retention_duration"] == ATTRS["retention_duration"]

"""Issue 17 on a real 3-node corosync (netns): the default section, section expiration times
(expired by the leader for every member), the retention duration set after creation, INVALID_PARAM
for data beyond max_section_size, through CheckpointClient on one node and quorate-ckpt on others."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from harness.node_daemons import NodeDaemons, ckptd_everywhere

from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError, AisException
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import (
    DEFAULT_SECTION_ID,
    OPEN_READ,
    SA_TIME_END,
)

NODES = [1, 2, 3]
ATTRS = {
    "creation_flags": 0,
    "checkpoint_size": 4096,
    "retention_duration": 0,
    "max_sections": 8,
    "max_section_size": 256,
    "max_section_id_size": 32,
}


@pytest.fixture(scope="module")
def service(netns_cluster):
    with ckptd_everywhere(netns_cluster) as daemons:
        yield daemons


def client(daemons: NodeDaemons, node: int) -> CheckpointClient:
    return CheckpointClient(daemons.socket(node), timeout=10).connect()


def show(daemons: NodeDaemons, node: int, name: str) -> list:
    """quorate-ckpt show NAME on ``node``, as text lines."""
    cmd = [sys.executable, "-m", "quorate_node.programs.ckpt_cli", "--socket", daemons.socket(node), "show", name]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=daemons.env, timeout=30, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc
    return [line.split() for line in proc.stdout.splitlines()]


def code_of(call, *args) -> AisError:
    with pytest.raises(AisException) as info:
        call(*args)
    return info.value.code


def test_the_default_section_everywhere(service):
    daemons = service
    with client(daemons, 1) as writer:
        handle = writer.create("sa:one", dict(ATTRS, max_sections=1))
        writer.section_overwrite(handle, DEFAULT_SECTION_ID, b"default data")
        assert code_of(writer.section_create, handle, b"named", b"") is AisError.EXIST
        assert code_of(writer.section_delete, handle, b"") is AisError.INVALID_PARAM
        assert code_of(writer.section_expiration_time_set, handle, b"", 1) is AisError.INVALID_PARAM
        with client(daemons, 2) as reader:
            assert reader.section_read(reader.open("sa:one", OPEN_READ), b"") == b"default data"
        lines = show(daemons, 3, "sa:one")
        assert lines[0] == ["sa:one:", "1", "section,", "12", "bytes,", "retention", "0s"]
        assert lines[2] == ["(default)", "12", "never", "default", "data"]
        assert json.loads(daemons.ckpt(3, "show", "sa:one").stdout) == {"": "default data"}


def test_sections_expire_on_every_member_and_show_prints_when(service):
    daemons = service
    with client(daemons, 2) as writer:  # not the leader: the leader (lowest member) expires for everyone
        handle = writer.create("sa:expiry", ATTRS)
        writer.section_create(handle, b"keep", b"k")
        writer.section_create(handle, b"soon", b"s", expiration_ns=time.time_ns() + 3600 * 10**9)
        lines = show(daemons, 3, "sa:expiry")
        rows = {row[0]: row for row in lines[2:]}
        assert rows["keep"][2] == "never" and rows["soon"][2].endswith("Z")
        # Set it to pass in 1 s; then SA_TIME_END on the other one stays forever.
        writer.section_expiration_time_set(handle, b"soon", time.time_ns() + 10**9)
        writer.section_expiration_time_set(handle, b"keep", SA_TIME_END)
        deadline = time.monotonic() + 15
        while True:
            counts = {n: {c["name"]: c["sections"] for c in daemons.listing(n)}["sa:expiry"] for n in NODES}
            if set(counts.values()) == {1}:
                break
            assert time.monotonic() < deadline, counts
            time.sleep(0.2)
        assert code_of(writer.section_read, handle, b"soon") is AisError.NOT_EXIST
        for node in NODES:
            assert json.loads(daemons.ckpt(node, "show", "sa:expiry").stdout) == {"keep": "k"}


def test_retention_set_after_creation_is_seen_everywhere(service):
    daemons = service
    with client(daemons, 3) as writer:
        handle = writer.create("sa:retention", dict(ATTRS, retention_duration=5 * 10**9))
        writer.retention_duration_set(handle, 90 * 10**9)
        for node in NODES:
            listing = {c["name"]: c for c in daemons.listing(node)}
            assert listing["sa:retention"]["retention_duration"] == 90 * 10**9
        assert show(daemons, 1, "sa:retention")[0][-2:] == ["retention", "90s"]
        # Reopening with the creation attributes still matches.
        writer.create("sa:retention", dict(ATTRS, retention_duration=5 * 10**9))
        writer.unlink("sa:retention")
        assert code_of(writer.retention_duration_set, handle, 0) is AisError.BAD_OPERATION


def test_sizes_follow_the_spec(service):
    daemons = service
    with client(daemons, 1) as writer:
        # openais test/testckpt.c's attributes: max_section_size above checkpoint_size.
        handle = writer.create("sa:testckpt", dict(ATTRS, checkpoint_size=100000, max_section_size=200000))
        writer.section_create(handle, b"s", b"x" * 1000)
        limited = writer.create("sa:sizes", ATTRS)
        assert code_of(writer.section_create, limited, b"s", b"x" * 257) is AisError.INVALID_PARAM
        writer.section_create(limited, b"s", b"x")
        assert code_of(writer.section_overwrite, limited, b"s", b"x" * 257) is AisError.INVALID_PARAM
        assert code_of(writer.section_write, limited, b"s", b"x" * 10, 250) is AisError.INVALID_PARAM

"""The netns harness reuses the collection's corosync.conf renderer and quorumtool parser."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness.netns_cluster import NetnsCluster, parse_quorumtool

from ansible_collections.quorate.cluster.plugins.module_utils._modules import corosync_conf

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "corosync"


@pytest.fixture
def cluster(tmp_path):
    # Nothing is created on the host: no create(), a fixed subnet, a detached cluster (no atexit).
    return NetnsCluster(nodes=3, prefix="t1", workdir=tmp_path, subnet_octet=7, detached=True)


def test_the_conf_is_the_one_the_harness_always_wrote(cluster):
    conf = corosync_conf.parse(cluster.render_conf())
    assert conf["totem"] == {
        "version": "2",
        "cluster_name": cluster.cluster_name,
        "transport": "knet",
        "crypto_cipher": "aes256",
        "crypto_hash": "sha256",
        "keyfile": str(cluster.authkey_path),
        "token": str(cluster.token_ms),
    }
    assert conf["nodelist"]["node"] == [
        {"nodeid": str(n), "name": cluster.node_name(n), "ring0_addr": cluster.addr(n)} for n in (1, 2, 3)
    ]
    assert conf["quorum"] == {"provider": "corosync_votequorum"}
    assert conf["logging"] == {"to_stderr": "yes", "to_syslog": "no", "to_logfile": "no", "timestamp": "on"}


def test_a_token_coefficient_and_another_token_are_written(cluster):
    cluster.token_coefficient = 0
    totem = corosync_conf.parse(cluster.render_conf(token_ms=3000))["totem"]
    assert totem["token"] == "3000" and totem["token_coefficient"] == "0"


@pytest.mark.parametrize(
    "fixture, rc, quorate, nodes, members",
    [
        ("quorumtool_s_quorate3.txt", 0, True, 3, (1, 2, 3)),
        ("quorumtool_s_quorate2of3.txt", 0, True, 2, (1, 2)),
        ("quorumtool_s_inquorate.txt", 2, False, None, None),
    ],
)
def test_quorumtool_output_is_parsed_by_the_collection(fixture, rc, quorate, nodes, members):
    text = (FIXTURES / fixture).read_text()
    status = parse_quorumtool(text, rc)
    assert status.returncode == rc and status.quorate is quorate and status.stdout == text
    if nodes is not None:
        assert status.nodes == nodes and status.members == members
        assert status.node_id == 1 and status.ring_id and status.expected_votes == 3


def test_a_quorate_line_with_a_failing_exit_is_not_quorate():
    text = (FIXTURES / "quorumtool_s_quorate3.txt").read_text()
    assert not parse_quorumtool(text, 1).quorate


def test_corosync_not_running_gives_an_empty_status():
    status = parse_quorumtool("", 1, "Cannot initialize CMAP service\n")
    assert not status.quorate and status.nodes is None and status.members == () and status.ring_id is None

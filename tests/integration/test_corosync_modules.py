"""corosync_info and corosync_wait against a real 3-node corosync in network namespaces.

The modules run through ``ansible`` itself (ad-hoc, local connection) inside a node's network
namespace, which is where that node's corosync IPC lives; so the whole path is exercised:
argument spec, module_utils shipped by AnsiballZ, the corosync tools, the retry policy.
"""

from __future__ import annotations

import threading
import time

import pytest
from harness.ansible_in_node import run_module as run_in_node
from harness.node_daemons import NodeDaemons


def run_module(cluster, node: int, module: str, args: dict, timeout: float = 120.0) -> tuple[bool, dict, float]:
    """Run ``quorate.cluster.<module>`` on ``node``; returns (failed, result, wall seconds)."""
    return run_in_node(cluster.node_env_prefix(node), module, args, cluster.workdir / "ansible-home", timeout)


def test_corosync_info_reads_the_live_runtime_values(netns_cluster):
    failed, result, _wall = run_module(netns_cluster, 2, "corosync_info", {})
    assert not failed, result
    assert result["changed"] is False, result
    # token 3000 on 3 nodes: corosync adds one coefficient (650) per node beyond two.
    assert result["token"] == 3000 + (3 - 2) * 650
    assert result["consensus"] == int(1.2 * result["token"])
    assert result["join"] == 50
    assert result["members"] == [1, 2, 3]
    assert result["nodelist"] == [1, 2, 3]
    assert result["quorate"] is True
    assert result["node_id"] == 2
    assert result["expected_votes"] == 3
    assert [m["addrs"] for m in result["member_details"]] == [[netns_cluster.addr(n)] for n in (1, 2, 3)]
    assert result["ring_id"].count(".") == 1


def test_corosync_wait_returns_at_once_on_a_healthy_cluster(netns_cluster):
    failed, result, _wall = run_module(netns_cluster, 1, "corosync_wait", {"members": [1, 2, 3]})
    assert not failed, result
    assert result["attempts"] == 1
    assert result["quorate"] is True
    assert result["timing_source"] == "cmap"
    assert result["token_ms"] == 3650
    assert result["deadline"] == pytest.approx((3650 + 4380) / 1000 * 1.1 + 0.5, abs=0.01)


def test_corosync_wait_returns_once_the_member_is_there(netns_cluster_factory):
    cluster = netns_cluster_factory(nodes=3)
    cluster.start(1)
    cluster.start(2)
    cluster.wait_quorate(timeout=60, nodes=[1, 2])

    outcome: dict = {}

    def wait():
        outcome["value"] = run_module(cluster, 1, "corosync_wait", {"members": [1, 2, 3], "timeout": 60})

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(3.0)  # the module is polling while node 3 is absent
    assert waiter.is_alive(), "corosync_wait returned before node 3 existed"
    started_3 = time.monotonic()
    cluster.start(3)
    waiter.join(timeout=90)
    assert not waiter.is_alive()
    failed, result, wall = outcome["value"]
    joined_after = time.monotonic() - started_3
    assert not failed, result
    assert result["members"] == [1, 2, 3]
    assert result["quorate"] is True
    assert result["elapsed"] >= 3.0
    assert result["attempts"] > 10
    # It noticed the join promptly: it returned within a few seconds of node 3 starting
    # (corosync needs ~2-5 s to merge it), far from its 60 s limit.
    assert joined_after < 20, (joined_after, result)


def test_corosync_wait_names_the_missing_node_and_gives_up_in_time(netns_cluster_factory):
    cluster = netns_cluster_factory(nodes=3)
    cluster.start(1)
    cluster.start(2)
    cluster.wait_quorate(timeout=60, nodes=[1, 2])
    failed, result, wall = run_module(cluster, 1, "corosync_wait", {"members": [1, 2, 3], "timeout": 2})
    assert failed
    assert result["missing"] == [3]
    assert "nodes [3] not in the membership (present: [1, 2])" in result["msg"]
    assert 2.0 <= result["elapsed"] < 2.5
    assert wall < 30


def test_corosync_stopped_fails_cleanly_in_bounded_time(netns_cluster_factory):
    cluster = netns_cluster_factory(nodes=3)
    cluster.start_all()
    cluster.wait_quorate(timeout=60)
    cluster.stop_all()

    failed, result, wall = run_module(cluster, 1, "corosync_wait", {"members": 3, "timeout": 3})
    assert failed
    assert "corosync is not running" in result["msg"]
    assert result["errors"]["COROSYNC_NOT_RUNNING"] >= 3
    assert 3.0 <= result["elapsed"] < 3.5
    assert wall < 30

    # Without a timeout the deadline rests on corosync's default timing: still bounded.
    failed, result, _wall = run_module(cluster, 1, "corosync_wait", {"members": 3})
    assert failed and result["timing_source"] == "assumed"
    assert result["elapsed"] < 10

    failed, result, _wall = run_module(cluster, 1, "corosync_info", {})
    assert failed and "corosync is not running" in result["msg"]
    failed, result, _wall = run_module(cluster, 1, "corosync_info", {"require_running": False})
    assert not failed and result["running"] is False


def test_corosync_wait_waits_for_corosync_to_start(netns_cluster_factory):
    """corosync not running yet: the wait covers its start instead of failing at once."""
    cluster = netns_cluster_factory(nodes=3)
    # The module's code run directly (no ansible start-up time), so it is surely polling
    # before corosync starts.
    direct = NodeDaemons(cluster)
    outcome: dict = {}
    waiter = threading.Thread(
        target=lambda: outcome.setdefault("value", direct.run_module(1, "corosync_wait", {"timeout": 60}))
    )
    waiter.start()
    time.sleep(3.0)
    assert waiter.is_alive()
    cluster.start_all()
    waiter.join(timeout=90)
    failed, result = outcome["value"]
    assert not failed, result
    assert result["members"] == [1, 2, 3]  # the nodelist, read once corosync answered
    assert result["errors"]["COROSYNC_NOT_RUNNING"] >= 5
    assert result["timing_source"] == "cmap"
    assert result["elapsed"] >= 3.0

"""Self-test of the netns corosync harness."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

import pytest
from harness.netns_cluster import SHM_DIR, NetnsCluster, parse_quorumtool

pytestmark = pytest.mark.integration


def _nodes_line(stdout: str) -> int:
    # Parsed here on purpose rather than via the harness, to check the harness.
    m = re.search(r"^Nodes:\s+(\d+)\s*$", stdout, re.MULTILINE)
    assert m, f"no 'Nodes:' line in:\n{stdout}"
    return int(m.group(1))


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_parse_quorumtool_not_running() -> None:
    st = parse_quorumtool("", 1, "Cannot initialize CMAP service\n")
    assert not st.quorate and st.nodes is None and st.members == ()


def test_three_nodes_then_one_stops(netns_cluster_factory: Callable[..., NetnsCluster]) -> None:
    cluster = netns_cluster_factory(nodes=3)
    pids = cluster.start_all()
    assert len(pids) == 3

    status = cluster.wait_quorate(timeout=60)
    for node in (1, 2, 3):
        res = cluster.exec(node, ["corosync-quorumtool", "-s"], timeout=10)
        assert res.returncode == 0, res.stderr
        assert _nodes_line(res.stdout) == 3
        assert status[node].members == (1, 2, 3)

    assert cluster.stop(3) == 0
    assert not cluster.is_running(3)
    status = cluster.wait_quorate(timeout=30)
    assert sorted(status) == [1, 2]
    for node in (1, 2):
        res = cluster.exec(node, ["corosync-quorumtool", "-s"], timeout=10)
        assert res.returncode == 0, res.stderr
        assert _nodes_line(res.stdout) == 2
    # No corosync behind node 3's namespace any more.
    assert cluster.exec(3, ["corosync-quorumtool", "-s"], timeout=10).returncode == 1

    names = set(cluster.namespaces)
    assert names <= _netns_names()
    cluster.destroy()
    cluster.destroy()  # idempotent
    assert not names & _netns_names()
    assert not any(_alive(pid) for pid in pids)
    assert not cluster.workdir.exists()


def test_shared_cluster_isolation_and_kill9(netns_cluster: NetnsCluster) -> None:
    cluster = netns_cluster
    # Addresses live only inside the node namespaces, never in the root netns.
    addrs = subprocess.run(
        cluster.node_env_prefix(2) + ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    assert cluster.addr(2) in addrs
    root = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    assert f"10.213.{cluster.subnet_octet}." not in root

    pid = cluster.pid(2)
    assert pid is not None
    assert list(SHM_DIR.glob(f"qb-corosync-{pid}-blackbox-*"))
    cluster.kill9(2)
    assert not cluster.is_running(2)
    # A hard kill leaves the blackbox behind; the harness removes it for dead pids it started.
    assert not list(SHM_DIR.glob(f"qb-corosync-{pid}-blackbox-*"))
    status = cluster.wait_quorate(timeout=30)  # survivors notice after token + consensus
    assert sorted(status) == [1, 3] and all(s.nodes == 2 for s in status.values())

    cluster.heal()  # leave the module fixture whole for later tests
    assert cluster.running_nodes() == [1, 2, 3]

"""quorate-ckptd, quorate-controld and ckpt_wait on a real 3-node corosync (network namespaces)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from harness.node_daemons import COLLECTIONS, NodeDaemons, ckptd_everywhere

NODES = [1, 2, 3]
GLOBAL = "quorate:controld"


def local_name(node: int) -> str:
    return f"{GLOBAL}:{node:08x}"


@pytest.fixture
def service(netns_cluster_factory):
    cluster = netns_cluster_factory(nodes=3)
    cluster.start_all()
    cluster.wait_quorate(timeout=60)
    with ckptd_everywhere(cluster) as daemons:
        yield cluster, daemons


def start_controlds_together(daemons: NodeDaemons, nodes=None, extra=None) -> None:
    """Launch on every node back to back (a few ms apart), like a cluster manager does."""
    threads = [
        threading.Thread(target=daemons.start_controld, args=(n, *((extra or {}).get(n, ())))) for n in (nodes or NODES)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def ckpt_wait_everywhere(daemons: NodeDaemons) -> dict:
    results = {}
    for node in NODES:
        for name, sections in (
            (GLOBAL, ["daemon_protocol", "ocfs2_protocol"]),
            (local_name(node), ["daemon_max_protocol", "ocfs2_max_protocol"]),
        ):
            failed, result = daemons.run_module(
                node, "ckpt_wait", {"name": name, "sections": sections, "socket": daemons.socket(node)}
            )
            assert not failed, result
            assert result["changed"] is False
            results[(node, name)] = result
    return results


def wait_empty(daemons: NodeDaemons, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemons.listing(1):
            return
        time.sleep(0.1)
    raise AssertionError(f"checkpoints left after retention: {daemons.listing(1)}")


def test_simultaneous_controld_start_negotiates_every_time(service):
    cluster, daemons = service
    cases = Counter()
    firsts = Counter()
    for _run in range(20):
        start_controlds_together(daemons, extra={n: ("--local-retention", "0.2") for n in NODES})
        ready = daemons.wait_ready(NODES)
        assert sum(r["first"] for r in ready.values()) == 1, ready
        for node, info in ready.items():
            assert info["daemon_protocol"] == [1, 0] and info["fs_protocol"] == [1, 0], info
            for phase in ("local", "global"):
                cases[f"{phase}:{info['reports'][phase]['case']}"] += 1
            if info["first"]:
                firsts[node] += 1
        for result in ckpt_wait_everywhere(daemons).values():
            assert result["sections"] in (
                {"daemon_protocol": "01 00", "ocfs2_protocol": "01 00"},
                {"daemon_max_protocol": "01 00", "ocfs2_max_protocol": "01 00"},
            )
        for node in NODES:
            assert daemons.stop("controld", node) == 0, daemons.tails("controld", [node])
        wait_empty(daemons)
    print(f"\n20 simultaneous starts: first member by node {dict(firsts)}; cases {dict(cases)}")


def test_fast_restart_meets_the_old_local_checkpoint_and_recovers(service):
    cluster, daemons = service
    start_controlds_together(daemons)
    daemons.wait_ready(NODES)
    daemons.kill9("controld", 2)
    daemons.start_controld(2)  # at once: the old local checkpoint awaits its 3 s retention
    ready = daemons.wait_ready([2])[2]
    local = ready["reports"]["local"]
    assert local["case"] == "exist_create", local
    assert local["errors"]["SA_AIS_ERR_EXIST"] >= 1
    assert local["elapsed"] < local["deadline"]
    failed, result = daemons.run_module(
        2, "ckpt_wait", {"name": local_name(2), "sections": ["daemon_max_protocol"], "socket": daemons.socket(2)}
    )
    assert not failed and result["sections"] == {"daemon_max_protocol": "01 00"}


def test_mixed_versions_run_the_lowest_common_protocol(service):
    cluster, daemons = service
    extra = {1: ("--daemon-max", "1.3", "--fs-max", "1.2"), 2: ("--daemon-max", "1.1"), 3: ("--daemon-max", "1.2")}
    start_controlds_together(daemons, extra=extra)
    ready = daemons.wait_ready(NODES)
    assert {tuple(r["daemon_protocol"]) for r in ready.values()} == {(1, 1)}
    assert {tuple(r["fs_protocol"]) for r in ready.values()} == {(1, 0)}
    failed, result = daemons.run_module(
        3, "ckpt_wait", {"name": GLOBAL, "sections": ["daemon_protocol"], "socket": daemons.socket(3)}
    )
    assert not failed and result["sections"] == {"daemon_protocol": "01 01"}


def test_a_daemon_that_cannot_run_the_protocol_refuses_with_a_reason(service):
    cluster, daemons = service
    start_controlds_together(daemons, nodes=[1, 2])
    daemons.wait_ready([1, 2])
    daemons.start_controld(3, "--daemon-max", "2.0")  # another major: incompatible
    proc = daemons.procs[("controld", 3)]
    assert proc.wait(60) == 2
    assert "not supported by this daemon" in daemons.tails("controld", [3])


def test_corosync_stop_on_one_node_keeps_the_others_and_their_data(service):
    cluster, daemons = service
    start_controlds_together(daemons)
    daemons.wait_ready(NODES)
    before = daemons.ckpt(1, "show", GLOBAL).stdout
    cluster.stop(3)
    daemons.wait_synced([1, 2], 2)
    assert daemons.ckpt(1, "show", GLOBAL).stdout == before
    for node in (1, 2):
        failed, result = daemons.run_module(
            node, "ckpt_wait", {"name": GLOBAL, "sections": ["daemon_protocol"], "socket": daemons.socket(node)}
        )
        assert not failed and result["sections"]["daemon_protocol"] == "01 00"
    # Node 3's ckptd lost corosync: it answers TRY_AGAIN (not stale data) until corosync is back.
    assert daemons.status(3).get("connected") is False
    failed, result = daemons.run_module(3, "ckpt_wait", {"name": GLOBAL, "socket": daemons.socket(3), "timeout": 1})
    assert failed and result["elapsed"] < 3
    # Back: it rejoins, syncs and serves the same data.
    cluster.start(3)
    cluster.wait_quorate(timeout=60)
    daemons.wait_synced(NODES, 3, timeout=60)
    assert daemons.ckpt(3, "show", GLOBAL).stdout == before


def test_first_member_waits_for_a_peer_whose_sections_are_not_written_yet(service):
    """A peer's local checkpoint exists but its max sections are not written: not a fatal error."""
    cluster, daemons = service
    attrs = {"checkpoint_size": 4096, "retention_duration": 0, "max_sections": 16, "max_section_size": 256}
    attrs.update(max_section_id_size=64, creation_flags=0)
    holder = subprocess.Popen(
        cluster.node_env_prefix(2)
        + [sys.executable, "-c", HOLD_EMPTY_LOCAL_CHECKPOINT, daemons.socket(2), local_name(2), json.dumps(attrs)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(daemons.env, PYTHONPATH=str(COLLECTIONS)),
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        daemons.start_controld(1, "--announce-grace", "1")
        ready = daemons.wait_ready([1])[1]
        assert ready["first"] and ready["daemon_protocol"] == [1, 0]
        assert ready["reports"]["global"]["case"] == "not_exist_read"
    finally:
        holder.stdin.close()
        holder.wait(10)


HOLD_EMPTY_LOCAL_CHECKPOINT = """
import json, sys
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient
client = CheckpointClient(sys.argv[1]).connect()
client.create(sys.argv[2], json.loads(sys.argv[3]), exclusive=True)
print("held", flush=True)
sys.stdin.read()
"""


def test_ckpt_wait_reports_fatal_errors_at_once(service):
    cluster, daemons = service
    failed, result = daemons.run_module(
        1,
        "ckpt_wait",
        {
            "name": "probe",
            "mode": "create",
            "creation_attributes": {"max_sections": 0},
            "socket": daemons.socket(1),
        },
    )
    assert failed and result["error"] == "SA_AIS_ERR_INVALID_PARAM" and result["attempts"] == 1
    failed, result = daemons.run_module(
        1, "ckpt_wait", {"name": "missing", "timeout": 0.5, "socket": daemons.socket(1)}
    )
    assert failed and result["case"] == "not_exist_read" and result["error"] == "SA_AIS_ERR_NOT_EXIST"
    assert 0.5 <= result["elapsed"] < 1.5


def test_ckpt_wait_create_says_whether_it_created_and_creates_nothing_in_check_mode(service):
    _cluster, daemons = service
    args = {"name": "made-once", "mode": "create", "socket": daemons.socket(1)}
    args["creation_attributes"] = {"retention_duration": 60 * 10**9}  # outlives the probe's close
    failed, result = daemons.run_module(1, "ckpt_wait", dict(args, _ansible_check_mode=True))
    assert not failed and result["changed"] and result["created"], result
    failed, result = daemons.run_module(
        1, "ckpt_wait", {"name": "made-once", "timeout": 0.5, "socket": daemons.socket(1)}
    )
    assert failed and result["error"] == "SA_AIS_ERR_NOT_EXIST"  # check mode created nothing
    failed, result = daemons.run_module(1, "ckpt_wait", args)
    assert not failed and result["changed"] and result["created"], result
    failed, result = daemons.run_module(2, "ckpt_wait", dict(args, socket=daemons.socket(2)))
    assert not failed and not result["changed"] and not result["created"], result  # another node sees it


def test_a_stop_during_the_quorum_wait_ends_the_daemon_at_once(service):
    """systemctl stop while controld still waits for quorum: it ends now, not after its startup timeout."""
    cluster, daemons = service
    cluster.stop(2)
    cluster.stop(3)  # node 1 alone: not quorate, so controld's startup waits (up to 120 s)
    daemons.start_controld(1)
    time.sleep(2)
    assert daemons.running("controld", 1), daemons.tails("controld", [1])
    started = time.monotonic()
    assert daemons.stop("controld", 1, timeout=15) == 0, daemons.tails("controld", [1])
    assert time.monotonic() - started < 5
    assert "stopped during startup" in daemons.tails("controld", [1])


def test_pipelined_writes_reach_every_node_in_the_order_sent(service):
    _cluster, daemons = service
    sys.path.insert(0, str(COLLECTIONS))
    from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient

    attrs = {
        "creation_flags": 0,
        "checkpoint_size": 16 * 64,
        "retention_duration": 0,
        "max_sections": 16,
        "max_section_size": 64,
        "max_section_id_size": 16,
    }
    sections = [f"s{n:02d}".encode() for n in range(16)]
    with CheckpointClient(daemons.socket(1), timeout=10) as writer:
        handle = writer.create("piped", attrs)
        for section in sections:
            writer.section_create(handle, section, b"-")
        writes = [(sections[n % 16], f"{n:06d}".encode()) for n in range(3000)]
        assert writer.section_overwrite_many(handle, writes, window=256) == [None] * 3000
        # Every node holds the last write of each section: all 3000 applied, in the order sent.
        expected = dict(writes)  # the last value written to each section
        for node in NODES:
            with CheckpointClient(daemons.socket(node), timeout=10) as reader:
                opened = reader.open("piped")
                assert {s: reader.section_read(opened, s) for s in sections} == expected, f"node {node}"
        writer.close(handle)


def wait_protocol(daemons: NodeDaemons, nodes: list, want: list, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        ready = {n: json.loads(daemons.ready_file(n).read_text()) for n in nodes}
        if all(r["daemon_protocol"] == want and r["fs_protocol"] == want for r in ready.values()):
            return ready
        assert time.monotonic() < deadline, (ready, daemons.tails("controld", nodes))
        time.sleep(0.1)


def test_a_rolling_upgrade_runs_the_old_protocol_then_raises_it_live(service):
    cluster, daemons = service
    start_controlds_together(daemons, extra={n: ("--local-retention", "0.2") for n in NODES})
    daemons.wait_ready(NODES)
    raise_args = {"state": "raised", "socket": daemons.socket(2)}
    upgraded = ("--daemon-max", "1.1", "--fs-max", "1.1", "--local-retention", "0.2")
    # One node at a time, as the upgrade playbook rolls: each new daemon joins the running 1.0.
    for node in NODES:
        daemons.stop("controld", node)
        daemons.start_controld(node, *upgraded)
        ready = daemons.wait_ready([node])[node]
        assert ready["daemon_protocol"] == [1, 0] and ready["daemon_max_protocol"] == [1, 1], ready
        if node != NODES[-1]:
            # A member still announces 1.0: nothing to raise yet.
            failed, result = daemons.run_module(2, "controld_protocol", raise_args)
            assert not failed and result["changed"] is False and result["protocol"]["daemon"] == "1.0", result
    # Check mode says what it would do and writes nothing.
    failed, result = daemons.run_module(2, "controld_protocol", dict(raise_args, _ansible_check_mode=True))
    assert not failed and result["changed"] is True and result["protocol"] == {"daemon": "1.1", "fs": "1.1"}, result
    failed, result = daemons.run_module(3, "controld_protocol", {"socket": daemons.socket(3)})
    assert not failed and result["protocol"] == {"daemon": "1.0", "fs": "1.0"}, result
    assert set(result["maxima"]) == {"1", "2", "3"}
    pids = {n: daemons.procs[("controld", n)].pid for n in NODES}
    failed, result = daemons.run_module(2, "controld_protocol", dict(raise_args, _ansible_diff=True))
    assert not failed and result["changed"] is True, result
    assert result["before"]["daemon"] == "1.0" and result["protocol"]["daemon"] == "1.1"
    assert "daemon_protocol: 1.1" in result["diff"]["after"]
    for node in NODES:
        failed, adopted = daemons.run_module(
            node,
            "controld_protocol",
            {"state": "adopted", "socket": daemons.socket(node), "ready_file": str(daemons.ready_file(node))},
        )
        assert not failed and adopted["controld"] == {"daemon": "1.1", "fs": "1.1"}, adopted
        failed, read = daemons.run_module(
            node,
            "ckpt_wait",
            {"name": GLOBAL, "sections": ["daemon_protocol", "ocfs2_protocol"], "socket": daemons.socket(node)},
        )
        assert not failed and read["sections"] == {"daemon_protocol": "01 01", "ocfs2_protocol": "01 01"}, read
    wait_protocol(daemons, NODES, [1, 1])
    assert {n: daemons.procs[("controld", n)].pid for n in NODES} == pids  # raised live: no daemon restarted
    failed, result = daemons.run_module(2, "controld_protocol", raise_args)
    assert not failed and result["changed"] is False, result
    # The compatibility rule: once raised, a node whose programs announce only 1.0 cannot join.
    daemons.stop("controld", 3)
    daemons.start_controld(3, "--daemon-max", "1.0", "--local-retention", "0.2")
    assert daemons.procs[("controld", 3)].wait(60) == 2
    assert "not supported by this daemon" in daemons.tails("controld", [3])
    # A member without a controld: the raise refuses instead of leaving it behind.
    time.sleep(0.5)  # its local checkpoint's 0.2 s retention
    failed, result = daemons.run_module(2, "controld_protocol", raise_args)
    assert failed and "node(s) 3 have no local checkpoint" in result["msg"], result

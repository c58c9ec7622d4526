"""Writers on both sides of a 1 | 2 split: only the quorate side acknowledges, nothing acknowledged is lost.

Issue 17. Every node runs the rolling_restart scenario's writer (one section per write, printed
only once acknowledged) against one checkpoint; then n1's corosync link goes down for a while
and comes back. The one-node side must refuse writes (TRY_AGAIN "not quorate") while it is cut
off, the two-node side must keep writing, and after the merge every node must hold every write
any writer saw acknowledged, identically. Runs after test_partition.py (which heals the cluster).
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from conftest import Cluster, Writer

CHECKPOINT = "quorate:rolltest"  # the writer's
PARTITION_S = 25.0  # long enough for corosync to notice (token 3650 ms + consensus) and to write a lot
SETTLE_S = 15.0


def payload(node: str, index: int) -> str:
    return f"{node}-{index}:written-through-a-rolling-restart"  # ckpt_writer.payload


def set_link(node: str, state: str) -> None:
    subprocess.run(
        ["podman", "exec", Cluster.container(node), "ip", "link", "set", "eth1", state], check=True, timeout=60
    )


def diagnostics(cluster, node: str) -> str:
    proc = cluster.ssh(
        node, "corosync-quorumtool -s; quorate-ckpt status; journalctl -u quorate-ckptd -n 60 --no-pager"
    )
    return proc.stdout + proc.stderr


def stored_sections(cluster, node: str, within: float = 30.0) -> dict:
    """The writer's checkpoint as the node holds it; retried while the service settles."""
    deadline = time.monotonic() + within
    while True:
        proc = cluster.ssh(node, f"quorate-ckpt --json show {CHECKPOINT}")
        if proc.returncode == 0:
            return json.loads(proc.stdout)
        assert time.monotonic() < deadline, f"{node}: {proc.stderr.strip()}\n{diagnostics(cluster, node)}"
        time.sleep(1)


def status(cluster, node: str) -> dict:
    proc = cluster.ssh(node, "quorate-ckpt --json status")  # exits 1 while not synced: read it anyway
    return json.loads(proc.stdout) if proc.stdout.strip() else {"error": proc.stderr.strip()}


@pytest.fixture(scope="module")
def split_run(cluster):
    cut, others = cluster.nodes[0], cluster.nodes[1:]
    writers = [Writer(cluster, node) for node in cluster.nodes]
    time.sleep(5)  # the checkpoint exists and writes flow everywhere before the cut
    set_link(cut, "down")
    cut_at = time.monotonic()
    try:
        time.sleep(PARTITION_S / 2)
        during = {node: status(cluster, node) for node in cluster.nodes}
        minority_read = cluster.ssh(cut, f"quorate-ckpt --json show {CHECKPOINT}")
        time.sleep(PARTITION_S / 2)
    finally:
        set_link(cut, "up")
    healed_at = time.monotonic()
    time.sleep(SETTLE_S)  # corosync merges, the checkpoint service syncs, writes flow again
    for writer in writers:
        writer.stop()
    time.sleep(2)
    stored = {node: stored_sections(cluster, node) for node in cluster.nodes}
    detection = cut_at + 10.0  # corosync notices the cut within token + consensus (~8 s here)
    counts = {
        w.node: {
            "acked": len(w.acked),
            "acked_while_cut": w.between(detection, healed_at),
            "errors": w.summary.get("errors"),
        }
        for w in writers
    }
    print(f"\n{cut} cut off for {healed_at - cut_at:.1f}s: " + json.dumps(counts))
    print(
        "during the split: "
        + json.dumps({n: {k: st.get(k) for k in ("quorate", "members")} for n, st in during.items()})
    )
    return {"cut": cut, "others": others, "writers": writers, "stored": stored, "during": during,
            "minority_read": minority_read, "counts": counts}  # fmt: skip


def test_the_minority_was_not_quorate_and_refused_writes_but_served_reads(split_run):
    cut = split_run["cut"]
    assert split_run["during"][cut]["quorate"] is False, split_run["during"][cut]
    for node in split_run["others"]:
        assert split_run["during"][node]["quorate"] is True, split_run["during"][node]
    assert split_run["counts"][cut]["acked_while_cut"] == 0, split_run["counts"]
    assert split_run["counts"][cut]["errors"].get("TRY_AGAIN", 0) > 0, split_run["counts"]
    assert split_run["minority_read"].returncode == 0, split_run["minority_read"].stderr


def test_the_majority_kept_writing(split_run):
    for node in split_run["others"]:
        assert split_run["counts"][node]["acked_while_cut"] > 50, split_run["counts"]


def test_every_acknowledged_write_is_on_every_node_after_the_merge(split_run):
    stored = split_run["stored"]
    first = next(iter(stored.values()))
    for node, sections in stored.items():
        assert sections == first, f"{node} holds other sections than {next(iter(stored))}"
    lost = {}
    for writer in split_run["writers"]:
        missing = [i for i in writer.acked if first.get(f"{writer.node}-{i:06d}") != payload(writer.node, i)]
        if missing:
            lost[writer.node] = (len(missing), missing[:10])
    found = {w.node: sum(1 for i in w.acked if f"{w.node}-{i:06d}" in first) for w in split_run["writers"]}
    print(f"acknowledged writes found after the merge: {found}")
    assert not lost, f"acknowledged writes lost: {lost}"

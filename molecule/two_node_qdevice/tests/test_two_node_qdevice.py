"""A two-node cluster with a quorum device (corosync-qnetd on n3), brought up by the converge step.

One cluster for every test, in file order: the device's vote on both members; bad input refused before
any host changes; n2 killed (n1 keeps quorum with the device's vote and its checkpoints); n2 back with the
bring-up; a forced rolling restart of both (quorum held by the device throughout); the seed's race; the
clean destroy and a fresh bring-up.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import quorum_fields

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
BRINGUP = str(REPO / "playbooks" / "bringup.yml")
ROLLING = str(REPO / "playbooks" / "rolling_restart.yml")
RACE = REPO / "tests" / "molecule" / "race_trials.py"
NODES = ["n1", "n2"]
QNETD = "n3"
DEVICE = {"model": "net", "votes": 1, "net": {"host": "10.89.93.13", "algorithm": "ffsplit"}}
GLOBAL_CHECKPOINT = "quorate:controld"
# The device's row of corosync-quorumtool -s while its vote is counted ("0  1  Qdevice").
DEVICE_VOTING = re.compile(r"^\s*0\s+1\s+Qdevice\s*$", re.MULTILINE)
# What the bring-up could change on the qnetd host: its database files and corosync-qnetd's process.
QNETD_SNAPSHOT = "sha256sum /etc/corosync/qnetd/nssdb/* | sort; systemctl show -p MainPID --value corosync-qnetd"


def voting(cluster, node: str) -> tuple[bool, str]:
    """The device's vote counted and this node's qdevice voting (A,V), with the output to show."""
    out = cluster.ssh(node, "corosync-quorumtool -s").stdout
    local = re.search(r"^\s*\d+\s+\d+\s+(\S+)\s+\S+ \(local\)", out, re.MULTILINE)
    ok = bool(DEVICE_VOTING.search(out)) and bool(local) and local[1].startswith("A,V")
    return ok, out


def wait_for(predicate, timeout: float, pause: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(pause)


def podman_env() -> dict:
    """hack/podman_cluster.py's containers.conf (runc, ulimits): a container started again needs it."""
    return dict(os.environ, CONTAINERS_CONF=str(REPO / "build" / "podman" / "containers.conf"))


def snapshot(cluster) -> dict:
    state = {node: cluster.snapshot(node) for node in NODES}
    for node in NODES:
        state[node]["MainPID of corosync-qdevice"] = str(cluster.main_pid(node, "corosync-qdevice"))
    state[QNETD] = cluster.check_output(QNETD, QNETD_SNAPSHOT)
    return state


class BothSampler:
    """corosync-quorumtool -s on both members in turn until stopped: (monotonic time, node, quorate)."""

    def __init__(self, cluster):
        self.cluster, self.samples, self._stop = cluster, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for node in NODES:
                out = self.cluster.ssh(node, "corosync-quorumtool -s", timeout=30).stdout
                self.samples.append((time.monotonic(), node, quorum_fields(out).get("Quorate") == "Yes"))
            self._stop.wait(0.2)

    def both_down(self) -> list[float]:
        """Times at which a node was not quorate and the other node's nearest sample was not either."""
        lost = []
        for at, node, quorate in self.samples:
            if quorate:
                continue
            others = [(abs(t - at), q) for t, n, q in self.samples if n != node]
            if others and not min(others)[1]:
                lost.append(at)
        return lost

    def __enter__(self) -> BothSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def test_the_device_vote_is_counted_on_both_members(cluster):
    assert cluster.nodes == NODES
    for node in NODES:
        ok, out = voting(cluster, node)
        assert ok, f"{node}: the device's vote is not counted\n{out}"
        fields = quorum_fields(out)
        assert (fields["Expected votes"], fields["Total votes"], fields["Quorum"]) == ("3", "3", "2"), fields
        assert "Qdevice" in fields["Flags"].split(), fields
        # The cluster's key travelled as PKCS#12 only for the import: no copy stays.
        assert cluster.ssh(node, "ls /etc/corosync/qdevice/net/nssdb/*.p12").returncode != 0
    listing = cluster.check_output(QNETD, "corosync-qnetd-tool -l")
    assert 'Cluster "quorate"' in listing and "Node ID 1" in listing and "Node ID 2" in listing, listing


@pytest.mark.parametrize(
    "args, host_vars, expected",
    [
        pytest.param(
            ["-e", "quorate_hosts=quorate_cluster:quorate_qnetd"],
            {},
            "n3: in group quorate_qnetd (the quorum device's qnetd host) and in",
            id="qnetd-host-is-a-member",
        ),
        pytest.param(
            [],
            {"quorate_corosync_quorum": {"provider": "corosync_votequorum", "two_node": True, "device": DEVICE}},
            "quorate_corosync_quorum.two_node and quorate_corosync_quorum.device exclude each other",
            id="device-and-two-node",
        ),
        pytest.param(
            [],
            {"quorate_corosync_quorum": {"provider": "corosync_votequorum"}},
            "a cluster of 2 nodes needs one of two choices",
            id="two-nodes-without-a-choice",
        ),
    ],
)
def test_bad_input_is_refused_before_any_host_changes(cluster, tmp_path, args, host_vars, expected):
    before = snapshot(cluster)
    inventory = []
    if host_vars:
        inventory = ["-i", cluster.overlay_inventory(tmp_path / "overlay", {node: host_vars for node in NODES})]
    run = cluster.playbook(BRINGUP, *inventory, *args)
    assert run.rc != 0, run.tail()
    assert expected in " ".join(run.output.split()), run.tail()
    assert all(counts["changed"] == 0 for counts in run.recap.values()), run.recap
    assert snapshot(cluster) == before


def test_one_member_killed_the_other_keeps_quorum_and_its_checkpoints(cluster):
    before = cluster.check_output("n1", f"quorate-ckpt --json show {GLOBAL_CHECKPOINT}")
    with cluster.sampling_quorum(nodes=["n1"]) as sampler:
        killed = time.monotonic()
        subprocess.run(["podman", "kill", cluster.container("n2")], check=True, capture_output=True, timeout=60)

        def alone():
            fields = cluster.quorum("n1")
            return fields.get("Nodes") == "1" and fields.get("Total votes") == "2"

        assert wait_for(alone, 60), cluster.check_output("n1", "corosync-quorumtool -s")
        alone_after = time.monotonic() - killed
        time.sleep(3)  # a few more samples with n1 alone
    lost = sampler.unquorate()
    assert len(sampler.samples) > 10 and not lost, f"n1 lost quorum in {len(lost)} samples, first: {lost[:1]}"
    ok, out = voting(cluster, "n1")
    assert ok, f"n1 alone does not have the device's vote\n{out}"
    assert cluster.check_output("n1", f"quorate-ckpt --json show {GLOBAL_CHECKPOINT}") == before
    samples = len(sampler.samples)
    print(f"\nn2 killed: n1 alone with the device's vote after {alone_after:.1f}s, {samples} samples quorate")


def test_the_killed_member_comes_back_with_the_bringup(cluster):
    """n2 started again, without its certificate database; the bring-up makes it whole."""
    subprocess.run(
        ["podman", "start", cluster.container("n2")], check=True, capture_output=True, timeout=120, env=podman_env()
    )
    assert wait_for(lambda: cluster.ssh("n2", "true", timeout=15).returncode == 0, 90), "n2 does not answer SSH"
    # n2 also lost its certificate database: the bring-up gives it a new one, with the cluster's key
    # exported from n1 (no new signing on the qnetd host).
    serial = cluster.check_output(QNETD, "cat /etc/corosync/qnetd/nssdb/serial.txt")
    cluster.check_output("n2", "rm -rf /etc/corosync/qdevice/net/nssdb")
    run = cluster.playbook(BRINGUP)
    assert run.rc == 0, run.tail()
    assert cluster.check_output(QNETD, "cat /etc/corosync/qnetd/nssdb/serial.txt") == serial
    assert cluster.ssh("n2", "ls /etc/corosync/qdevice/net/nssdb/*.p12").returncode != 0
    for node in NODES:
        ok, out = voting(cluster, node)
        assert ok, f"{node}: the device's vote is not counted after n2 came back\n{out}"


def test_the_barrier_says_qnetd_is_unreachable(cluster, tmp_path):
    """corosync-qnetd stopped: once the members lose the device's vote, qdevice_wait fails naming the
    reason; qnetd started again, the same barrier succeeds."""
    playbook = tmp_path / "wait.yml"
    playbook.write_text(
        "- hosts: n1\n  gather_facts: false\n  tasks:\n"
        "    - quorate.cluster.qdevice_wait: {timeout: '{{ wait_timeout }}'}\n"
    )
    cluster.check_output(QNETD, "systemctl stop corosync-qnetd")
    try:
        assert wait_for(lambda: not voting(cluster, "n1")[0], 90), "n1 kept the device's vote without qnetd"
        run = cluster.playbook(str(playbook), "-e", "wait_timeout=3")
        assert run.rc != 0 and "qnetd cannot be reached from this node" in run.output, run.tail()
        assert '"reason": "qnetd_unreachable"' in run.output or "qnetd_unreachable" in run.output, run.tail()
    finally:
        cluster.check_output(QNETD, "systemctl start corosync-qnetd")
    run = cluster.playbook(str(playbook), "-e", "wait_timeout=90")
    assert run.rc == 0, run.tail()


def test_a_rolling_restart_keeps_quorum_through_the_device(cluster):
    before = {node: cluster.main_pid(node, "corosync-qdevice") for node in NODES}
    with BothSampler(cluster) as sampler:
        run = cluster.playbook(ROLLING, "-e", "quorate_rolling_restart_force=true")
    assert run.rc == 0, run.tail()
    assert all(run.changed()[node] > 0 for node in NODES), run.recap
    assert len(sampler.samples) > 20, "the sampler did not run"
    assert not sampler.both_down(), f"neither member was quorate at {len(sampler.both_down())} samples"
    for node in NODES:
        assert cluster.main_pid(node, "corosync-qdevice") not in (0, before[node]), f"{node}: qdevice not restarted"
        ok, out = voting(cluster, node)
        assert ok, f"{node}: the device's vote is not counted after the rolling restart\n{out}"
    again = cluster.playbook(ROLLING)
    assert again.rc == 0 and set(again.changed().values()) == {0}, again.recap


def test_the_seeds_race_on_two_nodes(cluster, tmp_path):
    """Every node's stack started at the same instant, trial after trial (molecule/race's harness):
    the barrier must succeed in every trial. The harness starts corosync, quorate-ckptd and
    quorate-controld, not corosync-qdevice: two members hold 2 of the 3 expected votes, the race
    is the seed's; the bring-up afterwards brings the device's vote back."""
    trials = int(os.environ.get("QUORATE_RACE_TRIALS") or 20)
    listed = subprocess.run(
        [sys.executable, str(RACE), "--list-node-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    for node in NODES:
        cluster.check_output(node, "mkdir -p /usr/lib/quorate/race")
        for path in listed:
            text = (REPO / path).read_text()
            cluster.check_output(node, f"cat > /usr/lib/quorate/race/{Path(path).name} <<'EOF_RACE'\n{text}\nEOF_RACE")
    out = tmp_path / "race_trials.json"
    node_args = [
        f"--node={node},{cluster.hostvars[node]['ansible_host']},{cluster.hostvars[node]['quorate_corosync_nodeid']}"
        for node in NODES
    ]
    proc = subprocess.run(
        [sys.executable, str(RACE), "--trials", str(trials), "--out", str(out),
         "--key", cluster.hostvars["n1"]["ansible_private_key_file"], *node_args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    print("\n" + proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stderr[-3000:]
    race = json.loads(out.read_text())
    summary = race["summary"]["barrier"]
    assert race["run"]["harness_error"] is None
    assert summary["trials"] == (trials + 1) // 2 and summary["successes"] == summary["trials"], summary
    run = cluster.playbook(BRINGUP)
    assert run.rc == 0, run.tail()
    for node in NODES:
        ok, out_text = voting(cluster, node)
        assert ok, f"{node}: the device's vote is not counted after the race\n{out_text}"


def test_destroy_takes_the_device_down_and_a_fresh_bringup_brings_it_back(cluster):
    """Last: the clean destroy with a quorum device (members' qdevice stopped and its database gone, the
    qnetd host keeps serving, only this cluster's certificate files removed), then the nodes fresh."""
    destroy = str(REPO / "playbooks" / "destroy.yml")
    run = cluster.playbook(destroy, "-e", "quorate_destroy_confirm=quorate")
    assert run.rc == 0, run.tail()
    for node in NODES:
        for unit in ("quorate-controld", "quorate-ckptd", "corosync-qdevice", "corosync"):
            assert cluster.ssh(node, f"systemctl is-active --quiet {unit}").returncode != 0, f"{node}: {unit} runs"
            state = cluster.ssh(node, f"systemctl is-enabled {unit}").stdout.strip()
            assert state in ("disabled", "not-found", ""), f"{node}: {unit} is {state}"
        assert cluster.ssh(node, "test -e /etc/corosync/qdevice/net/nssdb").returncode != 0, f"{node}: nssdb left"
    assert cluster.ssh(QNETD, "systemctl is-active --quiet corosync-qnetd").returncode == 0, "qnetd stopped"
    left = cluster.ssh(QNETD, "ls /etc/corosync/qnetd/nssdb/").stdout.split()
    assert not [name for name in left if name.startswith("cluster-quorate.")], left
    again = cluster.playbook(destroy, "-e", "quorate_destroy_confirm=quorate")
    assert again.rc == 0 and set(again.changed().values()) == {0}, again.tail()
    fresh = cluster.playbook(BRINGUP)
    assert fresh.rc == 0, fresh.tail()
    for node in NODES:
        ok, out = voting(cluster, node)
        assert ok, f"{node}: the device's vote is not counted after a fresh bring-up\n{out}"

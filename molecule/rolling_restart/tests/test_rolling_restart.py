"""A rolling restart under load: no acknowledged write lost, quorum held, restarts only where needed.

The scenario converges 3 nodes; these tests then change the cluster on purpose and run the
quorate.cluster.rolling_restart playbook against it (fixtures in ../../conftest.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import NODE_PROGRAMS, Writer, assert_majority_quorate_in_every_round

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
ROLLING_RESTART = str(REPO / "playbooks" / "rolling_restart.yml")
BRINGUP = str(REPO / "playbooks" / "bringup.yml")
STACK = ("corosync", "quorate-ckptd", "quorate-controld")
# A corosync.conf change corosync cannot apply live (votequorum's options are read at start).
RESTART_CLASS_CHANGE = json.dumps({"quorate_corosync_quorum": {"provider": "corosync_votequorum", "wait_for_all": 0}})


def stack_pids(cluster) -> dict[str, dict[str, int]]:
    return cluster.on_every_node(lambda node: {unit: cluster.main_pid(node, unit) for unit in STACK})


def stored_sections(cluster, node: str) -> dict[str, str]:
    return json.loads(cluster.check_output(node, "quorate-ckpt --json show quorate:rolltest"))


@pytest.fixture(scope="module")
def rolled(cluster):
    """A restart-class corosync change, then the rolling restart while every node keeps writing."""
    changed = cluster.playbook(BRINGUP, "-e", RESTART_CLASS_CHANGE)
    assert changed.rc == 0, changed.tail()
    before = stack_pids(cluster)
    writers = [Writer(cluster, node) for node in cluster.nodes]
    time.sleep(3)  # writes are flowing before the first node goes down
    started = time.monotonic()
    with cluster.sampling_quorum() as sampler:
        run = cluster.playbook(ROLLING_RESTART)
    seconds = time.monotonic() - started
    time.sleep(3)  # and after the last node is back
    for writer in writers:
        writer.stop()
    print(f"rolling restart of {len(cluster.nodes)} nodes under load: {seconds:.1f}s, ", end="")
    print(", ".join(f"{w.node}: {len(w.acked)} writes acked, errors {w.summary.get('errors')}" for w in writers))
    return {"run": run, "before": before, "after": stack_pids(cluster), "writers": writers, "samples": sampler.samples}


def test_the_pending_change_restarted_every_node(rolled):
    assert rolled["run"].rc == 0, rolled["run"].tail()
    for node, pids in rolled["before"].items():
        for unit in STACK:
            assert rolled["after"][node][unit] != pids[unit], f"{node}: {unit} was not restarted"
            assert rolled["after"][node][unit] > 0, f"{node}: {unit} is not running"


def test_every_acknowledged_write_is_readable_on_every_node(cluster, rolled):
    writers = rolled["writers"]
    for writer in writers:
        assert writer.summary, f"{writer.node}: the writer did not end cleanly"
        assert len(writer.acked) > 100, f"{writer.node}: too few writes to prove anything ({len(writer.acked)})"
        assert writer.summary.get("errors"), f"{writer.node}: its service never went away: no restart under load?"
    for node in cluster.nodes:
        stored = stored_sections(cluster, node)
        for writer in writers:
            lost = [
                i
                for i in writer.acked
                if stored.get(f"{writer.node}-{i:06d}", "").split(":", 1)[0] != f"{writer.node}-{i}"
            ]
            assert not lost, f"{node} lost {len(lost)} of {writer.node}'s acknowledged writes, e.g. {lost[:5]}"


def test_quorum_held_throughout(cluster, rolled):
    assert_majority_quorate_in_every_round(rolled["samples"], cluster.nodes, at_least=31)


def test_a_second_run_restarts_nothing(cluster, rolled):
    before = stack_pids(cluster)
    run = cluster.playbook(ROLLING_RESTART)
    assert run.rc == 0, run.tail()
    assert set(run.changed().values()) == {0}, run.tail()
    assert stack_pids(cluster) == before


def test_new_programs_on_one_node_restart_only_its_checkpoint_layers(cluster, rolled):
    node = cluster.nodes[1]
    before = stack_pids(cluster)
    cluster.check_output(node, f"touch {NODE_PROGRAMS}")  # what a new bundle from the ckptd role does
    run = cluster.playbook(ROLLING_RESTART)
    assert run.rc == 0, run.tail()
    after = stack_pids(cluster)
    assert {host for host, count in run.changed().items() if count} == {node}, run.tail()
    assert after[node]["corosync"] == before[node]["corosync"]
    assert after[node]["quorate-ckptd"] != before[node]["quorate-ckptd"]
    assert after[node]["quorate-controld"] != before[node]["quorate-controld"]
    for other in cluster.nodes:
        if other != node:
            assert after[other] == before[other]


DROP_IN = "/etc/systemd/system/quorate-ckptd.service.d/50-rolltest.conf"


def test_a_changed_drop_in_restarts_exactly_its_service_and_those_above_it(cluster, rolled):
    # A drop-in is one of the unit's files (systemctl show FragmentPath + DropInPaths): the restart plan
    # must see it, restart quorate-ckptd and quorate-controld (which requires it), and leave corosync be.
    before = stack_pids(cluster)
    script = f"mkdir -p {DROP_IN.rsplit('/', 1)[0]} && printf '[Service]\\nEnvironment=QC_ROLLTEST=1\\n' > {DROP_IN}"
    cluster.on_every_node(lambda node: cluster.check_output(node, f"{script} && systemctl daemon-reload"))
    run = cluster.playbook(ROLLING_RESTART)
    assert run.rc == 0, run.tail()
    after = stack_pids(cluster)
    for node in cluster.nodes:
        assert after[node]["corosync"] == before[node]["corosync"], f"{node}: corosync was restarted"
        for unit in ("quorate-ckptd", "quorate-controld"):
            assert after[node][unit] != before[node][unit] and after[node][unit] > 0, f"{node}: {unit} not restarted"
        environment = cluster.check_output(node, "systemctl show -p Environment --value quorate-ckptd")
        assert "QC_ROLLTEST=1" in environment, f"{node}: the drop-in is not in effect"
    again = cluster.playbook(ROLLING_RESTART)
    assert again.rc == 0 and set(again.changed().values()) == {0}, again.tail()


def test_the_units_run_hardened_with_the_socket_dir_searchable(cluster, rolled):
    for node in cluster.nodes:
        assert cluster.check_output(node, "stat -c '%a %U %G' /run/quorate").split() == ["755", "root", "root"]
        for unit, bounding in (("quorate-ckptd", "0000000000000001"), ("quorate-controld", "0000000000000000")):
            status = cluster.check_output(node, f"cat /proc/$(systemctl show -p MainPID --value {unit})/status")
            assert "NoNewPrivs:\t1" in status and "Seccomp:\t2" in status, f"{node}: {unit}\n{status}"
            assert f"CapBnd:\t{bounding}" in status, f"{node}: {unit}\n{status}"


def test_the_authkey_never_shows_in_verbose_diff_output_or_the_timeline(cluster, rolled, tmp_path, monkeypatch):
    holder, bare = cluster.nodes[0], cluster.nodes[-1]
    key_b64 = cluster.check_output(holder, "base64 -w0 /etc/corosync/authkey").strip()
    key_hex = cluster.check_output(holder, "od -An -v -tx1 /etc/corosync/authkey | tr -d ' \\n'").strip()
    assert len(key_b64) > 100 and len(key_hex) > 200
    # One node without its key: the role reads it from a holder and copies it (authkey.yml runs).
    cluster.check_output(bare, "rm /etc/corosync/authkey")
    monkeypatch.setenv("ANSIBLE_CALLBACKS_ENABLED", "quorate.cluster.timeline")
    monkeypatch.setenv("QUORATE_TIMELINE_DIR", str(tmp_path))
    monkeypatch.setenv("QUORATE_TIMELINE_PLOT_IN_BACKGROUND", "false")
    run = cluster.playbook(BRINGUP, "-v", "--diff", "-e", RESTART_CLASS_CHANGE)
    assert run.rc == 0, run.tail()
    assert "Distribute the authkey" in run.output and "Forget the authkey read" in run.output
    assert cluster.check_output(bare, "base64 -w0 /etc/corosync/authkey").strip() == key_b64, "the key was not copied"
    timeline = (tmp_path / "timeline.json").read_text()
    assert "Distribute the authkey" in timeline or bare in timeline  # the callback did record this run
    for where, text in (("-v --diff output", run.output), ("timeline.json", timeline)):
        for form in (key_b64, key_b64[:24], key_hex[:32], key_hex[-32:]):
            assert form not in text, f"the authkey ({form[:8]}...) shows in the {where}"

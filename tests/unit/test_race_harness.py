"""The molecule race scenario's harness (tests/molecule): judging, summary, and the node-side imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import race_trials  # tests/molecule/: on sys.path from tests/conftest.py

REPO = Path(__file__).resolve().parents[2]


def barrier_node(ok: bool = True, first: bool = False, protocol: str = "01 00", restarts: str = "0") -> dict:
    sections = {"daemon_protocol": protocol, "ocfs2_protocol": protocol}
    return {
        "barrier": {
            "local": {"ok": ok, "cases": {"not_exist_read": 3}, "attempts": 4, "done_s": 1.0},
            "global": {"ok": ok, "sections": sections, "cases": {}, "attempts": 1, "done_s": 1.5},
        },
        "controld": {
            "state": {"ActiveState": "active", "NRestarts": restarts},
            "ready": {"first": first, "reports": {"membership": {"cases": {"try_again": 7}}}},
        },
        "late_s": 0.001,
    }


def bandaid_node(ok: bool = True, first: bool = False, step: str | None = None) -> dict:
    outcome = {"ok": ok, "first": first, "daemon_protocol": [1, 0], "fs_protocol": [1, 0], "done_s": 2.0}
    if not ok:
        outcome.update(failed_step=step, error="SA_AIS_ERR_NOT_EXIST", errors={f"{step}:SA_AIS_ERR_NOT_EXIST": 2})
    return {"bandaid": outcome, "late_s": 0.002}


def test_variants_alternate_and_take_turns_going_first():
    assert [race_trials.variant_of(i) for i in range(6)] == [
        "barrier",
        "bandaid",
        "bandaid",
        "barrier",
        "barrier",
        "bandaid",
    ]


def test_barrier_succeeds_when_every_node_opened_both_checkpoints_with_one_protocol():
    nodes = {"n1": barrier_node(first=True), "n2": barrier_node(), "n3": barrier_node()}
    judged = race_trials.judge_barrier(nodes)
    assert judged["success"] and judged["firsts"] == 1 and judged["controld_all_ready"]
    assert judged["failures"] == []


def test_barrier_fails_on_one_failed_open_and_names_it():
    nodes = {"n1": barrier_node(first=True), "n2": barrier_node(ok=False), "n3": barrier_node()}
    nodes["n2"]["barrier"]["local"]["msg"] = "open of checkpoint did not succeed"
    judged = race_trials.judge_barrier(nodes)
    assert not judged["success"]
    assert judged["failures"][0].startswith("n2 local: open of checkpoint")


def test_barrier_fails_on_different_protocols():
    nodes = {"n1": barrier_node(first=True), "n2": barrier_node(protocol="01 01"), "n3": barrier_node()}
    judged = race_trials.judge_barrier(nodes)
    assert not judged["success"] and "different protocols" in judged["failures"][0]


def test_bandaid_split_decision_is_a_failure_even_with_one_protocol():
    nodes = {"n1": bandaid_node(first=True), "n2": bandaid_node(first=True), "n3": bandaid_node(first=True)}
    judged = race_trials.judge_bandaid(nodes)
    assert judged["all_ok_one_protocol"] and not judged["success"]
    assert judged["failures"] == ["split decision: 3 first members"]


def test_bandaid_failed_step_is_named():
    failed = bandaid_node(ok=False, step="global_open_read")
    nodes = {"n1": bandaid_node(first=True), "n2": failed, "n3": bandaid_node()}
    judged = race_trials.judge_bandaid(nodes)
    assert not judged["success"] and judged["failures"] == ["n2: global_open_read SA_AIS_ERR_NOT_EXIST"]


def test_summary_counts_trials_per_case_and_occurrences():
    trials = []
    for index, (variant, nodes) in enumerate(
        [
            ("barrier", {"n1": barrier_node(first=True), "n2": barrier_node()}),
            ("bandaid", {"n1": bandaid_node(first=True), "n2": bandaid_node(first=True)}),
            ("bandaid", {"n1": bandaid_node(first=True), "n2": bandaid_node()}),
            ("barrier", {"n1": barrier_node(first=True), "n2": barrier_node(restarts="1")}),
        ]
    ):
        judged = race_trials.judge_barrier(nodes) if variant == "barrier" else race_trials.judge_bandaid(nodes)
        cases = race_trials.trial_cases(variant, nodes)
        trials.append(
            {
                "index": index,
                "variant": variant,
                "judged": judged,
                "cases": {k: dict(v) for k, v in cases.items()},
                "done_s": 1.0,
                "start_skew_s": 0.01,
                "stop_s": 1.2,
                "trial_s": 5.0,
                "nodes": nodes,
            }
        )
    summary = race_trials.summarize(trials)
    barrier, bandaid = summary["barrier"], summary["bandaid"]
    assert (barrier["trials"], barrier["successes"], barrier["one_first_member"]) == (2, 2, 2)
    assert barrier["controld_restarts"] == 1
    none = {"try_again": 0, "not_exist_read": 0, "exist_create": 0, "reconnect": 0, "not_quorate": 0}
    assert barrier["trials_with_case"]["barrier local"] == {**none, "not_exist_read": 2}
    assert barrier["case_counts"]["barrier local"] == {**none, "not_exist_read": 12}  # 3 x 2 nodes x 2 trials
    assert barrier["case_counts"]["controld membership"] == {**none, "try_again": 28}
    assert bandaid["case_counts"] == {"bandaid errors": {}}
    assert (bandaid["trials"], bandaid["successes"], bandaid["all_ok_one_protocol"]) == (2, 1, 2)
    text = race_trials.report_text(
        {
            "summary": summary,
            "run": {"nodes": ["n1", "n2"], "wall_s": 20.0, "nproc": 2, "loadavg_start": [1], "loadavg_end": [1]},
        }
    )
    assert "2/2 succeeded (required: all)" in text and "1/2 succeeded (measured, not required)" in text


def test_node_driver_runs_the_modules_probe_without_ansible(tmp_path):
    """race_node.py runs the bench driver against the quorate_node zip, as on a node: no Ansible,
    no site-packages. Without a cluster the barrier must give
    up at its timeout with a retry report, not crash on an import."""
    from ansible_collections.quorate.cluster.plugins.lookup.node_bundle import bundle_bytes

    node_dir = tmp_path / "race"
    node_dir.mkdir()
    for source in race_trials.NODE_FILES:
        (node_dir / Path(source).name).write_bytes((REPO / source).read_bytes())
    bundle = tmp_path / "quorate_node.zip"
    bundle.write_bytes(bundle_bytes(REPO / "plugins" / "module_utils"))
    # corosync stopped, as corosync-cmapctl reports it: the retry client waits for it.
    tools = tmp_path / "bin"
    tools.mkdir()
    cmapctl = tools / "corosync-cmapctl"
    cmapctl.write_text("#!/bin/sh\necho 'Failed to initialize the cmap API. Error CS_ERR_LIBRARY' >&2\nexit 1\n")
    cmapctl.chmod(0o755)
    command = {"name": "quorate:controld", "sections": ["daemon_protocol"], "timeout": 0.3}
    proc = subprocess.run(
        [sys.executable, "-S", str(node_dir / "race_node.py"), "driver", "wait", "--socket", str(tmp_path / "none")],
        input=json.dumps(command) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(bundle), "PATH": f"{tools}:/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["ev"] for e in events] == ["ready", "waiting", "done"]
    done = events[-1]
    assert done["ok"] is False and done["attempts"] >= 1
    assert "reconnect" in done["cases"] and done["errors"] == {"COROSYNC_NOT_RUNNING": done["attempts"]}


@pytest.mark.parametrize("arg", ["plain-arg_1.0", "quorate:controld", "it's", ""])
def test_remote_arguments_survive_the_remote_shell(arg):
    quoted = race_trials._shell_quote(arg)
    out = subprocess.run(["sh", "-c", f"printf %s {quoted}"], capture_output=True, text=True, check=True).stdout
    assert out == arg

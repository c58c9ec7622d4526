"""bench/upgrade.py's pure parts and its place on docs/benchmarks.md (bench/run_all.py), from a JSON fixture."""

from __future__ import annotations

import copy
import json
from pathlib import Path

# bench/: on sys.path from tests/conftest.py (scripts, run by path).
import bench_cluster
import pytest
import run_all
import upgrade

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bench" / "upgrade.json"
STOP = bench_cluster.STOP_TASK


@pytest.fixture
def measured() -> dict:
    return json.loads(FIXTURE.read_text())


def event(host: str, task: str, start: float, end: float) -> dict:
    return {"host": host, "task": task, "start": start, "end": end, "phase": "play"}


@pytest.mark.parametrize(
    "upgrade_s, restart_s, expected",
    [
        pytest.param(61.3, 25.0, 2.45, id="slower than the restart"),
        pytest.param(25.0, 25.0, 1.0, id="as fast"),
        pytest.param(20.0, 30.0, 0.67, id="faster"),
    ],
)
def test_the_ratio_is_the_upgrade_over_the_forced_restart(upgrade_s, restart_s, expected):
    assert upgrade.ratio(upgrade_s, restart_s) == expected


def test_a_nodes_turn_ends_with_its_last_task_before_another_node_runs():
    events = [
        # the first play, on every node
        event("n1", "Plan the upgrade", 0.0, 1.0),
        event("n2", "Plan the upgrade", 0.0, 1.1),
        event("n3", "Plan the upgrade", 0.0, 1.2),
        # serial: 1, one node after the other
        event("n1", "Install the packages named", 2.0, 5.0),
        event("n1", f"quorate.cluster.rolling_restart : {STOP}", 5.0, 6.0),
        event("n1", "Corosync barrier", 6.0, 9.0),
        event("n1", "Canary | its controld runs the protocol", 9.0, 10.0),
        event("n2", "Before this node", 10.5, 11.0),
        event("n2", STOP, 12.0, 12.5),
        event("n2", "Corosync barrier", 12.5, 16.0),
        event("n3", STOP, 17.0, 17.5),
        event("n3", "Corosync barrier", 17.5, 20.0),
        # the last play, on every node again: not n3's turn
        event("n1", "Every node's controld runs it", 21.0, 22.0),
        event("n3", "Every node's controld runs it", 21.0, 23.0),
    ]
    assert upgrade.node_turns(events) == {"n1": 5.0, "n2": 4.0, "n3": 3.0}
    assert upgrade.node_turns(events[:3]) == {}  # a run that stopped no node
    # bench_cluster's lower bound of the rolling restart finds the same stops, with or without the role's name
    assert sorted(bench_cluster.rejoin_times(events)) == ["n1", "n2", "n3"]


def test_units_that_kept_their_pid_or_do_not_run_are_named():
    before = {"n1": {"corosync": 10, "quorate-ckptd": 11}, "n2": {"corosync": 20, "quorate-ckptd": 21}}
    after = {"n1": {"corosync": 30, "quorate-ckptd": 31}, "n2": {"corosync": 20, "quorate-ckptd": 0}}
    assert upgrade.not_restarted(before, after) == {"n1": [], "n2": ["corosync", "quorate-ckptd"]}


def test_a_run_that_did_what_it_should_has_no_failed_checks(measured):
    assert upgrade.checks(measured) == []


def test_every_check_that_fails_is_named(measured):
    measured["after_upgrade"]["n2"]["corosync"] = "3.1.7-1+deb12u2"
    measured["after_upgrade"]["n3"]["daemon_protocol"] = [1, 0]
    measured["upgrade_pids_kept"]["n1"] = ["quorate-controld"]
    measured["rerun_changed"] = 2
    measured["restart_turns_s"] = {"n1": 6.9}
    measured["writers"]["restart"][0]["clean_end"] = False
    assert upgrade.checks(measured) == [
        "n2: corosync 3.1.7-1+deb12u2 after the upgrade, not 3.1.7-1+deb12u2+quorate1",
        "n3: controld runs protocol [1, 0], not [1, 1]",
        "n1: quorate-controld not restarted by the upgrade",
        "the restart stopped ['n1'], not every node's stack",
        "the re-run of the upgrade reported changed=2",
        "n1: its writer did not end cleanly during the restart",
    ]


def test_the_writers_line_sums_the_nodes(measured):
    assert upgrade.writers_line(measured["writers"]["upgrade"]) == (
        "6851 writes, 3 with TRY_AGAIN; longest write 4.21 s (n1); other errors SA_AIS_ERR_LIBRARY ×7"
    )
    assert upgrade.writers_line([]) == "no writers"


def test_the_target_row_states_the_upgrade_beside_the_restart_measured_without_a_target(measured):
    (row,) = run_all.upgrade_rows(measured)
    assert row["what"].startswith("rolling upgrade, 3 podman nodes")
    assert row["measured"] == "61.3 s; re-run 14.2 s, changed=0"
    assert row["beside"] == "forced rolling restart of the same nodes 25.0 s: ratio **2.45**"
    assert (row["target"], row["result"]) == ("none in the design", "measured, no target")
    measured["failed"] = ["the re-run of the upgrade reported changed=2"]
    assert run_all.upgrade_rows(measured)[0]["result"] == (
        "measured, no target; **checks failed:** the re-run of the upgrade reported changed=2"
    )
    assert run_all.upgrade_rows(None) == []


def test_a_failed_run_is_a_failed_row_with_its_error(measured):
    failed = {k: measured[k] for k in ("date", "machine", "nodes", "bringup_s")}
    failed.update(error="RuntimeError: upgrade failed (rc=2):\n| fatal: [n1]", failed=["the run did not complete"])
    (row,) = run_all.upgrade_rows(failed)
    assert row["measured"] == "failed" and row["beside"] == "`RuntimeError: upgrade failed (rc=2): \\| fatal: [n1]`"
    assert row["result"] == "**failed:** the run did not complete"
    text = "\n".join(run_all.upgrade_section(failed, {}))
    assert "**The run stopped early:** `RuntimeError" in text and "- the run did not complete" in text


def test_the_section_shows_the_times_the_facts_and_what_the_upgrade_does_beyond_the_restart(measured):
    text = "\n".join(run_all.upgrade_section(measured, {"upgrade": "img/upgrade.png"}))
    assert text.startswith("\n## Rolling upgrade (podman nodes)\n")
    assert "corosync `3.1.7-1+deb12u2` repackaged as `3.1.7-1+deb12u2+quorate1`" in text
    assert "a `policy-rc.d` that denies every start" in text and "n1 the canary" in text
    assert "running controld protocol raised live" in text
    assert "![rolling upgrade beside a forced rolling restart, same nodes](img/upgrade.png)" in text
    assert (
        "| 61.3 s | 26.2 s (9.1 / 8.4 / 8.7) | 35.1 s | 25.0 s | 21.0 s (6.9 / 7.0 / 7.1) | **2.45** | 14.2 s, 0 |"
    ) in text
    assert (
        "| n1 | 3.1.7-1+deb12u2 → 3.1.7-1+deb12u2+quorate1 | 1.0 → 1.1 (1.1) | yes, yes "
        "| 2310, 2 with TRY_AGAIN, longest 4.2 s, 4 other errors | 1200, 0 with TRY_AGAIN, longest 3.5 s, "
        "2 other errors |"
    ) in text
    assert "The upgrade's slowest tasks (each at its slowest host): Install the packages named (n2) 6.2 s;" in text
    assert "the re-run changed nothing, every writer ended cleanly." in text


PAGE = """# Benchmarks

Generated by `python bench/run_all.py --skip checkpoint --keep-skipped` from the JSON of one run of commit \
`1fd3afe`, 2026-12-06 05:43 UTC; `python bench/run_all.py --from-json --keep-skipped` regenerates this page.

## Targets

| figure | measured | beside it, same run | target | result |
|---|---|---|---|---|
| bring-up, 3 podman nodes from the prepared image | 21.1 s | up in 2.6 s | ≤ 60 s | PASS |
| `ckpt_wait` reaction after the checkpoint becomes openable (40 trials) † | p99 69.99 ms | x | p99 ≤ 100 ms | PASS |

† The rows and sections marked † are kept from the run `python bench/run_all.py` of commit `efeaacf`, \
2026-12-01 15:24 UTC, not measured in this run.

## How the cost grows with the cluster (podman nodes)

cluster text

## Checkpoint service (network namespaces)

*† Kept from the run `python bench/run_all.py` of commit `efeaacf`, 2026-12-01 15:24 UTC: not measured in this run.*

checkpoint text

## Steps of this run
"""


def test_kept_parts_keep_each_benchmarks_own_origin():
    kept = run_all.kept_parts(PAGE, ["checkpoint", "cluster"])
    assert kept["origins"] == {
        "checkpoint": "the run `python bench/run_all.py` of commit `efeaacf`, 2026-12-01 15:24 UTC",
        "cluster": "the run `python bench/run_all.py --skip checkpoint --keep-skipped` of commit `1fd3afe`, "
        "2026-12-06 05:43 UTC",
    }
    assert kept["rows"][0].startswith("| bring-up, 3 podman nodes from the prepared image † |")
    assert kept["rows"][1].startswith("| `ckpt_wait` reaction after the checkpoint becomes openable (40 trials) † |")
    assert kept["sections"]["cluster"][3] == f"*† Kept from {kept['origins']['cluster']}: not measured in this run.*"
    assert kept["sections"]["checkpoint"][3].startswith("*† Kept from the run `python bench/run_all.py` of commit")
    note = run_all.kept_note(kept)
    assert "the checkpoint benchmark's from the run `python bench/run_all.py` of commit `efeaacf`" in note
    assert "the cluster benchmark's from the run `python bench/run_all.py --skip checkpoint" in note


def test_this_runs_upgrade_beside_the_kept_sections_and_kept_again_by_a_later_run(measured, tmp_path):
    run = {"date": "2026-12-06 09:10 UTC", "command": "python bench/run_all.py --skip checkpoint --skip cluster"}
    run.update(machine=json.loads('{"nproc": 2, "cpu": "x", "memory_gib": 23.5, "kernel": "6", "corosync": "c"}'))
    run["machine"]["python"] = "3.11.7"
    text = run_all.render(run, None, None, {}, run_all.kept_parts(PAGE, ["checkpoint", "cluster"]), measured)
    assert text.index("## How the cost grows") < text.index("## Rolling upgrade") < text.index("## Checkpoint")
    assert "| rolling upgrade, 3 podman nodes (corosync, node programs, protocol raised) | 61.3 s;" in text
    assert "| rolling upgrade, 3 podman nodes (corosync, node programs, protocol raised) †" not in text
    # A later run without the upgrade keeps its row and section, from this run.
    later = run_all.kept_parts(text, ["checkpoint", "cluster", "upgrade"])
    assert later["origins"]["upgrade"].startswith("the run `python bench/run_all.py --skip checkpoint --skip cluster`")
    assert later["origins"]["cluster"].endswith("`1fd3afe`, 2026-12-06 05:43 UTC")  # still the run it came from
    assert any(row.startswith("| rolling upgrade, 3 podman nodes") and " † |" in row for row in later["rows"])
    assert "## Rolling upgrade (podman nodes)" in later["sections"]["upgrade"]


def test_from_json_renders_the_upgrade_alone_with_its_plot(measured, tmp_path):
    pytest.importorskip("matplotlib")  # the PNG: skip cleanly on a controller without it
    results = tmp_path / "results"
    results.mkdir()
    (results / "upgrade.json").write_text(json.dumps(measured))
    doc, img = tmp_path / "docs" / "benchmarks.md", tmp_path / "docs" / "img"
    assert run_all.main(["--from-json", "--results", str(results), "--doc", str(doc), "--img", str(img)]) == 0
    text = doc.read_text()
    assert "## Rolling upgrade (podman nodes)" in text and "](img/upgrade.png)" in text
    data = (img / "upgrade.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    unfinished = copy.deepcopy(measured)
    del unfinished["ratio"]
    assert "upgrade" not in run_all.plot({"date": "d", "machine": run_machine()}, None, None, img, unfinished)


def run_machine() -> dict:
    return {"nproc": 2, "memory_gib": 23.5, "kernel": "6"}


# The end of a real run's output (ansible's yaml callback): the last play of the upgrade failed on n1.
FAILED_OUTPUT = """TASK [Refuse to finish while the versions differ] ******************************
ok: [n1]

TASK [Raise the running controld protocol to what every node supports] *********
fatal: [n1]: FAILED! =>\x20
    changed: false
    msg: 'Task failed: Error while evaluating conditional: ''quorate_controld_daemons''
        is undefined'

PLAY RECAP *********************************************************************
n1                         : ok=60   changed=9    unreachable=0    failed=1    skipped=8    rescued=0    ignored=0
"""


def test_a_failed_playbook_names_its_first_failed_task_and_message():
    assert bench_cluster.first_failure(FAILED_OUTPUT) == {
        "task": "Raise the running controld protocol to what every node supports",
        "host": "n1",
        "msg": "Task failed: Error while evaluating conditional: 'quorate_controld_daemons' is undefined",
    }
    assert bench_cluster.first_failure("PLAY RECAP ****\nn1 : ok=3 changed=0 unreachable=0 failed=0\n") is None


def test_a_failed_upgrade_shows_where_it_failed_and_how_far_the_nodes_got(measured):
    failed = {k: measured[k] for k in ("date", "machine", "nodes", "bringup_s", "corosync_from", "corosync_to")}
    failed["upgrade_failure"] = {"seconds": 58.2, **bench_cluster.first_failure(FAILED_OUTPUT)}
    failed["after_failure"] = {"facts": measured["after_upgrade"], "pids": {}}
    failed["after_failure"]["facts"]["n1"]["daemon_protocol"] = [1, 0]
    failed.update(error="PlaybookFailed: upgrade ... failed (rc=2)\nTASK ...", failed=["the run did not complete"])
    (row,) = run_all.upgrade_rows(failed)
    assert row["measured"] == "failed after 58.2 s"
    assert row["beside"] == (
        "task [Raise the running controld protocol to what every node supports] on n1: "
        "`Task failed: Error while evaluating conditional: 'quorate_controld_daemons' is undefined`"
    )
    text = "\n".join(run_all.upgrade_section(failed, {}))
    assert "**The upgrade failed** after 58.2 s: task [Raise the running controld protocol" in text
    assert "The nodes after the failure: n1 corosync 3.1.7-1+deb12u2+quorate1, protocol 1.0 (highest 1.1);" in text
    assert "The re-run and the forced rolling restart did not run." in text
    assert "**The run stopped early" not in text  # the failure above says it

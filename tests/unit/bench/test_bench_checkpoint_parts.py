"""bench_checkpoint.py split into its parts: one home for the targets, the percentile and the markdown."""

from __future__ import annotations

import sys

import pytest
from harness.node_daemons import ensure_node_package

ensure_node_package()  # ckpt_node_driver (and so the bench) imports quorate_node, as on a node

import bench_checkpoint  # noqa: E402  bench/: on sys.path from tests/conftest.py
import ckpt_harness  # noqa: E402
import ckpt_node_driver  # noqa: E402
import ckpt_wait_latency  # noqa: E402
import race_start  # noqa: E402
import run_all  # noqa: E402
import targets  # noqa: E402
import write_throughput  # noqa: E402

WAIT = {
    "trials": 3,
    "failures": [],
    "latency_ms": {"n": 3, "min": 10.0, "p50": 20.0, "p90": 30.0, "p99": 40.0, "max": 41.0, "mean": 22.0},
    "latency_from_open_ms": {"p50": 21.0, "p99": 42.0},
    "create_call_ms": {"p50": 1.5},
    "attempts_per_s_of_waiting": {"mean": 12.5, "max": 20.0},
    "attempts_per_trial": {"p50": 7.0},
    "errors": {"NOT_EXIST": 9},
    "target_p99_ms": 100.0,
    "pass": True,
    "samples": [],
}


def result(**parts) -> dict:
    machine = {
        "nproc": 2,
        "cpu": "cpu",
        "memory_gib": 4.0,
        "kernel": "6",
        "corosync": "3.1",
        "python": "3.11",
        "loadavg_start": [0.1, 0.1, 0.1],
        "loadavg_end": [0.2, 0.2, 0.2],
    }
    return {"started_at": 0.0, "machine": machine, "config": {"quick": True}, "runtime_s": 12.0, **parts}


def test_every_benchmark_judges_against_the_one_set_of_targets():
    assert run_all.WAIT_P99_TARGET_MS is targets.WAIT_P99_TARGET_MS
    assert targets.WAIT_P99_TARGET_MS == 100.0
    assert run_all.WRITE_RATIO_TARGET is targets.WRITE_RATIO_TARGET
    assert targets.WRITE_RATIO_TARGET == 0.5
    assert run_all.START_MIN_TRIALS == 50 and run_all.ROLL_RATIO_TARGET == 1.3
    assert ckpt_wait_latency.WAIT_P99_TARGET_MS is targets.WAIT_P99_TARGET_MS
    assert write_throughput.WRITE_RATIO_TARGET is targets.WRITE_RATIO_TARGET
    assert race_start.START_LIMIT_S is targets.START_LIMIT_S
    assert targets.START_LIMIT_S == 30.0


def test_one_percentile_for_the_benchmarks_the_driver_and_the_race_harness():
    import race_trials
    import stats

    assert ckpt_harness.percentile is stats.percentile
    assert ckpt_wait_latency.percentile is stats.percentile
    assert ckpt_node_driver.percentile is stats.percentile
    assert race_trials.percentile is stats.percentile
    assert stats.percentile([0.0, 1.0, 2.0, 3.0], 99, 3) == 2.97  # race_trials rounds to 3 places
    assert ckpt_node_driver.percentile([1.0, 2.0], 50) == 1.5
    assert ckpt_node_driver.percentile([0.0, 1.0, 2.0, 3.0], 99) == pytest.approx(2.97)
    assert ckpt_node_driver.percentile([], 50) is None
    assert ckpt_harness._summary([1.0, 2.0, 4.0])["p99"] == 3.96  # rounded to 2 places by the summary


def test_the_markdown_is_run_alls_checkpoint_section(capsys):
    res = result(wait_latency=WAIT)
    assert bench_checkpoint.markdown(res) == "\n".join(run_all.checkpoint_section(res, {})).strip("\n")
    printed = bench_checkpoint.print_report(res)
    out = capsys.readouterr().out
    assert "(a) ckpt_wait reaction latency" in out and "p99 40.0 ms" in out
    assert "target p99 <= 100 ms: PASS" in out
    assert printed in out and "p50 20.0 / p90 30.0 / p99 40.0 / max 41.0 ms" in printed


def test_the_command_line_keeps_its_flags():
    with pytest.raises(SystemExit) as info:
        bench_checkpoint.main(["--help"])
    assert info.value.code == 0


def test_line_procs_are_recorded_in_their_running_set_until_finished(tmp_path):
    running = ckpt_harness.Running()
    argv = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    helpers = [ckpt_harness.LineProc(argv, tmp_path / f"h{i}.log", running=running) for i in range(2)]
    assert helpers[0].finish() == 0
    assert running._helpers == helpers[1:]
    running.finish_all()
    assert running._helpers == [] and helpers[1].proc.returncode == 0
    assert not ckpt_harness.RUNNING._helpers  # the default set is not these


def test_the_checkpoint_bench_records_the_machine_as_run_all_does(monkeypatch):
    monkeypatch.setattr(run_all, "machine_info", lambda: {"nproc": 2})
    monkeypatch.setattr(ckpt_harness.os, "getloadavg", lambda: (1.234, 0.5, 0.25))
    assert ckpt_harness.machine_info() == {"nproc": 2, "loadavg_start": [1.23, 0.5, 0.25]}


def test_every_node_is_polled_until_ready_or_the_timeout():
    calls = []

    def ready(node):
        calls.append(node)
        return calls.count(node) >= node  # node n answers at its n-th try

    assert ckpt_harness._wait_every_node(ready, timeout=5, pause=0, what="x") >= 0
    assert calls == [1, 2, 3, 2, 3, 3]
    with pytest.raises(ckpt_harness.ClusterError, match=r"not up on nodes \[1, 2, 3\] after 0s"):
        ckpt_harness._wait_every_node(lambda node: False, timeout=0, pause=0, what="not up")

"""bench/run_all.py and bench_cluster.py's race summary: the page, the plots and the verdicts from sample JSON."""

from __future__ import annotations

import json
from pathlib import Path

# bench/ and tests/molecule/: on sys.path from tests/conftest.py (scripts, run by path).
import bench_cluster
import pytest
import race_trials
import run_all

REPO = Path(__file__).resolve().parents[3]

MACHINE = {
    "nproc": 2,
    "cpu": "AMD EPYC",
    "memory_gib": 23.5,
    "kernel": "6.18.44",
    "os": "Debian GNU/Linux 12 (bookworm)",
    "corosync": "Corosync Cluster Engine, version '3.1.7'",
    "python": "3.11.7",
}


def race_entry(ok: int, trials: int, p50: float, top: dict | None = None) -> dict:
    return {
        "trials": trials,
        "successes": ok,
        "rate": round(ok / trials, 3),
        "ready_s": {"p50": p50, "max": p50 * 2},
        "failures": top or {},
    }


def size_row(nodes: int, bringup: float, rerun: float, roll: float, rejoin: float) -> dict:
    return {
        "nodes": nodes,
        "nodes_up_s": 3.0,
        "bringup_s": bringup,
        "rerun_s": rerun,
        "reruns_s": [rerun - 0.4, rerun, rerun + 1.2],
        "rerun_changed": 0,
        "rolling_restart_s": roll,
        "rejoin_s": {f"n{i}": round(rejoin / nodes, 2) for i in range(1, nodes + 1)},
        "rejoin_sum_s": rejoin,
        "rolling_ratio": round(roll / rejoin, 2),
        "noop_rolling_restart_s": 7.0,
        "noop_changed": 0,
        "race": {
            "trials_per_variant": 10,
            "barrier": race_entry(10, 10, 4.2),
            "bandaid": race_entry(3, 10, 2.1, {"split decision: 3 first members": 7}),
            "start_skew_max_s": 0.01,
            "trial_p50_s": 9.0,
            "wall_s": 180.0,
            "harness_error": None,
        },
    }


@pytest.fixture
def sample() -> tuple[dict, dict, dict]:
    run = {
        "date": "2026-11-26 10:00 UTC",
        "quick": False,
        "command": "python bench/run_all.py",
        "commit": "a7ac90e",
        "machine": MACHINE,
        "loadavg_start": [1.5, 1.2, 0.9],
        "loadavg_end": [3.25, 2.0, 1.1],
        "steps": [
            {
                "name": "checkpoint",
                "argv": [str(REPO / "bench" / "bench_checkpoint.py")],
                "rc": 0,
                "seconds": 430.0,
                "loadavg_start": [1.5, 1.2, 0.9],
                "loadavg_end": [2.0, 1.5, 1.0],
            }
        ],
    }
    latencies = [10.0 + i for i in range(40)]
    checkpoint = {
        "machine": {**MACHINE, "loadavg_start": [1.5, 1.2, 0.9], "loadavg_end": [2.0, 1.5, 1.0]},
        "config": {"quick": False},
        "cluster": {"token_ms": 3000},
        "runtime_s": 430.0,
        "wait_latency": {
            "trials": 40,
            "failures": [],
            "latency_ms": {"p50": 29.5, "p90": 45.0, "p99": 49.0, "max": 49.0},
            "attempts_per_s_of_waiting": {"mean": 20.2, "max": 25.2},
            "pass": True,
            "samples": [{"latency_ms": v} for v in latencies],
        },
        "simultaneous_start": {
            "trials_per_variant": 50,
            "seconds": 320.0,
            "stopped_early_for_time": False,
            "variants": {
                "controld": {
                    "trials": 50,
                    "successes": 50,
                    "rate": 1.0,
                    "by_scenario": {"cold": {"successes": 25, "trials": 25}, "warm": {"successes": 25, "trials": 25}},
                    "failures": {},
                    "all_ready_s": {"p50": 0.92, "max": 6.25},
                },
                "bandaid": {
                    "trials": 50,
                    "successes": 25,
                    "rate": 0.5,
                    "by_scenario": {"cold": {"successes": 0, "trials": 25}, "warm": {"successes": 25, "trials": 25}},
                    "failures": {"split decision: 3 first members": 25},
                    "all_ready_s": {"p50": 2.0, "max": 2.1},
                },
            },
        },
        "throughput": {
            "raw": [{"msgs_per_s": 5000.0, "mb_per_s": 5.12}, {"msgs_per_s": 4000.0, "mb_per_s": 4.1}],
            "raw_mb_per_s_mean": 4.61,
            "replicated": [
                {"clients": 1, "writes_per_s": 560.0, "mb_per_s": 0.573, "ratio_to_raw": 0.1243, "pass": False},
                {"clients": 64, "writes_per_s": 1290.0, "mb_per_s": 1.321, "ratio_to_raw": 0.2866, "pass": False},
            ],
            "pass": False,
        },
    }
    cluster = {
        "machine": "2 vCPU, 24000 MiB, Linux 6.18.44, load average at start 1.5",
        "date": "2026-11-26 10:08",
        "loadavg_end": [2.5, 2.0, 1.0],
        "sizes": [
            size_row(3, 31.7, 28.1, 39.7, 30.8),
            size_row(5, 45.0, 43.4, 70.7, 57.4),
            {"nodes": 7, "nodes_up_s": 5.0, "error": "RuntimeError: bringup failed (rc=2):\nfatal: ..."},
        ],
    }
    return run, checkpoint, cluster


def rows_by_what(rows: list[dict]) -> dict[str, dict]:
    return {row["what"]: row for row in rows}


def test_each_figure_is_judged_against_its_target_beside_its_comparison(sample):
    run, checkpoint, cluster = sample
    rows = rows_by_what(run_all.judge(checkpoint, cluster))
    bringup = rows["bring-up, 3 podman nodes from the prepared image"]
    assert (bringup["measured"], bringup["target"], bringup["result"]) == ("31.7 s", "≤ 60 s", "PASS")
    rerun = rows["re-run of the bring-up, 3 nodes (median of 3 runs)"]
    assert rerun["result"] == "not met" and "0.89 × the first bring-up" in rerun["beside"]
    assert rerun["measured"] == "28.1 s (27.7 / 28.1 / 29.3), changed=0"  # the median, and each run
    assert rows["forced rolling restart, 3 nodes"]["result"] == "PASS"  # 1.29
    assert "ratio **1.29**" in rows["forced rolling restart, 3 nodes"]["beside"]
    assert rows["forced rolling restart, 5 nodes"]["result"] == "PASS"  # 1.23
    assert not any("7 nodes" in what for what in rows)  # the failed size has no figures
    race = rows["the simultaneous-start race on 5 podman nodes: whole stack started at one instant"]
    assert (race["measured"], race["beside"], race["result"]) == (
        "barrier 10/10 = 100 %",
        "two-try retry 3/10 = 30 %",
        "PASS",
    )
    start = rows["simultaneous `quorate-controld` start, 3 netns nodes (cold and warm)"]
    assert start["result"] == "PASS" and start["beside"] == "two-try retry 25/50 = 50 %"
    writes = rows["replicated 1 KiB `section_overwrite` vs raw CPG multicast, 3 netns nodes"]
    assert writes["result"] == "not met" and writes["measured"].startswith("best 28.7 % of raw (64 clients")


def test_a_ratio_over_the_bound_and_a_barrier_failure_are_not_met(sample):
    _run, checkpoint, cluster = sample
    cluster["sizes"][0]["rolling_ratio"] = 1.31
    cluster["sizes"][0]["race"]["barrier"] = race_entry(9, 10, 4.0)
    rows = rows_by_what(run_all.judge(checkpoint, cluster))
    assert rows["forced rolling restart, 3 nodes"]["result"] == "not met"
    race = rows["the simultaneous-start race on 3 podman nodes: whole stack started at one instant"]
    assert race["result"] == "not met"


def test_a_perfect_start_over_too_few_trials_says_so(sample):
    _run, checkpoint, _cluster = sample
    ours = checkpoint["simultaneous_start"]["variants"]["controld"]
    ours.update(trials=10, successes=10)
    rows = rows_by_what(run_all.judge(checkpoint, None))
    assert (
        rows["simultaneous `quorate-controld` start, 3 netns nodes (cold and warm)"]["result"]
        == "PASS (only 10 trials)"
    )


def test_the_page_states_the_machine_the_load_the_plots_and_the_history(sample):
    run, checkpoint, cluster = sample
    images = {"scaling": "img/scaling.png", "ckpt_wait": "img/ckpt_wait.png", "throughput": "img/throughput.png"}
    text = run_all.render(run, checkpoint, cluster, images)
    assert text.startswith("# Benchmarks\n")
    assert "**Machine:** 2 vCPU (AMD EPYC), 23.5 GiB, Linux 6.18.44" in text
    assert "load average (1/5/15 min) 1.50 / 1.20 / 0.90 at the start, 3.25 / 2.00 / 1.10 at the end" in text
    assert (
        "Generated by `python bench/run_all.py` (`make bench`) from the JSON of one run of commit `a7ac90e`, " in text
    )
    assert "2026-11-26 10:00 UTC" in text
    assert "Growth per added node (least squares over 3, 5 nodes): bring-up +6.7 s; re-run +7.6 s; " in text
    assert "rolling restart +15.5 s; Σ rejoin +13.3 s; no-op rolling restart +0.0 s." in text
    assert "[the benchmark history](benchmark-history.md)" in text
    for path in images.values():
        assert f"]({path})" in text
    row = "| 3 | 3.0 s | 31.7 s | 28.1 s (27.7 / 28.1 / 29.3), 0 | 39.7 s | 30.8 s | 1.29 | 7.0 s, 0 | "
    row += "10/10 (4.2 s / 8.4 s) |"
    assert row in text
    assert "**7 nodes failed:** `RuntimeError: bringup failed (rc=2):`" in text
    assert "- 3 nodes, two-try retry: split decision: 3 first members ×7" in text
    assert "| `quorate-controld` | 50/50 = 100 % | 25/25 | 25/25 | 0.9 s / 6.2 s | none |" in text
    assert "| checkpoint | `bench_checkpoint.py` | 430.0 s |" in text
    assert "Smoke run" not in text


class _Quieting:
    """A clock that moves only when slept on, and a 1-min load average that follows a script over time."""

    def __init__(self, loads: list[tuple[float, float]]):
        self.now, self.loads, self.sleeps = 0.0, loads, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds

    def load(self) -> list[float]:
        current = [value for since, value in self.loads if since <= self.now][-1]
        return [current, 2.0, 1.5]


@pytest.mark.parametrize(
    "loads, settled, seconds",
    [
        pytest.param([(0, 0.5)], True, 15.0, id="quiet-already: the minimum pause"),
        pytest.param([(0, 4.0), (40, 1.4)], True, 41.0, id="until-the-load-falls"),  # polled every 2 s
        pytest.param([(0, 4.0)], False, 120.0, id="bounded"),
    ],
)
def test_settle_pauses_then_waits_for_the_load_bounded(loads, settled, seconds):
    machine = _Quieting(loads)
    record = run_all.settle(1.5, 15.0, 120.0, clock=machine.clock, sleep=machine.sleep, load=machine.load)
    assert (record["settled"], record["seconds"]) == (settled, seconds)
    assert record["loadavg_start"][0] == loads[0][1] and record["loadavg_end"] == machine.load()
    assert (record["threshold"], record["min_s"], record["max_s"]) == (1.5, 15.0, 120.0)
    assert max(machine.sleeps) <= run_all.SETTLE_POLL_S


def test_the_run_settles_between_benchmarks_not_before_the_first(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(run_all, "settle", lambda *a: calls.append(("settle", a)) or {"seconds": 1.0})
    monkeypatch.setattr(run_all, "run_step", lambda name, argv, results: calls.append(name) or {"name": name, "rc": 0})
    monkeypatch.setattr(run_all, "machine_info", lambda: MACHINE)
    args = run_all.argparse.Namespace(
        results=tmp_path, quick=True, argv=[], sizes="3", race_trials=2, skip=[], settle_load=1.5, settle_min=15.0
    )
    run = run_all.run_benchmarks(argparse_ns(args, settle_max=120.0))
    settled = ("settle", (1.5, 15.0, 120.0))
    assert calls == ["checkpoint", settled, "cluster", settled, "upgrade"]
    assert "settle" not in run["steps"][0] and run["steps"][1]["settle"] == {"seconds": 1.0}
    calls.clear()
    run_all.run_benchmarks(argparse_ns(args, settle_max=0.0))
    assert calls == ["checkpoint", "cluster", "upgrade"]
    calls.clear()
    run_all.run_benchmarks(argparse_ns(args, settle_max=120.0, skip=["checkpoint", "cluster"]))
    assert calls == ["upgrade"]  # nothing ran before it in this run


def argparse_ns(base, **changes):
    return run_all.argparse.Namespace(**dict(vars(base), **changes))


def test_the_steps_show_the_settle_before_a_benchmark(sample):
    run, checkpoint, cluster = sample
    calm = {"threshold": 1.5, "min_s": 15.0, "max_s": 120.0, "seconds": 42.0, "settled": True}
    calm.update(loadavg_start=[4.1, 3.0, 2.0], loadavg_end=[1.42, 2.5, 1.9])
    run["steps"].append(
        {
            "name": "cluster",
            "argv": [str(REPO / "bench" / "bench_cluster.py"), "--sizes", "3"],
            "rc": 0,
            "seconds": 900.0,
            "loadavg_start": [1.42, 2.5, 1.9],
            "loadavg_end": [3.0, 2.8, 2.0],
            "settle": calm,
        }
    )
    text = run_all.render(run, checkpoint, cluster, {})
    assert (
        "| settle before cluster | pause ≥ 15 s, then until the 1-min load average < 1.50, ≤ 120 s | 42.0 s | "
        "4.10 / 3.00 / 2.00 → 1.42 / 2.50 / 1.90 | settled |\n| cluster | `bench_cluster.py --sizes 3` | 900.0 s |"
    ) in text
    calm.update(settled=False, seconds=120.0)
    assert "| 120.0 s | 4.10 / 3.00 / 2.00 → 1.42 / 2.50 / 1.90 | load still high at the bound |" in run_all.render(
        run, checkpoint, cluster, {}
    )
    assert "settle before checkpoint" not in text


def test_a_quick_run_with_only_one_benchmark_renders(sample):
    run, _checkpoint, cluster = sample
    run["quick"] = True
    run["command"] = "python bench/run_all.py --quick"
    run["steps"][0]["rc"] = 2
    text = run_all.render(run, None, cluster, {})
    assert "`python bench/run_all.py --quick`" in text and "Smoke run (`--quick`)" in text
    assert "**`checkpoint` ended with exit status 2**" in text
    assert "Checkpoint service" not in text and "![" not in text


def test_the_command_line_is_recorded_as_given(monkeypatch, tmp_path):
    seen = {}

    def fake_run(args):
        seen["command"] = " ".join(["python bench/run_all.py", *args.argv])
        return {"steps": [], "stopped": True}

    monkeypatch.setattr(run_all, "run_benchmarks", fake_run)
    monkeypatch.setattr(run_all, "write_docs", lambda results, doc, img: "")
    assert run_all.main(["--sizes", "3,5", "--race-trials", "4", "--results", str(tmp_path)]) == 1  # stopped
    assert seen["command"].endswith("--sizes 3,5 --race-trials 4 --results " + str(tmp_path))


def test_plots_are_written_as_png(sample, tmp_path):
    pytest.importorskip("matplotlib")  # the PNG: skip cleanly on a controller without it
    run, checkpoint, cluster = sample
    written = run_all.plot(run, checkpoint, cluster, tmp_path / "img")
    assert sorted(written) == ["ckpt_wait", "scaling", "throughput"]
    for path in written.values():
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_from_json_regenerates_the_page_and_plots_without_running_anything(sample, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")  # the PNG: skip cleanly on a controller without it
    run, checkpoint, cluster = sample
    results = tmp_path / "results"
    results.mkdir()
    for name, data in (("run", run), ("checkpoint", checkpoint), ("cluster", cluster)):
        (results / f"{name}.json").write_text(json.dumps(data))
    monkeypatch.setattr(run_all, "run_benchmarks", lambda args: pytest.fail("--from-json ran a benchmark"))
    doc, img = tmp_path / "docs" / "benchmarks.md", tmp_path / "docs" / "img"
    assert run_all.main(["--from-json", "--results", str(results), "--doc", str(doc), "--img", str(img)]) == 0
    text = doc.read_text()
    assert "![bring-up, re-run, rolling restart and race success by cluster size](img/scaling.png)" in text
    assert (img / "scaling.png").exists() and (img / "ckpt_wait.png").exists()


def test_from_json_without_run_json_takes_the_machine_from_the_benchmark(sample, tmp_path):
    _run, checkpoint, cluster = sample
    (tmp_path / "checkpoint.json").write_text(json.dumps(checkpoint))
    (tmp_path / "cluster.json").write_text(json.dumps(cluster))
    run, loaded_checkpoint, loaded_cluster, upgrade = run_all.load(tmp_path)
    assert run["machine"]["nproc"] == 2 and run["loadavg_start"] == [1.5, 1.2, 0.9]
    assert loaded_checkpoint == checkpoint and loaded_cluster == cluster and upgrade is None
    assert "**Machine:** 2 vCPU" in run_all.render(run, checkpoint, cluster, {})


def test_from_json_refuses_a_checkpoint_json_of_another_run(sample, tmp_path):
    run, checkpoint, cluster = sample
    run.update(started_at=1000.0, runtime_s=600.0)
    for started, ok in ((1001.0, True), (1700.0, False), (900.0, False)):
        checkpoint["started_at"] = started
        for name, data in (("run", run), ("checkpoint", checkpoint), ("cluster", cluster)):
            (tmp_path / f"{name}.json").write_text(json.dumps(data))
        if ok:
            assert run_all.load(tmp_path)[1]["started_at"] == started
        else:
            with pytest.raises(SystemExit, match="checkpoint.json is not from the run"):
                run_all.load(tmp_path)


def test_from_json_with_no_results_fails_clearly(tmp_path):
    with pytest.raises(SystemExit, match="no benchmark results"):
        run_all.load(tmp_path)


# --------------------------------------------------------------------------- bench_cluster's race summary


def _trial(index: int, variant: str, ok: bool, done: float) -> dict:
    if variant == "barrier":
        report = {"ok": ok, "cases": {}, "attempts": 3, "done_s": done, "sections": {"daemon_protocol": "01 00"}}
        nodes = {
            f"n{i}": {
                "barrier": {"local": dict(report), "global": dict(report)},
                "controld": {"state": {"NRestarts": "0"}, "ready": {"first": i == 1}},
            }
            for i in (1, 2, 3)
        }
        judged = race_trials.judge_barrier(nodes)
    else:
        nodes = {
            f"n{i}": {
                "bandaid": {"ok": True, "first": not ok or i == 1, "daemon_protocol": [1, 0], "fs_protocol": [1, 0]}
            }
            for i in (1, 2, 3)
        }
        judged = race_trials.judge_bandaid(nodes)
    return {
        "index": index,
        "variant": variant,
        "judged": judged,
        "cases": {k: dict(v) for k, v in race_trials.trial_cases(variant, nodes).items()},
        "done_s": done,
        "start_skew_s": 0.004,
        "stop_s": 1.0,
        "trial_s": 8.0,
        "nodes": nodes,
    }


def test_race_summary_per_size_gives_rates_time_to_ready_and_top_failures():
    trials = [
        _trial(0, "barrier", True, 4.0),
        _trial(1, "bandaid", False, 2.0),
        _trial(2, "bandaid", True, 2.5),
        _trial(3, "barrier", False, 6.0),
        _trial(4, "barrier", True, 5.0),
        _trial(5, "bandaid", False, 3.0),
    ]
    result = {"run": {"wall_s": 60.0, "harness_error": None}, "summary": race_trials.summarize(trials)}
    summary = bench_cluster.race_summary(result)
    assert summary["trials_per_variant"] == 3
    assert summary["barrier"]["successes"] == 2 and summary["barrier"]["rate"] == 0.667
    assert summary["barrier"]["ready_s"] == {"p50": 5.0, "max": 6.0}
    assert summary["bandaid"]["successes"] == 1 and summary["bandaid"]["ready_s"] == {"p50": 2.5, "max": 3.0}
    assert summary["bandaid"]["failures"] == {"split decision: 3 first members": 2}
    assert len(summary["barrier"]["failures"]) <= 3 and "n1 local: failed" in summary["barrier"]["failures"]
    assert (summary["wall_s"], summary["harness_error"], summary["start_skew_max_s"]) == (60.0, None, 0.004)
    json.dumps(summary)  # goes into cluster.json as is


def test_race_ships_the_harness_node_files_that_exist(capsys):
    for rel in race_trials.NODE_FILES:
        assert (REPO / rel).is_file(), rel
    # molecule/race/verify.yml copies what this prints: the same list, not a copy of it.
    assert race_trials.main(["--list-node-files"]) == 0
    assert tuple(capsys.readouterr().out.split()) == race_trials.NODE_FILES
    assert "--list-node-files" in (REPO / "molecule" / "race" / "verify.yml").read_text()


def test_a_pipelined_row_is_judged_with_the_others_and_labelled_by_its_window(sample, tmp_path):
    run, checkpoint, cluster = sample
    checkpoint["throughput"]["replicated"].append(
        {
            "clients": 1,
            "window": 256,
            "in_flight": 256,
            "label": "1 pipelined connection, 256 in flight",
            "writes_per_s": 4200.0,
            "mb_per_s": 4.301,
            "ratio_to_raw": 0.933,
            "pass": True,
            "raw_same_window": {"msgs_per_s": 4400.0, "mb_per_s": 4.506},
            "ratio_to_raw_same_window": 0.9545,
        }
    )
    checkpoint["throughput"]["pass"] = True
    rows = rows_by_what(run_all.judge(checkpoint, cluster))
    writes = rows["replicated 1 KiB `section_overwrite` vs raw CPG multicast, 3 netns nodes"]
    assert writes["result"] == "PASS"
    assert writes["measured"] == "best 93.3 % of raw (1 pipelined connection, 256 in flight, 4200 writes/s)"
    text = run_all.render(run, checkpoint, cluster, {})
    assert (
        "| `section_overwrite` | 1 pipelined connection, 256 in flight | 4200 writes/s | 4.301 | 93.3 % | "
        "4400 msgs/s (ours 95 % of it) | PASS |" in text
    )
    assert "| `section_overwrite` | 64 clients | 1290 writes/s | 1.321 | 28.7 % | – | not met |" in text
    pytest.importorskip("matplotlib")  # the plot below: skip cleanly on a controller without it
    assert "throughput" in run_all.plot(run, checkpoint, cluster, tmp_path)

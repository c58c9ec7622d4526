"""Every benchmark in one run, then docs/benchmarks.md and its plots, generated from the JSON.

    python bench/run_all.py                 # the full run (`make bench`), about 50 minutes on 2 vCPUs
    python bench/run_all.py --quick         # a smoke run: fewer trials, 3 nodes only
    python bench/run_all.py --from-json     # regenerate docs/benchmarks.md and docs/img/ only
    python bench/run_all.py --skip checkpoint --skip cluster --keep-skipped   # upgrade only; keeps the rest

One after the other, never side by side (they would measure each other):

1. ``bench/bench_checkpoint.py`` (3 corosync nodes in network namespaces): ckpt_wait reaction
   latency, simultaneous controld start vs the two-try retry, replicated writes vs raw CPG;
   writes bench/results/run_all/checkpoint.json.
2. ``bench/bench_cluster.py --sizes 3,5,7`` (podman nodes): bring-up, re-run, forced rolling
   restart vs the sum of the per-node rejoins, no-op rolling restart, and the simultaneous-start
   race (docs/design.md#the-simultaneous-start-race; our barrier vs the two-try retry,
   --race-trials starts of each, default 25) for each size, then adding node N+1 to the running N
   (bench/add_node.py: its time beside the rolling restart and the bring-up, the longest TRY_AGAIN
   window the members' writers saw); writes bench/results/run_all/cluster.json (and
   bench/results/race_<N>.json with every trial).
3. ``bench/upgrade.py`` (3 fresh podman nodes): the rolling upgrade (corosync to a repackaged
   higher version, node programs of protocol 1.1) beside a forced rolling restart of the same nodes,
   their ratio, a re-run of the upgrade, and the facts that show it happened (versions, running
   protocol, new PIDs); writes bench/results/run_all/upgrade.json.

Between two benchmarks the run settles: the load one leaves behind (the 1-min load average decays
over minutes) would otherwise slow the first figures of the next. It pauses at least --settle-min
seconds, then waits until the 1-min load average is below --settle-load, at most --settle-max
seconds in all (``--settle-max 0``: no pause); the wait and the load before and after it are
recorded with the benchmark that follows and shown in the page's steps.

This script records the machine (nproc, CPU, memory, kernel, load average at the start and the
end) in bench/results/run_all/run.json, then renders the figures against their targets
(docs/design.md#targets): PASS or "not met", each beside what it is compared with in the same
run. Each benchmark tears down what it started, also when it is stopped: SIGTERM here is passed
on to the running benchmark, which is then waited for.

``--keep-skipped``: a benchmark with no JSON in --results (one left out with --skip) keeps its
section and its target rows as the existing page shows them, marked † with the run they come
from; without it the page shows this run's benchmarks only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import add_node  # the add's verdicts, one definition for bench_cluster's print and the page
from targets import (  # docs/design.md#targets, defined once for every benchmark
    ADD_BRINGUP_RATIO_TARGET,
    ADD_ROLL_RATIO_TARGET,
    BRINGUP_TARGET_S,
    RERUN_TARGET_S,
    ROLL_RATIO_TARGET,
    START_MIN_TRIALS,
    TRY_AGAIN_WINDOW_FACTOR,
    WAIT_P99_TARGET_MS,
    WRITE_RATIO_TARGET,
)

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"  # the benchmarks' default place
RUN_RESULTS = RESULTS / "run_all"  # this script's copy of one run's JSON: another run cannot overwrite it
DOC = REPO / "docs" / "benchmarks.md"
IMG = REPO / "docs" / "img"
HISTORY = "benchmark-history.md"  # next to the generated file

STOP_WAIT_S = 300.0  # a stopped benchmark's teardown (podman nodes, namespaces)
# Between benchmarks: at least SETTLE_MIN_S, then until the 1-min load average is below
# SETTLE_LOAD_PER_CPU x nproc, at most SETTLE_MAX_S in all.
SETTLE_LOAD_PER_CPU = 0.75
SETTLE_MIN_S = 15.0
SETTLE_MAX_S = 120.0
SETTLE_POLL_S = 2.0

PASS, NOT_MET = "PASS", "not met"
BENCHMARKS = ("checkpoint", "cluster", "upgrade")  # in the order they run


def log(msg: str) -> None:
    sys.stderr.write(f"[run_all {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- the run


def machine_info() -> dict[str, Any]:
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    os_name = "unknown OS"
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    proc = subprocess.run(["corosync", "-v"], capture_output=True, text=True, check=False)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": os_name,
        "corosync": proc.stdout.splitlines()[0].strip() if proc.stdout else "unknown",
        "python": platform.python_version(),
    }


def code_version() -> str:
    """The commit the benchmarks ran (``-dirty`` with local changes); QUORATE_BENCH_COMMIT for an export."""
    proc = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    )
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.strip()
    return os.environ.get("QUORATE_BENCH_COMMIT", "unknown")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class _Stopped(Exception):
    pass


def _on_sigterm(signum: int, _frame: object) -> None:
    raise _Stopped(signum)


def settle(
    threshold: float,
    min_s: float,
    max_s: float,
    clock: Any = time.monotonic,
    sleep: Any = time.sleep,
    load: Any = loadavg,
) -> dict[str, Any]:
    """Pause at least ``min_s``, then until the 1-min load average is below ``threshold``, at most ``max_s``."""
    min_s = min(min_s, max_s)
    began = clock()
    record: dict[str, Any] = {"threshold": threshold, "min_s": min_s, "max_s": max_s, "loadavg_start": load()}
    log(f"settle: load average {_load(record['loadavg_start'])}, waiting for the 1-min value < {threshold:.2f}")
    while True:
        waited = clock() - began
        current = load()
        if waited >= min_s and current[0] < threshold:
            record["settled"] = True
            break
        if waited >= max_s:
            record["settled"] = False
            break
        sleep(min(SETTLE_POLL_S, (min_s if waited < min_s else max_s) - waited))
    record["seconds"] = round(waited, 1)
    record["loadavg_end"] = current
    log(f"settle: {'settled' if record['settled'] else 'gave up'} after {record['seconds']} s, load {_load(current)}")
    return record


def run_step(name: str, argv: list[str], results: Path) -> dict[str, Any]:
    """One benchmark as a child process: its stdout to results/NAME.out, stderr (progress) to ours."""
    log(f"{name}: {' '.join(argv)}")
    began = time.monotonic()
    step: dict[str, Any] = {"name": name, "argv": argv, "loadavg_start": loadavg()}
    with open(results / f"{name}.out", "w") as out:
        proc = subprocess.Popen([sys.executable, *argv], cwd=REPO, stdout=out)
        try:
            step["rc"] = proc.wait()
        finally:
            if proc.poll() is None:  # we were stopped: the benchmark tears its cluster down, then goes
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()  # our own child, by PID
                    proc.wait()
    step["seconds"] = round(time.monotonic() - began, 1)
    step["loadavg_end"] = loadavg()
    log(f"{name}: rc={step['rc']} after {step['seconds']} s")
    return step


def run_benchmarks(args: argparse.Namespace) -> dict[str, Any]:
    results = args.results
    results.mkdir(parents=True, exist_ok=True)
    run: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "started_at": time.time(),
        "quick": args.quick,
        "command": " ".join(["python bench/run_all.py", *args.argv]),
        "commit": code_version(),
        "machine": machine_info(),
        "loadavg_start": loadavg(),
        "steps": [],
    }
    log(f"machine: {run['machine']}, load average {run['loadavg_start']}")
    began = time.monotonic()
    checkpoint = [str(BENCH / "bench_checkpoint.py")] + (["--quick"] if args.quick else [])
    checkpoint += ["--json", str(results / "checkpoint.json")]
    cluster = [str(BENCH / "bench_cluster.py"), "--sizes", args.sizes, "--race-trials", str(args.race_trials)]
    cluster += ["--json", str(results / "cluster.json")]
    upgrade = [str(BENCH / "upgrade.py"), "--json", str(results / "upgrade.json")]
    try:
        for name, argv in (("checkpoint", checkpoint), ("cluster", cluster), ("upgrade", upgrade)):
            if name in args.skip:
                continue
            (results / f"{name}.json").unlink(missing_ok=True)  # never report an older run's figures
            # Not before the first: that one meets the machine as the run found it (loadavg_start).
            calm = (
                settle(args.settle_load, args.settle_min, args.settle_max)
                if run["steps"] and args.settle_max > 0
                else None
            )
            step = run_step(name, argv, results)
            if calm:
                step["settle"] = calm
            run["steps"].append(step)
    except _Stopped:
        run["stopped"] = True
        log("stopped: the benchmark that ran has torn down its cluster")
    run["loadavg_end"] = loadavg()
    run["runtime_s"] = round(time.monotonic() - began, 1)
    (results / "run.json").write_text(json.dumps(run, indent=1) + "\n")
    return run


def load(
    results: Path,
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    """run.json (or a stand-in when only the benchmarks' own JSON is there), checkpoint.json, cluster.json,
    upgrade.json."""

    def read(name: str) -> dict[str, Any] | None:
        path = results / name
        return json.loads(path.read_text()) if path.exists() else None

    checkpoint, cluster, upgrade = read("checkpoint.json"), read("cluster.json"), read("upgrade.json")
    run = read("run.json")
    if run and checkpoint and run.get("started_at") and run.get("runtime_s") is not None:
        # The JSON of one run only: a checkpoint.json from another run (copied in by hand) is refused.
        if not run["started_at"] - 1 <= checkpoint["started_at"] <= run["started_at"] + run["runtime_s"] + 1:
            raise SystemExit(f"run_all: {results / 'checkpoint.json'} is not from the run in {results / 'run.json'}")
    if run is None:
        if checkpoint is None and cluster is None and upgrade is None:
            raise SystemExit(f"run_all: no benchmark results in {results}")
        m = (checkpoint or {}).get("machine", {})
        run = {
            "date": (cluster or upgrade or {}).get("date", "unknown date"),
            "quick": bool((checkpoint or {}).get("config", {}).get("quick")),
            "command": "the benchmarks one by one",
            "machine": {k: m.get(k, "?") for k in ("nproc", "cpu", "memory_gib", "kernel", "corosync", "python")},
            "loadavg_start": m.get("loadavg_start"),
            "loadavg_end": m.get("loadavg_end"),
            "steps": [],
        }
    return run, checkpoint, cluster, upgrade


# --------------------------------------------------------------------------- judging


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else (PASS if ok else NOT_MET)


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _load(values: list[float] | None) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "?"


def _frac(v: dict[str, Any]) -> str:
    return f"{v['successes']}/{v['trials']} = {100 * (v['rate'] or 0):.0f} %"


def sizes_ok(cluster: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [row for row in (cluster or {}).get("sizes", []) if "bringup_s" in row]


def judge(
    checkpoint: dict[str, Any] | None, cluster: dict[str, Any] | None, upgrade: dict[str, Any] | None = None
) -> list[dict[str, str]]:
    """One row per figure: what, measured, beside it in the same run, target, result."""
    rows = []
    rows_by_size = {row["nodes"]: row for row in sizes_ok(cluster)}
    three = rows_by_size.get(3)
    if three:
        rows.append(
            {
                "what": "bring-up, 3 podman nodes from the prepared image",
                "measured": _s(three["bringup_s"]),
                "beside": f"the 3 nodes themselves up in {_s(three['nodes_up_s'])}",
                "target": f"≤ {BRINGUP_TARGET_S:.0f} s",
                "result": verdict(three["bringup_s"] <= BRINGUP_TARGET_S),
            }
        )
        rows.append(
            {
                "what": "re-run of the bring-up, 3 nodes"
                + (f" (median of {len(three['reruns_s'])} runs)" if len(three.get("reruns_s") or []) > 1 else ""),
                "measured": f"{_s(three['rerun_s'])}{_reruns(three)}, changed={three['rerun_changed']}",
                "beside": f"{three['rerun_s'] / three['bringup_s']:.2f} × the first bring-up",
                "target": f"≤ {RERUN_TARGET_S:.0f} s, changed=0",
                "result": verdict(three["rerun_s"] <= RERUN_TARGET_S and three["rerun_changed"] == 0),
            }
        )
    w = (checkpoint or {}).get("wait_latency")
    if w:
        lat = w["latency_ms"]
        rows.append(
            {
                "what": f"`ckpt_wait` reaction after the checkpoint becomes openable ({w['trials']} trials)",
                "measured": f"p99 {lat['p99']} ms (p50 {lat['p50']}, max {lat['max']})",
                "beside": f"load while waiting {w['attempts_per_s_of_waiting']['mean']} open attempts/s",
                "target": f"p99 ≤ {WAIT_P99_TARGET_MS:.0f} ms",
                "result": verdict(w["pass"]),
            }
        )
    s = (checkpoint or {}).get("simultaneous_start")
    if s:
        ours, bandaid = s["variants"]["controld"], s["variants"]["bandaid"]
        ok = ours["rate"] == 1.0
        enough = ours["trials"] >= START_MIN_TRIALS
        rows.append(
            {
                "what": "simultaneous `quorate-controld` start, 3 netns nodes (cold and warm)",
                "measured": _frac(ours),
                "beside": f"two-try retry {_frac(bandaid)}",
                "target": f"100 % over ≥ {START_MIN_TRIALS} trials",
                "result": verdict(ok) + ("" if enough or not ok else f" (only {ours['trials']} trials)"),
            }
        )
    for nodes, row in rows_by_size.items():
        race = row.get("race")
        if not race:
            continue
        ours, bandaid = race["barrier"], race["bandaid"]
        rows.append(
            {
                "what": f"the simultaneous-start race on {nodes} podman nodes: whole stack started at one instant",
                "measured": f"barrier {_frac(ours)}",
                "beside": f"two-try retry {_frac(bandaid)}",
                "target": "100 %",
                "result": verdict(ours["rate"] == 1.0 and not race.get("harness_error")),
            }
        )
    for nodes, row in rows_by_size.items():
        rows.append(
            {
                "what": f"forced rolling restart, {nodes} nodes",
                "measured": _s(row["rolling_restart_s"]),
                "beside": f"Σ per-node rejoin {_s(row['rejoin_sum_s'])}: ratio **{row['rolling_ratio']:.2f}**",
                "target": f"≤ {ROLL_RATIO_TARGET} × Σ rejoin",
                "result": verdict(row["rolling_ratio"] <= ROLL_RATIO_TARGET),
            }
        )
    for row in rows_by_size.values():
        rows += add_rows(row)
    t = (checkpoint or {}).get("throughput")
    if t:
        best = max(t["replicated"], key=lambda r: r["ratio_to_raw"] or 0.0)
        rows.append(
            {
                "what": "replicated 1 KiB `section_overwrite` vs raw CPG multicast, 3 netns nodes",
                "measured": f"best {100 * (best['ratio_to_raw'] or 0):.1f} % of raw ({_writer(best)}, "
                f"{best['writes_per_s']:.0f} writes/s)",
                "beside": f"raw CPG {t['raw_mb_per_s_mean']} MB/s (mean of two floods around the writers)",
                "target": f"≥ {100 * WRITE_RATIO_TARGET:.0f} % of raw",
                "result": verdict(t["pass"]),
            }
        )
    return rows + upgrade_rows(upgrade)


def add_rows(row: dict[str, Any]) -> list[dict[str, str]]:
    """The three targets of adding node N+1 to a running N (bench_cluster with bench/add_node.py)."""
    add = row.get("add_node")
    if not add:
        return []
    n = row["nodes"]
    what = f"adding a node to a running {n}-node cluster ({n} → {n + 1})"
    failed = "; ".join(add.get("failed") or [])
    if "add_s" not in add:
        return [
            {
                "what": what,
                "measured": "failed",
                "beside": f"`{(add.get('error') or failed)[:200]}`",
                "target": "the add completes",
                "result": NOT_MET,
            }
        ]
    ok = add_node.verdicts(row)
    roll, up = add["add_s"] / row["rolling_restart_s"], add["add_s"] / row["bringup_s"]

    def result(key: str) -> str:
        return verdict(ok[key]) + (f" (the row failed: {failed})" if failed else "")

    rows = [
        {
            "what": f"{what}, vs a forced rolling restart of the {n}",
            "measured": _s(add["add_s"]),
            "beside": f"rolling restart {_s(row['rolling_restart_s'])}: ratio **{roll:.2f}**",
            "target": f"≤ {ADD_ROLL_RATIO_TARGET} × rolling restart",
            "result": result("roll"),
        },
        {
            "what": f"{what}, vs the fresh bring-up of the {n}",
            "measured": _s(add["add_s"]),
            "beside": f"bring-up {_s(row['bringup_s'])}: ratio **{up:.2f}**",
            "target": f"≤ {ADD_BRINGUP_RATIO_TARGET:g} × bring-up",
            "result": result("bringup"),
        },
    ]
    if "try_again_bound_s" in add:
        rows.append(
            {
                "what": f"longest TRY_AGAIN window of a member's writer while {n} → {n + 1}",
                "measured": f"{add['longest_try_again_s']:.3f} s ({_window_where(add)})",
                "beside": f"{TRY_AGAIN_WINDOW_FACTOR} × (token {add['token_ms']} + consensus {add['consensus_ms']} ms) "
                f"= {add['try_again_bound_s']:.2f} s",
                "target": f"≤ {TRY_AGAIN_WINDOW_FACTOR} × (runtime token + consensus)",
                "result": result("window"),
            }
        )
    return rows


def upgrade_section(upgrade: dict[str, Any] | None, images: dict[str, str]) -> list[str]:
    """The rolling upgrade and the forced rolling restart of the same 3 nodes (bench/upgrade.py)."""
    if not upgrade:
        return []
    writers = upgrade.get("writers") or {}
    lines = [
        "",
        "## Rolling upgrade (podman nodes)",
        "",
        f"`bench/upgrade.py`, {upgrade['machine']}; load average at the end {_load(upgrade.get('loadavg_end'))}. "
        f"{upgrade['nodes']} fresh podman nodes on their own network, their only package source a local apt "
        "repository on their bridge that holds the image's corosync "
        f"{_code(upgrade.get('corosync_from'))} repackaged as {_code(upgrade.get('corosync_to'))} "
        "(`hack/apt_repo.py build-upgrade`: the same files, a higher version), brought up by the bring-up "
        f"playbook ({_s(upgrade.get('bringup_s'))}). Then, one after the other on the same nodes: "
        "`quorate.cluster.upgrade` to that corosync and to node programs that announce controld protocol "
        f"{_protocol(upgrade.get('protocol_to'))} (`hack/staged_bundle.py`), timed; the same upgrade again; "
        "`quorate.cluster.rolling_restart -e quorate_rolling_restart_force=true`, timed. "
        + (
            "During the upgrade and the restart a writer on every node (`bench/add_node.py`'s) overwrites its "
            "own checkpoint section, 20 ms between writes, under the collection's `RetryClient`. "
            if writers
            else ""
        )
        + "Per node, the time from the play stopping its stack to its last task before the next node's turn.",
        "",
        "What the upgrade does beyond the restart: a plan over every node before any is touched (the versions "
        "installed and offered, a downgrade refused); per node, the packages installed under a `policy-rc.d` "
        "that denies every start (corosync's package scripts restart nothing), the node programs and units "
        "installed, the restart planned from what then runs stale; n1 the canary, whose controld must join the "
        "running protocol before the next node is touched; at the end the running controld protocol raised "
        "live to what every node supports.",
    ]
    failure = upgrade.get("upgrade_failure")
    if failure:
        lines += [
            "",
            f"**The upgrade failed** after {_s(failure['seconds'])}: {_failure(failure)}. The re-run and the "
            "forced rolling restart did not run.",
        ]
        after = (upgrade.get("after_failure") or {}).get("facts") or {}
        if after:
            shown = "; ".join(
                f"{node} corosync {f['corosync']}, protocol {_protocol(f['daemon_protocol'])} "
                f"(highest {_protocol(f.get('daemon_max_protocol'))})"
                for node, f in after.items()
            )
            lines += ["", f"The nodes after the failure: {shown}."]
    elif upgrade.get("error"):
        lines += ["", f"**The run stopped early:** `{_cell(upgrade['error'].splitlines()[0])[:600]}`"]
    if "ratio" in upgrade:
        if "upgrade" in images:
            lines += ["", f"![rolling upgrade beside a forced rolling restart, same nodes]({images['upgrade']})"]
        turns_up, turns_roll = sum(upgrade["upgrade_turns_s"].values()), sum(upgrade["restart_turns_s"].values())
        lines += [
            "",
            "| rolling upgrade | of it: Σ per node, stop → end of its turn | outside the nodes' turns "
            "| forced rolling restart | of it: Σ per node, stop → end of its turn | upgrade / forced restart "
            "| re-run of the upgrade, changed |",
            "|---|---|---|---|---|---|---|",
            f"| {_s(upgrade['upgrade_s'])} | {_s(turns_up)} ({_turns(upgrade['upgrade_turns_s'])}) "
            f"| {_s(upgrade['upgrade_s'] - turns_up)} | {_s(upgrade['restart_s'])} "
            f"| {_s(turns_roll)} ({_turns(upgrade['restart_turns_s'])}) | **{upgrade['ratio']:.2f}** "
            f"| {_s(upgrade['rerun_s'])}, {upgrade['rerun_changed']} |",
            "",
            "| node | corosync before → after | running controld protocol before → after (highest it supports) "
            "| stack restarted by the upgrade, by the restart | writes during the upgrade | during the restart |",
            "|---|---|---|---|---|---|",
        ]
        by_node = {step: {w["node"]: w for w in writers.get(step, [])} for step in ("upgrade", "restart")}
        for node, before in upgrade["before"].items():
            after = upgrade["after_upgrade"][node]
            restarted = ", ".join(
                "yes"
                if not upgrade[f"{step}_pids_kept"][node]
                else f"**kept {', '.join(upgrade[f'{step}_pids_kept'][node])}**"
                for step in ("upgrade", "restart")
            )
            lines.append(
                f"| {node} | {before['corosync']} → {after['corosync']} | {_protocol(before['daemon_protocol'])} → "
                f"{_protocol(after['daemon_protocol'])} ({_protocol(after.get('daemon_max_protocol'))}) | {restarted} "
                f"| {_writes(by_node['upgrade'].get(node))} | {_writes(by_node['restart'].get(node))} |"
            )
        slow = upgrade.get("upgrade_slowest_tasks") or []
        if slow:
            text = "; ".join(f"{t['task']} ({t['host']}) {_s(t['seconds'])}" for t in slow)
            lines += ["", f"The upgrade's slowest tasks (each at its slowest host): {text}."]
    failed = upgrade.get("failed") or []
    lines += [""] + (
        ["**Checks that failed:**", "", *(f"- {_cell(line)}" for line in failed)]
        if failed
        else [
            "Checked after the run: every node runs the new corosync and the raised protocol, every stack unit "
            "got a new PID in the upgrade and again in the restart, the re-run changed nothing"
            + (", every writer ended cleanly." if writers else ".")
        ]
    )
    return lines


def _code(value: str | None) -> str:
    return f"`{value}`" if value else "?"


def _protocol(value: list[int] | None) -> str:
    return ".".join(str(part) for part in value) if value else "–"


def _turns(turns: dict[str, float]) -> str:
    return " / ".join(f"{seconds:.1f}" for _node, seconds in sorted(turns.items()))


def _writes(writer: dict[str, Any] | None) -> str:
    """One node's writer in one step: writes completed, how many met TRY_AGAIN, the longest write."""
    if not writer:
        return "–"
    other = sum(count for error, count in writer["errors"].items() if not error.endswith("TRY_AGAIN"))
    return (
        f"{writer['writes']}, {writer['try_again_writes']} with TRY_AGAIN, longest {_s(writer['longest_write_s'])}"
        + (f", {other} other errors" if other else "")
        + ("" if writer["clean_end"] else " **(did not end cleanly)**")
    )


def _window_where(add: dict[str, Any]) -> str:
    if not add.get("try_again_writes"):
        return f"no write of {add.get('writes', 0)} saw TRY_AGAIN"
    return f"{add['longest_try_again_node']}; {add['try_again_writes']} of {add['writes']} writes saw TRY_AGAIN"


NO_TARGET = "measured, no target"


def upgrade_rows(upgrade: dict[str, Any] | None) -> list[dict[str, str]]:
    """The rolling upgrade beside the forced rolling restart (bench/upgrade.py): docs/design.md#targets has
    no target for it, so it is measured only; a check that failed (a version, the protocol, a PID kept,
    a re-run that changed) is said in its result."""
    if not upgrade:
        return []
    what = f"rolling upgrade, {upgrade['nodes']} podman nodes (corosync, node programs, protocol raised)"
    failed = "; ".join(upgrade.get("failed") or [])
    if "ratio" not in upgrade:
        failure = upgrade.get("upgrade_failure")
        return [
            {
                "what": what,
                "measured": f"failed after {_s(failure['seconds'])}" if failure else "failed",
                "beside": _failure(failure) if failure else f"`{_cell(upgrade.get('error') or failed)[:200]}`",
                "target": "none in the design",
                "result": f"**failed:** {_cell(failed)}",
            }
        ]
    return [
        {
            "what": what,
            "measured": f"{_s(upgrade['upgrade_s'])}; re-run {_s(upgrade['rerun_s'])}, "
            f"changed={upgrade['rerun_changed']}",
            "beside": f"forced rolling restart of the same nodes {_s(upgrade['restart_s'])}: "
            f"ratio **{upgrade['ratio']:.2f}**",
            "target": "none in the design",
            "result": NO_TARGET + (f"; **checks failed:** {_cell(failed)}" if failed else ""),
        }
    ]


def _failure(failure: dict[str, Any]) -> str:
    """A failed playbook's first failed task, for the page."""
    task, msg = _cell(failure.get("task") or "?"), _cell(failure.get("msg") or "")[:300]
    return f"task [{task}] on {failure.get('host')}: `{msg}`"


def _cell(text: str) -> str:
    """Text for one table cell: one line, no column separator."""
    return " ".join(text.split()).replace("|", "\\|")


# --------------------------------------------------------------------------- markdown


def machine_line(run: dict[str, Any]) -> str:
    m = run["machine"]
    os_name = f"{m['os']}, " if m.get("os") else ""
    return (
        f"{m['nproc']} vCPU ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, {os_name}{m['corosync']}, "
        f"Python {m['python']}; load average (1/5/15 min) {_load(run.get('loadavg_start'))} at the start, "
        f"{_load(run.get('loadavg_end'))} at the end"
    )


def render(
    run: dict[str, Any],
    checkpoint: dict[str, Any] | None,
    cluster: dict[str, Any] | None,
    images: dict[str, str],
    kept: dict[str, Any] | None = None,
    upgrade: dict[str, Any] | None = None,
) -> str:
    """docs/benchmarks.md from the JSON of one run; ``images`` maps a plot's name to its path from docs/.

    ``kept`` (:func:`kept_parts`): the earlier page's target rows and sections of the benchmarks this
    run has no JSON for, shown marked † with the run they come from.
    """
    kept = kept or {"rows": [], "sections": {}, "origins": {}}
    command = run.get("command") or "python bench/run_all.py" + (" --quick" if run.get("quick") else "")
    make = " (`make bench`)" if command == "python bench/run_all.py" else ""
    commit = f" of commit `{run['commit']}`" if run.get("commit") else ""
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}`{make} from the JSON of one run{commit}, {run['date']}; "
        f"`python bench/run_all.py --from-json{' --keep-skipped' if kept['rows'] or kept['sections'] else ''}` "
        "regenerates this page and its plots from bench/results/run_all/. "
        f"Earlier runs, and what each of them found and fixed, are in [the benchmark history]({HISTORY}).",
        "",
        f"**Machine:** {machine_line(run)}.",
        "",
        "The machine is shared: other engineers' clusters and test runs ran beside this one, so absolute "
        "times are noisy. Every figure is therefore a ratio or a side-by-side measured in the same run.",
    ]
    if run.get("quick"):
        lines += ["", "**Smoke run (`--quick`)**: fewer trials and sizes than the targets ask for."]
    if kept["rows"] or kept["sections"]:
        lines += ["", f"**Not all of it from this run:** {kept_note(kept)}"]
    if run.get("stopped"):
        lines += ["", "**The run was stopped before it finished**; only the figures measured until then are shown."]
    for step in run.get("steps", []):
        if step.get("rc"):
            lines += ["", f"**`{step['name']}` ended with exit status {step['rc']}**; see its section below."]
    lines += [
        "",
        "## Targets",
        "",
        "| figure | measured | beside it, same run | target | result |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['what']} | {r['measured']} | {r['beside']} | {r['target']} | {r['result']} |"
        for r in judge(checkpoint, cluster, upgrade)
    ]
    lines += kept["rows"]
    if kept["rows"] or kept["sections"]:
        lines += ["", f"{KEPT_MARK} {kept_note(kept)}"]
    lines += kept["sections"].get("cluster") or scaling_section(cluster, images) + add_section(cluster, images)
    lines += kept["sections"].get("upgrade") or upgrade_section(upgrade, images)
    lines += kept["sections"].get("checkpoint") or checkpoint_section(checkpoint, images)
    lines += [
        "",
        "## Steps of this run",
        "",
        "| benchmark | command | time | load average at start → end | exit status |",
        "|---|---|---|---|---|",
    ]
    for step in run.get("steps", []):
        calm = step.get("settle")
        if calm:
            lines.append(
                f"| settle before {step['name']} | pause ≥ {calm['min_s']:.0f} s, then until the 1-min load average "
                f"< {calm['threshold']:.2f}, ≤ {calm['max_s']:.0f} s | {_s(calm['seconds'])} | "
                f"{_load(calm['loadavg_start'])} → {_load(calm['loadavg_end'])} | "
                f"{'settled' if calm['settled'] else 'load still high at the bound'} |"
            )
        command = " ".join(Path(a).name if a.endswith(".py") else a for a in step["argv"])
        command = re.sub(r"\S*/bench/results/", "bench/results/", command)
        lines.append(
            f"| {step['name']} | `{command}` | {_s(step['seconds'])} | {_load(step['loadavg_start'])} → "
            f"{_load(step['loadavg_end'])} | {step['rc']} |"
        )
    return "\n".join(lines) + "\n"


def scaling_section(cluster: dict[str, Any] | None, images: dict[str, str]) -> list[str]:
    if not cluster:
        return []
    lines = [
        "",
        "## How the cost grows with the cluster (podman nodes)",
        "",
        f"`bench/bench_cluster.py`, {cluster['machine']}; load average at the end "
        f"{_load(cluster.get('loadavg_end'))}. For each size: "
        + (
            "N+1 podman containers with systemd, the figures of this section measured on the first N "
            "(`-e quorate_hosts=bench_initial`) while node N+1 idles beside them "
            if any("add_node" in row for row in sizes_ok(cluster))
            else "N podman containers with systemd "
        )
        + "(token 3000; the "
        "runtime token grows by `token_coefficient` per node), the bring-up playbook on fresh nodes, 3 re-runs "
        "(the figure is their median, each shown in brackets), "
        "`quorate.cluster.rolling_restart -e quorate_rolling_restart_force=true` and its lower bound from the same "
        "run — the sum over the nodes of the time from the play stopping that node's services to that node "
        "passing its last barrier — then a no-op rolling restart, then the simultaneous-start race: every node's "
        "whole stack stopped and started at one wall-clock instant, our barrier (quorate-controld + `ckpt_wait`) "
        "alternating with the two-try retry on the same nodes (the molecule `race` scenario's harness). A two-try "
        "trial succeeds only with one protocol everywhere and exactly one node that decided it was first. Each "
        "timed playbook starts once the previous one's timeline plot, drawn in the background, is written.",
        "",
    ]
    if "scaling" in images:
        lines += [f"![bring-up, re-run, rolling restart and race success by cluster size]({images['scaling']})", ""]
    lines += [
        "| nodes | nodes up | bring-up | re-run: median (each of 3), changed | rolling restart | Σ per-node rejoin "
        "| ratio (≤ 1.3) "
        "| no-op rolling restart, changed | race: barrier (ready p50 / max) | race: two-try retry (ready p50 / max) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sizes_ok(cluster):
        race = row.get("race")

        def cell(variant: str, race: dict[str, Any] | None = race) -> str:
            if not race:
                return "–"
            v = race[variant]
            return f"{v['successes']}/{v['trials']} ({_s(v['ready_s']['p50'])} / {_s(v['ready_s']['max'])})"

        lines.append(
            f"| {row['nodes']} | {_s(row['nodes_up_s'])} | {_s(row['bringup_s'])} | "
            f"{_s(row['rerun_s'])}{_reruns(row)}, {row['rerun_changed']} | "
            f"{_s(row['rolling_restart_s'])} | {_s(row['rejoin_sum_s'])} | "
            f"{row['rolling_ratio']:.2f} | {_s(row['noop_rolling_restart_s'])}, {row['noop_changed']} | "
            f"{cell('barrier')} | {cell('bandaid')} |"
        )
    lines += growth(sizes_ok(cluster))
    for row in cluster.get("sizes", []):
        if "error" in row:
            lines += ["", f"**{row['nodes']} nodes failed:** `{row['error'].splitlines()[0][:300]}`"]
    failures = []
    for row in sizes_ok(cluster):
        race = row.get("race") or {}
        for variant, label in (("barrier", "barrier"), ("bandaid", "two-try retry")):
            if race.get(variant, {}).get("failures"):
                text = "; ".join(f"{k} ×{v}" for k, v in race[variant]["failures"].items())
                failures.append(f"- {row['nodes']} nodes, {label}: {text}")
        if race.get("harness_error"):
            failures.append(f"- {row['nodes']} nodes: harness error `{race['harness_error'][:300]}`")
    if failures:
        lines += ["", "Most frequent race failures (per node and trial):", "", *failures]
    return lines


def add_section(cluster: dict[str, Any] | None, images: dict[str, str]) -> list[str]:
    """Adding node N+1 to the running N of each size (bench_cluster's last step, bench/add_node.py)."""
    rows = [row for row in sizes_ok(cluster) if row.get("add_node")]
    if not rows:
        return []
    lines = [
        "",
        "## Adding a node to a running cluster (podman nodes)",
        "",
        "The same run and nodes as the section above, last for each size: the bring-up over all N+1 "
        "(`quorate_cluster`; one `corosync-cfgtool -R` on a member, then corosync, quorate-ckptd and "
        "quorate-controld started on the new node only), timed, beside the forced rolling restart and the fresh "
        "bring-up of the N above. While it runs, a writer on each of the N members (`bench/add_node.py`, run with "
        "`podman exec`) overwrites its own section of one checkpoint, pausing 20 ms between writes, each write "
        "under the collection's `RetryClient` with the live totem timing, as the modules retry. A TRY_AGAIN "
        "window runs from a write's first TRY_AGAIN to that write's success (seen to within the client's poll, "
        "10–80 ms); its bound is "
        f"{TRY_AGAIN_WINDOW_FACTOR} × (`runtime.config.totem.token` + `runtime.config.totem.consensus`), read on "
        "n1 after the change. Then the members' corosync, quorate-ckptd and quorate-controld must have kept their "
        "PIDs, the new node must run all three, and a re-run of the bring-up over the N+1 must report changed=0: "
        "a row that fails one of these meets none of its targets.",
        "",
    ]
    if "add_node" in images:
        lines += [
            f"![adding a node: time beside the rolling restart and the bring-up; TRY_AGAIN]({images['add_node']})",
            "",
        ]
    lines += [
        "| nodes | add | forced rolling restart of N | fresh bring-up of N "
        f"| add / rolling (≤ {ADD_ROLL_RATIO_TARGET}) | add / bring-up (≤ {ADD_BRINGUP_RATIO_TARGET:g}) "
        "| longest TRY_AGAIN window | "
        f"{TRY_AGAIN_WINDOW_FACTOR} × (token + consensus) | writes, of them with TRY_AGAIN | longest write "
        "| members' PIDs kept, re-run changed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    phases = []
    for row in rows:
        add, n = row["add_node"], row["nodes"]
        if "add_s" not in add:
            lines.append(f"| {n} → {n + 1} | failed | " + "– | " * 8 + f"`{(add.get('error') or '')[:200]}` |")
            continue
        ok = add_node.verdicts(row)
        bound = (
            f"{add['token_ms']} + {add['consensus_ms']} ms → {_s3(add['try_again_bound_s'])}"
            if "try_again_bound_s" in add
            else "–"
        )
        checks = (
            f"{'yes' if add.get('pids_kept') else '**no**'}, {add.get('rerun_changed', '–')}"
            if not add.get("failed")
            else f"**failed:** {'; '.join(add['failed'])}"
        )
        lines.append(
            f"| {n} → {n + 1} | {_s(add['add_s'])} | {_s(row['rolling_restart_s'])} | {_s(row['bringup_s'])} "
            f"| {add['add_s'] / row['rolling_restart_s']:.2f} {verdict(ok['roll'])} "
            f"| {add['add_s'] / row['bringup_s']:.2f} {verdict(ok['bringup'])} "
            f"| {_s3(add.get('longest_try_again_s'))}{_node(add)} | {bound} {verdict(ok['window'])} "
            f"| {add.get('writes', '–')}, {add.get('try_again_writes', '–')} | {_s3(add.get('longest_write_s'))} "
            f"| {checks} |"
        )
        if add.get("add_phase_s") and row.get("bringup_phase_s"):
            phases.append((n, add, row))
    if phases:
        lines += [
            "",
            "Where the time went, per role phase of the play (the timeline callback; the rest is Ansible's start, "
            "the inventory check and the controller between phases):",
            "",
            "| nodes | playbook | " + " | ".join(PHASES) + " | outside the phases | whole playbook |",
            "|---|---|" + "---|" * (len(PHASES) + 2),
        ]
        for n, add, row in phases:
            for label, seconds, total in (
                (f"fresh bring-up of {n}", row["bringup_phase_s"], row["bringup_s"]),
                (f"add of n{n + 1}", add["add_phase_s"], add["add_s"]),
            ):
                cells = " | ".join(_s(seconds.get(phase)) for phase in PHASES)
                lines.append(f"| {n} | {label} | {cells} | {_s(total - sum(seconds.values()))} | {_s(total)} |")
    slow = [
        (row["nodes"], row["add_node"]["add_slowest_tasks"]) for row in rows if row["add_node"].get("add_slowest_tasks")
    ]
    if slow:
        lines += ["", "The add's slowest tasks (each at its slowest host):", ""]
        for n, tasks in slow:
            text = "; ".join(f"{t['phase']}: {t['task']} ({t['host']}) {_s(t['seconds'])}" for t in tasks)
            lines.append(f"- {n} → {n + 1}: {text}")
    return lines


# The bring-up's role phases, in play order (the timeline callback's names).
PHASES = ("preflight", "corosync", "ckptd", "controld")


def _s3(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f} s"


def _node(add: dict[str, Any]) -> str:
    return f" ({add['longest_try_again_node']})" if add.get("longest_try_again_node") else ""


def _reruns(row: dict[str, Any]) -> str:
    """The single re-runs behind the median, when there were several (older results have one)."""
    runs = row.get("reruns_s") or []
    return f" ({' / '.join(f'{r:.1f}' for r in runs)})" if len(runs) > 1 else ""


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (at least two distinct xs)."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def growth(rows: list[dict[str, Any]]) -> list[str]:
    """Seconds per added node (least squares over the sizes), for the figures that grow with the cluster."""
    if len({row["nodes"] for row in rows}) < 2:
        return []
    nodes = [row["nodes"] for row in rows]
    parts = [
        f"{label} {slope(nodes, [row[key] for row in rows]):+.1f} s"
        for key, label in (
            ("bringup_s", "bring-up"),
            ("rerun_s", "re-run"),
            ("rolling_restart_s", "rolling restart"),
            ("rejoin_sum_s", "Σ rejoin"),
            ("noop_rolling_restart_s", "no-op rolling restart"),
        )
    ]
    return ["", f"Growth per added node (least squares over {', '.join(map(str, nodes))} nodes): {'; '.join(parts)}."]


def checkpoint_section(checkpoint: dict[str, Any] | None, images: dict[str, str]) -> list[str]:
    if not checkpoint:
        return []
    m = checkpoint["machine"]
    lines = [
        "",
        "## Checkpoint service (network namespaces)",
        "",
        f"`bench/bench_checkpoint.py{' --quick' if checkpoint['config']['quick'] else ''}`, "
        f"{checkpoint['runtime_s']:.0f} s, load average {_load(m.get('loadavg_start'))} → "
        f"{_load(m.get('loadavg_end'))}: 3 corosync nodes in network namespaces on this host (knet + crypto, "
        f"token {checkpoint.get('cluster', {}).get('token_ms')} ms), `quorate-ckptd` on each.",
    ]
    if checkpoint.get("error"):
        lines += ["", f"**The benchmark stopped early:** `{checkpoint['error'][:300]}`"]
    figures = [
        (name, alt)
        for name, alt in (
            ("ckpt_wait", "ckpt_wait reaction latency, CDF"),
            ("throughput", "replicated writes vs raw CPG"),
        )
        if name in images
    ]
    if figures:
        lines += [""] + [f"![{alt}]({images[name]})" for name, alt in figures]
    w = checkpoint.get("wait_latency")
    if w:
        lat = w["latency_ms"]
        lines += [
            "",
            f"**(a) `ckpt_wait` reaction latency**, {w['trials']} trials ({len(w['failures'])} failed): node 2 waits "
            "(ckpt_wait's probe under the RetryClient) for a checkpoint node 1 creates after a random 0.3–1.5 s; "
            "latency = the waiter's success minus node 1's create returning. "
            f"p50 {lat['p50']} / p90 {lat['p90']} / p99 {lat['p99']} / max {lat['max']} ms against p99 ≤ "
            f"{WAIT_P99_TARGET_MS:.0f} ms: **{verdict(w['pass'])}**; "
            f"{w['attempts_per_s_of_waiting']['mean']} open attempts per second of waiting "
            f"(max {w['attempts_per_s_of_waiting']['max']}).",
        ]
    s = checkpoint.get("simultaneous_start")
    if s:
        lines += [
            "",
            f"**(b) simultaneous start**, {s['trials_per_variant']} trials per variant in {s['seconds']:.0f} s"
            + (" (stopped early: time budget)" if s.get("stopped_early_for_time") else "")
            + "; cold = right after a simultaneous corosync start, warm = on a settled cluster:",
            "",
            "| variant | success | cold | warm | all ready p50 / max | failures |",
            "|---|---|---|---|---|---|",
        ]
        for name, label in (("controld", "`quorate-controld`"), ("bandaid", "two-try retry, 2 tries 1 s apart")):
            v = s["variants"][name]
            by = v["by_scenario"]
            ready = v.get("all_ready_s") or {}
            top = sorted(v["failures"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
            lines.append(
                f"| {label} | {_frac(v)} | {by['cold']['successes']}/{by['cold']['trials']} | "
                f"{by['warm']['successes']}/{by['warm']['trials']} | {_s(ready.get('p50'))} / {_s(ready.get('max'))} "
                f"| {'; '.join(f'{k} ×{n}' for k, n in top) or 'none'} |"
            )
    t = checkpoint.get("throughput")
    if t:
        lines += [
            "",
            "**(c) replicated writes vs raw CPG**, 1 KiB payloads:",
            "",
            "| path | writers | rate | MB/s | of raw | raw CPG with as many in flight | result (≥ 50 %) |",
            "|---|---|---|---|---|---|---|",
        ]
        for raw in t["raw"]:
            lines.append(
                f"| raw CPG multicast | 1 sender, no bound in flight | {raw['msgs_per_s']:.0f} msgs/s | "
                f"{raw['mb_per_s']} | – | – | – |"
            )
        packed = t.get("raw_packed") or {}
        if packed.get("mb_per_s"):
            lines.append(
                f"| raw CPG multicast, information | 1 sender, {packed['size'] // 1024} KiB messages | "
                f"{packed['msgs_per_s']:.0f} msgs/s | {packed['mb_per_s']} | – | – | – |"
            )
        for r in t["replicated"]:
            same = r.get("raw_same_window") or {}
            beside = (
                f"{same['msgs_per_s']:.0f} msgs/s (ours {100 * (r.get('ratio_to_raw_same_window') or 0):.0f} % of it)"
                if same.get("msgs_per_s")
                else "–"
            )
            lines.append(
                f"| `section_overwrite` | {_writer(r)} | {r['writes_per_s']:.0f} writes/s | {r['mb_per_s']:.3f} | "
                f"{100 * (r['ratio_to_raw'] or 0):.1f} % | {beside} | {verdict(r['pass'])} |"
            )
        lines += [
            "",
            "A synchronous client waits for each write's agreed delivery before it sends the next; the "
            "pipelined connection (`CheckpointClient.section_overwrite_many`) keeps that many writes in "
            "flight, as the raw flood keeps its multicasts in flight. The daemon packs the writes it has "
            "read into one multicast, where the flood sends one 1 KiB message per multicast: the flood of "
            f"{(packed.get('size') or 65536) // 1024} KiB messages shows what packing alone reaches. "
            "Writes are timed to their reply on node 1, the floods to the last delivery on any node.",
        ]
    return lines


def _writer(row: dict[str, Any]) -> str:
    """The label bench_checkpoint gave a row of (c); older JSON has only the client count."""
    return row.get("label") or f"{row['clients']} clients"


# --------------------------------------------------------------------------- keeping an earlier page's parts

KEPT_MARK = "†"
# Each benchmark's sections on the page, by the start of their heading.
SECTIONS = {
    "cluster": ("## How the cost grows with the cluster", "## Adding a node to a running cluster"),
    "checkpoint": ("## Checkpoint service",),
    "upgrade": ("## Rolling upgrade",),
}
# The target rows of the checkpoint and upgrade benchmarks, by the start of their first cell (as older
# pages worded them too); every other row is the cluster benchmark's.
ROW_OWNERS = (
    ("checkpoint", ("| `ckpt_wait`", "| simultaneous `quorate-controld`", "| replicated ")),
    ("upgrade", ("| rolling upgrade",)),
)
_GENERATED = re.compile(
    r"^Generated by (`[^`]+`)(?: \(`make bench`\))? from the JSON of one run((?: of commit `[^`]+`)?), ([^;]+);",
    re.MULTILINE,
)
_SECTION_ORIGIN = re.compile(rf"^\*{KEPT_MARK} Kept from (.+?): not measured in this run\.\*$")


def row_owner(line: str) -> str:
    """Which benchmark a target row of the page belongs to."""
    return next((name for name, starts in ROW_OWNERS if line.startswith(starts)), "cluster")


def kept_parts(page: str, missing: list[str]) -> dict[str, Any]:
    """From an earlier ``page``: the target rows and sections of the ``missing`` benchmarks, and per
    benchmark the run they come from: the one that page was generated by, or, for a section that page
    kept from a run before it, the run its own † line names."""
    kept: dict[str, Any] = {"rows": [], "sections": {}, "origins": {}}
    if not page or not missing:
        return kept
    generated = _GENERATED.search(page)
    origin = f"the run {generated[1]}{generated[2]}, {generated[3]}" if generated else "an earlier run"
    lines = page.splitlines()
    start = lines.index("## Targets") if "## Targets" in lines else len(lines)
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if not line.startswith("| ") or line.startswith("| figure |"):
            continue
        owner = row_owner(line)
        if owner in missing:
            cells = line.split(" | ", 1)
            mark = "" if cells[0].endswith(KEPT_MARK) else f" {KEPT_MARK}"
            kept["rows"].append(f"{cells[0]}{mark} | {cells[1]}")
    for name in missing:
        section: list[str] = []
        taking = False
        for line in lines:
            if line.startswith("## "):
                taking = line.startswith(SECTIONS[name])
                if taking:
                    section += ["", line, "", KEPT_ORIGIN_SLOT]
                continue
            earlier = _SECTION_ORIGIN.match(line)
            if taking and earlier:
                kept["origins"][name] = earlier[1]
            elif taking:
                section.append(line)
        while section and not section[-1]:
            section.pop()
        if section:
            kept["origins"].setdefault(name, origin)
            note = f"*{KEPT_MARK} Kept from {kept['origins'][name]}: not measured in this run.*"
            kept["sections"][name] = _squeeze([note if line == KEPT_ORIGIN_SLOT else line for line in section])
        elif any(row_owner(row) == name for row in kept["rows"]):
            kept["origins"][name] = origin
    return kept


KEPT_ORIGIN_SLOT = "\0kept-origin"  # where a kept section's † line goes, once its origin is known


def _squeeze(lines: list[str]) -> list[str]:
    """No two blank lines in a row (a kept section's own blank lines beside the ones added)."""
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return [""] + out if out and out[0] else out


def kept_note(kept: dict[str, Any]) -> str:
    """Where the kept rows and sections come from: one run, or per benchmark when they come from several."""
    origins = kept["origins"]
    if len(set(origins.values())) <= 1:
        origin = next(iter(origins.values()), "an earlier run")
        return f"The rows and sections marked {KEPT_MARK} are kept from {origin}, not measured in this run."
    parts = "; ".join(f"the {name} benchmark's from {origin}" for name, origin in origins.items())
    return f"The rows and sections marked {KEPT_MARK} are not measured in this run: {parts}."


# --------------------------------------------------------------------------- plots


def plot(
    run: dict[str, Any],
    checkpoint: dict[str, Any] | None,
    cluster: dict[str, Any] | None,
    img: Path,
    upgrade: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """The PNGs this run's data allows: scaling.png, add_node.png, ckpt_wait.png, throughput.png, upgrade.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img.mkdir(parents=True, exist_ok=True)
    m = run["machine"]
    subtitle = (
        f"{run['date']}; {m['nproc']} vCPU, {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"load avg {_load(run.get('loadavg_start'))} → {_load(run.get('loadavg_end'))}"
    )
    written: dict[str, Path] = {}
    rows = sizes_ok(cluster)
    if rows:
        nodes = [r["nodes"] for r in rows]
        fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 5))
        for key, label, style in (
            ("bringup_s", "bring-up", "o-"),
            ("rerun_s", "re-run (changed=0)", "s-"),
            ("rolling_restart_s", "rolling restart (forced)", "^-"),
            ("rejoin_sum_s", "Σ per-node rejoin (lower bound)", "v--"),
            ("noop_rolling_restart_s", "no-op rolling restart", "d:"),
        ):
            ax1.plot(nodes, [r[key] for r in rows], style, label=label)
        ax1.scatter([3], [BRINGUP_TARGET_S], marker="_", s=600, color="C0", label="target: bring-up, 3 nodes")
        ax1.scatter([3], [RERUN_TARGET_S], marker="_", s=600, color="C1", label="target: re-run, 3 nodes")
        ax1.set(xlabel="nodes", ylabel="seconds", title="time by cluster size", xticks=nodes)
        ax1.set_ylim(bottom=0)
        ax1.legend(fontsize=8, loc="upper left")
        ax1.grid(alpha=0.3)
        ax2.plot(nodes, [r["rolling_ratio"] for r in rows], "o-", color="C2", label="rolling restart / Σ rejoin")
        ax2.axhline(ROLL_RATIO_TARGET, color="red", ls="--", lw=1, label=f"target ≤ {ROLL_RATIO_TARGET}")
        for x, r in zip(nodes, rows):
            ax2.annotate(
                f"{r['rolling_ratio']:.2f}",
                (x, r["rolling_ratio"]),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
            )
        ax2.set(xlabel="nodes", ylabel="ratio", title="rolling restart vs its lower bound", xticks=nodes)
        ax2.set_ylim(1.0, max(1.6, max(r["rolling_ratio"] for r in rows) + 0.1))
        ax2.legend(fontsize=8)
        ax2.grid(alpha=0.3)
        raced = [r for r in rows if r.get("race")]
        width = 0.7
        for offset, variant, label, color in (
            (-0.5, "barrier", "our barrier", "C2"),
            (0.5, "bandaid", "two-try retry", "C3"),
        ):
            xs = [r["nodes"] + offset * width for r in raced]
            rates = [100 * (r["race"][variant]["rate"] or 0) for r in raced]
            ax3.bar(xs, rates, width=width, color=color, label=label)
            for x, r, rate in zip(xs, raced, rates):
                v = r["race"][variant]
                ax3.annotate(
                    f"{v['successes']}/{v['trials']}",
                    (x, rate),
                    textcoords="offset points",
                    xytext=(0, 3),
                    ha="center",
                    fontsize=8,
                )
        ax3.set(
            xlabel="nodes",
            ylabel="successful simultaneous starts, %",
            title="the simultaneous-start race",
            xticks=nodes,
        )
        ax3.set_ylim(0, 130)
        ax3.set_yticks(range(0, 101, 20))
        ax3.legend(fontsize=8, loc="upper center", ncol=2)
        ax3.grid(alpha=0.3, axis="y")
        for ax in (ax1, ax2, ax3):
            ax.set_xlim(min(nodes) - 1, max(nodes) + 1)
        fig.suptitle(f"quorate.cluster on podman nodes (token 3000) — {subtitle}", fontsize=10)
        fig.tight_layout()
        written["scaling"] = img / "scaling.png"
        fig.savefig(written["scaling"], dpi=100)
        plt.close(fig)
    added = [r for r in rows if "add_s" in (r.get("add_node") or {})]
    if added:
        written["add_node"] = plot_add(plt, added, subtitle, img / "add_node.png")
    if upgrade and "ratio" in upgrade:
        written["upgrade"] = plot_upgrade(plt, upgrade, subtitle, img / "upgrade.png")
    w = (checkpoint or {}).get("wait_latency")
    samples = sorted(s["latency_ms"] for s in (w or {}).get("samples", []) if s.get("latency_ms") is not None)
    if samples:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.step(
            samples, [(i + 1) / len(samples) for i in range(len(samples))], where="post", label=f"{len(samples)} trials"
        )
        ax.axvline(WAIT_P99_TARGET_MS, color="red", ls="--", lw=1, label=f"target: p99 ≤ {WAIT_P99_TARGET_MS:.0f} ms")
        ax.axhline(0.99, color="grey", ls=":", lw=1)
        ax.set(
            xlabel="reaction latency, ms",
            ylabel="fraction of trials",
            title="ckpt_wait reaction after the checkpoint becomes openable",
        )
        ax.set_xlim(0, max(WAIT_P99_TARGET_MS * 1.2, samples[-1] * 1.05))
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(alpha=0.3)
        fig.suptitle(subtitle, fontsize=8)
        fig.tight_layout()
        written["ckpt_wait"] = img / "ckpt_wait.png"
        fig.savefig(written["ckpt_wait"], dpi=100)
        plt.close(fig)
    t = (checkpoint or {}).get("throughput")
    if t and t.get("raw_mb_per_s_mean"):
        labels = ["raw CPG"] + [_plot_label(r) for r in t["replicated"]]
        values = [t["raw_mb_per_s_mean"]] + [r["mb_per_s"] or 0 for r in t["replicated"]]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        colors = ["C0"] + ["C2" if r.get("window", 1) > 1 else "C1" for r in t["replicated"]]
        bars = ax.bar(labels, values, color=colors)
        ax.axhline(WRITE_RATIO_TARGET * t["raw_mb_per_s_mean"], color="red", ls="--", lw=1, label="target: 50 % of raw")
        floods = [raw["mb_per_s"] for raw in t["raw"] if raw.get("mb_per_s")]
        ax.plot([0] * len(floods), floods, "k_", ms=30, mew=2, label="raw CPG: each flood (bar: their mean)")
        for column, r in zip(bars[1:], t["replicated"]):
            ax.annotate(
                f"{100 * (r['ratio_to_raw'] or 0):.0f} %",
                (column.get_x() + column.get_width() / 2, column.get_height()),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
            )
        ax.set(ylabel="MB/s (1 KiB payloads)", title="replicated section_overwrite vs raw CPG multicast, 3 nodes")
        ax.legend(fontsize=8, markerscale=0.4)
        ax.grid(alpha=0.3, axis="y")
        fig.suptitle(subtitle, fontsize=8)
        fig.tight_layout()
        written["throughput"] = img / "throughput.png"
        fig.savefig(written["throughput"], dpi=100)
        plt.close(fig)
    return written


def plot_add(plt: Any, rows: list[dict[str, Any]], subtitle: str, out: Path) -> Path:
    """add_node.png: the add beside the rolling restart and the bring-up with both targets; the longest
    TRY_AGAIN window against its bound; and when in the add each member's writes saw TRY_AGAIN."""
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5.5))
    labels = [f"{r['nodes']} → {r['nodes'] + 1}" for r in rows]
    xs = list(range(len(rows)))
    width = 0.26
    for offset, label, color, values in (
        (-1, "add node N+1 (bring-up over N+1)", "C2", [r["add_node"]["add_s"] for r in rows]),
        (0, "forced rolling restart of N", "C1", [r["rolling_restart_s"] for r in rows]),
        (1, "fresh bring-up of N", "C0", [r["bringup_s"] for r in rows]),
    ):
        bars = ax1.bar([x + offset * width for x in xs], values, width=width, color=color, label=label)
        for column, value in zip(bars, values):
            ax1.annotate(
                f"{value:.0f}",
                (column.get_x() + column.get_width() / 2, value),
                textcoords="offset points",
                xytext=(0, 2),
                ha="center",
                fontsize=8,
            )
    add_x = [x - width for x in xs]
    ax1.scatter(
        add_x,
        [ADD_ROLL_RATIO_TARGET * r["rolling_restart_s"] for r in rows],
        marker="_",
        s=900,
        linewidths=2.5,
        color="red",
        zorder=3,
        label=f"target: add ≤ {ADD_ROLL_RATIO_TARGET} × rolling restart",
    )
    ax1.scatter(
        add_x,
        [ADD_BRINGUP_RATIO_TARGET * r["bringup_s"] for r in rows],
        marker="_",
        s=900,
        linewidths=2.5,
        color="purple",
        zorder=3,
        label=f"target: add ≤ {ADD_BRINGUP_RATIO_TARGET:g} × bring-up",
    )
    ax1.set(xticks=xs, xticklabels=labels, xlabel="nodes", ylabel="seconds", title="adding one node, same run")
    ax1.set_ylim(0, 1.5 * max(max(r["rolling_restart_s"], 2 * r["bringup_s"]) for r in rows))
    ax1.legend(fontsize=8, loc="upper left")
    ax1.grid(alpha=0.3, axis="y")
    windows = [r["add_node"].get("longest_try_again_s") or 0.0 for r in rows]
    bounds = [r["add_node"].get("try_again_bound_s") for r in rows]
    bars = ax2.bar(xs, [max(w, 1e-3) for w in windows], width=0.5, color="C2", label="longest TRY_AGAIN window")
    for column, window in zip(bars, windows):
        ax2.annotate(
            f"{window:.3f} s",
            (column.get_x() + column.get_width() / 2, max(window, 1e-3)),
            textcoords="offset points",
            xytext=(0, 3),
            ha="center",
            fontsize=8,
        )
    ax2.scatter(
        [x for x, b in zip(xs, bounds) if b],
        [b for b in bounds if b],
        marker="_",
        s=900,
        linewidths=2.5,
        color="red",
        zorder=3,
        label=f"bound: {TRY_AGAIN_WINDOW_FACTOR} × (runtime token + consensus)",
    )
    ax2.set_yscale("log")
    ax2.set_ylim(1e-3, 1000)
    ax2.set(xticks=xs, xticklabels=labels, xlabel="nodes", ylabel="seconds (log)", title="longest TRY_AGAIN window")
    ax2.legend(fontsize=8, loc="upper left")
    ax2.grid(alpha=0.3, axis="y", which="both")
    ticks, names, y = [], [], 0
    for r in rows:
        add = r["add_node"]
        for writer in add.get("writers", []):
            ax3.hlines(y, 0, add["add_s"], color="0.85", lw=6)
            for window in writer["windows"]:
                ax3.hlines(y, window["start_s"], window["start_s"] + window["seconds"], color="C3", lw=6)
                ax3.plot([window["start_s"]], [y], "|", color="C3", ms=12, mew=2)
            ticks.append(y)
            names.append(f"{r['nodes']} → {r['nodes'] + 1}: {writer['node']}")
            y += 1
        y += 0.6
    ax3.plot([], [], "|", color="C3", ms=12, mew=2, label="a write's TRY_AGAIN window (start)")
    ax3.hlines([], 0, 0, color="0.85", lw=6, label="the add playbook")
    ax3.set_yticks(ticks, names, fontsize=7)
    ax3.set_ylim(y - 0.4, -2.5)  # top down, with room above the first row for the legend
    ax3.set(xlabel="seconds since the add began", title="when the members' writes saw TRY_AGAIN")
    ax3.legend(fontsize=8, loc="upper right")
    ax3.grid(alpha=0.3, axis="x")
    for ax in (ax1, ax2):
        ax.set_xlim(-0.7, len(rows) - 0.3)
    fig.suptitle(f"adding a node to a running cluster, podman nodes — {subtitle}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_upgrade(plt: Any, upgrade: dict[str, Any], subtitle: str, out: Path) -> Path:
    """upgrade.png: the rolling upgrade beside the forced rolling restart of the same nodes, each split
    into the nodes' turns (stop → end of the turn) and the rest, with the re-run and the bring-up."""
    fig, ax = plt.subplots(figsize=(10, 4.2))
    bars = (
        ("rolling upgrade", upgrade["upgrade_s"], upgrade["upgrade_turns_s"]),
        ("forced rolling restart", upgrade["restart_s"], upgrade["restart_turns_s"]),
        (f"upgrade re-run (changed={upgrade['rerun_changed']})", upgrade["rerun_s"], {}),
        ("bring-up", upgrade["bringup_s"], {}),
    )
    labelled: set[str] = set()
    for y, (_label, total, turns) in enumerate(bars):
        left = 0.0
        for index, (node, seconds) in enumerate(sorted(turns.items())):
            label = "a node's turn, stop → end" if "turn" not in labelled else None
            labelled.add("turn")
            ax.barh(y, seconds, left=left, color=f"C{index}", alpha=0.8, edgecolor="white", label=label)
            ax.annotate(node, (left + seconds / 2, y), ha="center", va="center", fontsize=8, color="white")
            left += seconds
        rest = total - left
        label = "the rest of the playbook" if turns and "rest" not in labelled else None
        if turns:
            labelled.add("rest")
        ax.barh(y, rest, left=left, color="0.7", edgecolor="white", label=label)
        ax.annotate(f"{total:.1f} s", (total, y), textcoords="offset points", xytext=(4, 0), va="center", fontsize=9)
    ax.set_yticks(range(len(bars)), [label for label, _total, _turns in bars])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15 * max(total for _label, total, _turns in bars))
    ax.set(
        xlabel="seconds",
        title=f"{upgrade['nodes']} podman nodes, one run: upgrade / forced restart = {upgrade['ratio']:.2f}",
    )
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    fig.suptitle(
        f"rolling upgrade: corosync {upgrade['corosync_from']} → {upgrade['corosync_to']}, node programs → protocol "
        f"{_protocol(upgrade['protocol_to'])}\n{subtitle}",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _plot_label(row: dict[str, Any]) -> str:
    if row.get("window", 1) > 1:
        return f"{row['window']} in flight\n(pipelined)"
    return f"{row['clients']} client{'s' if row['clients'] > 1 else ''}"


def write_docs(results: Path, doc: Path, img: Path, keep_skipped: bool = False) -> str:
    run, checkpoint, cluster, upgrade = load(results)
    found = {"checkpoint": checkpoint, "cluster": cluster, "upgrade": upgrade}
    missing = [name for name in BENCHMARKS if found[name] is None]
    kept = kept_parts(doc.read_text() if doc.exists() else "", missing) if keep_skipped else None
    images = plot(run, checkpoint, cluster, img, upgrade)
    relative = {name: os.path.relpath(path, doc.parent) for name, path in images.items()}
    text = render(run, checkpoint, cluster, relative, kept, upgrade)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    log(f"wrote {doc} and {', '.join(str(p) for p in images.values()) or 'no plots'}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: bench_checkpoint --quick, 3 nodes, 2 race trials"
    )
    parser.add_argument("--from-json", action="store_true", help="only regenerate the page and plots from --results")
    parser.add_argument("--sizes", help="cluster sizes for bench_cluster (default 3,5,7; --quick: 3)")
    parser.add_argument(
        "--race-trials", type=int, help="simultaneous starts per variant and size (default 25; --quick: 2)"
    )
    parser.add_argument("--skip", action="append", default=[], choices=BENCHMARKS, help="leave out a benchmark")
    parser.add_argument(
        "--settle-load",
        type=float,
        help=f"between benchmarks: wait until the 1-min load average is below it (default {SETTLE_LOAD_PER_CPU}×nproc)",
    )
    parser.add_argument(
        "--settle-min",
        type=float,
        default=SETTLE_MIN_S,
        help=f"between benchmarks: pause at least this long first (default {SETTLE_MIN_S:.0f} s)",
    )
    parser.add_argument(
        "--settle-max",
        type=float,
        default=SETTLE_MAX_S,
        help=f"between benchmarks: wait at most this long in all, 0: no pause (default {SETTLE_MAX_S:.0f} s)",
    )
    parser.add_argument(
        "--keep-skipped",
        action="store_true",
        help="a benchmark without JSON in --results keeps its rows and sections from the existing --doc, marked †",
    )
    parser.add_argument("--results", type=Path, default=RUN_RESULTS, help="where the JSON goes / is read from")
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--img", type=Path, default=IMG)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.sizes = args.sizes or ("3" if args.quick else "3,5,7")
    if args.race_trials is None:
        args.race_trials = 2 if args.quick else 25
    if args.settle_load is None:
        args.settle_load = round(SETTLE_LOAD_PER_CPU * len(os.sched_getaffinity(0)), 2)
    failed = False
    if not args.from_json:
        signal.signal(signal.SIGTERM, _on_sigterm)
        run = run_benchmarks(args)
        failed = bool(run.get("stopped")) or any(step["rc"] for step in run["steps"])
    # Only when asked: the plain call is the one the page has always been written with.
    text = (
        write_docs(args.results, args.doc, args.img, keep_skipped=True)
        if args.keep_skipped
        else write_docs(args.results, args.doc, args.img)
    )
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Cluster-level benchmarks on local podman nodes: bring-up, re-run, rolling restart, adding a node, by size.

    python bench/bench_cluster.py [--sizes 3,5,7] [--race-trials 10] [--no-add-node] [--json OUT]

For each size N: N+1 podman nodes (hack/podman_cluster.py, image cached after its first build), the
inventory's group ``bench_initial`` holding the first N; every figure but the last is measured on
those N (``-e quorate_hosts=bench_initial``), node N+1 idle beside them (``--no-add-node``: N nodes):

- bring-up: the quorate.cluster.bringup playbook on fresh nodes (target <= 60 s for 3 nodes);
- re-run: the same playbook again, 3 times, each of which must report changed=0 (target: their
  median <= 10 s; all three are reported);
- rolling restart: quorate.cluster.rolling_restart with quorate_rolling_restart_force=true, its
  wall time against its lower bound measured in the same run, the sum of the per-node rejoin
  times (from the moment the play stops a node's services until that node passed its last
  barrier, read from the timeline callback's events), target total <= 1.3 x that sum;
- a no-op rolling restart (nothing changed: changed=0) and its time;
- the simultaneous-start race (docs/design.md#the-simultaneous-start-race): --race-trials
  simultaneous whole-stack starts per variant on the same nodes, our barrier alternating with
  the two-try retry (the molecule ``race`` scenario's harness,
  tests/molecule/race_trials.py, run unchanged); success rates and time to ready per variant.
  Its per-trial JSON goes to bench/results/race_<N>.json.
- adding node N+1 (bench/add_node.py): the bring-up over all N+1 while each of the N members
  writes checkpoint sections, timed, beside the forced rolling restart and the fresh bring-up
  above (targets: <= 0.3 x the rolling restart, <= 2 x the bring-up); the longest TRY_AGAIN
  window a member's writer saw (a write's first TRY_AGAIN to its success) against
  1.1 x (runtime token + consensus) read after the change; the members' daemons must keep their
  PIDs and a re-run over the N+1 must report changed=0, or the row fails.

Every figure comes from this run; the nodes are removed at the end (also on failure). Each timed
playbook starts once the previous one's timeline plot (drawn in the background) is written, so that
one run's plotting does not share the CPUs with the next run's timing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO / "hack"))
sys.path.insert(0, str(REPO / "tests" / "molecule"))

import add_node  # noqa: E402  next to this file
import race_trials  # noqa: E402
from local_cluster import ansible_env, wait_for_plot  # noqa: E402
from podman_cluster import PodmanCluster, podman  # noqa: E402
from targets import ADD_BRINGUP_RATIO_TARGET, ADD_ROLL_RATIO_TARGET  # noqa: E402

RERUNS = 3  # the re-run figure is their median: one run on a shared host swings by a second
STOP_TASK = "Stop the services, top-down"
_RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
_TASK = re.compile(r"^TASK \[(.+?)\] \*+$", re.MULTILINE)
_FATAL = re.compile(r"^fatal: \[([^\]]+)\]: FAILED! =>.*\n((?:(?: {4}.*)?\n)*)", re.MULTILINE)


class PlaybookFailed(RuntimeError):
    """A playbook that failed: how long it ran and its first failed task (:func:`first_failure`)."""

    def __init__(self, message: str, seconds: float, failure: dict[str, str] | None) -> None:
        super().__init__(message)
        self.seconds, self.failure = seconds, failure


def first_failure(stdout: str) -> dict[str, str] | None:
    """The first failed task in a playbook's output (the yaml callback's): task, host and message."""
    fatal = _FATAL.search(stdout)
    if not fatal:
        return None
    tasks = list(_TASK.finditer(stdout, 0, fatal.start()))
    msg, lines = "", fatal[2].splitlines()
    for index, line in enumerate(lines):
        if line.startswith("    msg:"):
            rest = [line[len("    msg:") :]] + [
                more for more in lines[index + 1 :] if more.startswith("      ") or not more.strip()
            ]
            text = " ".join(part.strip() for part in rest).strip()
            msg = text[1:-1].replace("''", "'") if text[:1] == text[-1:] == "'" else text.strip('"')
            break
    return {"task": tasks[-1][1] if tasks else "?", "host": fatal[1], "msg": msg}


def log(msg: str) -> None:
    sys.stderr.write(f"[bench_cluster {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def playbook(cluster: PodmanCluster, name: str, timeline: Path, *extra: str) -> dict[str, Any]:
    env = ansible_env(timeline)  # the settings `make cluster` runs the playbooks with
    argv = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(cluster.inventory)]
    argv += [str(REPO / "playbooks" / f"{name}.yml"), *extra]
    started, since = time.monotonic(), time.time()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    recap = {m[0]: {"changed": int(m[1]), "failed": int(m[2]) + int(m[3])} for m in _RECAP.findall(proc.stdout)}
    if proc.returncode != 0 or any(r["failed"] for r in recap.values()):
        failure = first_failure(proc.stdout)
        where = f" at task [{failure['task']}] on {failure['host']}: {failure['msg']}" if failure else ""
        raise PlaybookFailed(
            f"{name} {' '.join(extra)} failed (rc={proc.returncode}){where}\n{proc.stdout[-3000:]}",
            round(seconds, 1),
            failure,
        )
    events = json.loads((timeline / "timeline.json").read_text())["events"]
    wait_for_plot(timeline / "timeline.png", since)
    return {"seconds": round(seconds, 1), "changed": sum(r["changed"] for r in recap.values()), "events": events}


def is_stop(event: dict[str, Any]) -> bool:
    """The rolling restart's stop of a node's stack, named as the play shows it: from an included role
    (the rolling restart's and the upgrade's node_restart tasks) with the role before it ("role : task")."""
    return event["task"].rsplit(" : ", 1)[-1] == STOP_TASK


def rejoin_times(events: list[dict[str, Any]]) -> dict[str, float]:
    """Per node: from the start of its stop task to the end of its last task after that."""
    times = {}
    for host in sorted({e["host"] for e in events}):
        stops = [e["start"] for e in events if e["host"] == host and is_stop(e)]
        if stops:
            after = [e["end"] for e in events if e["host"] == host and e["start"] >= stops[0]]
            times[host] = round(max(after) - stops[0], 2)
    return times


def race(cluster: PodmanCluster, per_variant: int, out: Path, nodes: list[int]) -> dict[str, Any]:
    """The molecule race scenario's trials on ``nodes``: ``per_variant`` starts of each variant.

    The nodes get the files the harness needs (as molecule/race/verify.yml ships them), then
    race_trials.main() runs the trials; its summary, cut to the figures the report shows, is returned.
    """
    for node in nodes:
        cluster.exec(node, "mkdir", "-p", race_trials.REMOTE_DIR, check=True)
        for rel in race_trials.NODE_FILES:
            podman("cp", str(REPO / rel), f"{cluster.name(node)}:{race_trials.REMOTE_DIR}/{Path(rel).name}")
    argv = ["--trials", str(2 * per_variant), "--out", str(out), "--key", str(cluster.key)]
    argv += [f"--node=n{node},{cluster.addr(node)},{node}" for node in nodes]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with contextlib.redirect_stdout(sys.stderr):  # its report is progress here; the figures come back
        rc = race_trials.main(argv)
    if not out.exists():
        raise RuntimeError(f"race trials wrote no results (rc={rc})")
    summary = race_summary(json.loads(out.read_text()))
    summary["json"] = str(out.relative_to(REPO) if out.is_relative_to(REPO) else out)
    return summary


def race_summary(result: dict[str, Any]) -> dict[str, Any]:
    """race_trials' JSON (run + summary) -> per variant: trials, successes, rate, time to ready, failures."""
    run, summary = result["run"], result["summary"]
    variants = {}
    for variant in race_trials.VARIANTS:
        entry = summary[variant]
        failures = sorted(entry["failures"].items(), key=lambda kv: (-kv[1], kv[0]))
        variants[variant] = {
            "trials": entry["trials"],
            "successes": entry["successes"],
            "rate": entry["rate"],
            "ready_s": {k: entry["done_s"][k] for k in ("p50", "max")},
            "failures": dict(failures[:3]),
        }
    return {
        "trials_per_variant": max(v["trials"] for v in variants.values()),
        **variants,
        "start_skew_max_s": summary["start_skew_s"]["max"],
        "trial_p50_s": summary["trial_s"]["p50"],
        "wall_s": run["wall_s"],
        "harness_error": run.get("harness_error"),
    }


def bench_size(size: int, race_trials_per_variant: int = 0, add: bool = True) -> dict[str, Any]:
    # Octets 61, 63, 65 (and 67 for a size of 9): clear of the molecule scenarios' 81-92.
    cluster = PodmanCluster(size + 1 if add else size, prefix=f"qbench{size}", subnet_octet=58 + size)
    members = list(range(1, size + 1))
    # The N-node figures run on the first N only; node N+1 joins at the end.
    limit = ("-e", f"quorate_hosts={add_node.INITIAL_GROUP}") if add else ()
    result: dict[str, Any] = {"nodes": size}
    try:
        started = time.monotonic()
        cluster.up()
        result["nodes_up_s"] = round(time.monotonic() - started, 1)
        if add:
            add_node.initial_inventory(cluster, members)
        work = cluster.workdir
        log(f"{cluster.size} nodes up in {result['nodes_up_s']}s; bring-up of {size}")
        first = playbook(cluster, "bringup", work / "tl-bringup", *limit)
        result["bringup_s"] = first["seconds"]
        if add:  # beside the add's own phases
            result["bringup_phase_s"] = add_node.phase_seconds(work / "tl-bringup")
        reruns = [playbook(cluster, "bringup", work / f"tl-rerun{i}", *limit) for i in range(1, RERUNS + 1)]
        result["reruns_s"] = [again["seconds"] for again in reruns]
        result["rerun_s"] = statistics.median(result["reruns_s"])
        result["rerun_changed"] = max(again["changed"] for again in reruns)
        log(f"bring-up {first['seconds']}s, re-runs {result['reruns_s']} s, changed={result['rerun_changed']}")
        force = ("-e", "quorate_rolling_restart_force=true")
        rolled = playbook(cluster, "rolling_restart", work / "tl-roll", *limit, *force)
        rejoin = rejoin_times(rolled["events"])
        if len(rejoin) != size:
            raise RuntimeError(f"rolling restart restarted {sorted(rejoin)} instead of all {size} nodes")
        result["rolling_restart_s"] = rolled["seconds"]
        result["rejoin_s"] = rejoin
        result["rejoin_sum_s"] = round(sum(rejoin.values()), 1)
        result["rolling_ratio"] = round(rolled["seconds"] / sum(rejoin.values()), 2)
        noop = playbook(cluster, "rolling_restart", work / "tl-noop", *limit)
        result["noop_rolling_restart_s"], result["noop_changed"] = noop["seconds"], noop["changed"]
        log(f"rolling restart {rolled['seconds']}s vs rejoin sum {result['rejoin_sum_s']}s; no-op {noop['seconds']}s")
        if race_trials_per_variant:
            log(f"race: {race_trials_per_variant} simultaneous starts per variant")
            result["race"] = race(cluster, race_trials_per_variant, RESULTS / f"race_{size}.json", members)
            r = result["race"]
            log(
                f"race: barrier {r['barrier']['successes']}/{r['barrier']['trials']}, "
                f"two-try retry {r['bandaid']['successes']}/{r['bandaid']['trials']} in {r['wall_s']}s"
            )
        if add:
            # Last: the race restores the stack it stopped; the add then meets the cluster as a bring-up left it.
            log(f"adding n{size + 1} while n1-n{size} write checkpoint sections")
            grown = add_node.measure_add(
                cluster, members, size + 1, lambda name, tl, *extra: playbook(cluster, name, tl, *extra), work
            )
            result["add_node"] = grown
            log(f"add: {add_line(result)}")
    except Exception as exc:  # the figures measured so far are kept; the run reports the failure
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        log(f"{size} nodes: {result['error']}")
    finally:
        cluster.down()
    return result


def add_line(row: dict[str, Any]) -> str:
    """The add's figures beside what they are compared with, as one line of text."""
    add = row["add_node"]
    if "add_s" not in add:
        return f"FAILED: {add.get('error', '; '.join(add['failed']))}"
    ok = add_node.verdicts(row)
    roll, up = add["add_s"] / row["rolling_restart_s"], add["add_s"] / row["bringup_s"]
    window = (
        f"longest TRY_AGAIN {add['longest_try_again_s']:.3f} s vs 1.1 x (token {add['token_ms']} + consensus "
        f"{add['consensus_ms']} ms) = {add['try_again_bound_s']:.3f} s: {_verdict(ok['window'])}"
        if "try_again_bound_s" in add
        else "TRY_AGAIN bound not read"
    )
    checks = "; ".join(add["failed"]) or (
        f"members' PIDs kept, re-run changed={add['rerun_changed']}, n{row['nodes'] + 1} runs its stack"
    )
    return (
        f"add {add['add_s']} s; rolling restart {row['rolling_restart_s']} s; bring-up {row['bringup_s']} s; "
        f"add/rolling {roll:.2f} (<= {ADD_ROLL_RATIO_TARGET}): {_verdict(ok['roll'])}; "
        f"add/bring-up {up:.2f} (<= {ADD_BRINGUP_RATIO_TARGET:g}): {_verdict(ok['bringup'])}; {window}; {checks}"
    )


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "not met")


def machine() -> str:
    cpus = os.cpu_count()
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line), "?")
    load = os.getloadavg()[0]
    return f"{cpus} vCPU, {int(mem) // 1024} MiB, Linux {platform.release()}, load average at start {load:.1f}"


def _race_cell(row: dict[str, Any], variant: str) -> str:
    if "race" not in row:
        return "-"
    v = row["race"][variant]
    return f"{v['successes']}/{v['trials']}, ready p50 {v['ready_s']['p50']} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3,5,7", help="cluster sizes, comma separated")
    parser.add_argument("--race-trials", type=int, default=10, help="simultaneous starts per variant (0: none)")
    parser.add_argument(
        "--add-node",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="N+1 nodes, and add the last to the N at the end (default: yes)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    # A stopped benchmark still removes its nodes: SIGTERM unwinds through bench_size's finally.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    sizes = [int(size) for size in args.sizes.split(",")]
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "sizes": []}
    for size in sizes:
        report["sizes"].append(bench_size(size, args.race_trials, args.add_node))
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nquorate.cluster on podman nodes; {report['machine']}")
    print(
        "| nodes | bring-up (≤ 60 s for 3) | re-run, changed (≤ 10 s, 0) | rolling restart | Σ rejoin "
        "| ratio (≤ 1.3) | no-op rolling restart, changed | race: barrier | race: two-try retry |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in (row for row in report["sizes"] if "error" not in row):
        print(
            f"| {row['nodes']} | {row['bringup_s']} s | {row['rerun_s']} s, {row['rerun_changed']} "
            f"| {row['rolling_restart_s']} s | {row['rejoin_sum_s']} s | {row['rolling_ratio']} "
            f"| {row['noop_rolling_restart_s']} s, {row['noop_changed']} | {_race_cell(row, 'barrier')} "
            f"| {_race_cell(row, 'bandaid')} |"
        )
    added = [row for row in report["sizes"] if "add_node" in row]
    if added:
        print("\nAdding node N+1 to a running N-node cluster (bring-up over N+1 while the N write):")
        for row in added:
            print(f"  {row['nodes']} -> {row['nodes'] + 1} nodes: {add_line(row)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    failed = [row for row in report["sizes"] if "error" in row or (row.get("add_node") or {}).get("failed")]
    for row in failed:
        print(f"{row['nodes']} nodes failed: {row.get('error') or '; '.join(row['add_node']['failed'])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Simultaneous-start trials on the molecule ``race`` nodes: our barrier vs the two-try retry.

    python tests/molecule/race_trials.py --node n1,10.89.83.11,1 --node n2,... --key KEY \\
        --trials 50 --out DIR/race_trials.json

Runs ``race_node.py agent`` on every node over one SSH session each (the nodes already hold the
node files; molecule/race/verify.yml copies them), then for each trial: stop the stack on every
node, pick a wall-clock instant a moment ahead, and have every node start its whole stack at that
instant. ``--trials`` such starts in all; the variants alternate (barrier, two-try, two-try,
barrier, ...: the order flips every pair), so both meet the same conditions:

- ``barrier``: quorate-controld + the ckpt_wait barrier (local, then global checkpoint). Success:
  the barrier opened both checkpoints with their sections on every node, with one protocol.
- ``bandaid``: the two-try retry (docs/design.md#why-a-fixed-retry-fails): two tries 1 s apart,
  no quorum wait. Success: every node finished with one protocol and exactly one node decided it
  was first (with equal maxima everywhere a split decision still yields equal protocols; only the
  first-member count shows it).

Writes every trial and a summary as JSON and prints the summary. Exit status 0 when every trial
ran (whatever its outcome: the verify playbook judges), 1 when the harness itself failed. Timing
figures are printed, never judged. Traffic goes only to the given node addresses.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from race_node import JsonLines  # next to this file: the script's directory is on sys.path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from stats import percentile


def _load_error_model() -> Any:
    """The collection's AIS error model, for the names of the transient cases (one source).

    Loaded from its file under a private name: it is stdlib-only without package-relative imports,
    and this script runs without the collection on its path.
    """
    name = "_quorate_ais_errors"
    path = Path(__file__).resolve().parents[2] / "plugins" / "module_utils" / "shared" / "ais_errors.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


CASES = tuple(case.value for case in _load_error_model().Case)

VARIANTS = ("barrier", "bandaid")
REMOTE_DIR = "/usr/lib/quorate/race"
# What a node needs in REMOTE_DIR, relative to the repository: the agent and the files it reuses
# unchanged (bench/bench_cluster.py ships these; molecule/race/verify.yml asks --list-node-files).
NODE_FILES = ("tests/molecule/race_node.py", "bench/ckpt_node_driver.py", "bench/stats.py")
NODE_PYTHONPATH = "/usr/lib/quorate/quorate_node.zip"
# How far ahead the common start instant lies: enough for the start lines to reach every node.
START_LEAD_S = 0.3
STOP_TIMEOUT_S = 180.0
TRIAL_TIMEOUT_S = 240.0  # corosync + ckptd start, two 60 s barriers, the controld settle time


class HarnessError(RuntimeError):
    """The trial machinery failed (ssh, agent), as opposed to a trial's outcome."""


class NodeSession:
    """``race_node.py agent`` on one node over ssh; JSON lines both ways."""

    def __init__(self, name: str, address: str, nodeid: int, args: argparse.Namespace, log_dir: Path) -> None:
        self.name = name
        self.nodeid = nodeid
        self.log_path = log_dir / f"race_agent_{name}.log"
        self._log = open(self.log_path, "ab")  # closed in close()
        remote = [
            f"PYTHONPATH={NODE_PYTHONPATH}",
            "python3",
            "-u",
            f"{REMOTE_DIR}/race_node.py",
            "agent",
            "--nodeid",
            str(nodeid),
            "--prefix",
            args.prefix,
            "--fs-name",
            args.fs_name,
            "--barrier-timeout",
            str(args.barrier_timeout),
        ]
        # Throwaway test nodes with fresh host keys on every create (as the molecule inventory says).
        ssh = ["ssh", "-i", args.key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"]
        ssh += ["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ServerAliveInterval=10"]
        self.proc = subprocess.Popen(
            [*ssh, f"{args.user}@{address}", " ".join(_shell_quote(a) for a in remote)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self.lines = JsonLines(self.proc.stdout.fileno())

    def send(self, command: dict[str, Any]) -> None:
        try:
            self.proc.stdin.write((json.dumps(command) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise HarnessError(f"{self.name}: the agent is gone ({self.log_tail()})") from exc

    def expect(self, wanted: str, timeout: float) -> dict[str, Any]:
        event = self.lines.next(timeout, (wanted, "error"))
        if event is None:
            raise HarnessError(f"{self.name}: no {wanted!r} within {timeout:g}s ({self.log_tail()})")
        if event.get("ev") == "error":
            raise HarnessError(f"{self.name}: agent error in {event.get('cmd')}: {event.get('error')}")
        return event

    def log_tail(self, lines: int = 5) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "no stderr"

    def close(self) -> None:
        """Close the agent's stdin (it ends its drivers and exits), then make sure ssh is gone."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own ssh child, by PID
            self.proc.wait(5)
        self._log.close()


def _shell_quote(arg: str) -> str:
    safe = all(c.isalnum() or c in "-_./:=," for c in arg)
    return arg if safe and arg else "'" + arg.replace("'", "'\\''") + "'"


def all_nodes(sessions: list[NodeSession], command: dict[str, Any], wanted: str, timeout: float) -> dict[str, Any]:
    for session in sessions:
        session.send(command)
    return {session.name: session.expect(wanted, timeout) for session in sessions}


# --------------------------------------------------------------------------- judging one trial


def judge_barrier(nodes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Success = every node's barrier opened both checkpoints with their sections, one protocol."""
    protocols = set()
    opened = True
    for result in nodes.values():
        barrier = result.get("barrier", {})
        opened &= all(barrier.get(phase, {}).get("ok") for phase in ("local", "global"))
        protocols.add(json.dumps(barrier.get("global", {}).get("sections"), sort_keys=True))
    success = opened and len(protocols) == 1
    controlds = [result.get("controld", {}) for result in nodes.values()]
    ready = [c["ready"] for c in controlds if c.get("ready")]
    restarts = sum(int(c.get("state", {}).get("NRestarts", "0") or 0) for c in controlds)
    firsts = sum(1 for r in ready if r.get("first"))
    failures = []
    if not success:
        for name, result in sorted(nodes.items()):
            for phase in ("local", "global"):
                report = result.get("barrier", {}).get(phase, {})
                if not report.get("ok"):
                    failures.append(f"{name} {phase}: {report.get('msg', 'failed')}"[:300])
        if opened:
            failures.append(f"different protocols: {sorted(protocols)}")
    return {
        "success": success,
        "firsts": firsts if len(ready) == len(nodes) else None,
        "controld_all_ready": len(ready) == len(nodes),
        "controld_restarts": restarts,
        "failures": failures,
    }


def judge_bandaid(nodes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Success = every node ok, one protocol, and exactly one first member (one decision)."""
    outcomes = [result.get("bandaid", {}) for result in nodes.values()]
    finished = all(o.get("ok") for o in outcomes)
    protocols = {json.dumps([o.get("daemon_protocol"), o.get("fs_protocol")]) for o in outcomes if o.get("ok")}
    firsts = sum(1 for o in outcomes if o.get("ok") and o.get("first"))
    one_protocol = finished and len(protocols) == 1
    failures = []
    for name, result in sorted(nodes.items()):
        outcome = result.get("bandaid", {})
        if not outcome.get("ok"):
            failures.append(f"{name}: {outcome.get('failed_step')} {outcome.get('error')}")
    if one_protocol and firsts != 1:
        failures.append(f"split decision: {firsts} first members")
    return {
        "success": one_protocol and firsts == 1,
        "all_ok_one_protocol": one_protocol,
        "firsts": firsts,
        "failures": failures,
    }


def trial_cases(variant: str, nodes: dict[str, dict[str, Any]]) -> dict[str, Counter]:
    """Retry-report case counts of one trial, per source (summed over the nodes)."""
    sources: dict[str, Counter] = {}
    for result in nodes.values():
        if variant == "barrier":
            for phase, report in result.get("barrier", {}).items():
                sources.setdefault(f"barrier {phase}", Counter()).update(report.get("cases", {}))
            ready = result.get("controld", {}).get("ready") or {}
            for phase, report in ready.get("reports", {}).items():
                sources.setdefault(f"controld {phase}", Counter()).update(report.get("cases", {}))
        else:
            errors = result.get("bandaid", {}).get("errors", {})
            sources.setdefault("bandaid errors", Counter()).update(errors)
    return sources


# --------------------------------------------------------------------------- summary


def summarize(trials: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = [t for t in trials if t["variant"] == variant]
        hit: dict[str, Counter] = {}  # source -> case -> trials in which it occurred
        counts: dict[str, Counter] = {}  # source -> case -> occurrences
        failures: Counter = Counter()
        for trial in mine:
            for source, cases in trial["cases"].items():
                # Every transient case listed for the retry reports, the ones that never occurred as 0.
                zeros = dict.fromkeys(CASES, 0) if variant == "barrier" else {}
                counts.setdefault(source, Counter(zeros)).update(cases)
                hit.setdefault(source, Counter(zeros)).update({case: 1 for case, n in cases.items() if n})
            failures.update(trial["judged"]["failures"])
        entry: dict[str, Any] = {
            "trials": len(mine),
            "successes": sum(1 for t in mine if t["judged"]["success"]),
            "trials_with_case": {source: dict(c) for source, c in sorted(hit.items())},
            "case_counts": {source: dict(c) for source, c in sorted(counts.items())},
            "failures": dict(failures),
            "done_s": _spread([t["done_s"] for t in mine]),
        }
        entry["rate"] = round(entry["successes"] / len(mine), 3) if mine else None
        if variant == "barrier":
            attempts = [
                float(result["barrier"][phase].get("attempts", 0))
                for t in mine
                for result in t["nodes"].values()
                for phase in ("local", "global")
                if phase in result.get("barrier", {})
            ]
            entry["attempts_per_barrier"] = _spread(attempts)
            entry["one_first_member"] = sum(1 for t in mine if t["judged"]["firsts"] == 1)
            entry["controld_restarts"] = sum(t["judged"]["controld_restarts"] for t in mine)
        else:
            entry["all_ok_one_protocol"] = sum(1 for t in mine if t["judged"]["all_ok_one_protocol"])
        summary[variant] = entry
    summary["start_skew_s"] = _spread([t["start_skew_s"] for t in trials])
    summary["stop_s"] = _spread([t["stop_s"] for t in trials])
    # Stops slow enough for the agent to attach the unit's journal (a daemon that ignores SIGTERM).
    summary["slow_stops"] = dict(
        Counter(
            f"{node} {unit}"
            for t in trials
            for node, units in t.get("stop", {}).items()
            for unit, result in units.items()
            if "journal" in result
        )
    )
    summary["trial_s"] = _spread([t["trial_s"] for t in trials])
    return summary


def _spread(values: list[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50, 3), "p90": percentile(values, 90, 3), "max": percentile(values, 100, 3)}


def _top(counter: dict[str, int], limit: int = 6) -> str:
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{k} x{v}" for k, v in items[:limit])
    return (text + (f", ... (+{len(items) - limit})" if len(items) > limit else "")) or "none"


def report_text(result: dict[str, Any]) -> str:
    s, meta = result["summary"], result["run"]
    barrier, bandaid = s["barrier"], s["bandaid"]
    lines = [
        f"race: {barrier['trials']} barrier + {bandaid['trials']} two-try trials on {len(meta['nodes'])} nodes "
        f"in {meta['wall_s']:.0f} s (nproc {meta['nproc']}, loadavg {meta['loadavg_start']} -> {meta['loadavg_end']})",
        f"  barrier (quorate-controld + ckpt_wait): {barrier['successes']}/{barrier['trials']} succeeded "
        f"(required: all); exactly one first member {barrier['one_first_member']}/{barrier['trials']}; "
        f"controld restarts by systemd {barrier['controld_restarts']}",
        f"    attempts per barrier p50 {barrier['attempts_per_barrier']['p50']} max "
        f"{barrier['attempts_per_barrier']['max']}; all barriers done after the start instant: p50 "
        f"{barrier['done_s']['p50']} s, max {barrier['done_s']['max']} s",
    ]
    for source, hit in barrier["trials_with_case"].items():
        counts = barrier["case_counts"][source]
        detail = ", ".join(f"{case} in {hit.get(case, 0)} trials ({counts.get(case, 0)}x)" for case in CASES)
        lines.append(f"    transient cases, {source}: {detail}")
    if barrier["failures"]:
        lines.append(f"    failures: {_top(barrier['failures'])}")
    lines += [
        f"  two-try retry (2 tries 1 s apart, no quorum wait): {bandaid['successes']}/{bandaid['trials']} "
        f"succeeded (measured, not required); all finished with one protocol {bandaid['all_ok_one_protocol']}/"
        f"{bandaid['trials']}; done after p50 {bandaid['done_s']['p50']} s",
        f"    failures: {_top(bandaid['failures'])}",
        f"    errors met: {_top(bandaid['case_counts'].get('bandaid errors', {}))}",
        f"  start skew between nodes (wake-up lateness): p50 {s['start_skew_s']['p50']} s, "
        f"max {s['start_skew_s']['max']} s; stopping the stacks p50 {s['stop_s']['p50']} s; "
        f"one trial p50 {s['trial_s']['p50']} s, max {s['trial_s']['max']} s",
        f"  slow stops (journal in the JSON): {_top(s['slow_stops'])}",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the run


def run_trial(sessions: list[NodeSession], index: int, variant: str) -> dict[str, Any]:
    began = time.monotonic()
    stopped = all_nodes(sessions, {"cmd": "stop"}, "stopped", STOP_TIMEOUT_S)
    at = time.time() + START_LEAD_S
    nodes = all_nodes(sessions, {"cmd": "start", "at": at, "variant": variant}, "result", TRIAL_TIMEOUT_S)
    for result in nodes.values():
        result.pop("ev", None)
    judged = judge_barrier(nodes) if variant == "barrier" else judge_bandaid(nodes)
    if variant == "barrier":
        done = [max(r["barrier"][p]["done_s"] for p in ("local", "global")) for r in nodes.values()]
    else:
        done = [r["bandaid"]["done_s"] for r in nodes.values()]
    lateness = [r["late_s"] for r in nodes.values()]
    return {
        "index": index,
        "variant": variant,
        "judged": judged,
        "cases": {source: dict(c) for source, c in trial_cases(variant, nodes).items()},
        "done_s": max(done),
        "start_skew_s": round(max(lateness) - min(lateness), 4),
        "stop_s": max(s["s"] for s in stopped.values()),
        "stop": {name: s["systemctl"] for name, s in stopped.items()},
        "trial_s": round(time.monotonic() - began, 3),
        "nodes": nodes,
    }


def variant_of(index: int) -> str:
    """barrier, bandaid, bandaid, barrier, barrier, ...: alternating, and each goes first every other pair."""
    pair, second = divmod(index, 2)
    return VARIANTS[(pair + second) % 2]


def parse_node(text: str) -> tuple[str, str, int]:
    name, address, nodeid = text.split(",")
    return name, address, int(nodeid)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # through the finally below: the ssh sessions end, the agents clean up


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv) == ["--list-node-files"]:
        print("\n".join(NODE_FILES))  # for molecule/race/verify.yml: one list of what the nodes need
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", action="append", type=parse_node, required=True, help="NAME,ADDRESS,NODEID")
    parser.add_argument("--key", required=True, help="ssh private key of the nodes")
    parser.add_argument("--user", default="root")
    parser.add_argument("--trials", type=int, default=50, help="simultaneous starts, the variants alternating")
    parser.add_argument("--out", required=True, type=Path, help="JSON file for every trial and the summary")
    parser.add_argument("--prefix", default="quorate:controld")
    parser.add_argument("--fs-name", default="ocfs2")
    parser.add_argument("--barrier-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    began, began_wall = time.monotonic(), time.time()
    run: dict[str, Any] = {
        "nodes": [n[0] for n in args.node],
        "trials": args.trials,
        "started_at": began_wall,
        "nproc": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
    trials: list[dict[str, Any]] = []
    sessions: list[NodeSession] = []
    harness_error = None
    try:
        sessions = [NodeSession(name, address, nodeid, args, args.out.parent) for name, address, nodeid in args.node]
        for session in sessions:
            session.expect("hello", 60)
        for index in range(args.trials):
            variant = variant_of(index)
            trial = run_trial(sessions, index, variant)
            trials.append(trial)
            print(
                f"[{time.strftime('%H:%M:%S')}] trial {index + 1:3d}/{args.trials} {variant:8s} "
                f"{'ok  ' if trial['judged']['success'] else 'FAIL'} done {trial['done_s']:6.2f}s "
                f"{'; '.join(trial['judged']['failures'])[:160]}",
                file=sys.stderr,
                flush=True,
            )
        run["restore"] = all_nodes(sessions, {"cmd": "restore"}, "restored", STOP_TIMEOUT_S)
    except HarnessError as exc:
        harness_error = str(exc)
    finally:
        for session in sessions:
            session.close()
    run["wall_s"] = round(time.monotonic() - began, 1)
    run["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    run["harness_error"] = harness_error
    result = {"run": run, "summary": summarize(trials), "trials": trials}
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(report_text(result))
    print(f"per-trial results: {args.out}")
    if harness_error:
        print(f"harness error: {harness_error}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""(b) simultaneous start, one part of bench/bench_checkpoint.py (run it through that).

quorate-controld started on all 3 nodes at once vs the two-try retry (driver ``bandaid``,
docs/design.md#why-a-fixed-retry-fails), each after a simultaneous corosync start (cold) and on a
settled cluster (warm), interleaved. Success: see SCENARIO_TEXT; START_LIMIT_S in bench/targets.py.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any

from ckpt_harness import (
    NODES,
    Config,
    LineProc,
    NetnsCluster,
    NodeDaemons,
    _summary,
    cold_restart,
    driver,
    fmt_counter,
    global_instances,
    launch_together,
    log,
    percentile,
    settle,
    stop_group,
)
from targets import START_LIMIT_S

LOCAL_RETENTION = "0.2"
CONTROLD_PREFIX = "quorate:controld"
BANDAID_PREFIX = "quorate:bandaid"  # ckpt_node_driver.py's default


def controld_trial(daemons: NodeDaemons) -> dict[str, Any]:
    offsets = {
        n: (daemons.log("controld", n).stat().st_size if daemons.log("controld", n).exists() else 0) for n in NODES
    }
    launched = time.monotonic()
    launch_together([lambda n=n: daemons.start_controld(n, "--local-retention", LOCAL_RETENTION) for n in NODES])
    nodes: dict[int, dict[str, Any]] = {}
    deadline = launched + START_LIMIT_S
    while len(nodes) < len(NODES) and time.monotonic() < deadline:
        for node in NODES:
            if node in nodes:
                continue
            path = daemons.ready_file(node)
            if path.exists():
                try:
                    ready = json.loads(path.read_text())
                except ValueError:
                    continue  # written with os.replace, so only a read racing the rename
                nodes[node] = {"status": "ready", "ready_s": round(time.monotonic() - launched, 3), "ready": ready}
                continue
            proc = daemons.procs.get(("controld", node))
            if proc is not None and proc.poll() is not None:
                nodes[node] = {"status": f"exit {proc.returncode}"}
        time.sleep(0.02)
    for node in NODES:
        nodes.setdefault(node, {"status": "timeout"})
    instances = global_instances(daemons, CONTROLD_PREFIX)
    rcs = stop_group(daemons, "controld")
    cases: Counter = Counter()
    errors: Counter = Counter()
    failures: Counter = Counter()
    protocols = set()
    firsts = 0
    for node, info in nodes.items():
        if info["status"] != "ready":
            text = daemons.log("controld", node).read_bytes()[offsets[node] :].decode(errors="replace")
            reason = next((line for line in text.splitlines() if "startup failed" in line), info["status"])
            # "ERROR startup failed: <what> failed with <code> (...): <hint>; report {...}" -> "<what> ... <code>"
            reason = reason.split("startup failed: ", 1)[-1].split(";")[0].split(": ")[0]
            failures[re.sub(r"\d+(\.\d+)?", "N", reason)[:120]] += 1
            continue
        ready = info.pop("ready")
        protocols.add((tuple(ready["daemon_protocol"]), tuple(ready["fs_protocol"])))
        firsts += bool(ready["first"])
        info.update(first=ready["first"], startup_s=ready["startup_seconds"])
        for phase, report in ready["reports"].items():
            for case, count in report["cases"].items():
                cases[f"{phase}:{case}"] += count
            for code, count in report["errors"].items():
                errors[f"{phase}:{code}"] += count
        info["membership_wait_s"] = ready["reports"].get("membership", {}).get("elapsed")
    ready_same = all(i["status"] == "ready" for i in nodes.values()) and len(protocols) == 1
    ok = _judge(ready_same, firsts, failures)
    return {
        "ok": ok,
        "ready_same_protocol": ready_same,
        "firsts": firsts,
        "nodes": nodes,
        "cases": dict(cases),
        "errors": dict(errors),
        "failures": dict(failures),
        "global_instances": instances,
        "stop_rc": rcs,
        "all_ready_s": max((i.get("ready_s", 0.0) for i in nodes.values()), default=None) if ok else None,
    }


def bandaid_trial(cluster: NetnsCluster, daemons: NodeDaemons) -> dict[str, Any]:
    launched = time.monotonic()
    procs: list[LineProc] = launch_together(
        [
            lambda n=n: driver(
                cluster,
                n,
                "bandaid",
                "--socket",
                daemons.socket(n),
                "--local-retention",
                LOCAL_RETENTION,
                log_name="bandaid",
            )
            for n in NODES
        ]
    )
    nodes: dict[int, dict[str, Any]] = {}
    instances: dict[str, Any] = {}
    try:
        for node, helper in zip(NODES, procs):
            if helper is None:
                nodes[node] = {"ok": False, "failed_step": "launch", "error": "driver did not start"}
                continue
            remaining = launched + START_LIMIT_S - time.monotonic()
            event = helper.next_event(lambda e: e.get("ev") == "result", max(0.1, remaining))
            if event is None:
                nodes[node] = {"ok": False, "failed_step": "no_result", "error": helper.stderr_tail(3)}
            else:
                event["result_s"] = round(event["t"] - launched, 3)
                nodes[node] = event
        instances = global_instances(daemons, BANDAID_PREFIX)
    finally:
        for helper in procs:
            if helper is not None:
                helper.finish()
    errors: Counter = Counter()
    failures: Counter = Counter()
    protocols = set()
    firsts = 0
    for info in nodes.values():
        errors.update(info.get("errors", {}))
        if info.get("ok"):
            protocols.add((tuple(info["daemon_protocol"]), tuple(info["fs_protocol"])))
            firsts += bool(info.get("first"))
        else:
            failures[f"{info.get('failed_step')}:{info.get('error')}"] += 1
    ready_same = all(i.get("ok") for i in nodes.values()) and len(protocols) == 1
    ok = _judge(ready_same, firsts, failures)
    slim = {
        n: {k: i.get(k) for k in ("ok", "first", "result_s", "elapsed", "failed_step", "error", "errors", "group_view")}
        for n, i in nodes.items()
    }
    return {
        "ok": ok,
        "ready_same_protocol": ready_same,
        "firsts": firsts,
        "global_instances": instances,
        "nodes": slim,
        "errors": dict(errors),
        "failures": dict(failures),
    }


def _judge(ready_same: bool, firsts: int, failures: Counter) -> bool:
    """Success: all ready with one protocol AND it was decided once (exactly one first member).

    With equal maxima on every node a split decision still yields equal protocols, so the
    protocol check alone cannot see the simultaneous-start race (docs/design.md#the-simultaneous-start-race);
    the first-member count can.
    """
    if ready_same and firsts != 1:
        failures[f"split decision: {firsts} first members"] += 1
    return ready_same and firsts == 1


def bench_start(cluster: NetnsCluster, daemons: NodeDaemons, cfg: Config) -> dict[str, Any]:
    log(f"(b) simultaneous start: up to {cfg.start_trials} trials per variant, budget {cfg.start_budget_s:.0f}s")
    began = time.monotonic()
    trials: list[dict[str, Any]] = []
    stopped_early = False
    pair_costs: list[float] = []
    for index in range(cfg.start_trials):
        elapsed = time.monotonic() - began
        expected = max(pair_costs) if pair_costs else 0.0
        if elapsed + expected > cfg.start_budget_s:
            stopped_early = True
            log(f"(b) time budget reached after {index} trials per variant")
            break
        pair_began = time.monotonic()
        scenario = "cold" if index % cfg.cold_every == 0 else "warm"
        order = ("controld", "bandaid") if index % 2 == 0 else ("bandaid", "controld")
        for variant in order:
            trial: dict[str, Any] = {"index": index, "variant": variant, "scenario": scenario}
            if scenario == "cold":
                trial["restart"] = cold_restart(cluster, daemons)
            else:
                leftovers = settle(cluster, daemons)
                if leftovers:
                    trial["leftovers_unlinked"] = leftovers
            result = controld_trial(daemons) if variant == "controld" else bandaid_trial(cluster, daemons)
            trial.update(result)
            trials.append(trial)
            log(
                f"    trial {index + 1:2d} {scenario} {variant:8s}: {'ok  ' if result['ok'] else 'FAIL'} "
                f"firsts={result['firsts']} {dict(result['failures']) or ''}"
            )
        pair_costs.append(time.monotonic() - pair_began)
    # Leave a settled cluster behind for whatever runs next.
    settle(cluster, daemons)
    variants = {}
    for variant in ("controld", "bandaid"):
        mine = [t for t in trials if t["variant"] == variant]
        per_scenario = {}
        for scenario in ("cold", "warm"):
            subset = [t for t in mine if t["scenario"] == scenario]
            per_scenario[scenario] = _rate(subset)
        cases: Counter = Counter()
        errors: Counter = Counter()
        failures: Counter = Counter()
        for t in mine:
            cases.update(t.get("cases", {}))
            errors.update(t["errors"])
            failures.update(t["failures"])
        ready_times = [t["all_ready_s"] for t in mine if t.get("all_ready_s") is not None]
        variants[variant] = {
            **_rate(mine),
            "by_scenario": per_scenario,
            "split_first": sum(1 for t in mine if t["ready_same_protocol"] and t["firsts"] != 1),
            "multiple_global_instances": sum(1 for t in mine if t["global_instances"].get("total", 0) > 1),
            "cases": dict(cases),
            "errors": dict(errors),
            "failures": dict(failures),
            "all_ready_s": _summary(ready_times) if ready_times else None,
        }
    return {
        "trials_per_variant": len(trials) // 2,
        "stopped_early_for_time": stopped_early,
        "seconds": round(time.monotonic() - began, 1),
        "variants": variants,
        "samples": trials,
    }


def _rate(trials: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sum(1 for t in trials if t["ok"])
    loose = sum(1 for t in trials if t["ready_same_protocol"])
    return {
        "trials": len(trials),
        "successes": ok,
        "rate": round(ok / len(trials), 3) if trials else None,
        "ready_same_protocol": loose,
    }


SCENARIO_TEXT = (
    "cold = SIGTERM quorate-ckptd and corosync on all 3 nodes; start corosync on all 3 back to back; "
    "wait only until each corosync answers IPC (corosync-cmapctl, i.e. what systemd's Type=notify "
    "ordering gives); start quorate-ckptd on all 3; wait only until each accepts connections on its "
    "socket; then start the 3 daemons at the same moment (threads released by one barrier) - no wait "
    "for membership, quorum or ckptd sync. warm = the same 3-thread start on a quorate cluster whose "
    "ckptds are synced and hold no checkpoints. Success = all 3 ready with the same negotiated protocol "
    f"within {START_LIMIT_S:g} s of the launch AND exactly one first member (one decision; every node "
    "has the same maxima, so a split decision would otherwise go unnoticed). Trials alternate "
    "cold/warm; each variant gets its own restart. controld runs with --local-retention 0.2; the "
    "two-try retry (bench/ckpt_node_driver.py bandaid) does controld's steps, but every checkpoint "
    "open/read/write is tried at most twice, 1 s apart, without quorum wait or grace (cpg_join "
    "TRY_AGAIN looped every 1 s, as ocfs2_controld did)."
)


def print_report(s: dict[str, Any]) -> None:
    print(
        f"\n(b) simultaneous start, {s['trials_per_variant']} trials per variant in {s['seconds']} s"
        + (" (stopped early: time budget)" if s["stopped_early_for_time"] else "")
    )
    print(f"    scenario: {SCENARIO_TEXT}")
    for name, v in s["variants"].items():
        label = "quorate-controld" if name == "controld" else "two-try retry (2 tries, 1 s)"
        by = v["by_scenario"]
        print(
            f"    {label:30s} {v['successes']}/{v['trials']} = {100 * (v['rate'] or 0):.0f} %   "
            f"cold {by['cold']['successes']}/{by['cold']['trials']}, warm {by['warm']['successes']}/"
            f"{by['warm']['trials']}; all 3 ready with one protocol {v['ready_same_protocol']}/{v['trials']}, "
            f"of which split decisions (!= 1 first member) {v['split_first']}"
        )
        print(
            f"        trials that ended with more than one global checkpoint instance (ckptd merge): "
            f"{v['multiple_global_instances']}"
        )
        restarts = [t["restart"] for t in s["samples"] if t["variant"] == name and "restart" in t]
        if restarts:
            print(
                f"        cold restarts: corosync IPC up after p50 "
                f"{percentile([r['corosync_ipc_s'] for r in restarts], 50):.2f} s, ckptd listening "
                f"{percentile([r['ckptd_listening_s'] for r in restarts], 50):.2f} s later (p50)"
            )
        if v.get("all_ready_s"):
            print(f"        all 3 ready after launch: p50 {v['all_ready_s']['p50']} s, max {v['all_ready_s']['max']} s")
        if v["cases"]:
            print(f"        transient cases (retry-report counts): {fmt_counter(v['cases'])}")
        print(f"        errors: {fmt_counter(v['errors'])}")
        print(f"        failures: {fmt_counter(v['failures'])}")

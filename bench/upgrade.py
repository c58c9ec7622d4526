"""A rolling upgrade of 3 podman nodes beside a forced rolling restart of the same nodes, in one run (issue 16).

    python bench/upgrade.py [--json OUT] [--no-writers]

1. Three fresh podman nodes of the full image on their own network (10.89.67.0/24, prefix
   ``qbenchup``), their only package source a local apt repository served on their bridge that
   holds the image's corosync repackaged one version higher (hack/apt_repo.py build-upgrade, in
   build/apt-repo-upgrade: the same files, version ``<installed>+quorate1``); the bring-up
   playbook, timed.
2. The rolling upgrade, timed: ``quorate.cluster.upgrade`` with corosync to that version and the
   node programs of hack/staged_bundle.py (protocol max 1.1), one node at a time, n1 the canary,
   the running controld protocol raised at the end. Then, per node: the corosync version, the
   running controld protocol (/run/quorate/controld.json ``daemon_protocol``) and whether every
   stack unit has a new PID; then the same upgrade again, timed, which must report changed=0.
3. A forced rolling restart of the same nodes, timed
   (``quorate.cluster.rolling_restart -e quorate_rolling_restart_force=true``), and its PIDs.
4. The ratio upgrade / forced restart; per playbook and node, the time from stopping the node's
   stack to the node's last task of its turn (the timeline callback's events).

While the upgrade and the restart run, a writer on each node (bench/add_node.py's, ``podman exec``)
overwrites its own checkpoint section under the collection's RetryClient, 20 ms between writes
(``--no-writers``: none): the writes that completed, how many met TRY_AGAIN and the longest are
recorded. The writers import a copy of the node programs made before the upgrade replaces them.

Every figure comes from this run; the nodes, their network and the repository's HTTP server are
removed at the end, also on a failure or SIGTERM. A check that fails (a version, the protocol, a PID
kept, a re-run that changed) is listed in ``failed``; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

import add_node  # noqa: E402  next to this file: the writers, the stack's PIDs, the slowest tasks
import bench_cluster  # noqa: E402  the playbook runner and the machine line, as the cluster benchmark uses them
from apt_repo import build_upgrade  # noqa: E402
from podman_cluster import PodmanCluster  # noqa: E402
from staged_bundle import build as build_programs  # noqa: E402

NODES = 3
PREFIX = "qbenchup"
SUBNET_OCTET = 67  # bench_cluster takes 61/63/65, molecule 78-94, `make cluster` 77
APT_REPO = REPO / "build" / "apt-repo-upgrade"
PROTOCOL = "1.1"  # what the second version of the node programs announces (daemon and fs)
WRITER_PROGRAMS = "/root/bench-writer-programs.zip"  # the writers' own copy: the upgrade replaces the original


def log(msg: str) -> None:
    sys.stderr.write(f"[upgrade {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- pure parts (unit-tested)


def ratio(upgrade_s: float, restart_s: float) -> float:
    """How many forced rolling restarts of the same nodes the upgrade took."""
    return round(upgrade_s / restart_s, 2)


def node_turns(events: list[dict[str, Any]]) -> dict[str, float]:
    """Per node: from the start of its stop task to the end of its last task before another node's next one.

    With ``serial: 1`` a node's turn is one run of its own tasks; a play over every node after the
    roll (the upgrade's protocol raise) is not counted in the last node's turn.
    """
    ordered = sorted(events, key=lambda e: e["start"])
    turns = {}
    for index, event in enumerate(ordered):
        if not bench_cluster.is_stop(event) or event["host"] in turns:
            continue
        end = event["end"]
        for later in ordered[index + 1 :]:
            if later["host"] != event["host"]:
                break
            end = max(end, later["end"])
        turns[event["host"]] = round(end - event["start"], 2)
    return turns


def not_restarted(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, list[str]]:
    """Per node, the stack units whose PID stayed the same (or that do not run): [] when all restarted."""
    return {
        node: [unit for unit, pid in units.items() if not after[node][unit] or after[node][unit] == pid]
        for node, units in before.items()
    }


def checks(result: dict[str, Any]) -> list[str]:
    """What the run shows did not happen as it should, one line each ([]: everything checked out)."""
    failed = []
    target = result.get("corosync_to")
    for node, facts in (result.get("after_upgrade") or {}).items():
        if facts.get("corosync") != target:
            failed.append(f"{node}: corosync {facts.get('corosync')} after the upgrade, not {target}")
        if facts.get("daemon_protocol") != result.get("protocol_to"):
            failed.append(f"{node}: controld runs protocol {facts.get('daemon_protocol')}, not {result['protocol_to']}")
    for step in ("upgrade", "restart"):
        for node, kept in (result.get(f"{step}_pids_kept") or {}).items():
            if kept:
                failed.append(f"{node}: {', '.join(kept)} not restarted by the {step}")
    for step in ("upgrade", "restart"):
        if f"{step}_turns_s" in result and len(result[f"{step}_turns_s"]) != result["nodes"]:
            failed.append(f"the {step} stopped {sorted(result[f'{step}_turns_s'])}, not every node's stack")
    if result.get("rerun_changed"):
        failed.append(f"the re-run of the upgrade reported changed={result['rerun_changed']}")
    for step in ("upgrade", "restart"):
        for writer in (result.get("writers") or {}).get(step, []):
            if not writer["clean_end"]:
                failed.append(f"{writer['node']}: its writer did not end cleanly during the {step}")
    return failed


def writers_line(writers: list[dict[str, Any]]) -> str:
    """The writers of one step as text: writes completed, with TRY_AGAIN, the longest, other errors."""
    if not writers:
        return "no writers"
    errors: Counter = Counter()
    for writer in writers:
        errors.update({k: v for k, v in writer["errors"].items() if not k.endswith("TRY_AGAIN")})
    longest = max(writers, key=lambda w: w["longest_write_s"] or 0.0)
    other = ", ".join(f"{k} ×{v}" for k, v in sorted(errors.items())) or "none"
    return (
        f"{sum(w['writes'] or 0 for w in writers)} writes, {sum(w['try_again_writes'] for w in writers)} with "
        f"TRY_AGAIN; longest write {longest['longest_write_s'] or 0:.2f} s ({longest['node']}); other errors {other}"
    )


# --------------------------------------------------------------------------- on the nodes


def node_facts(cluster: PodmanCluster) -> dict[str, dict[str, Any]]:
    """Per node: the corosync package's version and the controld's running and highest protocols."""
    facts = {}
    for node in cluster.nodes:
        version = cluster.exec(node, "dpkg-query", "-W", "-f=${Version}", "corosync", check=True).stdout.strip()
        ready = json.loads(cluster.exec(node, "cat", "/run/quorate/controld.json", check=True).stdout)
        facts[f"n{node}"] = {
            "corosync": version,
            "daemon_protocol": ready.get("daemon_protocol"),
            "daemon_max_protocol": ready.get("daemon_max_protocol"),
        }
    return facts


def facts_if_any(cluster: PodmanCluster) -> dict[str, Any]:
    """:func:`node_facts` and the stack's PIDs after a failure, or what reading them raised."""
    try:
        return {"facts": node_facts(cluster), "pids": add_node.stack_pids(cluster, cluster.nodes)}
    except Exception as exc:  # a node half way through: say so, keep the failure that matters
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


def timed(cluster: PodmanCluster, name: str, timeline: Path, *extra: str, writers: bool) -> dict[str, Any]:
    """A playbook under bench_cluster's runner, with a writer on every node when ``writers``."""

    def run() -> dict[str, Any]:
        return bench_cluster.playbook(cluster, name, timeline, *extra)

    if not writers:
        return {**run(), "writers": []}
    ran, began, ended, seen = add_node.while_writing(cluster, cluster.nodes, run, WRITER_PROGRAMS)
    summaries = [add_node.summarize_writer(node, seen[node], began, ended) for node in sorted(seen)]
    for summary in summaries:
        summary.pop("windows")  # when each write met TRY_AGAIN: the counts are what this page shows
    return {**ran, "writers": summaries}


def bench(writers: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "started_at": time.time(),
        "machine": bench_cluster.machine(),
        "nodes": NODES,
        "subnet": f"10.89.{SUBNET_OCTET}.0/24",
        "writers": {},
    }
    cluster = PodmanCluster(NODES, prefix=PREFIX, subnet_octet=SUBNET_OCTET, apt_repo=APT_REPO, apt_repo_upgrade=True)
    work = cluster.workdir
    try:
        started = time.monotonic()
        cluster.up()
        result["nodes_up_s"] = round(time.monotonic() - started, 1)
        result["corosync_to"] = build_upgrade(APT_REPO, cluster.image)  # built by up(): its version
        programs = build_programs(work / "programs-1.1.zip", PROTOCOL, PROTOCOL)
        result["protocol_to"] = [int(part) for part in PROTOCOL.split(".")]
        log(f"{NODES} nodes up in {result['nodes_up_s']} s; bring-up")
        result["bringup_s"] = bench_cluster.playbook(cluster, "bringup", work / "tl-bringup")["seconds"]
        result["before"] = node_facts(cluster)
        result["corosync_from"] = result["before"]["n1"]["corosync"]
        result["protocol_from"] = result["before"]["n1"]["daemon_protocol"]
        for node in cluster.nodes:
            cluster.exec(node, "cp", add_node.NODE_PYTHONPATH, WRITER_PROGRAMS, check=True)
        pids = add_node.stack_pids(cluster, cluster.nodes)
        upgrade = (
            "-e",
            json.dumps({"quorate_upgrade_packages": {"corosync": result["corosync_to"]}}),
            "-e",
            f"quorate_ckptd_node_programs={programs}",
        )
        log(
            f"bring-up {result['bringup_s']} s; rolling upgrade: corosync {result['corosync_from']} -> "
            f"{result['corosync_to']}, node programs -> protocol {PROTOCOL}"
        )
        try:
            rolled = timed(cluster, "upgrade", work / "tl-upgrade", *upgrade, writers=writers)
        except bench_cluster.PlaybookFailed as exc:  # how far it got, for the report
            result["upgrade_failure"] = {"seconds": exc.seconds, **(exc.failure or {})}
            result["after_failure"] = facts_if_any(cluster)
            raise
        result["upgrade_s"], result["upgrade_changed"] = rolled["seconds"], rolled["changed"]
        result["upgrade_turns_s"] = node_turns(rolled["events"])
        result["upgrade_slowest_tasks"] = add_node.slowest_tasks(rolled["events"])
        result["writers"]["upgrade"] = rolled["writers"]
        result["after_upgrade"] = node_facts(cluster)
        upgraded = add_node.stack_pids(cluster, cluster.nodes)
        result["upgrade_pids_kept"] = not_restarted(pids, upgraded)
        log(f"upgrade {result['upgrade_s']} s; re-run")
        again = bench_cluster.playbook(cluster, "upgrade", work / "tl-upgrade-rerun", *upgrade)
        result["rerun_s"], result["rerun_changed"] = again["seconds"], again["changed"]
        log(f"re-run {result['rerun_s']} s, changed={result['rerun_changed']}; forced rolling restart")
        force = ("-e", "quorate_rolling_restart_force=true")
        restarted = timed(cluster, "rolling_restart", work / "tl-roll", *force, writers=writers)
        result["restart_s"], result["restart_changed"] = restarted["seconds"], restarted["changed"]
        result["restart_turns_s"] = node_turns(restarted["events"])
        result["writers"]["restart"] = restarted["writers"]
        result["restart_pids_kept"] = not_restarted(upgraded, add_node.stack_pids(cluster, cluster.nodes))
        result["ratio"] = ratio(result["upgrade_s"], result["restart_s"])
    except Exception as exc:  # the figures measured so far are kept; the run reports the failure
        result["error"] = f"{type(exc).__name__}: {exc}"[:4000]
        log(result["error"])
    finally:
        cluster.down()
    result["failed"] = checks(result) + (["the run did not complete"] if "error" in result else [])
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def report(result: dict[str, Any]) -> str:
    lines = [f"rolling upgrade of {NODES} podman nodes; {result['machine']}"]
    if "ratio" in result:
        lines += [
            f"  bring-up {result['bringup_s']} s",
            f"  rolling upgrade (corosync {result['corosync_from']} -> {result['corosync_to']}, node programs -> "
            f"protocol {PROTOCOL}): {result['upgrade_s']} s; per node from its stop {result['upgrade_turns_s']}",
            f"  re-run of the upgrade: {result['rerun_s']} s, changed={result['rerun_changed']}",
            f"  forced rolling restart: {result['restart_s']} s; per node from its stop {result['restart_turns_s']}",
            f"  upgrade / forced restart: {result['ratio']}",
            "  after the upgrade: "
            + "; ".join(
                f"{n} corosync {f['corosync']}, protocol {f['daemon_protocol']}"
                for n, f in result["after_upgrade"].items()
            ),
        ]
        for step in ("upgrade", "restart"):
            lines.append(f"  writers during the {step}: {writers_line(result['writers'].get(step, []))}")
    failure = result.get("upgrade_failure")
    if failure:
        lines.append(
            f"  the upgrade FAILED after {failure['seconds']} s at task [{failure.get('task')}] on "
            f"{failure.get('host')}: {failure.get('msg')}"
        )
        lines.append(f"  after it: {json.dumps(result.get('after_failure'))}")
    if result.get("error"):
        lines.append(f"  error: {result['error']}")
    lines += [f"  FAILED: {line}" for line in result["failed"]] or ["  every check passed"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--writers", action=argparse.BooleanOptionalAction, default=True, help="a writer on every node (default: yes)"
    )
    args = parser.parse_args()
    # A stopped benchmark still removes its nodes: SIGTERM unwinds through bench()'s finally.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    result = bench(args.writers)
    print(report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

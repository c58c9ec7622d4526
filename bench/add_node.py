"""Adding one node to a running cluster, for bench_cluster.py (issue 15): the add, timed, under load.

bench_cluster.py creates N+1 podman nodes and runs its N-node figures (bring-up, re-runs, forced
rolling restart, ...) on the first N only (inventory group ``bench_initial``, passed as
``-e quorate_hosts=bench_initial``); then :func:`measure_add` runs the bring-up over all N+1
(``quorate_cluster``) while a writer on each of the N members writes checkpoint sections without
pause, and reports:

- the add's wall time, beside the same run's forced rolling restart and fresh bring-up of the N;
- per member and overall, the longest TRY_AGAIN window: from a write's first TRY_AGAIN to that
  write's success, against 1.1 x (runtime token + runtime consensus) read after the change;
- whether the members kept their corosync / quorate-ckptd / quorate-controld PIDs, the new node
  runs all three, and a re-run over the N+1 reports changed=0 (a row that fails either is failed).

On a node this file is the writer (stdlib + the installed quorate_node programs)::

    PYTHONPATH=/usr/lib/quorate/quorate_node.zip python3 -u add_node.py writer PREFIX

It opens the checkpoint ``quorate:benchadd`` and overwrites its own section back to back (a short
pause between writes), each write under the collection's RetryClient with the live totem timing,
as the modules retry. A write that outlives the client's deadline is retried until it succeeds:
its window runs from its first TRY_AGAIN to that success. It prints ``ready`` after its first
write, one ``try_again`` line per write that saw TRY_AGAIN (CLOCK_MONOTONIC times, host-wide,
so the controller can place them in its own timeline), and ``done`` with the counts when its
stdin closes.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

CHECKPOINT = "quorate:benchadd"
ATTRS = {
    "creation_flags": 0,
    "checkpoint_size": 64 * 1024,
    "retention_duration": int(60 * 1e9),  # outlives a writer's reconnect, not the benchmark
    "max_sections": 64,
    "max_section_size": 256,
    "max_section_id_size": 32,
}
PAUSE_S = 0.02  # ~40 writes/s per member: steady load, not a flood that would slow the add itself
TIMING_REFRESH_S = 2.0  # the writer re-reads the runtime totem timing at most this often (a fork each)
WRITE_LIMIT_S = 120.0  # a write still failing after this is reported unfinished, and the writer stops
REMOTE = "/root/add_node.py"
NODE_PYTHONPATH = "/usr/lib/quorate/quorate_node.zip"
STACK = ("corosync", "quorate-ckptd", "quorate-controld")
INITIAL_GROUP = "bench_initial"
LEAD_S = 3.0  # writes flow this long before the add starts, and go on this long after it
READY_LIMIT_S = 60.0


# --------------------------------------------------------------------------- on the node


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _run_command(argv: list) -> tuple:
    """CorosyncRuntime's runner, in the C locale the modules force."""
    env = dict(os.environ, LC_ALL="C", LANG="C")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, check=False)
    return proc.returncode, proc.stdout, proc.stderr


class _CachedTiming:
    """The live totem timing, read again at most every ``refresh`` seconds: the RetryClient reads
    it once per call, and a corosync-cmapctl fork per write would load the node more than the write."""

    def __init__(self, read: Any, refresh: float) -> None:
        self.read, self.refresh = read, refresh
        self.value, self.at = None, 0.0

    def __call__(self) -> Any:
        now = time.monotonic()
        if self.value is None or now - self.at >= self.refresh:
            self.value, self.at = self.read(), now
        return self.value


def _stdin_closed() -> bool:
    readable, _w, _x = select.select([sys.stdin], [], [], 0)
    return bool(readable) and not sys.stdin.readline()


def run_writer(prefix: str, pause: float = PAUSE_S) -> int:
    from quorate_node.shared.ais_errors import AisError, AisException, Operation
    from quorate_node.shared.ckpt_client import CheckpointClient
    from quorate_node.shared.corosync_runtime import CorosyncRuntime
    from quorate_node.shared.retry_policy import RetryClient, RetryFailed, RetryPolicy

    retry = RetryClient(
        RetryPolicy(), timing_source=_CachedTiming(CorosyncRuntime(_run_command).totem_timing, TIMING_REFRESH_S)
    )
    client = CheckpointClient(time_left=retry.time_left)
    state: dict[str, Any] = {"handle": None, "written": False}
    # The write in hand: its data, when it first met TRY_AGAIN, the errors it met.
    current: dict[str, Any] = {}
    section = f"{prefix}w".encode()
    errors: Counter = Counter()
    longest_write = 0.0
    index = 0
    unfinished = None

    def attempt() -> None:
        try:
            if state["handle"] is None:
                state["handle"] = client.create(CHECKPOINT, ATTRS)
            if state["written"]:
                client.section_overwrite(state["handle"], section, current["data"])
            else:  # the first write creates the section (or finds it from a reconnect)
                client.section_put(state["handle"], section, current["data"])
                state["written"] = True
        except AisException as exc:
            current["seen"][exc.code.sa_name] += 1
            if exc.code is AisError.TRY_AGAIN and current["first"] is None:
                current["first"] = time.monotonic()
            raise

    def reconnect() -> None:
        state["handle"] = None  # a handle does not outlive its connection
        client.reconnect()

    while not _stdin_closed():
        current.update(data=f"{prefix}{index}".encode(), first=None, seen=Counter())
        began = time.monotonic()
        while True:
            try:
                retry.call(attempt, Operation.CALL, reconnect=reconnect, what=f"write {index}")
                break
            except RetryFailed as failed:
                # Past the client's deadline (or fatal): the same write again, its window still open.
                errors[f"retry_failed:{failed.error.sa_name if failed.error else 'deadline'}"] += 1
                if time.monotonic() - began > WRITE_LIMIT_S:
                    unfinished = {"index": index, "first": current["first"], "since": began}
                    break
                client.close_connection()
                state["handle"] = None
                time.sleep(0.1)
        errors.update(current["seen"])
        if unfinished:
            break
        done = time.monotonic()
        longest_write = max(longest_write, done - began)
        if index == 0:
            _emit({"ev": "ready", "t": done})
        if current["first"] is not None:
            window = {"index": index, "first": current["first"], "ok": done, "tries": dict(current["seen"])}
            _emit({"ev": "try_again", **window})
        index += 1
        time.sleep(pause)
    _emit(
        {
            "ev": "done",
            "t": time.monotonic(),
            "writes": index,
            "errors": dict(errors),
            "longest_write_s": round(longest_write, 4),
            "unfinished": unfinished,
        }
    )
    return 0


# --------------------------------------------------------------------------- on the controller


def initial_inventory(cluster: Any, members: list[int]) -> None:
    """Give the inventory a group holding only the first N nodes (the rest stay in quorate_cluster)."""
    inventory = json.loads(Path(cluster.inventory).read_text())
    inventory["all"]["children"][INITIAL_GROUP] = {"hosts": {f"n{node}": {} for node in members}}
    Path(cluster.inventory).write_text(json.dumps(inventory, indent=2) + "\n")


def phase_seconds(timeline: Path) -> dict[str, float]:
    """Where a playbook's time went: the play's time per role phase (the timeline callback's record)."""
    play = json.loads((timeline / "timeline.json").read_text())["play"]
    return {phase: round(seconds, 1) for phase, seconds in play["phase_seconds"].items()}


def slowest_tasks(events: list[dict[str, Any]], count: int = 6) -> list[dict[str, Any]]:
    """The tasks that held the play longest: per task, its slowest host's time, the longest first."""
    longest: dict[str, tuple[float, str, str]] = {}
    for event in events:
        seconds = event["end"] - event["start"]
        if seconds > longest.get(event["task"], (-1.0, "", ""))[0]:
            longest[event["task"]] = (seconds, event["host"], event.get("phase", ""))
    ranked = sorted(longest.items(), key=lambda item: -item[1][0])[:count]
    return [
        {"task": task, "host": host, "phase": phase, "seconds": round(seconds, 1)}
        for task, (seconds, host, phase) in ranked
    ]


def stack_pids(cluster: Any, nodes: list[int]) -> dict[str, dict[str, int]]:
    """Per node, each stack unit's MainPID (0: not running)."""
    pids = {}
    for node in nodes:
        out = cluster.exec(node, "systemctl", "show", "-p", "MainPID", "--value", *STACK, check=True).stdout
        pids[f"n{node}"] = dict(zip(STACK, (int(line) for line in out.split())))
    return pids


def runtime_totem(cluster: Any, node: int) -> dict[str, int]:
    """runtime.config.totem.token and .consensus on ``node``, in ms."""
    values = {}
    for key in ("token", "consensus"):
        out = cluster.exec(node, "corosync-cmapctl", "-g", f"runtime.config.totem.{key}", check=True).stdout
        values[f"{key}_ms"] = int(out.rsplit("=", 1)[-1])  # "runtime.config.totem.token (u32) = 4300"
    return values


class NodeWriter:
    """This file's writer on one node, through ``podman exec``; stops when its stdin closes."""

    def __init__(self, cluster: Any, node: int, pythonpath: str = NODE_PYTHONPATH) -> None:
        from podman_cluster import podman, podman_env

        self.node = f"n{node}"
        podman("cp", str(Path(__file__).resolve()), f"{cluster.name(node)}:{REMOTE}")
        argv = ["podman", "exec", "-i", "-e", f"PYTHONPATH={pythonpath}", cluster.name(node)]
        argv += ["python3", "-u", REMOTE, "writer", f"{self.node}-"]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=podman_env()
        )  # our own child, stopped through its stdin
        self.events: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not ours (a warning on stdout): the counts come from our lines only
            self.events.append(event)
            if event.get("ev") == "ready":
                self.ready.set()
        self.ready.set()  # the writer ended: nobody waits for it any longer

    def stop(self) -> dict[str, Any]:
        """Close its stdin, wait for its ``done`` line; returns what it saw."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass  # it has gone already
        try:
            self.proc.wait(timeout=WRITE_LIMIT_S + 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own podman exec, by its handle
            self.proc.wait()
        self._reader.join(timeout=10)
        done = next((e for e in self.events if e.get("ev") == "done"), None)
        windows = [e for e in self.events if e.get("ev") == "try_again"]
        return {"done": done, "windows": windows, "rc": self.proc.returncode}


def while_writing(
    cluster: Any, nodes: list[int], step: Any, pythonpath: str = NODE_PYTHONPATH
) -> tuple[Any, float, float, dict[str, dict[str, Any]]]:
    """``step()`` while a writer on each of ``nodes`` writes: the writers are past their first write
    and have written for LEAD_S before it, and go on for LEAD_S after it.

    Returns what ``step()`` returned, when it began and ended (monotonic) and per node what its
    writer saw (:meth:`NodeWriter.stop`, for :func:`summarize_writer`). The writers are stopped also
    when ``step()`` raises (the exception goes on) or a writer never completes a first write
    (RuntimeError naming them).
    """
    writers: list[NodeWriter] = []
    try:
        writers = [NodeWriter(cluster, node, pythonpath) for node in nodes]
        deadline = time.monotonic() + READY_LIMIT_S
        for writer in writers:
            writer.ready.wait(max(0.0, deadline - time.monotonic()))
        unready = [w.node for w in writers if not any(e.get("ev") == "ready" for e in w.events)]
        if unready:
            raise RuntimeError(f"the writers on {', '.join(unready)} did not complete a first write")
        time.sleep(LEAD_S)  # writes are flowing before the step
        began = time.monotonic()
        try:
            ran = step()
        finally:
            ended = time.monotonic()
            time.sleep(LEAD_S)  # and after it
            seen = {w.node: w.stop() for w in writers}
            writers = []
    finally:
        for writer in writers:
            writer.stop()
    return ran, began, ended, seen


def summarize_writer(node: str, seen: dict[str, Any], add_began: float, add_ended: float) -> dict[str, Any]:
    """One member's writer: writes, TRY_AGAIN counts and windows (relative to the add's start)."""
    done = seen["done"] or {}
    windows = [
        {
            "index": w["index"],
            "start_s": round(w["first"] - add_began, 3),
            "seconds": round(w["ok"] - w["first"], 3),
            "tries": w["tries"],
        }
        for w in seen["windows"]
    ]
    unfinished = done.get("unfinished")
    if unfinished and unfinished.get("first") is not None:  # never succeeded: its window is a lower bound
        windows.append(
            {
                "index": unfinished["index"],
                "start_s": round(unfinished["first"] - add_began, 3),
                "seconds": round(done["t"] - unfinished["first"], 3),
                "unfinished": True,
            }
        )
    return {
        "node": node,
        "writes": done.get("writes"),
        "errors": done.get("errors", {}),
        "try_again_writes": len(windows),
        "longest_try_again_s": max((w["seconds"] for w in windows), default=0.0),
        "longest_write_s": done.get("longest_write_s"),
        "windows": windows,
        "clean_end": bool(seen["done"]) and seen["rc"] == 0 and not unfinished,
        "add_s": round(add_ended - add_began, 3),
    }


def measure_add(cluster: Any, members: list[int], new: int, run_playbook: Any, workdir: Path) -> dict[str, Any]:
    """Add node ``new`` to the running cluster of ``members`` with the bring-up over all of them.

    ``run_playbook(name, timeline_dir, *extra)`` runs a playbook and returns its seconds, changed
    count and timeline events (bench_cluster.playbook). Never raises for a failed add: the error
    is in the result (``error``) and ``failed`` lists every check that failed.
    """
    from targets import TRY_AGAIN_WINDOW_FACTOR  # here: the node side of this file has no targets.py

    result: dict[str, Any] = {"members": len(members), "new_node": f"n{new}", "failed": []}
    try:
        before = stack_pids(cluster, members)
        added, began, ended, seen = while_writing(cluster, members, lambda: run_playbook("bringup", workdir / "tl-add"))
        result["add_s"] = added["seconds"]
        result["add_changed"] = added["changed"]
        result["add_phase_s"] = phase_seconds(workdir / "tl-add")
        result["add_slowest_tasks"] = slowest_tasks(added["events"])
        spans = [e for e in added["events"] if e["host"] == f"n{new}"]
        if spans:  # the new node's own tasks, first start to last end (the playbook's own start excluded)
            result["new_node_tasks_s"] = round(max(e["end"] for e in spans) - min(e["start"] for e in spans), 1)
        result["writers"] = [summarize_writer(node, seen[node], began, ended) for node in sorted(seen)]
        worst = max(result["writers"], key=lambda w: w["longest_try_again_s"])
        result["longest_try_again_s"] = worst["longest_try_again_s"]
        result["longest_try_again_node"] = worst["node"] if worst["try_again_writes"] else None
        result["longest_write_s"] = max((w["longest_write_s"] or 0.0) for w in result["writers"])
        result["writes"] = sum(w["writes"] or 0 for w in result["writers"])
        result["try_again_writes"] = sum(w["try_again_writes"] for w in result["writers"])
        for writer in result["writers"]:
            if not writer["clean_end"]:
                result["failed"].append(f"{writer['node']}: the writer did not end cleanly")
        totem = runtime_totem(cluster, members[0])
        result.update(totem)
        result["try_again_bound_s"] = round(
            TRY_AGAIN_WINDOW_FACTOR * (totem["token_ms"] + totem["consensus_ms"]) / 1000, 3
        )
        rerun = run_playbook("bringup", workdir / "tl-add-rerun")
        result["rerun_s"], result["rerun_changed"] = rerun["seconds"], rerun["changed"]
        if rerun["changed"]:
            result["failed"].append(f"the re-run over {len(members) + 1} nodes reported changed={rerun['changed']}")
        after = stack_pids(cluster, [*members, new])
        result["pids_kept"] = all(after[node] == pids for node, pids in before.items())
        if not result["pids_kept"]:
            moved = sorted(
                f"{node} {unit}" for node, pids in before.items() for unit in STACK if after[node][unit] != pids[unit]
            )
            result["failed"].append(f"restarted on a member: {', '.join(moved)}")
        result["new_node_running"] = all(after[f"n{new}"][unit] > 0 for unit in STACK)
        if not result["new_node_running"]:
            result["failed"].append(f"n{new} does not run its whole stack: {after[f'n{new}']}")
    except Exception as exc:  # the add's figures so far are kept; the row is failed
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        result["failed"].append("the add did not complete")
    return result


def verdicts(row: dict[str, Any]) -> dict[str, bool | None]:
    """The add's three targets for one size row (bench_cluster's JSON), None where not measured.

    A row whose checks failed (a member restarted, a re-run that changed, an unclean writer) meets
    none of them: its figures do not describe the add the targets are about.
    """
    from targets import ADD_BRINGUP_RATIO_TARGET, ADD_ROLL_RATIO_TARGET

    add = row.get("add_node") or {}
    if "add_s" not in add:
        return {"roll": None, "bringup": None, "window": None}
    failed = bool(add.get("failed"))
    window = add.get("longest_try_again_s")
    bound = add.get("try_again_bound_s")
    return {
        "roll": not failed and add["add_s"] <= ADD_ROLL_RATIO_TARGET * row["rolling_restart_s"],
        "bringup": not failed and add["add_s"] <= ADD_BRINGUP_RATIO_TARGET * row["bringup_s"],
        "window": None if window is None or bound is None else not failed and window <= bound,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "writer":
        return run_writer(args[1])
    sys.stderr.write(
        "usage: add_node.py writer PREFIX   (on a node; the benchmark is bench/bench_cluster.py, which adds\n"
        "       a node at each size unless --no-add-node)\n"
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Process control and cluster setup shared by the checkpoint benchmarks (bench/bench_checkpoint.py).

A 3-node NetnsCluster (tests/harness/netns_cluster.py) with quorate-ckptd on every node; helper
processes inside the nodes' namespaces that talk JSON lines (LineProc: the node driver
bench/ckpt_node_driver.py and the CPG probe tests/harness/cpg_probe.py); the machine's
description; the summaries every benchmark reports. Everything started is stopped by PID.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
DRIVER = BENCH / "ckpt_node_driver.py"
CPG_PROBE = REPO / "tests" / "harness" / "cpg_probe.py"
COLLECTIONS = REPO / "build" / "collections"
sys.path.insert(0, str(REPO / "tests"))  # the test harness package
sys.path.insert(0, str(COLLECTIONS))

import run_all  # noqa: E402  the machine, described once
from harness.netns_cluster import ClusterError, NetnsCluster  # noqa: E402
from harness.node_daemons import NodeDaemons  # noqa: E402
from harness.processes import close_and_reap, json_events  # noqa: E402
from stats import percentile  # noqa: E402

from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisException  # noqa: E402
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient  # noqa: E402

NODES = [1, 2, 3]


@dataclass(frozen=True)
class Config:
    quick: bool
    wait_trials: int
    start_trials: int
    cold_every: int  # every n-th trial (from the first) is a cold start
    flood_count: int
    flood_size: int
    write_seconds: float
    writer_clients: tuple[int, ...]
    pipeline_windows: tuple[int, ...]  # one connection with this many writes in flight
    start_budget_s: float  # time budget for (b); trials stop early (and say so) beyond it

    @classmethod
    def make(cls, quick: bool) -> Config:
        if quick:
            return cls(True, 10, 10, 2, 10000, 1024, 3.0, (1, 8, 64), (256,), 150.0)
        return cls(False, 40, 50, 2, 20000, 1024, 5.0, (1, 8, 32, 128), (64, 256), 660.0)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 2)


# --------------------------------------------------------------------------- processes


class Running:
    """The helper processes started and not yet finished, in start order: what a benchmark stops
    on its way out (finish_all), also when it fails."""

    def __init__(self) -> None:
        self._helpers: list[LineProc] = []

    def add(self, helper: LineProc) -> None:
        self._helpers.append(helper)

    def discard(self, helper: LineProc) -> None:
        if helper in self._helpers:
            self._helpers.remove(helper)

    def finish_all(self) -> None:
        for helper in list(self._helpers):
            helper.finish(timeout=5.0)


# Every LineProc of this run unless given another: bench_checkpoint.py finishes them all at the end.
RUNNING = Running()


class LineProc:
    """A helper process inside a node's netns that prints JSON lines; a thread queues them.

    Recorded in ``running`` (RUNNING unless given) until finish().
    """

    def __init__(self, argv: list[str], log_path: Path, stdin: bool = True, running: Running = RUNNING) -> None:
        self.log_path = log_path
        self._running = running
        self._log = open(log_path, "ab")  # closed in finish()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        running.add(self)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for event in json_events(self.proc.stdout):
            self.events.put(event)
        self.events.put({"ev": "eof"})

    def next_event(self, pred: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any] | None:
        """The next queued event matching ``pred`` (others are kept in ``seen``); None on timeout or exit."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                event = self.events.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            self.seen.append(event)
            if event.get("ev") == "eof":
                return None
            if pred(event):
                return event

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 10.0) -> int | None:
        """Close stdin (the helper cleans up and exits), then make sure it is gone (by PID)."""
        returncode = close_and_reap(self.proc, timeout, kill_timeout=5)
        self._reader.join(5)
        self._log.close()
        self._running.discard(self)
        return returncode

    def stderr_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def driver(cluster: NetnsCluster, node: int, *args: str, log_name: str) -> LineProc:
    argv = cluster.node_env_prefix(node) + [sys.executable, str(DRIVER), *args]
    return LineProc(argv, cluster.workdir / f"{log_name}-n{node}.log")


def launch_together(targets: list[Callable[[], Any]]) -> list[Any]:
    """Run the launch callables in threads released at the same moment; returns their results."""
    gate = threading.Barrier(len(targets))
    results: list[Any] = [None] * len(targets)

    def run(index: int) -> None:
        gate.wait()
        results[index] = targets[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


# --------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    """The machine as bench/run_all.py records it, with the load average at the start."""
    return {**run_all.machine_info(), "loadavg_start": [round(x, 2) for x in os.getloadavg()]}


# --------------------------------------------------------------------------- cluster helpers


def _wait_every_node(ready: Callable[[int], bool], timeout: float, pause: float, what: str) -> float:
    """Poll ``ready(node)`` for every node not ready yet until all are; seconds it took."""
    started = time.monotonic()
    pending = set(NODES)
    while pending:
        for node in sorted(pending):
            if ready(node):
                pending.discard(node)
        if pending:
            if time.monotonic() - started > timeout:
                raise ClusterError(f"{what} on nodes {sorted(pending)} after {timeout:g}s")
            time.sleep(pause)
    return time.monotonic() - started


def wait_corosync_ipc(cluster: NetnsCluster, timeout: float = 30.0) -> float:
    """Until every node's corosync answers IPC (what systemd's Type=notify ordering waits for)."""

    def answers(node: int) -> bool:
        try:
            proc = cluster.exec(node, ["corosync-cmapctl", "-g", "totem.cluster_name"], timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    return _wait_every_node(answers, timeout, 0.02, "corosync IPC not up")


def wait_ckptd_listening(daemons: NodeDaemons, timeout: float = 15.0) -> float:
    """Until every node's quorate-ckptd accepts a connection."""

    def listening(node: int) -> bool:
        try:
            CheckpointClient(daemons.socket(node), timeout=1.0).connect().close_connection()
        except AisException:
            return False
        return True

    return _wait_every_node(listening, timeout, 0.01, "quorate-ckptd not listening")


def global_instances(daemons: NodeDaemons, name: str, timeout: float = 20.0) -> dict[str, Any]:
    """After the ckptds have merged into one synced view: how many checkpoints carry ``name``.

    More than one (the extra ones unlinked by the sync's name rule) means more than one node
    created "the" global checkpoint, each in its own membership: a split decision.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            states = []
            for node in NODES:
                with CheckpointClient(daemons.socket(node), timeout=2.0) as client:
                    states.append(client.status())
            if all(s.get("synced") and len(s.get("members", [])) == len(NODES) for s in states):
                with CheckpointClient(daemons.socket(1), timeout=2.0) as client:
                    mine = [c for c in client.list() if c["name"] == name]
                return {"synced": True, "total": len(mine), "unlinked": sum(1 for c in mine if c["unlinked"])}
        except AisException:
            pass
        if time.monotonic() > deadline:
            return {"synced": False}
        time.sleep(0.05)


def stop_group(daemons: NodeDaemons, name: str) -> dict[int, int | None]:
    """SIGTERM the daemon on every node at once, then wait for each (NodeDaemons.stop, by PID)."""
    for node in NODES:
        proc = daemons.procs.get((name, node))
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    return {node: daemons.stop(name, node) for node in NODES}


def listing_names(daemons: NodeDaemons) -> list[str]:
    try:
        with CheckpointClient(daemons.socket(1), timeout=5.0) as client:
            return [c["name"] for c in client.list() if not c.get("unlinked")]
    except AisException:
        return ["<ckptd not answering>"]


def settle(cluster: NetnsCluster, daemons: NodeDaemons, timeout: float = 60.0) -> list[str]:
    """A settled cluster with no checkpoints left; returns the names it had to unlink itself."""
    cluster.wait_quorate(timeout=timeout)
    daemons.wait_synced(NODES, 3, timeout=timeout)
    deadline = time.monotonic() + 15.0
    names = listing_names(daemons)
    while names and time.monotonic() < deadline:
        time.sleep(0.1)
        names = listing_names(daemons)
    if names:
        with CheckpointClient(daemons.socket(1), timeout=5.0) as client:
            for name in names:
                try:
                    client.unlink(name)
                except AisException:
                    pass
    return names


def cold_restart(cluster: NetnsCluster, daemons: NodeDaemons) -> dict[str, float]:
    """Stop ckptd and corosync everywhere; start corosync on all 3 at once, then ckptd on all 3.

    Returns when every ckptd accepts connections, without waiting for membership, quorum or the
    ckptd sync: the daemons under test are started right after this.
    """
    stop_group(daemons, "ckptd")
    cluster.stop_all()
    began = time.monotonic()
    cluster.start_all()
    ipc = wait_corosync_ipc(cluster)
    for node in NODES:
        daemons.start_ckptd(node)
    listening = wait_ckptd_listening(daemons)
    return {
        "corosync_ipc_s": round(ipc, 3),
        "ckptd_listening_s": round(listening, 3),
        "restart_to_launch_s": round(time.monotonic() - began, 3),
    }


# --------------------------------------------------------------------------- summaries and report helpers


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _summary(values: list[float]) -> dict[str, float | None]:
    return {
        "n": len(values),
        "min": _round(min(values) if values else None),
        "p50": _round(percentile(values, 50)),
        "p90": _round(percentile(values, 90)),
        "p99": _round(percentile(values, 99)),
        "max": _round(max(values) if values else None),
        "mean": _round(_mean(values)),
    }


def fmt_counter(counter: dict[str, int], limit: int = 8) -> str:
    if not counter:
        return "none"
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{k} x{v}" for k, v in items[:limit])
    return text + (f", ... (+{len(items) - limit})" if len(items) > limit else "")


def fmt_cpu(cpu: dict[str, Any] | None) -> str:
    if not cpu:
        return "cpu: n/a"
    procs = ", ".join(f"{k} {v:g}" for k, v in sorted(cpu["proc_cpu_pct"].items()))
    return f"cpu: host busy {cpu['host_busy_pct']:g} % of all cores; per process % of one core: {procs}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"

"""Checkpoint service benchmark on a real 3-node corosync cluster (network namespaces).

    python bench/bench_checkpoint.py [--quick]

Builds its own cluster (NetnsCluster, quorate-ckptd on every node) and measures, in one run:

(a) ckpt_wait reaction latency: node 2 runs ckpt_wait's probe under the RetryClient (an in-netns
    driver, bench/ckpt_node_driver.py ``wait``) for a checkpoint that does not exist yet; after a
    random 0.3-1.5 s node 1 creates it with its section. Latency = the waiter's success time minus
    the time node 1's create (open + section_create) returned; CLOCK_MONOTONIC is host-wide, so
    the times taken inside the netns and here compare. Target: p99 <= 100 ms.
(b) simultaneous start: quorate-controld started on all 3 nodes at once vs the seed's two-try
    band-aid (driver ``bandaid``), each after a simultaneous corosync start (cold) and on a
    settled cluster (warm), interleaved.
(c) replicated section_overwrite throughput (1 KiB) vs raw CPG multicast of 1 KiB payloads from
    node 1 with no bound on what is in flight (tests/harness/cpg_probe.py ``flood``), all on
    node 1: synchronous clients (1/8/32/128 connections, each with one write outstanding) and one
    connection that pipelines its writes (CheckpointClient.section_overwrite_many, 64 and 256 in
    flight, as the flood keeps its messages in flight). Target: >= 50 % (best row). The daemon
    packs the writes it has read into one multicast, where the flood sends one 1 KiB message per
    multicast; for information, each row is also compared with raw CPG limited to as many
    messages in flight as it has writes in flight (``flood --window K``) and with a flood of
    64 KiB messages (what packing alone reaches). Writes are timed to their reply on node 1, the
    floods to the last delivery on any node.

Prints the machine and every figure, a markdown block for docs/benchmarks.md, and writes
bench/results/checkpoint.json (or ``--json PATH``). Everything it starts is stopped by PID; the namespaces go with
the cluster in ``finally``. Needs root (network namespaces).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
DRIVER = BENCH / "ckpt_node_driver.py"
CPG_PROBE = REPO / "tests" / "harness" / "cpg_probe.py"
RESULTS = BENCH / "results" / "checkpoint.json"
COLLECTIONS = REPO / "build" / "collections"
sys.path.insert(0, str(REPO / "tests"))  # the test harness package
sys.path.insert(0, str(COLLECTIONS))

from ckpt_node_driver import percentile  # noqa: E402
from harness.netns_cluster import ClusterError, NetnsCluster, netns_available  # noqa: E402
from harness.node_daemons import NodeDaemons  # noqa: E402

from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisException  # noqa: E402
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient  # noqa: E402

NODES = [1, 2, 3]
WAIT_TARGET_P99_MS = 100.0
RATIO_TARGET = 0.50
# The raw flood again with messages as large as the daemon's batches of 1 KiB writes get: what
# packing alone can reach (information; the target is against 1 KiB messages, like the writes).
PACKED_SIZE = 64 * 1024
START_LIMIT_S = 30.0  # success = ready within this many seconds of the launch
LOCAL_RETENTION = "0.2"
CONTROLD_PREFIX = "quorate:controld"
BANDAID_PREFIX = "quorate:bandaid"  # ckpt_node_driver.py's default


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


class LineProc:
    """A helper process inside a node's netns that prints JSON lines; a thread queues them."""

    registry: list[LineProc] = []

    def __init__(self, argv: list[str], log_path: Path, stdin: bool = True) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # closed in finish()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        LineProc.registry.append(self)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"ev": "garbage", "line": line.rstrip()}
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
        try:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        self._log.close()
        if self in LineProc.registry:
            LineProc.registry.remove(self)
        return self.proc.returncode

    def stderr_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @classmethod
    def finish_all(cls) -> None:
        for helper in list(cls.registry):
            helper.finish(timeout=5.0)


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
    mem_kib = 0
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    proc = subprocess.run(["corosync", "-v"], capture_output=True, text=True, check=False)
    corosync = proc.stdout.splitlines()[0].strip() if proc.stdout else "unknown"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "corosync": corosync,
        "python": platform.python_version(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


# --------------------------------------------------------------------------- cluster helpers


def wait_corosync_ipc(cluster: NetnsCluster, timeout: float = 30.0) -> float:
    """Until every node's corosync answers IPC (what systemd's Type=notify ordering waits for)."""
    started = time.monotonic()
    pending = set(NODES)
    while pending:
        for node in sorted(pending):
            try:
                proc = cluster.exec(node, ["corosync-cmapctl", "-g", "totem.cluster_name"], timeout=5)
            except subprocess.TimeoutExpired:
                continue
            if proc.returncode == 0:
                pending.discard(node)
        if pending:
            if time.monotonic() - started > timeout:
                raise ClusterError(f"corosync IPC not up on nodes {sorted(pending)} after {timeout:g}s")
            time.sleep(0.02)
    return time.monotonic() - started


def wait_ckptd_listening(daemons: NodeDaemons, timeout: float = 15.0) -> float:
    started = time.monotonic()
    pending = set(NODES)
    while pending:
        for node in sorted(pending):
            try:
                CheckpointClient(daemons.socket(node), timeout=1.0).connect().close_connection()
                pending.discard(node)
            except AisException:
                pass
        if pending:
            if time.monotonic() - started > timeout:
                raise ClusterError(f"quorate-ckptd not listening on nodes {sorted(pending)} after {timeout:g}s")
            time.sleep(0.01)
    return time.monotonic() - started


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


# --------------------------------------------------------------------------- (a) ckpt_wait latency


def bench_wait(cluster: NetnsCluster, daemons: NodeDaemons, cfg: Config, rng: random.Random) -> dict[str, Any]:
    log(f"(a) ckpt_wait reaction latency: {cfg.wait_trials} trials")
    waiter = driver(cluster, 2, "wait", "--socket", daemons.socket(2), log_name="wait")
    attrs = {
        "creation_flags": 0,
        "checkpoint_size": 4096,
        "retention_duration": 0,
        "max_sections": 4,
        "max_section_size": 256,
        "max_section_id_size": 32,
    }
    trials: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    try:
        if waiter.next_event(lambda e: e.get("ev") == "ready", 30) is None:
            raise RuntimeError(f"wait driver did not start: {waiter.stderr_tail()}")
        with CheckpointClient(daemons.socket(1), timeout=10.0) as creator:
            for index in range(cfg.wait_trials):
                name = f"bench-wait-{os.getpid()}-{index}"
                waiter.send({"name": name, "sections": ["payload"]})
                waiting = waiter.next_event(lambda e, n=name: e.get("ev") == "waiting" and e.get("name") == n, 15)
                if waiting is None:
                    raise RuntimeError(f"wait driver stopped answering: {waiter.stderr_tail()}")
                delay = rng.uniform(0.3, 1.5)
                time.sleep(max(0.0, waiting["t"] + delay - time.monotonic()))
                called = time.monotonic()
                handle = creator.create(name, attrs)
                opened = time.monotonic()
                creator.section_create(handle, b"payload", b"ready\0")
                created = time.monotonic()
                done = waiter.next_event(lambda e, n=name: e.get("ev") == "done" and e.get("name") == n, 30)
                try:
                    creator.unlink(name)
                    creator.close(handle)
                except AisException:
                    pass
                if done is None or not done.get("ok"):
                    failures.append({"trial": index, "event": done})
                    continue
                waited = done["t"] - done["started"]
                trials.append(
                    {
                        "delay_s": round(delay, 4),
                        "create_call_s": round(created - called, 6),
                        "latency_ms": ms(done["t"] - created),
                        "latency_from_open_ms": ms(done["t"] - opened),
                        "attempts": done["attempts"],
                        "waited_s": round(waited, 4),
                        "attempts_per_s": round(done["attempts"] / waited, 2) if waited > 0 else None,
                        "errors": done.get("errors", {}),
                        "case": done.get("case"),
                    }
                )
    finally:
        waiter.finish()
    lat = [t["latency_ms"] for t in trials]
    rates = [t["attempts_per_s"] for t in trials if t["attempts_per_s"] is not None]
    create_ms = [t["create_call_s"] * 1000 for t in trials]
    errors: Counter = Counter()
    for t in trials:
        errors.update(t["errors"])
    p99 = percentile(lat, 99)
    return {
        "trials": len(trials),
        "failures": failures,
        "latency_ms": _summary(lat),
        "latency_from_open_ms": _summary([t["latency_from_open_ms"] for t in trials]),
        "create_call_ms": _summary(create_ms),
        "attempts_per_s_of_waiting": {"mean": _round(_mean(rates)), "max": _round(max(rates) if rates else None)},
        "attempts_per_trial": _summary([float(t["attempts"]) for t in trials]),
        "errors": dict(errors),
        "target_p99_ms": WAIT_TARGET_P99_MS,
        "pass": p99 is not None and p99 <= WAIT_TARGET_P99_MS and not failures,
        "samples": trials,
    }


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


# --------------------------------------------------------------------------- (b) simultaneous start


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
    protocol check alone cannot see the seed's race; the first-member count can.
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


# --------------------------------------------------------------------------- (c) throughput


def raw_flood(cluster: NetnsCluster, cfg: Config, tag: str, window: int = 0, size: int = 0) -> dict[str, Any]:
    """Raw CPG multicast from node 1; ``window`` > 0: at most that many messages in flight.

    ``size`` (default the 1 KiB of the writes): larger messages are fewer, for the same bytes."""
    size = size or cfg.flood_size
    group = f"qb-flood-{os.getpid()}-{tag}"
    count = cfg.flood_count if window == 0 or window >= 8 else max(500, cfg.flood_count // 3)
    if size != cfg.flood_size:
        count = max(1000, count * cfg.flood_size // size)  # a flood of a second or more, not a blip
    probes = []
    for node in NODES:
        args = ["flood", "--group", group, "--members", "3", "--count", str(count), "--window", str(window)]
        args += ["--size", str(size), "--timeout", "90"] + (["--send"] if node == 1 else [])
        argv = cluster.node_env_prefix(node) + [sys.executable, str(CPG_PROBE), *args]
        probes.append(LineProc(argv, cluster.workdir / f"flood-{tag}-n{node}.log", stdin=False))
    results: dict[int, dict[str, Any]] = {}
    try:
        for node, probe in zip(NODES, probes):
            event = probe.next_event(lambda e: e.get("ev") in ("flood_result", "error", "timeout"), 120)
            if event is None or event.get("ev") != "flood_result":
                raise RuntimeError(f"flood probe on n{node}: {event} {probe.stderr_tail()}")
            results[node] = event
    finally:
        for probe in probes:
            probe.finish()
    sender = results[1]
    last = max(r["last_delivery"] for r in results.values())
    end_to_end = last - sender["send_started"]
    complete = all(r["received"] == count and r["out_of_order"] == 0 for r in results.values())
    msgs = count / end_to_end if end_to_end > 0 else None
    return {
        "window": window,
        "count": count,
        "size": size,
        "complete": complete,
        "send_s": round(sender["send_s"], 4),
        "try_again": sender["try_again"],
        "end_to_end_s": round(end_to_end, 4),
        "msgs_per_s": _round(msgs, 1),
        "mb_per_s": _round(msgs * size / 1e6, 3) if msgs else None,
        "per_node_msgs_per_s": {n: _round(r["msgs_per_s"], 1) for n, r in results.items()},
    }


def writer_label(clients: int, window: int) -> str:
    """How a row of (c) wrote: synchronous clients, or one connection keeping W writes in flight."""
    if window > 1:
        return f"{clients} pipelined connection{'s' if clients > 1 else ''}, {window} in flight"
    return f"{clients} client{'s' if clients > 1 else ''}, 1 in flight each"


def writers(cluster: NetnsCluster, daemons: NodeDaemons, cfg: Config, clients: int, window: int = 1) -> dict[str, Any]:
    helper = driver(
        cluster,
        1,
        "writers",
        "--socket",
        daemons.socket(1),
        "--clients",
        str(clients),
        "--size",
        str(cfg.flood_size),
        "--duration",
        str(cfg.write_seconds),
        "--window",
        str(window),
        log_name=f"writers{clients}x{window}",
    )
    try:
        event = helper.next_event(lambda e: e.get("ev") == "writers_result", cfg.write_seconds + 60)
    finally:
        helper.finish()
    if event is None:
        raise RuntimeError(f"writers ({clients} clients) gave no result: {helper.stderr_tail()}")
    event.pop("t", None)
    event["label"] = writer_label(clients, window)
    return event


class CpuMeter:
    """CPU use during one measurement: the whole host (/proc/stat) and our corosyncs and ckptds.

    On 2 cores both paths are CPU-bound, so the split tells where the time goes.
    """

    def __init__(self, cluster: NetnsCluster, daemons: NodeDaemons) -> None:
        self.pids: dict[str, int] = {}
        for node in NODES:
            pid = cluster.pid(node)
            if pid is not None:
                self.pids[f"corosync-n{node}"] = pid
            proc = daemons.procs.get(("ckptd", node))
            if proc is not None and proc.poll() is None:
                self.pids[f"ckptd-n{node}"] = proc.pid  # ip netns exec execs python: same pid
        self.tick = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _host() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    def _procs(self) -> dict[str, int]:
        ticks = {}
        for label, pid in self.pids.items():
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                ticks[label] = int(fields[11]) + int(fields[12])  # utime + stime
            except (OSError, IndexError, ValueError):
                pass
        return ticks

    def __enter__(self) -> CpuMeter:
        self.began = time.monotonic()
        self.host0, self.procs0 = self._host(), self._procs()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self.began
        busy, total = self._host()
        procs = self._procs()
        self.result = {
            "host_busy_pct": round(100.0 * (busy - self.host0[0]) / max(1, total - self.host0[1]), 1),
            "proc_cpu_pct": {
                label: round(100.0 * (procs[label] - self.procs0[label]) / self.tick / wall, 1)
                for label in procs
                if label in self.procs0 and wall > 0
            },
        }


def bench_throughput(cluster: NetnsCluster, daemons: NodeDaemons, cfg: Config) -> dict[str, Any]:
    log(
        f"(c) throughput: raw flood {cfg.flood_count} x {cfg.flood_size} B, writers {cfg.writer_clients}, "
        f"pipelined windows {cfg.pipeline_windows}"
    )

    def measured(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with CpuMeter(cluster, daemons) as meter:
            result = fn()
        result["cpu"] = meter.result
        return result

    raw = [measured(lambda: raw_flood(cluster, cfg, "a"))]
    replicated = []
    # Synchronous clients (one write in flight each), then one pipelined connection per window.
    runs = [(clients, 1) for clients in cfg.writer_clients] + [(1, window) for window in cfg.pipeline_windows]
    for clients, window in runs:
        # The like-for-like raw figure: raw CPG with as many messages in flight as there are
        # writes in flight (each waits for its agreed delivery). Information only: the target
        # is against the unbounded flood above.
        in_flight = clients * window
        closed = measured(lambda k=in_flight: raw_flood(cluster, cfg, f"w{k}", window=k))
        replicated.append(measured(lambda k=clients, w=window: writers(cluster, daemons, cfg, k, w)))
        replicated[-1]["raw_same_window"] = closed
        replicated[-1]["in_flight"] = in_flight
        log(
            f"    {replicated[-1]['label']}: {replicated[-1]['writes_per_s']:.0f} writes/s; "
            f"raw CPG with {in_flight} in flight {closed['msgs_per_s']} msgs/s"
        )
    raw.append(measured(lambda: raw_flood(cluster, cfg, "b")))
    packed = measured(lambda: raw_flood(cluster, cfg, "packed", size=PACKED_SIZE))
    raw_mb = _mean([r["mb_per_s"] for r in raw if r["mb_per_s"]])
    for result in replicated:
        result["ratio_to_raw"] = _round(result["mb_per_s"] / raw_mb, 4) if raw_mb and result["mb_per_s"] else None
        result["pass"] = result["ratio_to_raw"] is not None and result["ratio_to_raw"] >= RATIO_TARGET
        same = result["raw_same_window"]["mb_per_s"]
        result["ratio_to_raw_same_window"] = (
            _round(result["mb_per_s"] / same, 4) if same and result["mb_per_s"] else None
        )
        result["ratio_to_raw_packed"] = (
            _round(result["mb_per_s"] / packed["mb_per_s"], 4) if packed["mb_per_s"] and result["mb_per_s"] else None
        )
    best = max((r["ratio_to_raw"] or 0.0 for r in replicated), default=0.0)
    return {
        "raw": raw,
        "raw_mb_per_s_mean": _round(raw_mb, 3),
        "raw_packed": packed,
        "replicated": replicated,
        "target_ratio": RATIO_TARGET,
        "best_ratio": best,
        "pass": best >= RATIO_TARGET,
    }


# --------------------------------------------------------------------------- report


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
    "band-aid (bench/ckpt_node_driver.py bandaid) does controld's steps, but every checkpoint "
    "open/read/write is tried at most twice, 1 s apart, without quorum wait or grace (cpg_join "
    "TRY_AGAIN looped every 1 s, as ocfs2_controld did)."
)


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


def print_report(res: dict[str, Any]) -> str:
    m = res["machine"]
    print()
    print("=" * 100)
    print("quorate.cluster checkpoint benchmark" + (" (--quick)" if res["config"]["quick"] else ""))
    print(
        f"machine: nproc={m['nproc']} ({m['cpu']}), memory {m['memory_gib']} GiB, kernel {m['kernel']}, "
        f"{m['corosync']}, Python {m['python']}; loadavg start {m['loadavg_start']} end {m.get('loadavg_end')}"
    )
    print(
        f"cluster: 3 nodes (network namespaces, knet, token {res.get('cluster', {}).get('token_ms')} ms), "
        "quorate-ckptd on each"
    )
    print(f"runtime: {res['runtime_s']:.0f} s")

    w = res.get("wait_latency")
    if w:
        lat = w["latency_ms"]
        print("\n(a) ckpt_wait reaction latency (waiter on n2, creator on n1, random 0.3-1.5 s delay)")
        print(
            f"    trials {w['trials']} (failed {len(w['failures'])}): p50 {lat['p50']} ms, p90 {lat['p90']} ms, "
            f"p99 {lat['p99']} ms, max {lat['max']} ms (min {lat['min']}, mean {lat['mean']})"
        )
        print(
            f"    measured from node 1's open returning (before its section_create): "
            f"p50 {w['latency_from_open_ms']['p50']} ms, p99 {w['latency_from_open_ms']['p99']} ms; "
            f"node 1's create+section_create took p50 {w['create_call_ms']['p50']} ms"
        )
        print(
            f"    target p99 <= {WAIT_TARGET_P99_MS:g} ms: {verdict(w['pass'])}   load: "
            f"{w['attempts_per_s_of_waiting']['mean']} open attempts per s of waiting (mean; max "
            f"{w['attempts_per_s_of_waiting']['max']}), {w['attempts_per_trial']['p50']} attempts per wait (p50)"
        )
        print(f"    errors seen by the waiter: {fmt_counter(w['errors'])}")

    s = res.get("simultaneous_start")
    if s:
        print(
            f"\n(b) simultaneous start, {s['trials_per_variant']} trials per variant in {s['seconds']} s"
            + (" (stopped early: time budget)" if s["stopped_early_for_time"] else "")
        )
        print(f"    scenario: {SCENARIO_TEXT}")
        for name, v in s["variants"].items():
            label = "quorate-controld" if name == "controld" else "seed band-aid (2 tries, 1 s)"
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
                print(
                    f"        all 3 ready after launch: p50 {v['all_ready_s']['p50']} s, "
                    f"max {v['all_ready_s']['max']} s"
                )
            if v["cases"]:
                print(f"        transient cases (retry-report counts): {fmt_counter(v['cases'])}")
            print(f"        errors: {fmt_counter(v['errors'])}")
            print(f"        failures: {fmt_counter(v['failures'])}")

    t = res.get("throughput")
    if t:
        print("\n(c) replicated section_overwrite vs raw CPG multicast, 1 KiB payloads")
        for raw in t["raw"]:
            print(
                f"    raw CPG mcast  {raw['count']} msgs: {raw['msgs_per_s']} msgs/s, {raw['mb_per_s']} MB/s "
                f"(send->last delivery on all 3 nodes {raw['end_to_end_s']} s, TRY_AGAIN {raw['try_again']}, "
                f"complete {raw['complete']})"
            )
            print(f"        {fmt_cpu(raw.get('cpu'))}")
        packed = t.get("raw_packed")
        if packed:
            print(
                f"    raw CPG mcast, {packed['size'] // 1024} KiB messages (information: packed like our batches): "
                f"{packed['count']} msgs, {packed['mb_per_s']} MB/s"
            )
        for r in t["replicated"]:
            lat = r["latency_ms"]
            latency = (
                f"mean write time {lat.get('mean')} ms (Little's law)"
                if r.get("window", 1) > 1
                else f"write latency p50 {lat['p50']} ms, p99 {lat['p99']} ms"
            )
            print(
                f"    replicated, {r.get('label', r['clients'])}: {r['writes_per_s']:.0f} writes/s, "
                f"{r['mb_per_s']:.3f} MB/s, "
                f"{100 * (r['ratio_to_raw'] or 0):.1f} % of raw; {latency}; errors {fmt_counter(r['errors'])}"
            )
            print(f"        {fmt_cpu(r.get('cpu'))}; writers process {r.get('client_cpu_pct')} % of one core")
            same = r.get("raw_same_window")
            if same:
                print(
                    f"        raw CPG with {r.get('in_flight', r['clients'])} in flight: {same['msgs_per_s']} msgs/s "
                    f"-> replicated = {100 * (r.get('ratio_to_raw_same_window') or 0):.1f} % of it; "
                    f"{fmt_cpu(same.get('cpu'))}"
                )
        print(
            f"    target replicated/raw >= {100 * RATIO_TARGET:.0f} %: {verdict(t['pass'])} "
            f"(best {100 * t['best_ratio']:.1f} %)"
        )

    md = markdown(res)
    print("\n----- 8< ----- markdown for docs/benchmarks.md -----")
    print(md)
    print("----- >8 -----")
    return md


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        f"### Checkpoint service ({time.strftime('%Y-%m-%d', time.localtime(res['started_at']))}"
        + (", --quick" if res["config"]["quick"] else "")
        + ")",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, {m['corosync']}; "
        f"3 nodes in network namespaces on this one host (knet, token {res.get('cluster', {}).get('token_ms')} ms); "
        f"`python bench/bench_checkpoint.py{' --quick' if res['config']['quick'] else ''}`, {res['runtime_s']:.0f} s.",
        "",
        "| Benchmark | Measured | Target | Result |",
        "|---|---|---|---|",
    ]
    w = res.get("wait_latency")
    if w:
        lat = w["latency_ms"]
        lines.append(
            f"| ckpt_wait reaction latency ({w['trials']} trials) | p50 {lat['p50']} / p90 {lat['p90']} / "
            f"p99 {lat['p99']} / max {lat['max']} ms | p99 <= {WAIT_TARGET_P99_MS:g} ms | {verdict(w['pass'])} |"
        )
        lines.append(
            f"| ckpt_wait load while waiting | {w['attempts_per_s_of_waiting']['mean']} open attempts/s "
            f"(max {w['attempts_per_s_of_waiting']['max']}) | bounded | - |"
        )
    s = res.get("simultaneous_start")
    if s:
        for name, v in s["variants"].items():
            label = "quorate-controld" if name == "controld" else "seed band-aid (2 tries, 1 s apart)"
            by = v["by_scenario"]
            lines.append(
                f"| simultaneous start, {label} | {v['successes']}/{v['trials']} ({100 * (v['rate'] or 0):.0f} %): "
                f"cold {by['cold']['successes']}/{by['cold']['trials']}, warm {by['warm']['successes']}/"
                f"{by['warm']['trials']}; all ready with one protocol {v['ready_same_protocol']}/{v['trials']} "
                f"| - | failures: {fmt_counter(v['failures'], 3)} |"
            )
    t = res.get("throughput")
    if t:
        raw = t["raw"]
        lines.append(
            f"| raw CPG multicast, 1 KiB | {', '.join(str(r['msgs_per_s']) for r in raw)} msgs/s "
            f"(mean {t['raw_mb_per_s_mean']} MB/s) | reference | - |"
        )
        packed = t.get("raw_packed")
        if packed:
            lines.append(
                f"| raw CPG multicast, {packed['size'] // 1024} KiB messages (packed like our batches) | "
                f"{packed['mb_per_s']} MB/s | information | - |"
            )
        for r in t["replicated"]:
            lines.append(
                f"| replicated section_overwrite 1 KiB, {r.get('label', r['clients'])} | "
                f"{r['writes_per_s']:.0f} writes/s, "
                f"{r['mb_per_s']:.3f} MB/s = {100 * (r['ratio_to_raw'] or 0):.1f} % of raw | >= "
                f"{100 * RATIO_TARGET:.0f} % of raw | {verdict(r['pass'])} |"
            )
            same = r.get("raw_same_window")
            if same:
                lines.append(
                    f"| raw CPG multicast 1 KiB, {r.get('in_flight', r['clients'])} in flight "
                    "(closed loop, like the writers) | "
                    f"{same['msgs_per_s']} msgs/s; replicated = {100 * (r.get('ratio_to_raw_same_window') or 0):.1f} % "
                    f"of it | information | - |"
                )
    if s:
        lines += ["", f"Start scenario: {SCENARIO_TEXT}"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer trials (about 4 minutes instead of 15)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for the (a) delays")
    parser.add_argument("--only", choices=("a", "b", "c"), action="append", help="run only these parts")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where the results go (default %(default)s)")
    args = parser.parse_args(argv)
    ok, reason = netns_available()
    if not ok:
        print(f"bench_checkpoint: cannot build a netns cluster here: {reason}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    cfg = Config.make(args.quick)
    parts = set(args.only or ("a", "b", "c"))
    rng = random.Random(args.seed)
    started_wall, started = time.time(), time.monotonic()
    res: dict[str, Any] = {"started_at": started_wall, "machine": machine_info(), "config": asdict(cfg)}
    log(f"machine: {res['machine']}")
    cluster = NetnsCluster(nodes=3)
    daemons: NodeDaemons | None = None
    failed: BaseException | None = None
    try:
        cluster.create()
        res["cluster"] = {"token_ms": cluster.token_ms, "prefix": cluster.prefix}
        cluster.start_all()
        cluster.wait_quorate(timeout=60)
        daemons = NodeDaemons(cluster)
        for node in NODES:
            daemons.start_ckptd(node)
        daemons.wait_synced(NODES, 3, timeout=60)
        log(f"cluster {cluster.prefix} up in {time.monotonic() - started:.1f}s")
        if "a" in parts:
            res["wait_latency"] = bench_wait(cluster, daemons, cfg, rng)
        if "c" in parts:
            res["throughput"] = bench_throughput(cluster, daemons, cfg)
        if "b" in parts:
            res["simultaneous_start"] = bench_start(cluster, daemons, cfg)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:
        failed = exc
        res["error"] = f"{type(exc).__name__}: {exc}"
        log(f"benchmark aborted: {res['error']}")
    finally:
        LineProc.finish_all()
        if daemons is not None:
            daemons.stop_all()
        try:
            cluster.destroy()
        except ClusterError as exc:
            res["teardown_error"] = str(exc)
            log(f"teardown: {exc}")
    res["runtime_s"] = round(time.monotonic() - started, 1)
    res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    res["markdown"] = print_report(res)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(f"\nJSON: {args.json}")
    if failed is not None:
        return 130 if isinstance(failed, (KeyboardInterrupt, SystemExit)) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

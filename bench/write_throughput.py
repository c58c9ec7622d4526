"""(c) write throughput vs raw CPG, one part of bench/bench_checkpoint.py (run it through that).

Replicated section_overwrite throughput (1 KiB) vs raw CPG multicast of 1 KiB payloads from node 1
with no bound on what is in flight (tests/harness/cpg_probe.py ``flood``), all on node 1:
synchronous clients and one connection that pipelines its writes. Target (bench/targets.py):
best row >= WRITE_RATIO_TARGET of raw. For information, each row is also compared with raw CPG
limited to as many messages in flight as it has writes in flight and with a flood of PACKED_SIZE
messages (what packing alone reaches).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from ckpt_harness import (
    CPG_PROBE,
    NODES,
    Config,
    LineProc,
    NetnsCluster,
    NodeDaemons,
    _mean,
    _round,
    driver,
    fmt_counter,
    fmt_cpu,
    log,
    verdict,
)
from targets import WRITE_RATIO_TARGET

# The raw flood again with messages as large as the daemon's batches of 1 KiB writes get: what
# packing alone can reach (information; the target is against 1 KiB messages, like the writes).
PACKED_SIZE = 64 * 1024


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
        result["pass"] = result["ratio_to_raw"] is not None and result["ratio_to_raw"] >= WRITE_RATIO_TARGET
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
        "target_ratio": WRITE_RATIO_TARGET,
        "best_ratio": best,
        "pass": best >= WRITE_RATIO_TARGET,
    }


def print_report(t: dict[str, Any]) -> None:
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
        f"    target replicated/raw >= {100 * WRITE_RATIO_TARGET:.0f} %: {verdict(t['pass'])} "
        f"(best {100 * t['best_ratio']:.1f} %)"
    )

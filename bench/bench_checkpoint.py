"""Checkpoint service benchmark on a real 3-node corosync cluster (network namespaces).

    python bench/bench_checkpoint.py [--quick]

Builds its own cluster (NetnsCluster, quorate-ckptd on every node) and measures, in one run:

(a) ckpt_wait reaction latency: node 2 runs ckpt_wait's probe under the RetryClient (an in-netns
    driver, bench/ckpt_node_driver.py ``wait``) for a checkpoint that does not exist yet; after a
    random 0.3-1.5 s node 1 creates it with its section. Latency = the waiter's success time minus
    the time node 1's create (open + section_create) returned; CLOCK_MONOTONIC is host-wide, so
    the times taken inside the netns and here compare. Target: p99 <= 100 ms.
(b) simultaneous start: quorate-controld started on all 3 nodes at once vs the two-try retry
    (driver ``bandaid``, docs/design.md#why-a-fixed-retry-fails), each after a simultaneous
    corosync start (cold) and on a settled cluster (warm), interleaved.
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

One module per part: ckpt_wait_latency.py (a), race_start.py (b), write_throughput.py (c); the
cluster, the helper processes and the summaries in ckpt_harness.py; the targets in targets.py
(shared with run_all.py). This file is the command line and the console report.

Prints the machine and every figure, the markdown block for docs/benchmarks.md (rendered by
run_all.checkpoint_section, the one renderer), and writes
bench/results/checkpoint.json (or ``--json PATH``). Everything it starts is stopped by PID; the namespaces go with
the cluster in ``finally``. Needs root (network namespaces).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import ckpt_wait_latency
import race_start
import run_all
import write_throughput
from ckpt_harness import BENCH, RUNNING, ClusterError, Config, NetnsCluster, NodeDaemons, log, machine_info
from harness.netns_cluster import netns_available

RESULTS = BENCH / "results" / "checkpoint.json"


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

    if res.get("wait_latency"):
        ckpt_wait_latency.print_report(res["wait_latency"])
    if res.get("simultaneous_start"):
        race_start.print_report(res["simultaneous_start"])
    if res.get("throughput"):
        write_throughput.print_report(res["throughput"])

    md = markdown(res)
    print("\n----- 8< ----- markdown for docs/benchmarks.md -----")
    print(md)
    print("----- >8 -----")
    return md


def markdown(res: dict[str, Any]) -> str:
    """The section docs/benchmarks.md gets for this run: rendered by run_all, the one renderer."""
    return "\n".join(run_all.checkpoint_section(res, {})).strip("\n")


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
        daemons.start_synced_ckptds(timeout=60)
        log(f"cluster {cluster.prefix} up in {time.monotonic() - started:.1f}s")
        if "a" in parts:
            res["wait_latency"] = ckpt_wait_latency.bench_wait(cluster, daemons, cfg, rng)
        if "c" in parts:
            res["throughput"] = write_throughput.bench_throughput(cluster, daemons, cfg)
        if "b" in parts:
            res["simultaneous_start"] = race_start.bench_start(cluster, daemons, cfg)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:
        failed = exc
        res["error"] = f"{type(exc).__name__}: {exc}"
        log(f"benchmark aborted: {res['error']}")
    finally:
        RUNNING.finish_all()
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

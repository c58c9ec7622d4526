"""The benchmarks' targets (docs/design.md#targets), defined once.

Imported by the benchmarks that judge their own figures (bench_checkpoint.py's parts) and by
run_all.py, which renders every figure against its target in docs/benchmarks.md.
"""

from __future__ import annotations

# Cluster bring-up and the playbooks (bench_cluster.py, podman nodes).
BRINGUP_TARGET_S = 60.0  # 3 nodes from a prepared image
RERUN_TARGET_S = 10.0  # and changed=0
ROLL_RATIO_TARGET = 1.3  # forced rolling restart <= this x the sum of the per-node rejoins

# The checkpoint service (bench_checkpoint.py, network namespaces).
WAIT_P99_TARGET_MS = 100.0  # (a) ckpt_wait reaction latency, p99
START_MIN_TRIALS = 50  # (b) 100 % over at least this many simultaneous starts
START_LIMIT_S = 30.0  # (b) success = ready within this many seconds of the launch
WRITE_RATIO_TARGET = 0.50  # (c) replicated writes >= this fraction of raw CPG (best row)

# Adding one node to a running cluster (bench_cluster.py with bench/add_node.py, podman nodes).
ADD_ROLL_RATIO_TARGET = 0.3  # the add <= this x a forced rolling restart of the same N nodes, same run
ADD_BRINGUP_RATIO_TARGET = 2.0  # the add <= this x the fresh bring-up of the same N nodes, same run
TRY_AGAIN_WINDOW_FACTOR = 1.1  # longest TRY_AGAIN window <= this x (runtime token + consensus)

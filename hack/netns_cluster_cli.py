"""`make cluster` / `make cluster-down`: a real 3-node corosync cluster on this machine.

Interim embedded default until the podman node image and the bring-up playbook land: three
network namespaces joined by a bridge, one real corosync each, then the collection's own
barrier (quorate.cluster.corosync_wait) and facts (quorate.cluster.corosync_info) run through
ansible inside every node.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from ansible_in_node import run_module  # noqa: E402
from netns_cluster import NetnsCluster  # noqa: E402

PREFIX = "qcdemo"
WORKDIR = REPO / "build" / "cluster"


def cluster(nodes: int = 3) -> NetnsCluster:
    return NetnsCluster(nodes=nodes, prefix=PREFIX, workdir=WORKDIR, detached=True)


def up(nodes: int) -> int:
    demo = cluster(nodes)
    t0 = time.monotonic()
    demo.create()  # removes a previous demo cluster of the same name first
    demo.start_all()
    t_started = time.monotonic()
    rows = []
    for node in demo.node_ids:
        prefix = demo.node_env_prefix(node)
        failed, barrier, _wall = run_module(
            prefix, "corosync_wait", {"members": demo.node_ids, "timeout": 120}, WORKDIR / "ansible-home"
        )
        if failed:
            print(f"node {node}: corosync_wait failed: {barrier.get('msg')}", file=sys.stderr)
            print(demo.log_tail(node), file=sys.stderr)
            return 1
        failed, info, _wall = run_module(prefix, "corosync_info", {}, WORKDIR / "ansible-home")
        if failed:
            print(f"node {node}: corosync_info failed: {info.get('msg')}", file=sys.stderr)
            return 1
        rows.append((node, demo.addr(node), barrier, info))
    total = time.monotonic() - t0

    print(f"\nquorate.cluster: {nodes}-node corosync cluster up (network namespaces {demo.netns(1)}..)")
    header = ("node", "address", "members", "quorate", "ring", "token", "consensus")
    print("{:>4}  {:<14} {:<12} {:<7} {:<6} {:>6} {:>9}  barrier".format(*header))
    for node, addr, barrier, info in rows:
        print(
            f"{node:>4}  {addr:<14} {','.join(map(str, info['members'])):<12} {str(info['quorate']):<7} "
            f"{info['ring_id']:<6} {info['token']:>6} {info['consensus']:>9}  "
            f"{barrier['elapsed']:.2f}s/{barrier['attempts']} polls"
        )
    print(f"\nphases: corosync launched in {t_started - t0:.2f}s; barrier + facts on every node done at {total:.2f}s")
    print(f"logs: {WORKDIR}/n<N>.log   shell on a node: ip netns exec {demo.netns(1)} corosync-quorumtool -s")
    print("remove it: make cluster-down")
    return 0


def down() -> int:
    demo = cluster()
    demo.destroy_leftovers()
    print("quorate.cluster: local cluster removed")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    return up(args.nodes) if args.action == "up" else down()


if __name__ == "__main__":
    sys.exit(main())

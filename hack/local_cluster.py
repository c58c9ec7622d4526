"""`make cluster`: podman nodes, the bring-up playbook, and the resulting state.

python hack/local_cluster.py up [--nodes 3]    # nodes + bring-up + status + timeline
python hack/local_cluster.py down
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from podman_cluster import PodmanCluster

REPO = Path(__file__).resolve().parents[1]


def ansible_env(timeline_dir: Path) -> dict:
    return dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_HOME=str(REPO / "build" / "ansible-home"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"),
        ANSIBLE_CALLBACKS_ENABLED="quorate.cluster.timeline",
        QUORATE_TIMELINE_DIR=str(timeline_dir),
    )


def wait_for_plot(png: Path, since: float, limit_s: float = 60.0) -> None:
    """Until the timeline callback's background plot of a run begun at ``since`` (time.time()) is
    written (atomically), at most ``limit_s``: the playbook timed next does not share the CPUs with
    that plotting. Without matplotlib the callback draws nothing: nothing to wait for."""
    if importlib.util.find_spec("matplotlib") is None:
        return
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            if png.stat().st_mtime >= since:
                return
        time.sleep(0.2)
    sys.stderr.write(f"note: no new {png} after {limit_s:.0f} s (the timeline plot failed?); going on\n")


def playbook(cluster: PodmanCluster, name: str, env: dict, quiet: bool = False) -> tuple[float, str]:
    started = time.monotonic()
    argv = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        str(cluster.inventory),
        str(REPO / "playbooks" / f"{name}.yml"),
    ]
    proc = subprocess.run(argv, env=env, text=True, capture_output=quiet, check=False)
    if proc.returncode != 0:
        if quiet:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit(f"{name} playbook failed (rc={proc.returncode})")
    return time.monotonic() - started, proc.stdout or ""


def up(nodes: int) -> int:
    cluster = PodmanCluster(nodes)
    t0 = time.monotonic()
    cluster.up()
    t_nodes = time.monotonic() - t0
    timeline = cluster.workdir / "timeline"
    since = time.time()
    t_bringup, _log = playbook(cluster, "bringup", ansible_env(timeline))
    phases = json.loads((timeline / "timeline.json").read_text())["phases"]
    wait_for_plot(timeline / "timeline.png", since)
    t_rerun, rerun_log = playbook(cluster, "bringup", ansible_env(cluster.workdir / "timeline-rerun"), quiet=True)
    changed = sorted(set(re.findall(r"changed=(\d+)", rerun_log)))
    playbook(cluster, "status", ansible_env(cluster.workdir / "timeline-status"))
    out = sys.stdout
    out.write(f"\nquorate.cluster: {nodes} podman nodes ({', '.join(cluster.name(n) for n in cluster.nodes)})\n")
    out.write(f"  nodes up (image cached after the first run): {t_nodes:.1f}s\n")
    out.write(f"  bring-up playbook: {t_bringup:.1f}s; re-run: {t_rerun:.1f}s with changed={','.join(changed)}\n")
    # The play's time per role phase (the intervals it ran in), then the rest of the bring-up's time:
    # rounded as printed, the lines add up to the playbook's time above.
    recorded = json.loads((timeline / "timeline.json").read_text())
    play = recorded["play"]
    shown = {phase: round(seconds, 1) for phase, seconds in play["phase_seconds"].items()}
    out.write(f"  time per phase (the play; with the outside they add up to {t_bringup:.1f}s; per node in brackets):\n")
    for phase, seconds in shown.items():
        per_node: dict = {}
        for row in (p for p in phases if p["phase"] == phase):
            per_node[row["host"]] = per_node.get(row["host"], 0.0) + row["seconds"]
        spread = f"{min(per_node.values()):.1f}-{max(per_node.values()):.1f}s" if per_node else "-"
        out.write(f"    {phase:<18} {seconds:5.1f}s  [{spread}]\n")
    outside = round(t_bringup, 1) - sum(shown.values())
    ansible = t_bringup - recorded["total_seconds"]  # before the callback's first record and after its last
    between = play["outside_seconds"] - play["play_tasks_seconds"]
    out.write(
        f"    {'outside any phase':<18} {outside:5.1f}s  (ansible start and exit {ansible:.1f}s, the play's own"
        f" tasks {play['play_tasks_seconds']:.1f}s, the controller between phases {between:.1f}s)\n"
    )
    out.write(f"  timeline: {timeline / 'timeline.json'} and timeline.png\n")
    out.write(f"  inventory: {cluster.inventory}\n")
    out.write(f"  on a node: podman exec -it {cluster.name(1)} corosync-quorumtool -s; quorate-ckpt list\n")
    out.write("  remove it: make cluster-down\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    if args.action == "down":
        PodmanCluster(args.nodes).down()
        sys.stdout.write("quorate.cluster: local podman cluster removed\n")
        return 0
    return up(args.nodes)


if __name__ == "__main__":
    raise SystemExit(main())

"""Run one quorate.cluster module through ``ansible`` inside a netns node.

A node's corosync IPC is scoped by its network namespace, so running ansible (local
connection) there exercises the whole module path against that node's corosync.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "build" / "collections"
ANSIBLE = Path(sys.executable).with_name("ansible")


def run_module(
    prefix: list[str], module: str, args: dict, ansible_home: Path, timeout: float = 120.0
) -> tuple[bool, dict, float]:
    """Run ``quorate.cluster.<module>`` after the argv ``prefix`` (e.g. ``ip netns exec NS``).

    Returns (failed, result, wall seconds).
    """
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_HOME=str(ansible_home),
        ANSIBLE_STDOUT_CALLBACK="minimal",
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    argv = [str(ANSIBLE), "localhost", "-c", "local", "-m", f"quorate.cluster.{module}"]
    if args:
        argv += ["-a", json.dumps(args)]
    started = time.monotonic()
    proc = subprocess.run(prefix + argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    wall = time.monotonic() - started
    # The minimal callback prints "localhost | SUCCESS => {json}" (or FAILED!).
    status, _sep, body = proc.stdout.partition("=>")
    try:
        result = json.loads(body)
    except ValueError as exc:
        raise AssertionError(
            f"no module result (rc={proc.returncode}): {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        ) from exc
    return "SUCCESS" not in status, result, wall

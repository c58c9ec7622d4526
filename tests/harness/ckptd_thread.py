"""quorate-ckptd's CheckpointDaemon run in a thread of the test process, over a simulated CPG.

For unit tests that talk to the daemon through its real Unix socket: start it, wait until it
serves (synced), stop it and check that it ended.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from ansible_collections.quorate.cluster.plugins.module_utils.programs.ckptd import CheckpointDaemon
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient
from harness.sim_cpg import LoopbackCpg


def start_daemon(path: str, cpg_factory=LoopbackCpg, **kwargs) -> tuple[CheckpointDaemon, threading.Thread]:
    """A daemon serving ``path`` (group "g"), running in a daemon thread; not yet synced."""
    daemon = CheckpointDaemon(path, "g", logging.getLogger("test-ckptd"), cpg_factory=cpg_factory, **kwargs)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    return daemon, thread


def wait_synced(path: str, timeout: float = 5.0) -> None:
    """Until the daemon at ``path`` answers status with synced; fails the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.path.exists(path) and CheckpointClient(path).status().get("synced"):
                return
        except Exception:  # not up yet
            pass
        assert time.monotonic() < deadline, "daemon did not come up"
        time.sleep(0.01)


def stop_daemon(daemon: CheckpointDaemon, thread: threading.Thread) -> None:
    """Ask the (still running) daemon to stop; it must end within 5 s."""
    assert thread.is_alive(), "the daemon died"
    daemon.running = False
    thread.join(5)
    assert not thread.is_alive()

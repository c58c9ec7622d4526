"""Fixtures for the daemon's tests: one CheckpointDaemon on a loopback CPG, served on a real socket."""

from __future__ import annotations

import os

import pytest
from harness.ckptd_thread import start_daemon, stop_daemon, wait_synced


@pytest.fixture
def daemon(tmp_path):
    """A synced daemon at tmp_path/ckptd.sock; afterwards it must stop cleanly and remove its socket."""
    path = str(tmp_path / "ckptd.sock")
    instance, thread = start_daemon(path)
    wait_synced(path)
    yield instance
    stop_daemon(instance, thread)
    assert not os.path.exists(path)  # clean shutdown removes the socket

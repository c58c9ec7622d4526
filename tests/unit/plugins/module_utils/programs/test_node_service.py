"""The run directory: one mode in the code and in the units, and a socket group that reaches its socket."""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
from harness.sim_cpg import LoopbackCpg

from ansible_collections.quorate.cluster.plugins.module_utils.programs.ckptd import CheckpointDaemon
from ansible_collections.quorate.cluster.plugins.module_utils.programs.node_service import (
    RUN_DIR_MODE,
    ensure_run_dir,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient

ROOT = Path(__file__).resolve().parents[5]
CKPTD_UNIT = ROOT / "roles" / "ckptd" / "templates" / "quorate-ckptd.service.j2"
CONTROLD_UNIT = ROOT / "roles" / "controld" / "templates" / "quorate-controld.service.j2"
NOBODY = 65534
SOCKET_GID = 4242  # any gid: the kernel checks numbers, the group need not exist


def directive(unit: Path, name: str) -> list[str]:
    return re.findall(rf"^{name}=(.*)$", unit.read_text(), re.MULTILINE)


def test_run_dir_mode_is_the_one_of_the_unit():
    assert directive(CKPTD_UNIT, "RuntimeDirectory") == ["quorate"]
    assert directive(CKPTD_UNIT, "RuntimeDirectoryMode") == [f"{RUN_DIR_MODE:04o}"]
    assert RUN_DIR_MODE == 0o755  # the socket's own mode decides who connects


def test_controld_may_write_into_the_run_dir_it_shares():
    # No RuntimeDirectory= of its own (quorate-ckptd's is preserved); ProtectSystem=strict needs the path.
    assert directive(CONTROLD_UNIT, "ProtectSystem") == ["strict"]
    assert "/run/quorate" in directive(CONTROLD_UNIT, "ReadWritePaths")[0]


def test_ensure_run_dir_creates_and_corrects_the_mode(tmp_path):
    fresh = tmp_path / "fresh"
    ensure_run_dir(str(fresh))
    assert fresh.stat().st_mode & 0o777 == RUN_DIR_MODE
    stale = tmp_path / "stale"
    stale.mkdir(mode=0o700)
    ensure_run_dir(str(stale))
    assert stale.stat().st_mode & 0o777 == RUN_DIR_MODE


def _connect_as_nobody(path: str, groups: list[int]) -> int:
    """0 if user nobody with these supplementary groups can connect, else the errno (a forked
    child: no interpreter to exec that nobody could read)."""
    pid = os.fork()
    if pid == 0:  # the child: only system calls, then _exit
        code = 99
        try:
            os.setgroups(groups)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(path)
            code = 0
        except OSError as exc:
            code = exc.errno or 98
        finally:
            os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_the_socket_group_reaches_the_socket_and_nobody_else_does():
    # /tmp/<dir> stands in for /run (0755); the daemon makes <dir>/quorate itself, as under systemd.
    base = tempfile.mkdtemp(prefix="qc-rundir-", dir="/tmp")
    os.chmod(base, 0o755)
    path = os.path.join(base, "quorate", "ckptd.sock")
    daemon = CheckpointDaemon(
        path, "g", logging.getLogger("test-rundir"), socket_mode=0o660, socket_gid=SOCKET_GID, cpg_factory=LoopbackCpg
    )
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(path) or not CheckpointClient(path).status().get("synced"):
            assert time.monotonic() < deadline, "daemon did not come up"
            time.sleep(0.01)
        assert os.stat(os.path.dirname(path)).st_mode & 0o777 == RUN_DIR_MODE
        assert _connect_as_nobody(path, [SOCKET_GID]) == 0, "a member of the socket group was refused"
        assert _connect_as_nobody(path, []) == errno.EACCES
        # The mode the code used to set (0750 root:root) kept the group out: what this test guards.
        os.chmod(os.path.dirname(path), 0o750)
        assert _connect_as_nobody(path, [SOCKET_GID]) == errno.EACCES
    finally:
        daemon.running = False
        thread.join(5)
        shutil.rmtree(base, ignore_errors=True)
    assert not thread.is_alive()


HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "RestrictAddressFamilies": "AF_UNIX",
    "StartLimitIntervalSec": "300",
    "StartLimitBurst": "10",
}


@pytest.mark.parametrize("unit", [CKPTD_UNIT, CONTROLD_UNIT], ids=lambda unit: unit.name)
def test_units_are_hardened(unit):
    for name, value in HARDENING.items():
        assert directive(unit, name) == [value], name
    assert directive(unit, "MemoryMax") and directive(unit, "LimitNOFILE")
    # At most the hard limit of the test containers (hack/podman_cluster.py): a higher one fails the start.
    assert int(directive(unit, "LimitNOFILE")[0]) <= 16384
    # What the node must keep: /dev/shm shared with corosync (libqb), abstract sockets, ctypes closures.
    for absent in ("PrivateDevices", "PrivateIPC", "PrivateNetwork", "MemoryDenyWriteExecute"):
        assert not directive(unit, absent), absent
    assert "/dev/shm" in directive(unit, "ReadWritePaths")[0]


def test_only_ckptd_keeps_a_capability_to_hand_its_socket_to_the_group():
    assert directive(CKPTD_UNIT, "CapabilityBoundingSet") == ["CAP_CHOWN"]
    assert directive(CONTROLD_UNIT, "CapabilityBoundingSet") == [""]


def test_log_lines_carry_the_journal_priority_only_under_systemd(monkeypatch, capsys):
    from ansible_collections.quorate.cluster.plugins.module_utils.programs.node_service import setup_logging

    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    log = setup_logging("quorate-test-journal")
    log.error("running protocol 2.0 is not supported")
    log.info("ready")
    monkeypatch.delenv("JOURNAL_STREAM")
    plain = setup_logging("quorate-test-plain")
    plain.warning("no journal here")
    assert capsys.readouterr().err.splitlines() == [
        "<3>ERROR running protocol 2.0 is not supported",
        "<6>INFO ready",
        "WARNING no journal here",
    ]
    logging.getLogger("quorate-test-journal").handlers.clear()
    logging.getLogger("quorate-test-plain").handlers.clear()

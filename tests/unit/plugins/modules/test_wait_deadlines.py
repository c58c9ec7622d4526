"""No call outlives its timeout: barriers against a wedged corosync tool and a trickling service.

The stand-in tools are real executables run through ``AnsibleModule.run_command`` (not mocked):
one answers like corosync-cmapctl, one sleeps forever and records its PID so the test can check
that the runner killed exactly that process. The trickling service sends a valid reply one byte
every 0.2 s, so each read succeeds well within any per-read timeout.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
from ansible.module_utils import basic

from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError, AisException
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import (
    LAST_CALL_GRACE,
    CheckpointClient,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import (
    HEADER,
    decode,
    parse_header,
    reply,
)
from ansible_collections.quorate.cluster.plugins.modules import ckpt_service_wait, ckpt_wait, corosync_wait

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "corosync"
SLACK = 0.8  # process start-up, the kill and run_command's 1 s select loop noticing the closed pipes


def _tool(directory: Path, name: str, body: str) -> str:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """Stand-in corosync tools in tmp_path; ``hang(name)`` makes that one sleep forever."""
    totem = FIXTURES / "cmap_runtime_totem_3nodes.txt"
    quorum = FIXTURES / "quorumtool_s_quorate3.txt"
    pids = tmp_path / "pids"
    answers = {
        "corosync-cmapctl": f'cat "{totem}"\n',
        "corosync-quorumtool": f'cat "{quorum}"\n',
    }
    for name, body in answers.items():
        _tool(tmp_path, name, body)

    def hang(name: str) -> None:
        # $$ is the PID of the sleep after exec: the process the runner must kill.
        _tool(tmp_path, name, f'echo $$ >> "{pids}"\nexec sleep 3600\n')

    def hung_pids() -> list[int]:
        return [int(line) for line in pids.read_text().split()] if pids.exists() else []

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: str(tmp_path / name))
    hang.pids = hung_pids
    return hang


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("wedged", ["corosync-cmapctl", "corosync-quorumtool"])
def test_corosync_wait_ends_by_its_timeout_when_a_tool_hangs(run_module, tools, wedged):
    tools(wedged)
    start = time.monotonic()
    failed, result = run_module(corosync_wait.main, {"timeout": 1.0})
    elapsed = time.monotonic() - start
    assert failed
    assert elapsed < 1.0 + SLACK, f"the barrier outlived its timeout: {elapsed:.2f}s"
    assert f"{wedged} did not answer within" in result["msg"]
    assert result["errors"].get("SA_AIS_ERR_TIMEOUT", 0) >= 1 and result["case"] == "try_again"
    assert tools.pids() and all(_gone(pid) for pid in tools.pids()), "the hung tool was not killed"


def test_ckpt_service_wait_ends_by_its_timeout_when_cmapctl_hangs(run_module, tools, tmp_path):
    tools("corosync-cmapctl")
    start = time.monotonic()
    failed, result = run_module(ckpt_service_wait.main, {"timeout": 1.0, "socket": str(tmp_path / "absent.sock")})
    assert failed and time.monotonic() - start < 1.0 + SLACK
    assert "corosync-cmapctl did not answer within" in result["msg"]


class TricklingService:
    """A Unix socket that answers every request correctly, one byte every ``pace`` seconds."""

    def __init__(self, pace: float = 0.2):
        self.dir = tempfile.mkdtemp(prefix="qc-trickle-", dir="/tmp")  # short: AF_UNIX path limit
        self.path = os.path.join(self.dir, "s")
        self.pace = pace
        self.stop = threading.Event()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.listener.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _addr = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                while not self.stop.is_set():
                    header = conn.recv(HEADER.size, socket.MSG_WAITALL)
                    if len(header) < HEADER.size:
                        return
                    _kind, length = parse_header(header)
                    body = decode(conn.recv(length, socket.MSG_WAITALL))
                    answer = reply(body["id"], AisError.OK, synced=True, members=[1, 2, 3], checkpoints=0)
                    for byte in answer:
                        if self.stop.wait(self.pace):
                            return
                        conn.sendall(bytes((byte,)))
            except OSError:
                return  # the client gave up and closed: what the test wants

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


@pytest.fixture
def trickling():
    service = TricklingService()
    yield service
    service.close()


def test_client_call_ends_by_its_timeout_however_slowly_the_reply_trickles(trickling):
    client = CheckpointClient(trickling.path, timeout=1.0)
    start = time.monotonic()
    with pytest.raises(AisException) as raised:
        client.status()  # the whole reply would take over 10 s; each byte comes within 0.2 s
    elapsed = time.monotonic() - start
    assert raised.value.code is AisError.TIMEOUT and "no answer to status within 1.00s" in str(raised.value)
    assert 1.0 <= elapsed < 1.0 + 0.3
    assert client._sock is None  # out of step: closed, the next call starts afresh


def test_client_call_ends_by_the_callers_deadline(trickling):
    stop_at = time.monotonic() + 0.5
    client = CheckpointClient(trickling.path, timeout=30.0, time_left=lambda: stop_at - time.monotonic())
    with pytest.raises(AisException) as raised:
        client.status()
    assert raised.value.code is AisError.TIMEOUT
    assert time.monotonic() < stop_at + LAST_CALL_GRACE + 0.3


def test_client_call_many_ends_when_no_whole_reply_comes_within_the_timeout(trickling):
    client = CheckpointClient(trickling.path, timeout=1.0)
    start = time.monotonic()
    with pytest.raises(AisException) as raised:
        client.call_many([("status", {}), ("status", {})])  # bytes keep coming: not progress
    assert raised.value.code is AisError.TIMEOUT and "2 replies missing" in str(raised.value)
    assert time.monotonic() - start < 1.0 + 0.3


def test_client_still_reads_a_reply_that_arrives_in_pieces_in_time():
    service = TricklingService(pace=0.001)
    try:
        status = CheckpointClient(service.path, timeout=5.0).status()
    finally:
        service.close()
    assert status["synced"] is True and status["members"] == [1, 2, 3]


@pytest.mark.parametrize("module", [ckpt_service_wait, ckpt_wait], ids=["ckpt_service_wait", "ckpt_wait"])
def test_checkpoint_barriers_end_by_their_timeout_against_a_trickling_service(run_module, tools, trickling, module):
    args = {"timeout": 1.5, "socket": trickling.path}
    if module is ckpt_wait:
        args["name"] = "g"
    start = time.monotonic()
    failed, result = run_module(module.main, args)
    elapsed = time.monotonic() - start
    assert failed
    assert elapsed < 1.5 + LAST_CALL_GRACE + SLACK, f"the barrier outlived its timeout: {elapsed:.2f}s"
    assert "TIMEOUT" in result["msg"] or result["errors"].get("SA_AIS_ERR_TIMEOUT")

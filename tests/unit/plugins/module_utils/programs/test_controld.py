"""quorate-controld's handling of a stop signal; its startup sequence is covered by the integration tests."""

from __future__ import annotations

import logging

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils.programs import controld


@pytest.fixture
def daemon(monkeypatch, tmp_path):
    monkeypatch.setattr(controld, "on_stop_signals", lambda callback: None)  # no real handlers in the test run
    args = controld.build_parser().parse_args(["--ready-file", str(tmp_path / "ready.json")])
    return controld.Controld(args, logging.getLogger("test-controld"))


def test_a_stop_during_startup_ends_it_at_once(daemon, monkeypatch):
    # A stop while startup retries run (here: waiting for quorum) must not wait for them: systemd
    # would SIGKILL the daemon after its stop timeout instead.
    def waiting_for_quorum():
        daemon.stop(15)
        raise AssertionError("the stop did not interrupt the startup")

    monkeypatch.setattr(daemon, "wait_for_settled_membership", waiting_for_quorum)
    monkeypatch.setattr(daemon, "create_local_checkpoint", lambda nodeid: pytest.fail("startup went on"))
    assert daemon.run() == 0
    assert daemon.running is False


def test_a_stop_once_ready_lets_the_serving_loop_close_cleanly(daemon):
    daemon.ready = True
    daemon.stop(15)  # no exception: serve() sees running == False and closes the handles
    assert daemon.running is False

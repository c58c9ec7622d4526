from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.module_utils import basic

from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError, AisException
from ansible_collections.quorate.cluster.plugins.module_utils.shared.retry_policy import RETURNED_REPORT_KEYS
from ansible_collections.quorate.cluster.plugins.modules import ckpt_service_wait

ROOT = Path(__file__).resolve().parents[4]
FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "corosync"
TOTEM = (FIXTURES / "cmap_runtime_totem_3nodes.txt").read_text()


@pytest.fixture
def corosync(monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kwargs: (0, TOTEM, ""))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/sbin/{name}")


class FakeClient:
    """The checkpoint service's status, served in turn (the last repeats); an AisError is raised."""

    answers: list = []
    sockets: list = []

    def __init__(self, path, **_kwargs):
        FakeClient.sockets.append(path)

    def status(self):
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, AisError):
            raise AisException(answer, "scripted")
        return answer

    def close_connection(self):
        pass


@pytest.fixture
def service(monkeypatch):
    monkeypatch.setattr(ckpt_service_wait, "CheckpointClient", FakeClient)
    FakeClient.sockets = []
    return FakeClient


SYNCED = {"synced": True, "members": [[1, 10], [2, 20], [3, 30]], "checkpoints": 2}


def test_waits_until_synced_with_every_member(run_module, corosync, service):
    service.answers = [AisError.LIBRARY, {"synced": False, "members": [[1, 10]], "checkpoints": 0}, SYNCED]
    failed, result = run_module(ckpt_service_wait.main, {"members": 3, "timeout": 5})
    assert not failed, result
    assert result["changed"] is False
    assert (result["synced"], result["members"], result["checkpoints"]) == (True, SYNCED["members"], 2)
    assert set(RETURNED_REPORT_KEYS) <= set(result)
    assert result["attempts"] == 3
    assert result["deadline"] == 5
    assert (result["token_ms"], result["timing_source"]) == (3650, "cmap")
    assert service.sockets == ["/run/quorate/ckptd.sock"]  # the socket fragment's default


def test_timeout_returns_the_same_report(run_module, corosync, service, tmp_path):
    service.answers = [{"synced": True, "members": [[1, 10]], "checkpoints": 0}]
    sock = str(tmp_path / "ckptd.sock")
    failed, result = run_module(ckpt_service_wait.main, {"members": 2, "timeout": 0.2, "socket": sock})
    assert failed
    assert "1 of 2 members" in result["msg"]
    assert set(RETURNED_REPORT_KEYS) <= set(result)
    assert (result["synced"], result["checkpoints"]) == (True, 0)
    assert service.sockets == [sock]


def test_members_below_one_is_refused(run_module, corosync, service):
    failed, result = run_module(ckpt_service_wait.main, {"members": 0})
    assert failed and "members must be at least 1" in result["msg"]


def test_old_name_redirects_with_a_deprecation():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    routing = runtime["plugin_routing"]["modules"]["ckptd_wait"]
    assert routing["redirect"] == "quorate.cluster.ckpt_service_wait"
    assert routing["deprecation"]["removal_version"] == "2.0.0"
    assert "ckpt_service_wait" in routing["deprecation"]["warning_text"]
    assert not (ROOT / "plugins" / "modules" / "ckptd_wait.py").exists()

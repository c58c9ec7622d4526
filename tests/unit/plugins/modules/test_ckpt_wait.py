from __future__ import annotations

from pathlib import Path

import pytest
from ansible.module_utils import basic

from ansible_collections.quorate.cluster.plugins.modules import ckpt_wait

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "corosync"
TOTEM = (FIXTURES / "cmap_runtime_totem_3nodes.txt").read_text()


@pytest.fixture
def corosync(monkeypatch):
    calls = []

    def run_command(self, argv, **kwargs):
        calls.append(argv)
        return 0, TOTEM, ""

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/sbin/{name}")
    return calls


@pytest.mark.parametrize(
    "args, fragment",
    [
        pytest.param({"name": ""}, "name must be 1..256 bytes", id="empty-name"),
        pytest.param({"name": "x" * 257}, "name must be 1..256 bytes", id="long-name"),
        pytest.param({"name": "g", "timeout": 0}, "timeout must be greater than 0", id="timeout-zero"),
        pytest.param({"name": "g", "timeout": -1}, "timeout must be greater than 0", id="timeout-negative"),
        pytest.param(
            {"name": "g", "creation_attributes": {"max_sections": 2}},
            "creation_attributes can only be given with mode=create",
            id="attrs-with-read",
        ),
        pytest.param(
            {"name": "g", "mode": "create", "creation_attributes": {"max_sections": -2}},
            "creation_attributes.max_sections must not be negative",
            id="negative-attr",
        ),
        pytest.param({"name": "g", "sections": ["a", ""]}, "empty section id", id="empty-section"),
        pytest.param({"name": "g", "mode": "write"}, "mode", id="bad-mode"),
    ],
)
def test_bad_input_fails_naming_the_option(run_module, corosync, args, fragment):
    failed, result = run_module(ckpt_wait.main, args)
    assert failed
    assert fragment in result["msg"]
    assert corosync == []  # nothing was asked of the node


def test_service_down_fails_bounded_as_reconnect(run_module, corosync, tmp_path):
    failed, result = run_module(ckpt_wait.main, {"name": "g", "timeout": 0.3, "socket": str(tmp_path / "none.sock")})
    assert failed
    assert result["case"] == "reconnect"
    assert result["error"] == "SA_AIS_ERR_LIBRARY"
    assert "quorate-ckptd" in result["msg"]
    assert 0.3 <= result["elapsed"] < 1.0
    assert result["token_ms"] == 3650

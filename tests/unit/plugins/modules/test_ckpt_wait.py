from __future__ import annotations

from pathlib import Path

import pytest
from ansible.module_utils import basic

from ansible_collections.quorate.cluster.plugins.module_utils.shared import ckpt_barrier
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError, AisException
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import (
    OPEN_CREATE,
    OPEN_READ,
    OPEN_WRITE,
)
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


# --------------------------------------------------------------------------- several checkpoints in one call


class ScriptedService:
    """A checkpoint service stand-in: each checkpoint opens after its ``misses`` NOT_EXIST answers,
    or answers ``fatal`` (an AisError) every time. Records the opens in order."""

    def __init__(self, checkpoints: dict):
        self.checkpoints = {name: dict(spec) for name, spec in checkpoints.items()}
        self.opens: list = []
        self.handles: dict = {}

    def __call__(self, path, **_kwargs):  # stands in for the CheckpointClient class
        self.path = path
        return self

    def open(self, name, flags=OPEN_READ, attrs=None):
        self.opens.append((name, flags, attrs))
        spec = self.checkpoints.get(name, {"misses": 10**6})
        if spec.get("fatal"):
            raise AisException(spec["fatal"], f"scripted for {name!r}")
        if spec.get("misses", 0) > 0:
            spec["misses"] -= 1
            raise AisException(AisError.NOT_EXIST, f"{name!r} not created yet")
        handle = len(self.opens)
        self.handles[handle] = spec.get("sections", {})
        return handle

    def open_info(self, name, flags=OPEN_READ, attrs=None):
        handle = self.open(name, flags, attrs)
        spec = self.checkpoints[name]
        # "created": the first open that succeeds created it; "attrs": what the service holds.
        return {"handle": handle, "created": spec.pop("created", False), "attrs": spec.get("attrs")}

    def section_read(self, handle, section):
        spec = self.checkpoints[self.opens[handle - 1][0]]
        if spec.get("try_again_reads", 0) > 0:  # a membership change between the open and the read
            spec["try_again_reads"] -= 1
            raise AisException(AisError.TRY_AGAIN, "synchronising")
        data = self.handles[handle].get(section.decode())
        if data is None:
            raise AisException(AisError.NOT_EXIST, "no such section")
        return data

    def close(self, handle):
        del self.handles[handle]

    def reconnect(self):
        pass

    def close_connection(self):
        pass


LOCAL = "quorate:controld:00000001"
BARRIER = [
    {"name": LOCAL, "sections": ["daemon_max_protocol"]},
    {"name": "quorate:controld", "sections": ["daemon_protocol"]},
]


@pytest.fixture
def service(monkeypatch):
    def install(checkpoints):
        fake = ScriptedService(checkpoints)
        monkeypatch.setattr(ckpt_wait, "CheckpointClient", fake)
        return fake

    return install


@pytest.mark.parametrize(
    "args, fragment",
    [
        pytest.param({"checkpoints": []}, "checkpoints must list at least one checkpoint", id="empty-list"),
        pytest.param({}, "one of the following is required: name, checkpoints", id="neither"),
        pytest.param({"name": "g", "checkpoints": BARRIER}, "mutually exclusive: checkpoints|name", id="and-name"),
        pytest.param({"sections": ["a"], "checkpoints": BARRIER}, "checkpoints|sections", id="and-sections"),
        pytest.param({"mode": "create", "checkpoints": BARRIER}, "checkpoints|mode", id="and-mode"),
        pytest.param(
            {"checkpoints": [{"sections": ["a"]}]},
            "missing required arguments: name found in checkpoints",
            id="no-name",
        ),
        pytest.param(
            {"checkpoints": [BARRIER[0], {"name": "x" * 257}]}, "checkpoints[1].name must be 1..256 bytes", id="long"
        ),
        pytest.param(
            {"checkpoints": [{"name": "g", "creation_attributes": {"max_sections": 2}}]},
            "checkpoints[0].creation_attributes can only be given with checkpoints[0].mode=create",
            id="attrs-with-read",
        ),
        pytest.param(
            {"checkpoints": [{"name": "g", "mode": "create", "creation_attributes": {"max_sections": -1}}]},
            "checkpoints[0].creation_attributes.max_sections must not be negative",
            id="negative-attr",
        ),
        pytest.param(
            {"checkpoints": [{"name": "g", "sections": [""]}]}, "checkpoints[0].sections must not contain", id="empty"
        ),
        pytest.param(
            {"checkpoints": [{"name": "g", "mode": "write"}]}, "mode must be one of: read, create", id="bad-mode"
        ),
        pytest.param({"checkpoints": BARRIER, "timeout": 0}, "timeout must be greater than 0", id="timeout-zero"),
    ],
)
def test_bad_checkpoints_fail_naming_the_entry_before_any_node_call(run_module, corosync, service, args, fragment):
    fake = service({})
    failed, result = run_module(ckpt_wait.main, args)
    assert failed
    assert fragment in result["msg"]
    assert corosync == [] and fake.opens == []


def test_several_checkpoints_in_one_call_each_in_turn_with_its_report(run_module, corosync, service):
    fake = service(
        {
            LOCAL: {"sections": {"daemon_max_protocol": b"01 00\0"}},
            "quorate:controld": {"misses": 2, "sections": {"daemon_protocol": b"01 00"}},
        }
    )
    failed, result = run_module(ckpt_wait.main, {"checkpoints": BARRIER, "timeout": 5})
    assert not failed, result
    assert [name for name, _flags, _attrs in fake.opens] == [LOCAL] + ["quorate:controld"] * 3
    local, global_ = result["checkpoints"]
    assert (local["name"], local["status"], local["sections"]) == (LOCAL, "ok", {"daemon_max_protocol": "01 00"})
    assert (local["attempts"], local["case"], local["errors"]) == (1, "none", {})
    assert global_["sections"] == {"daemon_protocol": "01 00"}
    assert (global_["attempts"], global_["case"], global_["errors"]) == (
        3,
        "not_exist_read",
        {"SA_AIS_ERR_NOT_EXIST": 2},
    )
    # The top level adds them up; each checkpoint had its own deadline (the timeout).
    assert (result["attempts"], result["errors"], result["case"]) == (4, {"SA_AIS_ERR_NOT_EXIST": 2}, "not_exist_read")
    assert result["cases"] == {"not_exist_read": 2}
    assert (local["deadline"], global_["deadline"], result["deadline"]) == (5.0, 5.0, 10.0)
    assert result["elapsed"] == pytest.approx(local["elapsed"] + global_["elapsed"], abs=1e-3)
    assert (result["token_ms"], result["timing_source"]) == (3650, "cmap")
    assert result["changed"] is False
    assert "sections" not in result  # per checkpoint only
    for entry in result["checkpoints"]:
        assert set(ckpt_barrier.RETURNED_REPORT_KEYS) <= set(entry)


def test_the_first_failing_checkpoint_ends_the_call_and_says_which(run_module, corosync, service):
    fake = service(
        {
            LOCAL: {"sections": {"daemon_max_protocol": b"01 00"}},
            "quorate:controld": {"fatal": AisError.INVALID_PARAM},
            "never": {"sections": {}},
        }
    )
    failed, result = run_module(ckpt_wait.main, {"checkpoints": BARRIER + [{"name": "never"}], "timeout": 5})
    assert failed
    assert result["msg"].startswith("checkpoint 2 of 3: open of checkpoint 'quorate:controld' failed with ")
    assert result["error"] == "SA_AIS_ERR_INVALID_PARAM"
    assert [entry["status"] for entry in result["checkpoints"]] == ["ok", "failed"]
    assert result["checkpoints"][1]["error"] == "SA_AIS_ERR_INVALID_PARAM"
    assert "fatal" in result["checkpoints"][1]["msg"]
    assert "never" not in [name for name, _flags, _attrs in fake.opens]  # not tried
    assert result["attempts"] == 2 and result["errors"] == {"SA_AIS_ERR_INVALID_PARAM": 1}


def test_a_create_entry_gets_the_default_attributes(run_module, corosync, service):
    fake = service({"c": {}, "r": {}})
    checkpoints = [{"name": "c", "mode": "create"}, {"name": "r"}]
    failed, result = run_module(ckpt_wait.main, {"checkpoints": checkpoints, "timeout": 5})
    assert not failed, result
    (name, flags, attrs), (name2, flags2, attrs2) = fake.opens
    assert flags == OPEN_READ | OPEN_WRITE | OPEN_CREATE and attrs["max_sections"] == 16
    assert attrs["creation_flags"] == 0 and attrs["retention_duration"] == 0
    assert (name2, flags2, attrs2) == ("r", OPEN_READ, None)


def test_one_name_still_returns_its_sections_at_the_top(run_module, corosync, service):
    service({"quorate:controld": {"misses": 1, "sections": {"daemon_protocol": b"01 00"}}})
    failed, result = run_module(ckpt_wait.main, {"name": "quorate:controld", "sections": ["daemon_protocol"]})
    assert not failed, result
    assert result["sections"] == {"daemon_protocol": "01 00"}
    assert (result["attempts"], result["case"]) == (2, "not_exist_read")
    assert result["deadline"] == pytest.approx(9.333, abs=1e-3)  # from the live totem timing
    assert "checkpoints" not in result


def test_several_checkpoints_with_the_service_down_fail_bounded_at_the_first(run_module, corosync, tmp_path):
    args = {"checkpoints": BARRIER, "timeout": 0.3, "socket": str(tmp_path / "none.sock")}
    failed, result = run_module(ckpt_wait.main, args)
    assert failed
    assert [entry["name"] for entry in result["checkpoints"]] == [LOCAL]
    assert result["checkpoints"][0]["case"] == "reconnect" and result["error"] == "SA_AIS_ERR_LIBRARY"
    assert "quorate-ckptd" in result["msg"]
    assert 0.3 <= result["elapsed"] < 1.0


def test_a_create_reports_whether_it_created_the_checkpoint(run_module, corosync, service):
    service({"new": {"created": True}, "old": {}})
    failed, result = run_module(ckpt_wait.main, {"name": "new", "mode": "create", "timeout": 5})
    assert not failed and result["changed"] and result["created"]
    failed, result = run_module(ckpt_wait.main, {"name": "old", "mode": "create", "timeout": 5})
    assert not failed and not result["changed"] and not result["created"]
    failed, result = run_module(ckpt_wait.main, {"name": "old", "timeout": 5})
    assert not failed and not result["changed"] and not result["created"]


def test_check_mode_creates_nothing_and_says_what_it_would_create(run_module, corosync, service):
    fake = service({"old": {"sections": {"s": b"1"}}})
    args = {"checkpoints": [{"name": "absent", "mode": "create", "sections": ["s"]}, {"name": "old", "mode": "create"}]}
    failed, result = run_module(ckpt_wait.main, dict(args, timeout=5, _ansible_check_mode=True))
    assert not failed, result
    assert [flags for _name, flags, _attrs in fake.opens] == [OPEN_READ, OPEN_READ]  # never CREATE
    assert [(e["name"], e["created"], e["sections"]) for e in result["checkpoints"]] == [
        ("absent", True, {}),
        ("old", False, {}),
    ]
    assert result["changed"] and result["attempts"] == 2


def test_created_counts_an_earlier_attempt_that_created_the_checkpoint(run_module, corosync, service):
    service({"new": {"created": True, "try_again_reads": 1, "sections": {"s": b"1"}}})
    failed, result = run_module(ckpt_wait.main, {"name": "new", "mode": "create", "sections": ["s"], "timeout": 5})
    assert not failed, result
    assert result["attempts"] == 2 and result["case"] == "try_again"
    assert result["created"] and result["changed"]  # the second open found what the first created


def test_check_mode_answers_exist_for_other_creation_attributes_as_the_real_open(run_module, corosync, service):
    held = {"creation_flags": 0, "checkpoint_size": 4096, "retention_duration": 0, "max_sections": 16}
    held.update(max_section_size=256, max_section_id_size=64)
    service({"same": {"attrs": held}, "other": {"attrs": dict(held, max_sections=2)}})
    args = {"name": "same", "mode": "create", "timeout": 0.3, "_ansible_check_mode": True}
    failed, result = run_module(ckpt_wait.main, args)
    assert not failed and not result["changed"], result
    failed, result = run_module(ckpt_wait.main, dict(args, name="other"))
    assert failed and result["error"] == "SA_AIS_ERR_EXIST" and result["case"] == "exist_create", result


def test_probe_runs_as_the_benchmark_driver_calls_it(service):
    """bench/ckpt_node_driver.py (the bench's and the race scenario's barrier) calls probe() with five
    arguments, on the nodes, outside Ansible: that call must keep working."""
    fake = service({"g": {"sections": {"daemon_protocol": b"01 00\0"}}})
    assert ckpt_barrier.probe(fake, "g", "read", None, ["daemon_protocol"]) == {"daemon_protocol": "01 00"}
    with pytest.raises(AisException) as info:
        ckpt_barrier.probe(fake, "missing", "read", None, [])
    assert info.value.code is AisError.NOT_EXIST

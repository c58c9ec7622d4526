from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from ansible.module_utils import basic
from unit.fake_systemctl import FakeSystemctl

from ansible_collections.quorate.cluster.plugins.module_utils.shared.retry_policy import RETURNED_REPORT_KEYS
from ansible_collections.quorate.cluster.plugins.modules import corosync_info, corosync_wait

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "corosync"
TOTEM = (FIXTURES / "cmap_runtime_totem_3nodes.txt").read_text()
NODELIST = "".join(f"nodelist.node.{i - 1}.nodeid (u32) = {i}\n" for i in (1, 2, 3))
DOWN = (1, "", "Cannot initialize CMAP service\n")


@pytest.fixture
def corosync(monkeypatch):
    """A scripted corosync: ``quorum`` is a list of quorumtool outputs served in turn (the last repeats)."""
    systemctl = FakeSystemctl(
        {"corosync.service": {"LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled"}}
    )
    state = {"quorum": ["quorumtool_s_quorate3.txt"], "down": False, "calls": [], "systemctl": systemctl}

    def run_command(self, argv, **kwargs):
        state["calls"].append(argv)
        if state["down"]:
            return DOWN
        tool, args = Path(argv[0]).name, " ".join(argv[1:])
        if tool == "systemctl":
            return systemctl(argv)
        if tool == "corosync-quorumtool":
            name = state["quorum"].pop(0) if len(state["quorum"]) > 1 else state["quorum"][0]
            text = (FIXTURES / name).read_text()
            return (0 if "Quorate:          Yes" in text else 2, text, "")
        answers = {
            "runtime.config.totem.": (0, TOTEM, ""),
            "nodelist.node.": (0, NODELIST, ""),
            "runtime.members.": (0, (FIXTURES / "cmap_runtime_members.txt").read_text(), ""),
            "-g totem.config_version": (1, "", "Can't get key totem.config_version. Error CS_ERR_NOT_EXIST\n"),
            "totem.cluster_name": (0, "totem.cluster_name (str) = qcx\n", ""),
        }
        # The whole cmap (corosync-cmapctl without arguments): every prefix above at once.
        answers[""] = (0, "".join(out for key, (rc, out, _e) in answers.items() if rc == 0 and key), "")
        return answers[args]

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/sbin/{name}")
    return state


@pytest.mark.parametrize(
    "args, fragment",
    [
        pytest.param({"timeout": 0}, "timeout must be greater than 0", id="timeout-zero"),
        pytest.param({"timeout": -3}, "timeout must be greater than 0", id="timeout-negative"),
        pytest.param({"members": ["a", 2]}, "members: 'a' is not a node id", id="member-not-id"),
        pytest.param({"members": [1, -2]}, "members: -2 is not a node id", id="member-negative"),
        pytest.param({"members": [1, 0]}, "members: 0 is not a node id", id="member-zero"),
        pytest.param({"members": [1, 2, 2, 3, 3]}, "members: duplicate node ids [2, 3]", id="duplicate-ids"),
        pytest.param({"members": []}, "members must not be an empty list", id="empty-list"),
        pytest.param({"members": 0}, "members as a count must be at least 1", id="count-zero"),
        pytest.param({"members": True}, "not a boolean", id="boolean"),
        pytest.param({"members": {"a": 1}}, "members must be a list of node ids or a count", id="dict"),
        pytest.param({"members": [1.5]}, "members: 1.5 is not a node id", id="float-id"),
    ],
)
def test_bad_input_fails_naming_the_option_before_touching_corosync(run_module, corosync, args, fragment):
    failed, result = run_module(corosync_wait.main, args)
    assert failed
    assert fragment in result["msg"]
    assert corosync["calls"] == []


def test_unknown_option_is_rejected(run_module, corosync):
    failed, result = run_module(corosync_wait.main, {"member": [1]})
    assert failed and "member" in result["msg"]


@pytest.mark.parametrize(
    "members",
    [
        pytest.param([1, 2, 3], id="ids"),
        pytest.param(["3", "1", "2"], id="ids-as-strings"),
        pytest.param(3, id="count"),
        pytest.param(None, id="nodelist"),
    ],
)
def test_returns_when_members_are_present(run_module, corosync, members):
    corosync["quorum"] = ["quorumtool_s_inquorate.txt", "quorumtool_s_quorate2of3.txt", "quorumtool_s_quorate3.txt"]
    args = {"timeout": 5} if members is None else {"members": members, "timeout": 5}
    failed, result = run_module(corosync_wait.main, args)
    assert not failed, result
    assert result["changed"] is False
    assert result["members"] == [1, 2, 3]
    assert result["quorate"] is True
    assert result["ring_id"] == "1.9"
    assert result["attempts"] == 3
    assert result["missing"] == []
    assert result["token_ms"] == 3650
    assert (result["token"], result["consensus"]) == (3650, 4380)  # read again once the wait succeeded
    assert result["deadline"] == 5
    # What the rolling restart needs to know that the others keep quorum without this node.
    assert (result["total_votes"], result["quorum_votes"], result["node_votes"]) == (3, 2, 1)


def test_quorate_false_accepts_an_inquorate_partition(run_module, corosync):
    corosync["quorum"] = ["quorumtool_s_inquorate.txt"]
    failed, result = run_module(corosync_wait.main, {"members": [1], "quorate": False, "timeout": 2})
    assert not failed
    assert result["quorate"] is False and result["attempts"] == 1


def test_timeout_names_the_missing_nodes_and_quorum(run_module, corosync):
    corosync["quorum"] = ["quorumtool_s_inquorate.txt"]
    failed, result = run_module(corosync_wait.main, {"members": [1, 2, 3], "timeout": 0.3})
    assert failed
    assert "nodes [2, 3] not in the membership (present: [1])" in result["msg"]
    assert "not quorate (1 of 3 votes)" in result["msg"]
    assert result["missing"] == [2, 3]
    assert 0.3 <= result["elapsed"] < 1.0


def test_timeout_with_a_count_says_how_many(run_module, corosync):
    corosync["quorum"] = ["quorumtool_s_quorate2of3.txt"]
    failed, result = run_module(corosync_wait.main, {"members": 3, "timeout": 0.2})
    assert failed
    assert "2 of 3 members present [1, 2]" in result["msg"]


def test_default_deadline_comes_from_the_live_token(run_module, corosync):
    failed, result = run_module(corosync_wait.main, {"members": [1, 2, 3]})
    assert not failed
    assert result["deadline"] == pytest.approx((3650 + 4380) / 1000 * 1.1 + 0.5, abs=1e-3)
    assert result["timing_source"] == "cmap"


def test_corosync_stopped_fails_bounded_and_says_so(run_module, corosync):
    corosync["down"] = True
    failed, result = run_module(corosync_wait.main, {"members": [1, 2, 3], "timeout": 0.4})
    assert failed
    assert "corosync is not running" in result["msg"]
    assert result["errors"]["COROSYNC_NOT_RUNNING"] >= 2
    assert result["timing_source"] == "assumed"
    assert result["elapsed"] < 1.5


def test_missing_corosync_binary_fails_clearly(run_module, monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    failed, result = run_module(corosync_wait.main, {"members": 3})
    assert failed and "corosync is not installed" in result["msg"]


# -- corosync_info -------------------------------------------------------------------------


def test_info_reads_runtime_values(run_module, corosync):
    failed, result = run_module(corosync_info.main, {})
    assert not failed, result
    assert result["changed"] is False
    assert (result["token"], result["consensus"], result["join"]) == (3650, 4380, 50)
    assert result["token_retransmits_before_loss_const"] == 4
    assert result["membership_window"] == pytest.approx(8.03)
    assert result["members"] == [1, 2, 3]
    assert result["member_details"][0] == {"nodeid": 1, "addrs": ["10.213.7.1"], "status": "joined", "join_count": 1}
    assert result["nodelist"] == [1, 2, 3]
    assert result["quorate"] is True
    assert result["config_version"] is None
    assert result["cluster_name"] == "qcx"
    assert result["running"] is True
    # One read of the whole cmap serves every key; quorum comes from quorumtool.
    tools = [Path(argv[0]).name for argv in corosync["calls"]]
    assert tools.count("corosync-cmapctl") == 1 and tools.count("corosync-quorumtool") == 1


def test_info_fails_when_corosync_is_down_unless_allowed(run_module, corosync):
    corosync["down"] = True
    failed, result = run_module(corosync_info.main, {})
    assert failed and "require_running=false" in result["msg"]
    failed, result = run_module(corosync_info.main, {"require_running": False})
    assert not failed and result["running"] is False
    assert "token" not in result


def test_info_tells_installed_and_the_authkey_fingerprint_never_the_key(run_module, corosync, tmp_path):
    key = tmp_path / "authkey"
    key.write_bytes(b"\x00" * 31 + b"k")
    key.chmod(0o400)
    failed, result = run_module(corosync_info.main, {"authkey_path": str(key)})
    assert not failed and result["installed"] is True
    assert result["service"] == {"active": True, "enabled": True}
    assert result["authkey"] == {
        "sha256": hashlib.sha256(key.read_bytes()).hexdigest(),
        "mode": "0400",
        "owner": "root",
        "group": "root",
    }
    corosync["systemctl"].units["corosync.service"].update(ActiveState="inactive", UnitFileState="disabled")
    failed, result = run_module(corosync_info.main, {"authkey_path": str(tmp_path / "none")})
    assert result["authkey"] == {"sha256": None, "mode": None, "owner": None, "group": None}
    assert result["service"] == {"active": False, "enabled": False}


def test_info_on_a_node_without_corosync(run_module, monkeypatch, tmp_path):
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    args = {"require_running": False, "authkey_path": str(tmp_path / "authkey")}
    failed, result = run_module(corosync_info.main, args)
    assert not failed and (result["installed"], result["running"]) == (False, False)
    assert result["service"] == {"active": False, "enabled": False}  # no systemctl either
    failed, result = run_module(corosync_info.main, {"authkey_path": str(tmp_path / "authkey")})
    assert failed and "corosync is not installed" in result["msg"]


def test_returns_the_retry_report_of_every_wait_module(run_module, corosync):
    failed, result = run_module(corosync_wait.main, {"members": [1, 2, 3], "timeout": 5})
    assert not failed, result
    assert set(RETURNED_REPORT_KEYS) <= set(result)
    assert (result["case"], result["cases"]) == ("none", {})


def test_returns_the_retry_report_on_timeout_too(run_module, corosync):
    corosync["quorum"] = ["quorumtool_s_inquorate.txt"]
    failed, result = run_module(corosync_wait.main, {"members": [1, 2, 3], "timeout": 0.2})
    assert failed
    assert set(RETURNED_REPORT_KEYS) <= set(result)

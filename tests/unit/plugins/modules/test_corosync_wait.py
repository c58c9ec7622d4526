from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from ansible.module_utils import basic
from unit.fake_systemctl import FakeSystemctl

from ansible_collections.quorate.cluster.plugins.module_utils.shared import corosync_runtime
from ansible_collections.quorate.cluster.plugins.module_utils.shared.retry_policy import RETURNED_REPORT_KEYS
from ansible_collections.quorate.cluster.plugins.modules import corosync_info, corosync_wait

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "corosync"
TOTEM = (FIXTURES / "cmap_runtime_totem_3nodes.txt").read_text()
DOWN = (1, "", "Cannot initialize CMAP service\n")


def nodelist(ids) -> str:
    return "".join(f"nodelist.node.{index}.nodeid (u32) = {nodeid}\n" for index, nodeid in enumerate(ids))


def quorumtool(members, expected_votes: int, node_id: int = 1) -> str:
    """``corosync-quorumtool -s -p`` output for ``members`` (one vote each), in the fixtures' layout."""
    quorum = expected_votes // 2 + 1
    quorate = len(members) >= quorum
    rows = "".join(f"{nodeid:>10} {1:>10} n{nodeid}{' (local)' if nodeid == node_id else ''}\n" for nodeid in members)
    return (
        "Quorum information\n------------------\n"
        "Quorum provider:  corosync_votequorum\n"
        f"Nodes:            {len(members)}\nNode ID:          {node_id}\nRing ID:          1.2a\n"
        f"Quorate:          {'Yes' if quorate else 'No'}\n\n"
        "Votequorum information\n----------------------\n"
        f"Expected votes:   {expected_votes}\nHighest expected: {expected_votes}\n"
        f"Total votes:      {len(members)}\nQuorum:           {quorum}\n"
        f"Flags:            {'Quorate' if quorate else ''}\n\n"
        "Membership information\n----------------------\n    Nodeid      Votes Name\n" + rows
    )


@pytest.fixture
def corosync(monkeypatch):
    """A scripted corosync: ``quorum`` is a list of quorumtool outputs served in turn (the last repeats),
    each a fixture name (``*.txt``) or the output itself; ``nodelist`` the configured node ids."""
    systemctl = FakeSystemctl(
        {"corosync.service": {"LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled"}}
    )
    state = {
        "quorum": ["quorumtool_s_quorate3.txt"],
        "nodelist": [1, 2, 3],
        "down": False,
        "calls": [],
        "systemctl": systemctl,
        "version_output": "Corosync Cluster Engine, version '3.1.7'\nCopyright (c) 2006-2021 Red Hat, Inc.\n",
    }

    def run_command(self, argv, **kwargs):
        state["calls"].append(argv)
        if state["down"]:
            return DOWN
        tool, args = Path(argv[0]).name, " ".join(argv[1:])
        if tool == "systemctl":
            return systemctl(argv)
        if tool == "corosync":  # corosync -v
            return (0, state["version_output"], "")
        if tool == "corosync-quorumtool":
            name = state["quorum"].pop(0) if len(state["quorum"]) > 1 else state["quorum"][0]
            text = (FIXTURES / name).read_text() if name.endswith(".txt") else name
            return (0 if "Quorate:          Yes" in text else 2, text, "")
        answers = {
            "runtime.config.totem.": (0, TOTEM, ""),
            "nodelist.node.": (0, nodelist(state["nodelist"]), ""),
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
        pytest.param({"absent": [4, -2]}, "absent: -2 is not a node id", id="absent-negative"),
        pytest.param({"absent": [0]}, "absent: 0 is not a node id", id="absent-zero"),
        pytest.param({"absent": [True]}, "absent: True is not a node id", id="absent-boolean"),
        pytest.param({"absent": [4, 5, 4]}, "absent: duplicate node ids [4]", id="absent-duplicate"),
        pytest.param({"absent": ["n4"]}, "absent", id="absent-not-int"),
        pytest.param(
            {"members": [1, 2, 4, 5], "absent": [5, 4, 6]},
            "node ids [4, 5] are in both members and absent",
            id="members-and-absent",
        ),
        pytest.param({"expected_votes": 0}, "expected_votes must be a positive integer (got 0)", id="votes-zero"),
        pytest.param({"expected_votes": -3}, "expected_votes must be a positive integer (got -3)", id="votes-negative"),
        pytest.param({"expected_votes": True}, "expected_votes must be a positive integer", id="votes-boolean"),
        pytest.param({"expected_votes": "three"}, "expected_votes", id="votes-not-int"),
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


# -- absent and expected_votes: waiting after a node removal --------------------------------


@pytest.mark.parametrize(
    "value, members, parsed",
    [
        pytest.param(None, None, [], id="null"),
        pytest.param([], [1, 2, 3], [], id="empty"),
        pytest.param([5, "4"], [1, 2, 3], [4, 5], id="sorted-ints"),
        pytest.param([3], 3, [3], id="count-does-not-clash"),
        pytest.param([4], None, [4], id="nodelist-does-not-clash"),
    ],
)
def test_parse_absent(value, members, parsed):
    assert corosync_wait.parse_absent(value, members) == parsed


def test_parse_absent_names_both_options_on_a_clash():
    with pytest.raises(ValueError, match=r"node ids \[3\] are in both members and absent"):
        corosync_wait.parse_absent([3, 4], [1, 2, 3])


@pytest.mark.parametrize("value, parsed", [(None, None), (1, 1), (3, 3)])
def test_parse_expected_votes(value, parsed):
    assert corosync_wait.parse_expected_votes(value) == parsed


@pytest.mark.parametrize("value", [0, -1, True, 2.5, "3"])
def test_parse_expected_votes_rejects(value):
    with pytest.raises(ValueError, match="expected_votes must be a positive integer"):
        corosync_wait.parse_expected_votes(value)


def _state(members, expected_votes, node_id=1):
    return corosync_runtime.parse_quorumtool(quorumtool(members, expected_votes, node_id))


@pytest.mark.parametrize(
    "members, votes, absent, want_votes, node_id, fragments",
    [
        pytest.param([1, 2, 3, 4], 4, [4], None, 1, ["node 4 still in the membership"], id="one-lingers"),
        pytest.param([1, 2, 3, 4, 5], 5, [4, 5], None, 1, ["nodes [4, 5] still in the membership"], id="two-linger"),
        pytest.param([1, 2, 3], 5, [4, 5], 3, 1, ["expected votes 5, waiting for 3"], id="votes-not-recomputed"),
        pytest.param(
            [1, 2, 3, 4],
            4,
            [4],
            3,
            1,
            ["node 4 still in the membership", "expected votes 4, waiting for 3"],
            id="both",
        ),
        pytest.param([1, 2, 3, 4], 4, [4], None, 4, ["node 4 still in the membership (this node)"], id="this-node"),
    ],
)
def test_shortfall_names_what_is_still_wrong(members, votes, absent, want_votes, node_id, fragments):
    state = _state(members, votes, node_id=node_id)
    text = corosync_wait.describe_shortfall([1, 2, 3], state, False, absent, want_votes)
    for fragment in fragments:
        assert fragment in text
    assert "not in the membership" not in text  # the members waited for are all there


def test_shortfall_keeps_the_existing_reasons_next_to_the_new_ones():
    state = _state([1, 4], 4)
    text = corosync_wait.describe_shortfall([1, 2], state, True, [4], 3)
    assert text == (
        "nodes [2] not in the membership (present: [1, 4]); node 4 still in the membership; "
        "expected votes 4, waiting for 3; the partition is not quorate (2 of 4 votes)"
    )


def test_shortfall_when_votequorum_prints_no_expected_votes():
    state = corosync_runtime.QuorumState(quorate=True, node_id=1, ring_id="1.2a", members=[1, 2, 3])
    assert corosync_wait.describe_shortfall([1, 2, 3], state, True, (), 3) == "expected votes unknown, waiting for 3"


@pytest.mark.parametrize(
    "members, votes, absent, want_votes, satisfied",
    [
        pytest.param([1, 2, 3], 3, [4], 3, True, id="removed-and-recomputed"),
        pytest.param([1, 2, 3], 3, [], None, True, id="no-new-conditions"),
        pytest.param([1, 2, 3, 4], 3, [4], 3, False, id="still-a-member"),
        pytest.param([1, 2, 3], 4, [4], 3, False, id="votes-not-recomputed"),
        pytest.param([1, 2, 3], 4, [4], None, True, id="votes-not-asked"),
    ],
)
def test_absent_and_votes_conditions(members, votes, absent, want_votes, satisfied):
    state = _state(members, votes)
    met = not corosync_wait.lingering_members(absent, state.members) and corosync_wait.expected_votes_satisfied(
        want_votes, state
    )
    assert met is satisfied


def test_waits_until_the_removed_node_left_and_votes_are_recomputed(run_module, corosync):
    corosync["quorum"] = [quorumtool([1, 2, 3, 4], 4), quorumtool([1, 2, 3], 4), quorumtool([1, 2, 3], 3)]
    args = {"members": [1, 2, 3], "absent": [4], "expected_votes": 3, "timeout": 5}
    failed, result = run_module(corosync_wait.main, args)
    assert not failed, result
    assert result["attempts"] == 3
    assert (result["members"], result["expected_votes"], result["quorate"]) == ([1, 2, 3], 3, True)
    assert (result["total_votes"], result["quorum_votes"]) == (3, 2)


def test_default_members_leave_out_absent_nodes_still_in_the_nodelist(run_module, corosync):
    # The reload has not reached this node's nodelist yet: node 4 is listed but must not be awaited.
    corosync["nodelist"] = [1, 2, 3, 4]
    corosync["quorum"] = [quorumtool([1, 2, 3, 4], 4), quorumtool([1, 2, 3], 3)]
    failed, result = run_module(corosync_wait.main, {"absent": [4], "expected_votes": 3, "timeout": 5})
    assert not failed, result
    assert result["expected"] == [1, 2, 3]
    assert (result["attempts"], result["expected_votes"]) == (2, 3)


def test_expected_votes_alone(run_module, corosync):
    corosync["quorum"] = [quorumtool([1, 2, 3], 5), quorumtool([1, 2, 3], 3)]
    failed, result = run_module(corosync_wait.main, {"members": 3, "expected_votes": 3, "timeout": 5})
    assert not failed, result
    assert (result["attempts"], result["expected_votes"]) == (2, 3)


def test_timeout_says_the_node_is_still_there_and_the_votes(run_module, corosync):
    corosync["quorum"] = [quorumtool([1, 2, 3, 4], 4)]
    args = {"members": [1, 2, 3], "absent": [4], "expected_votes": 3, "timeout": 0.3}
    failed, result = run_module(corosync_wait.main, args)
    assert failed
    assert "node 4 still in the membership" in result["msg"]
    assert "expected votes 4, waiting for 3" in result["msg"]
    assert result["expected_votes"] == 4
    assert (result["members"], result["missing"]) == ([1, 2, 3, 4], [])
    assert set(RETURNED_REPORT_KEYS) <= set(result)


def test_expected_votes_is_returned_without_the_new_options(run_module, corosync):
    failed, result = run_module(corosync_wait.main, {"members": [1, 2, 3], "timeout": 5})
    assert not failed and result["expected_votes"] == 3
    corosync["quorum"] = ["quorumtool_s_inquorate.txt"]
    failed, result = run_module(corosync_wait.main, {"members": [1, 2, 3], "timeout": 0.2})
    assert failed and result["expected_votes"] == 3


def test_expected_votes_is_null_when_corosync_never_answered(run_module, corosync):
    corosync["down"] = True
    failed, result = run_module(corosync_wait.main, {"absent": [4], "expected_votes": 3, "timeout": 0.2})
    assert failed and result["expected_votes"] is None


def test_new_options_and_return_are_documented():
    doc = yaml.safe_load(corosync_wait.DOCUMENTATION)["options"]
    assert doc["absent"] == {
        "description": doc["absent"]["description"],
        "type": "list",
        "elements": "int",
        "default": [],
        "version_added": "0.3.0",
    }
    assert (doc["expected_votes"]["type"], doc["expected_votes"]["version_added"]) == ("int", "0.3.0")
    assert "default" not in doc["expected_votes"]
    returned = yaml.safe_load(corosync_wait.RETURN)["expected_votes"]
    assert (returned["returned"], returned["type"], returned["version_added"]) == ("always", "int", "0.3.0")
    examples = yaml.safe_load(corosync_wait.EXAMPLES)
    assert any("absent" in (task.get("quorate.cluster.corosync_wait") or {}) for task in examples)


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
    assert result["service"] == {"active": True, "enabled": True, "main_pid": 0}
    assert result["authkey"] == {
        "sha256": hashlib.sha256(key.read_bytes()).hexdigest(),
        "mode": "0400",
        "owner": "root",
        "group": "root",
    }
    corosync["systemctl"].units["corosync.service"].update(ActiveState="inactive", UnitFileState="disabled")
    failed, result = run_module(corosync_info.main, {"authkey_path": str(tmp_path / "none")})
    assert result["authkey"] == {"sha256": None, "mode": None, "owner": None, "group": None}
    assert result["service"] == {"active": False, "enabled": False, "main_pid": 0}


def test_info_on_a_node_without_corosync(run_module, monkeypatch, tmp_path):
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    args = {"require_running": False, "authkey_path": str(tmp_path / "authkey")}
    failed, result = run_module(corosync_info.main, args)
    assert not failed and (result["installed"], result["running"]) == (False, False)
    assert result["service"] == {"active": False, "enabled": False, "main_pid": 0}  # no systemctl either
    assert (result["version"], result["version_replaced"]) == (None, False)
    failed, result = run_module(corosync_info.main, {"authkey_path": str(tmp_path / "authkey")})
    assert failed and "corosync is not installed" in result["msg"]


def test_info_tells_the_installed_version_and_whether_the_running_one_was_replaced(run_module, corosync, tmp_path):
    corosync["systemctl"].units["corosync.service"]["MainPID"] = "4242"
    failed, result = run_module(corosync_info.main, {})
    assert not failed and result["version"] == "3.1.7" and result["service"]["main_pid"] == 4242
    corosync["version_output"] = "corosync: unexpected\n"
    failed, result = run_module(corosync_info.main, {})
    assert not failed and result["version"] is None


def test_a_running_corosync_whose_binary_was_replaced(tmp_path):
    proc = tmp_path / "proc" / "4242"
    proc.mkdir(parents=True)
    (proc / "exe").symlink_to("/usr/sbin/corosync (deleted)")
    (proc / "maps").write_text("55d0 r-xp 00000000 fe:01 1 /usr/sbin/corosync (deleted)\n")
    assert corosync_info.running_replaced(4242, str(tmp_path / "proc")) is True
    (proc / "exe").unlink()
    (proc / "exe").symlink_to("/usr/sbin/corosync")
    (proc / "maps").write_text("55d0 r-xp 00000000 fe:01 1 /usr/sbin/corosync\n")
    assert corosync_info.running_replaced(4242, str(tmp_path / "proc")) is False
    assert corosync_info.running_replaced(0, str(tmp_path / "proc")) is False
    assert corosync_info.running_replaced(99, str(tmp_path / "proc")) is False  # gone


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


# -- corosync_info: the removal marker -----------------------------------------------------

MARKER = {"cluster_name": "quorate", "nodeid": 4, "name": "n4"}


@pytest.fixture
def warnings(monkeypatch):
    """What the module passed to module.warn, in order."""
    seen: list[str] = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning: seen.append(warning))
    return seen


def test_info_returns_the_removal_marker(run_module, corosync, tmp_path, warnings):
    marker = tmp_path / "removed"
    marker.write_text(json.dumps(MARKER))
    failed, result = run_module(corosync_info.main, {"removed_marker": str(marker)})
    assert not failed, result
    assert result["removed"] == MARKER
    assert result["running"] is True and warnings == []


def test_info_without_a_removal_marker_returns_null_quietly(run_module, corosync, tmp_path, warnings):
    failed, result = run_module(corosync_info.main, {"removed_marker": str(tmp_path / "removed")})
    assert not failed, result
    assert result["removed"] is None and warnings == []


def test_info_reads_the_marker_of_a_stopped_node(run_module, corosync, tmp_path, warnings):
    # A removed node: corosync stopped (or uninstalled), the marker left behind.
    marker = tmp_path / "removed"
    marker.write_text(json.dumps(MARKER) + "\n")
    corosync["down"] = True
    failed, result = run_module(corosync_info.main, {"require_running": False, "removed_marker": str(marker)})
    assert not failed and result["running"] is False
    assert result["removed"] == MARKER


def test_info_reads_the_marker_on_a_node_without_corosync(run_module, monkeypatch, tmp_path, warnings):
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    marker = tmp_path / "removed"
    marker.write_text(json.dumps(MARKER))
    args = {"require_running": False, "authkey_path": str(tmp_path / "authkey"), "removed_marker": str(marker)}
    failed, result = run_module(corosync_info.main, args)
    assert not failed and (result["installed"], result["running"]) == (False, False)
    assert result["removed"] == MARKER and warnings == []


@pytest.mark.parametrize(
    "content, fragment",
    [
        pytest.param(b"{not json", "is not valid JSON", id="not-json"),
        pytest.param(b"", "is not valid JSON", id="empty"),
        pytest.param(b"[4]", "holds an array, not a JSON object", id="array"),
        pytest.param(b"null", "holds null, not a JSON object", id="null"),
        pytest.param(b'"n4"', "holds a string, not a JSON object", id="string"),
        pytest.param(b"\xff\xfe{}", "cannot read the removal marker", id="not-utf8"),
    ],
)
def test_info_warns_about_a_marker_it_cannot_parse(run_module, corosync, tmp_path, warnings, content, fragment):
    marker = tmp_path / "removed"
    marker.write_bytes(content)
    failed, result = run_module(corosync_info.main, {"removed_marker": str(marker)})
    assert not failed, result
    assert result["removed"] is None
    assert len(warnings) == 1 and fragment in warnings[0] and str(marker) in warnings[0]


def test_info_warns_about_a_marker_it_cannot_read(run_module, corosync, tmp_path, warnings):
    marker = tmp_path / "removed"
    marker.mkdir()  # unreadable as a file whoever runs the test (root reads any mode)
    failed, result = run_module(corosync_info.main, {"require_running": False, "removed_marker": str(marker)})
    assert not failed, result
    assert result["removed"] is None
    assert len(warnings) == 1 and f"cannot read the removal marker {marker}" in warnings[0]


def test_info_documents_the_removal_marker():
    option = yaml.safe_load(corosync_info.DOCUMENTATION)["options"]["removed_marker"]
    assert (option["type"], option["default"], option["version_added"]) == ("path", "/var/lib/quorate/removed", "0.3.0")
    returned = yaml.safe_load(corosync_info.RETURN)["removed"]
    assert (returned["returned"], returned["type"], returned["version_added"]) == ("always", "dict", "0.3.0")
    assert returned["sample"] == MARKER

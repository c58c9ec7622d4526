from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils.shared.corosync_runtime import (
    CorosyncNotRunning,
    CorosyncQueryError,
    CorosyncRuntime,
    parse_cmap,
    parse_members,
    parse_quorumtool,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.retry_policy import ServiceUnavailable

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "corosync"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


class FakeRunner:
    """Answers argv with canned (rc, stdout, stderr) and records what was run."""

    def __init__(self, answers: dict):
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv):
        self.calls.append(list(argv))
        key = " ".join(argv[1:])
        if key not in self.answers:
            raise AssertionError(f"unexpected command {argv}")
        return self.answers[key]


def test_parse_cmap_types_and_empty_strings():
    values = parse_cmap(fixture("cmap_runtime_totem_3nodes.txt") + "totem.empty (str) = \n")
    assert values["runtime.config.totem.token"] == 3650
    assert values["runtime.config.totem.consensus"] == 4380
    assert values["runtime.config.totem.join"] == 50
    assert values["runtime.config.totem.knet_compression_model"] == "none"
    assert values["totem.empty"] == ""


def test_totem_timing_from_real_cmap_output():
    runner = FakeRunner({"runtime.config.totem.": (0, fixture("cmap_runtime_totem_3nodes.txt"), "")})
    timing = CorosyncRuntime(runner).totem_timing()
    assert (timing.token_ms, timing.consensus_ms, timing.join_ms) == (3650, 4380, 50)
    assert timing.window_s == pytest.approx(8.03)
    assert runner.calls == [["corosync-cmapctl", "runtime.config.totem."]]


@pytest.mark.parametrize(
    "name, statuses",
    [
        pytest.param("cmap_runtime_members.txt", {1: "joined", 2: "joined", 3: "joined"}, id="all-joined"),
        pytest.param("cmap_runtime_members_left.txt", {1: "joined", 2: "joined", 3: "left"}, id="one-left"),
    ],
)
def test_members_from_real_cmap_output(name, statuses):
    members = parse_members(parse_cmap(fixture(name)))
    assert {m.nodeid: m.status for m in members} == statuses
    assert members[0].addrs == ["10.213.7.1"]
    assert members[2].join_count == 1


@pytest.mark.parametrize(
    "name, quorate, members, ring, votes",
    [
        pytest.param("quorumtool_s_quorate3.txt", True, [1, 2, 3], "1.9", 3, id="3-of-3-parseable-layout"),
        pytest.param("quorumtool_s_quorate2of3.txt", True, [1, 2], "1.d", 2, id="2-of-3"),
        pytest.param("quorumtool_s_inquorate.txt", False, [1], "1.11", 1, id="1-of-3-inquorate"),
    ],
)
def test_quorumtool_from_real_output(name, quorate, members, ring, votes):
    state = parse_quorumtool(fixture(name))
    assert state.quorate is quorate
    assert state.members == members
    assert state.ring_id == ring
    assert state.total_votes == votes
    assert state.expected_votes == 3
    assert state.node_id == 1
    assert state.quorum == 2
    assert state.member_votes == {nodeid: 1 for nodeid in members}


def test_quorumtool_reads_each_members_votes():
    text = fixture("quorumtool_s_quorate3.txt").replace("         2          1 ", "         2          3 ")
    assert parse_quorumtool(text).member_votes[2] == 3


def test_quorumtool_not_quorate_exit_code_is_parsed_not_raised():
    runner = FakeRunner({"-s -p": (2, fixture("quorumtool_s_inquorate.txt"), "")})
    assert CorosyncRuntime(runner).quorum().quorate is False


@pytest.mark.parametrize(
    "stderr",
    [
        pytest.param("Cannot initialize CMAP service\n", id="quorumtool-down"),
        pytest.param("Failed to initialize the cmap API. Error CS_ERR_LIBRARY\n", id="cmapctl-down"),
        pytest.param("Failed to initialize the cmap API. Error CS_ERR_TRY_AGAIN\n", id="cmapctl-starting"),
    ],
)
def test_corosync_down_is_a_service_unavailable(stderr):
    runner = FakeRunner({"-s -p": (1, "", stderr), "runtime.config.totem.": (1, "", stderr)})
    runtime = CorosyncRuntime(runner)
    with pytest.raises(CorosyncNotRunning):
        runtime.quorum()
    with pytest.raises(ServiceUnavailable, match="not running"):
        runtime.totem_timing()


def test_other_failures_keep_rc_and_output():
    runner = FakeRunner({"runtime.members.": (1, "", "Permission denied\n")})
    with pytest.raises(CorosyncQueryError) as info:
        CorosyncRuntime(runner).members()
    assert info.value.rc == 1
    assert "Permission denied" in str(info.value)


def test_garbage_quorumtool_output_is_an_error_not_a_crash():
    with pytest.raises(CorosyncQueryError, match="unexpected corosync-quorumtool output"):
        parse_quorumtool("hello\n")


def test_missing_token_key_names_it():
    runner = FakeRunner({"runtime.config.totem.": (0, "runtime.config.totem.join (u32) = 50\n", "")})
    with pytest.raises(CorosyncQueryError, match="runtime.config.totem.token"):
        CorosyncRuntime(runner).totem_timing()


def test_config_version_absent_is_none_present_is_int():
    absent = FakeRunner(
        {"-g totem.config_version": (1, "", "Can't get key totem.config_version. Error CS_ERR_NOT_EXIST\n")}
    )
    assert CorosyncRuntime(absent).config_version() is None
    present = FakeRunner({"-g totem.config_version": (0, "totem.config_version (u64) = 7\n", "")})
    assert CorosyncRuntime(present).config_version() == 7


def test_nodelist_ids():
    text = "".join(
        f"nodelist.node.{i}.name (str) = n{i + 1}\nnodelist.node.{i}.nodeid (u32) = {i + 1}\n" for i in (2, 0, 1)
    )
    runner = FakeRunner({"nodelist.node.": (0, text, "")})
    assert CorosyncRuntime(runner).nodelist_ids() == [1, 2, 3]


def test_nodelist_addrs_are_every_links_address():
    # What Debian's package default and a two-link cluster look like in cmap.
    text = (
        "nodelist.local_node_pos (u32) = 0\n"
        "nodelist.node.0.name (str) = node1\nnodelist.node.0.nodeid (u32) = 1\n"
        "nodelist.node.0.ring0_addr (str) = 127.0.0.1\n"
        "nodelist.node.1.ring0_addr (str) = 10.0.0.2\nnodelist.node.1.ring1_addr (str) = 10.1.0.2\n"
    )
    runner = FakeRunner({"nodelist.node.": (0, text, "")})
    assert CorosyncRuntime(runner).nodelist_addrs() == ["10.0.0.2", "10.1.0.2", "127.0.0.1"]


def test_nodelist_nodes_pair_each_id_with_its_name_and_links():
    text = (
        "nodelist.local_node_pos (u32) = 0\n"
        "nodelist.node.1.ring1_addr (str) = 10.1.0.2\nnodelist.node.1.ring0_addr (str) = 10.0.0.2\n"
        "nodelist.node.1.name (str) = n2\nnodelist.node.1.nodeid (u32) = 2\n"
        "nodelist.node.0.name (str) = n1\nnodelist.node.0.nodeid (u32) = 1\n"
        "nodelist.node.0.ring0_addr (str) = 10.0.0.1\nnodelist.node.0.ring1_addr (str) = 10.1.0.1\n"
    )
    runner = FakeRunner({"nodelist.node.": (0, text, "")})
    assert CorosyncRuntime(runner).nodelist_nodes() == [
        {"nodeid": 1, "name": "n1", "addrs": ["10.0.0.1", "10.1.0.1"]},
        {"nodeid": 2, "name": "n2", "addrs": ["10.0.0.2", "10.1.0.2"]},
    ]

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils.shared.corosync_runtime import parse_quorumtool
from ansible_collections.quorate.cluster.plugins.module_utils.shared.qdevice_runtime import (
    REASONS,
    diagnose,
    explain,
    parse_qdevice_tool,
    parse_quorum_device,
)

# Real output of corosync 3.1.7 / corosync-qdevice 3.0.3 (Debian 12), two members and a qnetd host.
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "qdevice"
PLAIN = (Path(__file__).resolve().parents[3] / "fixtures" / "corosync" / "quorumtool_s_quorate3.txt").read_text()


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.mark.parametrize(
    "name, voting, votes, configured, local",
    [
        pytest.param("quorumtool_qdevice_voting.txt", True, 1, 1, ["A", "V", "NMW"], id="both-members-voting"),
        pytest.param("quorumtool_qdevice_alone.txt", True, 1, 1, ["A", "V", "NMW"], id="other-member-killed"),
        pytest.param("quorumtool_qdevice_local_stopped.txt", False, 0, 1, ["NR"], id="local-qdevice-stopped"),
    ],
)
def test_quorum_device_from_quorumtool(name, voting, votes, configured, local):
    device = parse_quorum_device(fixture(name))
    assert device.configured and device.registered is voting  # the flag goes with the local qdevice
    assert (device.voting, device.votes, device.configured_votes, device.local_flags) == (
        voting,
        votes,
        configured,
        local,
    )
    assert device.as_dict()["voting"] is voting


def test_no_device_without_the_qdevice_flag():
    device = parse_quorum_device(PLAIN)
    assert not device.configured and not device.registered and not device.voting and device.votes is None
    assert device.node_flags == {1: ["NR"], 2: ["NR"], 3: ["NR"]}


def test_the_device_row_is_not_a_member():
    state = parse_quorumtool(fixture("quorumtool_qdevice_alone.txt"))
    assert state.members == [1] and state.total_votes == 2 and state.quorate
    both = parse_quorumtool(fixture("quorumtool_qdevice_voting.txt"))
    assert both.members == [1, 2] and both.member_votes == {1: 1, 2: 1}


def test_qdevice_tool_fields():
    fields = parse_qdevice_tool(fixture("qdevice_tool_connected.txt"))
    assert fields["State"] == "Connected"
    assert fields["QNetd host"] == "10.89.93.13:5403"
    assert fields["Algorithm"] == "Fifty-Fifty split"
    assert fields["Model"] == "Net"


@pytest.mark.parametrize(
    "quorum, tool, journal, reason",
    [
        pytest.param("quorumtool_qdevice_voting.txt", None, None, "voting", id="voting"),
        pytest.param(
            "quorumtool_qdevice_local_stopped.txt", None, "journal_no_nssdb.txt", "no_certificate", id="no-nssdb"
        ),
        pytest.param("quorumtool_qdevice_local_stopped.txt", None, None, "not_running", id="daemon-down"),
        pytest.param(
            "quorumtool_qdevice_local_stopped.txt",
            "qdevice_tool_connect_failed.txt",
            "journal_qnetd_unreachable.txt",
            "qnetd_unreachable",
            id="qnetd-down",
        ),
        pytest.param(
            "quorumtool_qdevice_local_stopped.txt",
            "qdevice_tool_connecting.txt",
            "journal_certificate_refused.txt",
            "certificate_refused",
            id="certificate-refused",
        ),
        pytest.param(
            "quorumtool_qdevice_local_stopped.txt",
            "qdevice_tool_connected.txt",
            None,
            "vote_not_cast",
            id="connected-no-vote",
        ),
        pytest.param(
            "quorumtool_qdevice_local_stopped.txt",
            "qdevice_tool_connect_failed.txt",
            None,
            "qnetd_unreachable",
            id="connect-failed-no-log",
        ),
    ],
)
def test_diagnose(quorum, tool, journal, reason):
    device = parse_quorum_device(fixture(quorum))
    parsed_tool = parse_qdevice_tool(fixture(tool)) if tool else None
    lines = fixture(journal).splitlines() if journal else []
    found, evidence = diagnose(device, parsed_tool, lines)
    assert found == reason
    assert evidence
    assert explain(found, evidence).startswith(REASONS[reason])


def test_diagnose_without_a_device_in_corosync():
    assert diagnose(parse_quorum_device(PLAIN), None, [])[0] == "not_configured"

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils._modules.cluster_preflight import (
    controld_errors,
    corosync_errors,
    foreign_corosync,
    nodelist_conflicts,
    two_node_errors,
)

REPO = Path(__file__).resolve().parents[5]
TOTEM = {"token": 3000, "token_coefficient": 650}


def hosts(**overrides) -> dict:
    base = {
        "n1": {"quorate_corosync_nodeid": 1, "quorate_corosync_addrs": ["10.0.0.1"]},
        "n2": {"quorate_corosync_nodeid": 2, "quorate_corosync_addrs": ["10.0.0.2"]},
        "n3": {"quorate_corosync_nodeid": 3, "quorate_corosync_addrs": ["10.0.0.3"]},
    }
    for host, values in overrides.items():
        base[host] = dict(base.get(host, {}), **values)
    return base


def test_a_good_inventory_has_no_errors():
    assert corosync_errors(hosts(), TOTEM, {}, "quorate") == []
    assert corosync_errors(hosts(), dict(TOTEM, consensus=4380), {}, "quorate") == []


@pytest.mark.parametrize(
    "inventory, totem, quorum, name, fragment",
    [
        pytest.param(hosts(), dict(TOTEM, token=0), {}, "q", "quorate_corosync_totem.token: 0", id="token-zero"),
        pytest.param(hosts(), dict(TOTEM, token=-5), {}, "q", "quorate_corosync_totem.token: -5", id="token-negative"),
        pytest.param(hosts(), dict(TOTEM, token="3s"), {}, "q", "quorate_corosync_totem.token: '3s'", id="token-str"),
        pytest.param(
            hosts(), dict(TOTEM, consensus=3700), {}, "q", "consensus: 3700 is below 1.2 x the effective token (3650",
            id="consensus-low",
        ),
        pytest.param(
            hosts(n2={"quorate_corosync_nodeid": 1}), TOTEM, {}, "q", "quorate_corosync_nodeid: 1 is used by n1, n2",
            id="duplicate-id",
        ),
        pytest.param(
            hosts(n3={"quorate_corosync_addrs": ["10.0.0.1"]}), TOTEM, {}, "q", "10.0.0.1 is used by n1, n3",
            id="duplicate-addr",
        ),
        pytest.param(
            hosts(n3={"quorate_corosync_nodeid": None}), TOTEM, {}, "q", "n3: quorate_corosync_nodeid is not set",
            id="missing-id",
        ),
        pytest.param(
            hosts(n3={"quorate_corosync_addrs": []}), TOTEM, {}, "q", "n3: quorate_corosync_addrs must be a non-empty",
            id="missing-addrs",
        ),
        pytest.param(
            hosts(n2={"quorate_corosync_addrs": ["10.0.0.2", "10.1.0.2"]}), TOTEM, {}, "q", "same number of links",
            id="link-count",
        ),
        pytest.param(
            hosts(n1={"quorate_corosync_addrs": ["node-one"]}), TOTEM, {}, "q", "'node-one' is not an IP", id="not-ip"
        ),
        pytest.param(hosts(), TOTEM, {"two_node": True}, "q", "two_node: only for 2-node", id="two-node"),
        pytest.param(hosts(), TOTEM, {}, "bad name!", "quorate_corosync_cluster_name", id="cluster-name"),
    ],
)  # fmt: skip
def test_bad_input_names_the_variable(inventory, totem, quorum, name, fragment):
    errors = corosync_errors(inventory, totem, quorum, name)
    assert any(fragment in error for error in errors), errors


@pytest.mark.parametrize(
    "daemons, prefix, fs, retention, fragment",
    [
        pytest.param(
            ["quorate-controld", "ocfs2_controld"], "q", "ocfs2", 3, "unknown daemon 'ocfs2_controld'", id="unknown"
        ),
        pytest.param([], "q", "ocfs2", 3, "non-empty list", id="empty"),
        pytest.param(["dlm_controld", "dlm_controld"], "q", "ocfs2", 3, "listed twice", id="twice"),
        pytest.param(["quorate-controld"], "x" * 250, "ocfs2", 3, "quorate_controld_checkpoint_prefix", id="long-name"),
        pytest.param(["quorate-controld"], "q", "OCFS 2", 3, "quorate_controld_fs_name", id="fs-name"),
        pytest.param(["quorate-controld"], "q", "ocfs2", -1, "quorate_controld_local_retention", id="retention"),
    ],
)  # fmt: skip
def test_controld_settings(daemons, prefix, fs, retention, fragment):
    errors = controld_errors(daemons, prefix, fs, retention)
    assert any(fragment in error for error in errors), errors
    assert controld_errors(["quorate-controld", "dlm_controld"], "quorate:controld", "ocfs2", 3) == []


@pytest.mark.parametrize("value", ["1", "1.1", "255.255", "", None])
def test_controld_max_protocols_accepted(value):
    assert controld_errors(["quorate-controld"], "quorate:controld", "ocfs2", 3, value, value) == []


@pytest.mark.parametrize("value", ["1.x", "256.0", "1.256", "v1", "1.1.1"])
def test_controld_max_protocols_refused_by_name(value):
    errors = controld_errors(["quorate-controld"], "quorate:controld", "ocfs2", 3, value, "1.0")
    assert errors == [
        f"quorate_controld_daemon_max_protocol: {value!r} must be MAJOR.MINOR, each 0..255 "
        "(or empty for what the node programs support)"
    ]


class _ReadRecorder(dict):
    """A host's variables that remember which of them were read."""

    def __init__(self, values: dict, read: set):
        super().__init__(values, unrelated="x")
        self.read = read

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize(
    "inventory",
    [
        pytest.param(hosts(), id="good"),
        pytest.param({"n1": hosts()["n1"], "n2": {"quorate_corosync_addrs": "x"}}, id="bad"),
    ],
)
def test_of_each_host_the_check_reads_only_what_the_corosync_role_records_as_checked(inventory):
    """The corosync role skips its preflight when __quorate_corosync_preflight_inputs (its vars) equals what
    the preflight role passed: those inputs must hold every host variable the check reads."""
    read: set = set()
    corosync_errors({host: _ReadRecorder(values, read) for host, values in inventory.items()}, TOTEM, {}, "q")
    assert read == {"quorate_corosync_nodeid", "quorate_corosync_addrs"}
    recorded = (
        (REPO / "roles" / "corosync" / "vars" / "main.yml").read_text().split("__quorate_corosync_preflight_inputs:")
    )
    for name in read:
        assert f"'{name}'" in recorded[1], f"{name} is read by the check but not recorded as checked"


def test_the_cluster_wide_settings_must_agree_on_every_host():
    same = {"totem": TOTEM, "quorum": {}, "cluster_name": "quorate"}
    per_host = {"n1": same, "n2": same, "n3": same}
    assert corosync_errors(hosts(), TOTEM, {}, "quorate", per_host) == []
    per_host["n3"] = dict(same, totem=dict(TOTEM, token=0))
    per_host["n2"] = dict(same, cluster_name="other")
    errors = corosync_errors(hosts(), TOTEM, {}, "quorate", per_host)
    assert errors == [
        "quorate_corosync_totem must be the same on every host of the cluster "
        "(n1, n2: {'token': 3000, 'token_coefficient': 650}; n3: {'token': 0, 'token_coefficient': 650})",
        "quorate_corosync_cluster_name must be the same on every host of the cluster (n1, n3: 'quorate'; n2: 'other')",
    ]


def _state(running=True, managed=False, addrs=("127.0.0.1",), name="debian"):
    return {"running": running, "config_managed": managed, "nodelist_addrs": list(addrs), "cluster_name": name}


def test_foreign_corosync_sorts_nodes_by_what_replacing_their_corosync_would_cost():
    states = {
        "n1": _state(),  # what Debian's package starts with
        "n2": _state(managed=True, addrs=("10.0.0.1", "10.0.0.2")),  # ours
        "n3": _state(name="prod", addrs=("10.0.0.3", "10.0.0.9")),  # another tool's cluster
        "n4": _state(running=False, addrs=()),  # not running: nothing to replace
        "n5": _state(managed=None, addrs=("::1",)),  # no file on disk, loopback only
        "n6": _state(name="named", addrs=("localhost", "127.0.0.1")),  # a name may reach another host
    }
    assert foreign_corosync(states) == {
        "standalone": ["n1", "n5"],
        "members": ["n3", "n6"],
        "described": [
            "n3 (cluster 'prod', nodelist 10.0.0.3, 10.0.0.9)",
            "n6 (cluster 'named', nodelist localhost, 127.0.0.1)",
        ],
    }


def test_foreign_corosync_of_a_node_without_corosync_is_nothing():
    assert foreign_corosync({"n1": {"installed": False, "running": False}, "n2": None}) == {
        "standalone": [],
        "members": [],
        "described": [],
    }


LIVE_NODELIST = [
    {"nodeid": 1, "name": "n1", "addrs": ["10.0.0.1"]},
    {"nodeid": 2, "name": "n2", "addrs": ["10.0.0.2"]},
    {"nodeid": 3, "name": "n3", "addrs": ["10.0.0.3"]},
]


def _play_host(name, nodeid, addr, running=False):
    before = {"running": running, "config_managed": True if running else None}
    if running:
        before["nodelist_nodes"] = LIVE_NODELIST
    return {
        "inventory_hostname": name,
        "quorate_corosync_nodeid": nodeid,
        "quorate_corosync_addrs": [addr],
        "__quorate_corosync_before": before,
    }


# n1 and n2 run; n3, the third node of the running nodelist, is stopped.
MEMBERS = [
    _play_host("n1", 1, "10.0.0.1", True),
    _play_host("n2", 2, "10.0.0.2", True),
    _play_host("n3", 3, "10.0.0.3"),
]


def test_nodes_new_to_the_cluster_with_unused_ids_and_addresses_pass():
    assert nodelist_conflicts(MEMBERS + [_play_host("n4", 4, "10.0.0.4"), _play_host("n5", 5, "10.0.0.5")]) == []


def test_a_member_whose_corosync_is_stopped_matches_its_own_entry():
    assert nodelist_conflicts(MEMBERS) == []


def test_a_node_of_the_running_cluster_left_out_of_the_play_is_refused():
    assert nodelist_conflicts(MEMBERS[:2]) == [
        "node n3 (id 3) of the running cluster is not a host of this play, and the bring-up never removes nodes: "
        "put n3 back in the group, or remove it with the quorate.cluster.remove_nodes playbook "
        "(quorate_corosync_remove: true)"
    ]


def test_a_new_node_with_a_live_members_node_id_is_refused_naming_the_variable():
    assert nodelist_conflicts(MEMBERS[:2] + [_play_host("n4", 3, "10.0.0.4")]) == [
        "n4: quorate_corosync_nodeid 3 is node n3 (10.0.0.3) of the running cluster; give n4 an unused node id"
    ]


def test_a_new_node_with_a_live_members_address_is_refused_naming_the_variable():
    assert nodelist_conflicts(MEMBERS + [_play_host("n4", 4, "10.0.0.2")]) == [
        "n4: quorate_corosync_addrs 10.0.0.2 belongs to node n2 (id 2) of the running cluster"
    ]


def test_members_themselves_and_clusters_not_ours_are_not_checked_here():
    renumbered = _play_host("n2", 7, "10.0.0.2", True)  # a restart-class change of a member
    assert nodelist_conflicts([MEMBERS[0], renumbered, MEMBERS[2]]) == []
    foreign = dict(_play_host("n1", 1, "10.0.0.1", True))
    foreign["__quorate_corosync_before"] = dict(foreign["__quorate_corosync_before"], config_managed=False)
    assert nodelist_conflicts([foreign, _play_host("n4", 2, "10.0.0.2")]) == []


DEVICE = {"model": "net", "votes": 1, "net": {"host": "10.0.0.9", "algorithm": "ffsplit"}}
TWO = {"n1": hosts()["n1"], "n2": hosts()["n2"]}


@pytest.mark.parametrize(
    "quorum, qnetd, members, expected",
    [
        pytest.param({"device": DEVICE}, ["q1"], TWO, [], id="good"),
        pytest.param(
            {"device": dict(DEVICE, votes=None, net={"host": "q", "algorithm": "lms"})}, ["q1"], hosts(), [],
            id="lms-three-nodes",
        ),
        pytest.param({"device": DEVICE, "two_node": True}, ["q1"], TWO, ["two_node and quorate_corosync_quorum.device"],
                     id="two-node-and-device"),
        pytest.param({"device": DEVICE}, [], TWO, ["group quorate_qnetd has no host"], id="no-qnetd-host"),
        pytest.param({"device": DEVICE}, ["n1"], TWO, ["n1: in group quorate_qnetd and in the cluster"],
                     id="qnetd-is-member"),
        pytest.param({"device": dict(DEVICE, votes=2)}, ["q1"], TWO, ["ffsplit algorithm needs votes: 1"],
                     id="ffsplit-votes"),
        pytest.param({"device": DEVICE}, ["q1"], hosts(), ["ffsplit is for an even number of nodes"], id="ffsplit-odd"),
        pytest.param({"device": dict(DEVICE, net={"algorithm": "ffsplit"})}, ["q1"], TWO, ["net.host is not set"],
                     id="no-host"),
        pytest.param({"device": dict(DEVICE, model="disk")}, ["q1"], TWO, ["only net"], id="model"),
        pytest.param({"device": DEVICE, "auto_tie_breaker": True}, ["q1"], TWO, ["auto_tie_breaker disables"],
                     id="atb"),
    ],
)  # fmt: skip
def test_quorum_device_errors(quorum, qnetd, members, expected):
    errors = corosync_errors(members, TOTEM, quorum, "quorate", qnetd_hosts=qnetd)
    assert len(errors) == len(expected), errors
    for error, fragment in zip(errors, expected):
        assert fragment in error


def test_qnetd_group_unknown_is_not_checked():
    assert corosync_errors(TWO, TOTEM, {"device": DEVICE}, "quorate") == []


@pytest.mark.parametrize(
    "members, quorum, refused",
    [
        pytest.param(["n1", "n2"], {"provider": "corosync_votequorum"}, True, id="two-nodes-no-choice"),
        pytest.param(["n1", "n2"], {"two_node": True}, False, id="two-node"),
        pytest.param(["n1", "n2"], {"two_node": False}, False, id="two-node-off-explicitly"),
        pytest.param(["n1", "n2"], {"device": DEVICE}, False, id="device"),
        pytest.param(["n1", "n2", "n3"], {}, False, id="three-nodes"),
    ],
)
def test_two_node_choice(members, quorum, refused):
    errors = two_node_errors(members, quorum)
    assert bool(errors) is refused
    if refused:
        assert "quorate_corosync_quorum.device" in errors[0] and "quorate_corosync_quorum.two_node" in errors[0]

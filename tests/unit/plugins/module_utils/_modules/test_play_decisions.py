"""What the corosync role and the rolling restart decide from the registered results."""

from __future__ import annotations

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import (
    authkeys,
    controld_run_daemons,
    corosync_missing,
    corosync_ready,
    corosync_reload_host,
    corosync_reload_needed,
    quorum_without_node,
    restart_plan_message,
    rolling_ckptd_down,
    rolling_ckptd_members,
    rolling_first,
)

KEY = {"sha256": "ab" * 32, "mode": "0400", "owner": "root", "group": "root"}
NO_KEY = {"sha256": None, "mode": None, "owner": None, "group": None}


def test_authkeys_in_sync_when_every_node_holds_the_same_key_0400_root():
    assert authkeys({"n1": KEY, "n2": dict(KEY), "n3": dict(KEY)}) == {"holders": ["n1", "n2", "n3"], "in_sync": True}


@pytest.mark.parametrize(
    "n2, holders",
    [
        pytest.param(NO_KEY, ["n1", "n3"], id="one-missing"),
        pytest.param(dict(KEY, sha256="cd" * 32), ["n1", "n2", "n3"], id="another-key"),
        pytest.param(dict(KEY, mode="0600"), ["n1", "n2", "n3"], id="mode"),
        pytest.param(dict(KEY, owner="corosync"), ["n1", "n2", "n3"], id="owner"),
        pytest.param(dict(KEY, group="adm"), ["n1", "n2", "n3"], id="group"),
    ],
)
def test_authkeys_to_copy(n2, holders):
    assert authkeys({"n1": KEY, "n2": n2, "n3": KEY}) == {"holders": holders, "in_sync": False}


def test_authkeys_holders_keep_play_order_and_no_key_anywhere_is_not_in_sync():
    assert authkeys({"n3": KEY, "n1": NO_KEY, "n2": KEY})["holders"] == ["n3", "n2"]
    assert authkeys({"n1": NO_KEY, "n2": None}) == {"holders": [], "in_sync": False}
    assert authkeys({}) == {"holders": [], "in_sync": False}


def test_authkeys_a_node_being_added_never_hands_its_own_key_to_the_running_cluster():
    """n0 sorts first in play order and holds another key; n1-n3 run this collection's corosync."""
    other = dict(KEY, sha256="cd" * 32)
    member = {"running": True, "config_managed": True}
    states = {"n0": {"running": True, "config_managed": False}, "n1": member, "n2": member, "n3": member}
    keys = authkeys({"n0": other, "n1": KEY, "n2": KEY, "n3": KEY}, states)
    assert keys == {"holders": ["n1", "n2", "n3", "n0"], "in_sync": False}
    # Without states (or with no running member) play order decides, as before.
    assert authkeys({"n0": other, "n1": KEY})["holders"] == ["n0", "n1"]
    assert authkeys({"n0": other, "n1": KEY}, {"n0": None, "n1": {"running": False}})["holders"] == ["n0", "n1"]


READY = {"running": True, "quorate": True, "members": [1, 2, 3], "token": 3650}


def test_ready_when_running_quorate_complete_with_the_expected_token():
    assert corosync_ready(READY, [1, 2, 3], 3650)
    assert corosync_ready(dict(READY, members=["1", "2", "3", "4"]), ["3", "1", "2"], "3650")


@pytest.mark.parametrize(
    "before",
    [
        pytest.param({"running": False}, id="not-running"),
        pytest.param(dict(READY, quorate=False), id="not-quorate"),
        pytest.param(dict(READY, members=[1, 2]), id="node-missing"),
        pytest.param(dict(READY, token=3000), id="token-not-applied"),
        pytest.param(dict(READY, token=None), id="no-token"),
    ],
)
def test_not_ready(before):
    assert not corosync_ready(before, [1, 2, 3], 3650)


def host(running=True, replaced_skipped=True, reloadable=(), token=3650) -> dict:
    return {
        "__quorate_corosync_before": {"running": running, "token": token if running else None},
        "__quorate_corosync_replaced": {"skipped": True} if replaced_skipped else {"changed": True},
        "__quorate_corosync_conf": {"reloadable": list(reloadable)},
    }


def test_no_reload_when_nothing_changed():
    assert not corosync_reload_needed([host(), host(), host()], 3650)


def test_reload_for_a_live_reloadable_change_or_a_drifted_token():
    assert corosync_reload_needed([host(), host(reloadable=["totem.token"]), host()], 3650)
    assert corosync_reload_needed([host(), host(), host(token=3000)], "3650")


def test_restarted_or_stopped_nodes_do_not_ask_for_a_reload():
    assert not corosync_reload_needed([host(replaced_skipped=False, reloadable=["totem.token"], token=1)], 3650)
    assert not corosync_reload_needed([host(running=False, reloadable=["totem.token"])], 3650)
    assert not corosync_reload_needed([{"__quorate_corosync_before": {"running": True, "token": 1}}], 3650)


def test_grow_reloads_on_the_members_for_the_added_nodes():
    members = [host(reloadable=["nodelist (adds n4 (id 4))"], token=3650) for _index in range(3)]
    new = [host(running=False), host(running=False)]
    assert corosync_reload_needed(members + new, 4950)


def test_reload_host_is_the_first_member_never_a_node_the_play_adds():
    hosts = [
        dict(host(running=False), inventory_hostname="n0"),  # added, sorts first
        dict(host(replaced_skipped=False), inventory_hostname="n1"),  # restarted: read the file already
        dict(host(), inventory_hostname="n2"),
        dict(host(), inventory_hostname="n3"),
    ]
    assert corosync_reload_host(hosts) == "n2"
    assert corosync_reload_host(hosts[:2]) is None
    assert corosync_reload_host([]) is None


def plan(name: str, restart: list) -> dict:
    return {"inventory_hostname": name, "quorate_restart_plan": {"restart": restart}}


def test_rolling_first_until_a_node_before_restarts_something():
    hosts = [plan("n1", []), plan("n2", ["corosync"]), plan("n3", []), plan("n4", [])]
    assert [rolling_first(hosts, name) for name in ("n1", "n2", "n3", "n4")] == [True, True, False, False]


def test_rolling_first_names_a_host_not_in_the_play():
    with pytest.raises(ValueError, match="n9 is not one of the play's hosts"):
        rolling_first([plan("n1", [])], "n9")


def test_corosync_missing_lists_hosts_not_installed_or_not_read_in_play_order():
    hosts = [
        {"inventory_hostname": "n1", "__quorate_corosync_before": {"installed": True}},
        {"inventory_hostname": "n3", "__quorate_corosync_before": {"installed": False}},
        {"inventory_hostname": "n2"},
    ]
    assert corosync_missing(hosts) == ["n3", "n2"]
    assert corosync_missing(hosts[:1]) == []


def ckptd(name: str, running: bool | None) -> dict:
    services = {} if running is None else {"quorate-ckptd": {"running": running}}
    return {"inventory_hostname": name, "quorate_restart_plan": {"services": services}}


def test_rolling_ckptd_down_in_play_order_without_hosts_that_have_no_plan():
    hosts = [ckptd("n1", False), ckptd("n2", True), {"inventory_hostname": "n4"}, ckptd("n3", None)]
    assert rolling_ckptd_down(hosts) == ["n1", "n3"]


@pytest.mark.parametrize(
    "host, members",
    [
        pytest.param(None, 2, id="before-the-roll"),
        pytest.param("n1", 2, id="first"),
        pytest.param("n2", 3, id="after-a-down-node"),
        pytest.param("n3", 3, id="down-node-itself"),
        pytest.param("n4", 4, id="all-done"),
    ],
)
def test_rolling_ckptd_members_counts_the_down_nodes_whose_turn_has_not_come(host, members):
    assert rolling_ckptd_members(["n1", "n2", "n3", "n4"], ["n3", "n1"], host) == members


def test_rolling_ckptd_members_names_a_host_not_in_the_play():
    with pytest.raises(ValueError, match="n9 is not one of the play's hosts"):
        rolling_ckptd_members(["n1"], [], "n9")


BOTH = ["quorate-controld", "dlm_controld"]


@pytest.mark.parametrize(
    "daemons, dlm, run",
    [
        pytest.param(["quorate-controld"], None, ["quorate-controld"], id="no-dlm-wanted"),
        pytest.param(BOTH, {"stat": {"exists": True}}, None, id="dlm-present"),
        pytest.param(
            ["quorate-controld", "dlm_controld"], {"stat": {"exists": False}}, ["quorate-controld"], id="no-dlm"
        ),
        pytest.param(["dlm_controld", "quorate-controld"], {"skipped": True}, ["quorate-controld"], id="not-read"),
        pytest.param(["dlm_controld", "quorate-controld"], None, ["quorate-controld"], id="undefined"),
    ],
)
def test_controld_run_daemons(daemons, dlm, run):
    assert controld_run_daemons(daemons, dlm) == (daemons if run is None else run)


def test_restart_plan_message():
    plan = {
        "restart": ["corosync", "quorate-ckptd"],
        "stale": ["corosync", "quorate-ckptd"],
        "services": {
            "corosync": {"reasons": ["authkey changed", "unit file changed"]},
            "quorate-ckptd": {"reasons": ["forced"]},
        },
    }
    assert restart_plan_message("n1", plan) == (
        "n1: restart corosync -> quorate-ckptd; corosync: authkey changed, unit file changed; quorate-ckptd: forced"
    )
    assert restart_plan_message("n2", {"restart": [], "stale": [], "services": {}}) == "n2: nothing to restart"


@pytest.mark.parametrize(
    "total, node, quorum, keeps",
    [(3, 1, 2, True), (2, 1, 2, False), (5, 2, 3, True), (4, 2, 3, False), ("3", "1", "2", True)],
)
def test_quorum_without_node(total, node, quorum, keeps):
    assert quorum_without_node({"total_votes": total, "node_votes": node, "quorum_votes": quorum}) is keeps

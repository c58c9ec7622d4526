"""What the corosync role and the rolling restart decide from the registered results."""

from __future__ import annotations

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import (
    authkeys,
    corosync_ready,
    corosync_reload_needed,
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


def plan(name: str, restart: list) -> dict:
    return {"inventory_hostname": name, "quorate_restart_plan": {"restart": restart}}


def test_rolling_first_until_a_node_before_restarts_something():
    hosts = [plan("n1", []), plan("n2", ["corosync"]), plan("n3", []), plan("n4", [])]
    assert [rolling_first(hosts, name) for name in ("n1", "n2", "n3", "n4")] == [True, True, False, False]


def test_rolling_first_names_a_host_not_in_the_play():
    with pytest.raises(ValueError, match="n9 is not one of the play's hosts"):
        rolling_first([plan("n1", [])], "n9")

"""The filters that give the roles and playbooks one boolean per decision."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins import filter as filters
from ansible_collections.quorate.cluster.plugins.filter import (
    controld_run_daemons,
    corosync_authkeys,
    corosync_missing,
    corosync_nodelist_conflicts,
    corosync_ready,
    corosync_reload_host,
    corosync_reload_needed,
    corosync_version_skew,
    hosts_flagged,
    quorum_without_node,
    restart_plan_message,
    rolling_ckptd_down,
    rolling_ckptd_members,
    rolling_first,
    shrink_plan,
)

KEY = {"sha256": "ab" * 32, "mode": "0400", "owner": "root", "group": "root"}


@pytest.mark.parametrize("name", [info.name for info in pkgutil.iter_modules(filters.__path__)])
def test_each_plugin_exports_its_filter_under_its_file_name(name):
    plugin = importlib.import_module(f"{filters.__name__}.{name}")
    assert plugin.FilterModule().filters() == {name: getattr(plugin, name)}


def test_corosync_authkeys():
    assert corosync_authkeys.corosync_authkeys({"n1": KEY, "n2": KEY}) == {"holders": ["n1", "n2"], "in_sync": True}
    with pytest.raises(AnsibleFilterError, match="corosync_authkeys: expects a dict"):
        corosync_authkeys.corosync_authkeys([KEY])


def test_corosync_ready():
    before = {"running": True, "quorate": True, "members": [1, 2], "token": 3000}
    assert corosync_ready.corosync_ready(before, (n for n in [1, 2]), 3000)
    with pytest.raises(AnsibleFilterError, match="nodeids must be a list"):
        corosync_ready.corosync_ready(before, "1,2", 3000)
    with pytest.raises(AnsibleFilterError, match="expects a corosync_info result"):
        corosync_ready.corosync_ready(None, [1], 3000)


def test_corosync_reload_needed():
    drifted = {
        "__quorate_corosync_before": {"running": True, "token": 3000},
        "__quorate_corosync_replaced": {"skipped": True},
    }
    assert corosync_reload_needed.corosync_reload_needed([drifted], 3650)
    assert not corosync_reload_needed.corosync_reload_needed([], 3650)
    with pytest.raises(AnsibleFilterError, match="play hosts' vars"):
        corosync_reload_needed.corosync_reload_needed("n1", 3650)


def test_corosync_reload_host():
    member = {
        "inventory_hostname": "n2",
        "__quorate_corosync_before": {"running": True},
        "__quorate_corosync_replaced": {"skipped": True},
    }
    assert corosync_reload_host.corosync_reload_host([{"inventory_hostname": "n1"}, member]) == "n2"
    with pytest.raises(AnsibleFilterError, match="corosync_reload_host: expects the list of the play hosts' vars"):
        corosync_reload_host.corosync_reload_host("n1")


def test_corosync_nodelist_conflicts():
    member = {
        "inventory_hostname": "n1",
        "__quorate_corosync_before": {
            "running": True,
            "config_managed": True,
            "nodelist_nodes": [{"nodeid": 1, "name": "n1", "addrs": ["10.0.0.1"]}],
        },
    }
    new = {"inventory_hostname": "n2", "quorate_corosync_nodeid": 1, "quorate_corosync_addrs": ["10.0.0.2"]}
    assert corosync_nodelist_conflicts.corosync_nodelist_conflicts([member, new]) == [
        "n2: quorate_corosync_nodeid 1 is node n1 (10.0.0.1) of the running cluster; give n2 an unused node id"
    ]
    with pytest.raises(AnsibleFilterError, match="corosync_nodelist_conflicts: expects the list"):
        corosync_nodelist_conflicts.corosync_nodelist_conflicts({"n1": {}})


def test_rolling_first():
    hosts = [
        {"inventory_hostname": "n1", "quorate_restart_plan": {"restart": ["corosync"]}},
        {"inventory_hostname": "n2"},
    ]
    assert rolling_first.rolling_first(hosts, "n1") and not rolling_first.rolling_first(hosts, "n2")
    with pytest.raises(AnsibleFilterError, match="rolling_first: n3 is not one of the play's hosts"):
        rolling_first.rolling_first(hosts[1:], "n3")
    with pytest.raises(AnsibleFilterError, match="play hosts' vars"):
        rolling_first.rolling_first([1], "n1")


def test_corosync_missing():
    hosts = [{"inventory_hostname": "n1", "__quorate_corosync_before": {"installed": False}}]
    assert corosync_missing.corosync_missing(iter(hosts)) == ["n1"]
    with pytest.raises(AnsibleFilterError, match="corosync_missing: expects the list of the play hosts' vars"):
        corosync_missing.corosync_missing({"n1": {}})


def test_rolling_ckptd_down():
    hosts = [{"inventory_hostname": "n1", "quorate_restart_plan": {"services": {"quorate-ckptd": {"running": False}}}}]
    assert rolling_ckptd_down.rolling_ckptd_down(hosts) == ["n1"]
    with pytest.raises(AnsibleFilterError, match="rolling_ckptd_down: expects the list of the play hosts' vars"):
        rolling_ckptd_down.rolling_ckptd_down("n1")


def test_rolling_ckptd_members():
    assert rolling_ckptd_members.rolling_ckptd_members(["n1", "n2"], ["n1"]) == 1
    assert rolling_ckptd_members.rolling_ckptd_members(["n1", "n2"], ["n1"], "n2") == 2
    with pytest.raises(AnsibleFilterError, match="rolling_ckptd_members: n3 is not one of the play's hosts"):
        rolling_ckptd_members.rolling_ckptd_members(["n1", "n2"], [], "n3")
    with pytest.raises(AnsibleFilterError, match="down must be a list"):
        rolling_ckptd_members.rolling_ckptd_members(["n1"], "n1")


def test_controld_run_daemons():
    assert controld_run_daemons.controld_run_daemons(["dlm_controld"], None) == []
    with pytest.raises(AnsibleFilterError, match="expects the list of daemons"):
        controld_run_daemons.controld_run_daemons("dlm_controld", None)
    with pytest.raises(AnsibleFilterError, match="dlm must be a stat result"):
        controld_run_daemons.controld_run_daemons([], "yes")


def test_restart_plan_message():
    assert restart_plan_message.restart_plan_message("n1", {"restart": []}) == "n1: nothing to restart"
    with pytest.raises(AnsibleFilterError, match="expects a restart_needed result"):
        restart_plan_message.restart_plan_message("n1", None)


def test_quorum_without_node():
    assert quorum_without_node.quorum_without_node({"total_votes": 3, "node_votes": 1, "quorum_votes": 2})
    with pytest.raises(AnsibleFilterError, match="quorum_without_node: expects a corosync_wait result"):
        quorum_without_node.quorum_without_node({"total_votes": 3})
    with pytest.raises(AnsibleFilterError, match="quorum_without_node: expects a corosync_wait result"):
        quorum_without_node.quorum_without_node(None)


def test_shrink_plan():
    hosts = [{"inventory_hostname": "n1"}, {"inventory_hostname": "n2"}]
    assert shrink_plan.shrink_plan(hosts, {})["remove"] == []
    with pytest.raises(AnsibleFilterError, match="shrink_plan: quorum must be the quorum settings"):
        shrink_plan.shrink_plan(hosts, None)
    with pytest.raises(AnsibleFilterError, match="shrink_plan: expects the list of the play hosts' vars"):
        shrink_plan.shrink_plan("n1", {})


def test_hosts_flagged():
    hosts = [
        {"inventory_hostname": "n1", "quorate_corosync_dead": True},
        {"inventory_hostname": "n2"},
        {"inventory_hostname": "n3", "quorate_corosync_dead": "yes"},
        {"inventory_hostname": "n4", "quorate_corosync_dead": "false"},
    ]
    assert hosts_flagged.hosts_flagged(hosts, "quorate_corosync_dead") == ["n1", "n3"]
    with pytest.raises(AnsibleFilterError, match="n5: quorate_corosync_dead must be true or false, got 'maybe'"):
        hosts_flagged.hosts_flagged(
            [{"inventory_hostname": "n5", "quorate_corosync_dead": "maybe"}], "quorate_corosync_dead"
        )
    with pytest.raises(AnsibleFilterError, match="hosts_flagged: expects the list"):
        hosts_flagged.hosts_flagged("n1", "quorate_corosync_dead")


def _running(name: str, version: str, replaced: bool = False) -> dict:
    return {
        "inventory_hostname": name,
        "__quorate_corosync_before": {"running": True, "version": version, "version_replaced": replaced},
    }


def test_corosync_version_skew():
    skew = corosync_version_skew.corosync_version_skew
    assert skew([_running("n1", "3.1.7"), _running("n2", "3.1.7"), {"inventory_hostname": "n3"}]) == ""
    message = skew([_running("n1", "3.1.7"), _running("n2", "3.1.8"), _running("n3", "3.1.7")])
    assert message.startswith(
        "corosync versions differ across the running cluster (installed 3.1.7 on n1, n3; 3.1.8 on n2), and "
        "corosync-cfgtool -R across versions is unsupported (corosync-cfgtool(8))"
    )
    message = skew([_running("n1", "3.1.8", replaced=True), _running("n2", "3.1.8")])
    assert "(n1 still run(s) the corosync binary replaced since it started)" in message
    with pytest.raises(AnsibleFilterError, match="corosync_version_skew: expects the list"):
        skew("n1")

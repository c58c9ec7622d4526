from __future__ import annotations

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils._modules.shrink_plan import shrink_plan

QUORUM = {"provider": "corosync_votequorum"}


def nodelist(*ids: int) -> list:
    return [{"nodeid": i, "name": f"n{i}", "addrs": [f"10.0.0.{i}"]} for i in ids]


def host(nodeid: int, remove=False, running=True, members=(1, 2, 3, 4), nodes=(1, 2, 3, 4), **extra) -> dict:
    before = {"running": running, "config_managed": True if running else None}
    if running:
        before.update(quorate=True, members=list(members), nodelist_nodes=nodelist(*nodes))
    host_vars = {
        "inventory_hostname": f"n{nodeid}",
        "quorate_corosync_nodeid": nodeid,
        "__quorate_corosync_before": before,
    }
    if remove is not None:
        host_vars["quorate_corosync_remove"] = remove
    host_vars.update(extra)
    return host_vars


def dead(nodeid: int, remove=True) -> dict:
    """A host declared dead: never contacted, so no corosync_info result."""
    return {
        "inventory_hostname": f"n{nodeid}",
        "quorate_corosync_nodeid": nodeid,
        "quorate_corosync_remove": remove,
        "quorate_corosync_dead": True,
    }


def test_nothing_marked_is_no_removal():
    plan = shrink_plan([host(1), host(2), host(3, remove=None)], QUORUM)
    assert plan["remove"] == [] and plan["keep"] == ["n1", "n2", "n3"] and plan["errors"] == []
    assert plan["steps"] == []


def test_one_of_four_leaves_three_expected_two_needed_in_one_step():
    plan = shrink_plan([host(1), host(2), host(3), host(4, remove=True)], QUORUM)
    assert plan["errors"] == []
    assert plan["remove"] == ["n4"] and plan["keep"] == ["n1", "n2", "n3"] and plan["done"] == []
    assert plan["steps"] == [
        {
            "host": "n4",
            "nodeid": 4,
            "contact": True,
            "nodes_after": ["n1", "n2", "n3"],
            "members_after": [1, 2, 3],
            "expected_votes": 3,
        }
    ]
    assert (plan["expected_votes_before"], plan["expected_votes"]) == (4, 3)
    assert (plan["votes_left"], plan["quorum_votes"]) == (3, 2)


def test_five_to_three_one_node_per_step_each_nodelist_shorter():
    members = (1, 2, 3, 4, 5)
    hosts = [host(i, members=members, nodes=members, remove=i > 3) for i in members]
    plan = shrink_plan(hosts, QUORUM)
    assert plan["errors"] == []
    assert [(s["host"], s["nodes_after"], s["expected_votes"]) for s in plan["steps"]] == [
        ("n4", ["n1", "n2", "n3", "n5"], 4),
        ("n5", ["n1", "n2", "n3"], 3),
    ]


def test_two_remaining_need_one_vote_with_the_default_two_node_but_two_without():
    hosts = [host(1), host(2), host(3, remove=True), host(4, remove=True)]
    plan = shrink_plan(hosts, QUORUM)
    assert plan["quorum_votes"] == 1 and plan["errors"] == []
    plan = shrink_plan(hosts, {**QUORUM, "two_node": False})
    assert plan["quorum_votes"] == 2 and plan["errors"] == []


def test_removing_every_host_is_refused_naming_the_variable():
    plan = shrink_plan([host(1, remove=True), host(2, remove=True)], {})
    assert plan["errors"] == [
        "quorate_corosync_remove is set on every host of the group (n1, n2): at least one node must remain; "
        "to take the whole cluster down, stop its services instead"
    ]


def test_removing_a_host_the_cluster_does_not_have_is_refused():
    hosts = [host(i, members=(1, 2, 3), nodes=(1, 2, 3)) for i in (1, 2, 3)] + [host(5, remove=True, running=False)]
    assert shrink_plan(hosts, {})["errors"] == [
        "n5: quorate_corosync_remove is set but n5 (node id 5) is not a node of the running cluster and was not "
        "removed from it; unset quorate_corosync_remove or take n5 out of the group"
    ]


def test_a_host_removed_by_an_earlier_run_is_done():
    hosts = [host(i, members=(1, 2, 3), nodes=(1, 2, 3)) for i in (1, 2, 3)]
    gone = host(4, remove=True, running=False)
    gone["__quorate_corosync_before"]["removed"] = {"cluster_name": "quorate", "nodeid": 4, "name": "n4"}
    plan = shrink_plan([*hosts, gone], QUORUM, cluster_name="quorate")
    assert plan["errors"] == [] and plan["done"] == ["n4"] and plan["steps"] == []
    # The marker of another cluster (or another node id) does not count.
    assert shrink_plan([*hosts, gone], QUORUM, cluster_name="other")["errors"]


def test_a_dead_host_is_dropped_first_without_contact_and_costs_no_vote():
    hosts = [host(1, members=(1, 2, 3)), host(2, members=(1, 2, 3)), host(3, members=(1, 2, 3)), dead(4)]
    plan = shrink_plan(hosts, QUORUM)
    assert plan["errors"] == [] and plan["dead"] == ["n4"]
    assert plan["steps"] == [
        {
            "host": "n4",
            "nodeid": 4,
            "contact": False,
            "nodes_after": ["n1", "n2", "n3"],
            "members_after": [1, 2, 3],
            "expected_votes": 3,
        }
    ]
    # Already out of the nodelist: done, and nothing to refuse (it cannot be asked).
    after = [host(i, members=(1, 2, 3), nodes=(1, 2, 3)) for i in (1, 2, 3)] + [dead(4)]
    plan = shrink_plan(after, QUORUM)
    assert plan["errors"] == [] and plan["done"] == ["n4"] and plan["steps"] == []


def test_a_dead_host_that_is_a_member_is_refused():
    hosts = [host(1), host(2), host(3), dead(4)]
    assert shrink_plan(hosts, QUORUM)["errors"] == [
        "n4: quorate_corosync_dead is set but node 4 is a member of the running cluster, so it is not dead; unset "
        "quorate_corosync_dead (then n4 is stopped and cleaned as it leaves)"
    ]


def test_a_nodelist_entry_without_a_host_is_refused():
    hosts = [host(1), host(2), host(3, remove=True)]
    assert shrink_plan(hosts, QUORUM)["errors"] == [
        "node n4 (id 4) of the running nodelist is not a host of the group: put it back in the inventory, with "
        "quorate_corosync_remove: true to remove it"
    ]


def test_a_new_host_in_the_group_is_refused():
    hosts = [host(i, members=(1, 2, 3), nodes=(1, 2, 3), remove=i == 3) for i in (1, 2, 3)]
    hosts.append(host(6, running=False))
    assert shrink_plan(hosts, QUORUM)["errors"] == [
        "n6 is not a node of the running cluster: this playbook only removes nodes; unset its host from the group "
        "now and add it with quorate.cluster.bringup once the removal is done"
    ]


def test_no_running_cluster_is_refused():
    hosts = [host(1, running=False, nodes=()), host(2, running=False, remove=True)]
    assert "no reachable host of the group runs this cluster's corosync" in shrink_plan(hosts, QUORUM)["errors"][0]


def test_a_removal_that_leaves_no_quorum_is_refused_with_the_numbers_unless_forced():
    # n2 and n3 are down: removing n4 leaves n1 alone of 3 expected.
    hosts = [
        host(1, members=(1, 4)),
        host(2, running=False),
        host(3, running=False),
        host(4, remove=True, members=(1, 4)),
    ]
    message = (
        "stopping n4 leaves 1 live vote(s) while 4 are expected, and quorum needs 3; removing n4 leaves 1 live "
        "vote(s) (n1) with 3 expected after the change, and quorum needs 2: the remaining nodes would not be "
        "quorate; start corosync on the nodes that stay first, remove fewer nodes, or set quorate_force_remove: true"
    )
    assert shrink_plan(hosts, {})["errors"] == [message]
    forced = shrink_plan(hosts, {}, force=True)
    assert forced["errors"] == [] and forced["forced"] == message


def test_a_stop_that_would_lose_quorum_before_its_reload_is_refused():
    # 5 nodes, 2 of them down (not declared dead): 3 present of 5 expected, quorum 3. Stopping n5 first
    # leaves 2 of 5 before the reload, although 2 of 4 would then... still short: refused.
    members = (1, 2, 5)
    hosts = [host(i, members=members, nodes=(1, 2, 3, 4, 5), running=i in members, remove=i == 5) for i in range(1, 6)]
    errors = shrink_plan(hosts, QUORUM)["errors"]
    assert len(errors) == 1 and errors[0].startswith("stopping n5 leaves 2 live vote(s) while 5 are expected")


@pytest.mark.parametrize(
    "remove, force, error",
    [
        pytest.param("maybe", False, "n4: quorate_corosync_remove must be true or false, got 'maybe'", id="remove-str"),
        pytest.param(True, "maybe", "quorate_force_remove must be true or false, got 'maybe'", id="force-str"),
    ],
)
def test_flags_must_be_booleans(remove, force, error):
    plan = shrink_plan([host(1), host(2), host(3), host(4, remove=remove)], {}, force=force)
    assert error in plan["errors"]


def test_the_dead_flag_must_be_a_boolean():
    plan = shrink_plan([host(1), host(2), host(3), host(4, quorate_corosync_dead=7)], QUORUM)
    assert "n4: quorate_corosync_dead must be true or false, got 7" in plan["errors"]


def test_extra_vars_strings_are_booleans_as_ansible_reads_them():
    # -e quorate_force_remove=true arrives as the string "true".
    hosts = [host(1, members=(1, 4)), host(2, running=False), host(3, running=False)]
    hosts.append(host(4, remove="true", members=(1, 4)))
    forced = shrink_plan(hosts, QUORUM, force="true")
    assert forced["errors"] == [] and forced["remove"] == ["n4"] and "forced" in forced


def test_the_summary_says_what_goes_in_which_order_and_the_votes():
    members = (1, 2, 3, 4, 5)
    hosts = [host(i, members=members, nodes=members, remove=i == 5) for i in (1, 2, 3, 5)] + [dead(4)]
    plan = shrink_plan(hosts, QUORUM)
    assert plan["errors"] == [
        "n4: quorate_corosync_dead is set but node 4 is a member of the running cluster, so it is not dead; unset "
        "quorate_corosync_dead (then n4 is stopped and cleaned as it leaves)"
    ]
    members = (1, 2, 3, 5)
    hosts = [host(i, members=members, nodes=(1, 2, 3, 4, 5), remove=i == 5) for i in (1, 2, 3, 5)] + [dead(4)]
    plan = shrink_plan(hosts, QUORUM)
    assert plan["errors"] == []
    assert [step["members_after"] for step in plan["steps"]] == [[1, 2, 3, 5], [1, 2, 3]]
    assert plan["summary"] == (
        "remove n4 (declared dead, not contacted) then n5 (stopped, cleaned), one corosync-cfgtool -R each: "
        "expected votes 5 -> 3, live votes 4 -> 3, quorum needs 3 -> 2; n1, n2, n3 restart nothing"
    )


def test_the_summary_of_a_rerun():
    hosts = [host(i, members=(1, 2, 3), nodes=(1, 2, 3)) for i in (1, 2, 3)] + [dead(4)]
    assert shrink_plan(hosts, QUORUM)["summary"] == "already removed: n4"
    assert (
        shrink_plan(hosts[:3], QUORUM)["summary"]
        == "no host of the group has quorate_corosync_remove: true, nothing to remove"
    )


def test_a_dead_host_that_is_a_member_is_refused_even_with_nothing_to_remove():
    hosts = [host(1), host(2), host(3), dead(4, remove=False)]
    assert shrink_plan(hosts, QUORUM)["errors"] == [
        "n4: quorate_corosync_dead is set but node 4 is a member of the running cluster, so it is not dead; unset "
        "quorate_corosync_dead (then n4 is stopped and cleaned as it leaves)"
    ]

from __future__ import annotations

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils._modules.shrink_plan import shrink_plan

NODELIST = [{"nodeid": i, "name": f"n{i}", "addrs": [f"10.0.0.{i}"]} for i in (1, 2, 3, 4)]


def host(nodeid: int, remove=False, running=True, members=(1, 2, 3, 4), nodelist=NODELIST) -> dict:
    before = {"running": running, "config_managed": True if running else None}
    if running:
        before.update(quorate=True, members=list(members), nodelist_nodes=nodelist)
    vars_ = {"inventory_hostname": f"n{nodeid}", "quorate_corosync_nodeid": nodeid, "__quorate_corosync_before": before}
    if remove is not None:
        vars_["quorate_corosync_remove"] = remove
    return vars_


def test_nothing_marked_is_no_removal():
    plan = shrink_plan([host(1), host(2), host(3, remove=None)], {"provider": "corosync_votequorum"})
    assert plan["remove"] == [] and plan["keep"] == ["n1", "n2", "n3"] and plan["errors"] == []


def test_one_of_four_leaves_three_expected_two_needed():
    plan = shrink_plan([host(1), host(2), host(3), host(4, remove=True)], {"provider": "corosync_votequorum"})
    assert plan == {
        "remove": ["n4"],
        "keep": ["n1", "n2", "n3"],
        "errors": [],
        "expected_votes": 3,
        "votes_left": 3,
        "quorum_votes": 2,
        "quorum": {"provider": "corosync_votequorum"},
    }


def test_two_remaining_get_two_node_unless_the_user_set_it():
    hosts = [host(1), host(2), host(3, remove=True), host(4, remove=True)]
    plan = shrink_plan(hosts, {"provider": "corosync_votequorum"})
    assert plan["quorum"] == {"provider": "corosync_votequorum", "two_node": True}
    assert plan["quorum_votes"] == 1 and plan["errors"] == []
    plan = shrink_plan(hosts, {"provider": "corosync_votequorum", "two_node": False})
    assert plan["quorum"] == {"provider": "corosync_votequorum", "two_node": False}
    assert plan["quorum_votes"] == 2 and plan["errors"] == []


def test_removing_every_host_is_refused_naming_the_variable():
    plan = shrink_plan([host(1, remove=True), host(2, remove=True)], {})
    assert plan["errors"] == [
        "quorate_corosync_remove is set on every host of the play (n1, n2): at least one node must remain; "
        "to take the whole cluster down, stop its services instead"
    ]


def test_removing_a_host_the_cluster_does_not_have_is_refused():
    nodelist = NODELIST[:3]
    hosts = [host(i, nodelist=nodelist, members=(1, 2, 3)) for i in (1, 2, 3)] + [host(5, remove=True, running=False)]
    assert shrink_plan(hosts, {})["errors"] == [
        "n5: quorate_corosync_remove is set but n5 is not a node of the running cluster, so this run would add it "
        "and remove it at once; unset quorate_corosync_remove or leave n5 out of the group"
    ]


def test_a_removal_that_leaves_no_quorum_is_refused_with_the_numbers_unless_forced():
    # n2 and n3 are down: removing n4 leaves n1 alone of 3 expected.
    hosts = [
        host(1, members=(1, 4)),
        host(2, running=False),
        host(3, running=False),
        host(4, remove=True, members=(1, 4)),
    ]
    message = (
        "removing n4 leaves 1 live vote(s) (n1) with 3 expected after the change, and quorum needs 2: the remaining "
        "nodes would not be quorate; start corosync on the remaining nodes first, or set quorate_force_remove: true"
    )
    assert shrink_plan(hosts, {})["errors"] == [message]
    forced = shrink_plan(hosts, {}, force=True)
    assert forced["errors"] == [] and forced["forced"] == message


@pytest.mark.parametrize(
    "remove, force, error",
    [
        pytest.param("yes", False, "n4: quorate_corosync_remove must be true or false, got 'yes'", id="remove-str"),
        pytest.param(True, "yes", "quorate_force_remove must be true or false, got 'yes'", id="force-str"),
    ],
)
def test_flags_must_be_booleans(remove, force, error):
    plan = shrink_plan([host(1), host(2), host(3), host(4, remove=remove)], {}, force=force)
    assert error in plan["errors"]

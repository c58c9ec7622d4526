"""The upgrade plan: dpkg's version order, and what is refused before any node changes."""

from __future__ import annotations

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils._modules.upgrade_plan import (
    compare_versions,
    package_errors,
    parse_package_state,
    upgrade_plan,
)

# Each expected result was read from `dpkg --compare-versions` on Debian 12.
DPKG = [
    ("3.1.7-1+deb12u2", "3.1.7-1+deb12u2+quorate1", -1),
    ("3.1.7-1", "3.1.7-1+deb12u2", -1),
    ("1.0~rc1", "1.0", -1),
    ("1.0", "1.0-0", 0),
    ("1:0.9", "2.0", 1),
    ("2.0", "1:0.9", -1),
    ("1.10", "1.9", 1),
    ("1.0a", "1.0+", -1),
    ("1.0", "1.0", 0),
    ("0:1.0", "1.0", 0),
    ("1.2-3~bpo12+1", "1.2-3", -1),
    ("1.02", "1.2", 0),
    ("1.0-1", "1.0-1.1", -1),
    ("abc1", "abc~", 1),
    ("3.1.8-1", "3.1.7-1+deb12u2", 1),
]


@pytest.mark.parametrize(("left", "right", "order"), DPKG)
def test_versions_compare_as_dpkg_does(left, right, order):
    assert compare_versions(left, right) == order
    assert compare_versions(right, left) == -order


def test_the_package_mapping_is_checked_by_name():
    assert package_errors({"corosync": "3.1.7-1+deb12u2+quorate1"}) == []
    assert package_errors(None) == [] and package_errors({}) == []
    assert package_errors(["corosync"]) == [
        "quorate_upgrade_packages must be a mapping of package name to version, got ['corosync']"
    ]
    errors = package_errors({"Coro sync": "1.0", "corosync": 3.1})
    assert errors[0] == "quorate_upgrade_packages: 'Coro sync' is not a Debian package name"
    assert "corosync: 3.1 is not a Debian version (quote it in YAML" in errors[1]


STATE = "installed\tcorosync\t3.1.7-1+deb12u2\navailable\tcorosync\t3.1.7-1+deb12u2+quorate1\navailable\tcorosync\t3.1.7-1+deb12u2\n"


def test_the_query_output_parses():
    assert parse_package_state(STATE + "garbage\ninstalled\tlibknet1\t\n") == {
        "installed": {"corosync": "3.1.7-1+deb12u2"},
        "available": {"corosync": ["3.1.7-1+deb12u2+quorate1", "3.1.7-1+deb12u2"]},
    }


def test_an_upgrade_plans_each_node_and_skips_the_ones_done():
    done = STATE.replace("installed\tcorosync\t3.1.7-1+deb12u2\n", "installed\tcorosync\t3.1.7-1+deb12u2+quorate1\n")
    hosts = {"n1": parse_package_state(done), "n2": parse_package_state(STATE)}
    plan = upgrade_plan(hosts, {"corosync": "3.1.7-1+deb12u2+quorate1"})
    assert plan["errors"] == []
    assert plan["hosts"]["n1"] == {"install": {}, "changes": []}
    assert plan["hosts"]["n2"]["install"] == {"corosync": "3.1.7-1+deb12u2+quorate1"}
    assert plan["summary"] == "n2: corosync 3.1.7-1+deb12u2 -> 3.1.7-1+deb12u2+quorate1"
    assert upgrade_plan({"n1": parse_package_state(done)}, {"corosync": "3.1.7-1+deb12u2+quorate1"})["summary"] == (
        "every node already has the packages named"
    )


def test_a_downgrade_is_refused_unless_allowed():
    hosts = {"n1": parse_package_state(STATE + "available\tcorosync\t3.1.7-1\n")}
    plan = upgrade_plan(hosts, {"corosync": "3.1.7-1"})
    assert plan["errors"] == [
        "quorate_upgrade_packages: corosync 3.1.7-1 is lower than 3.1.7-1+deb12u2 installed on n1; "
        "set quorate_upgrade_allow_downgrade: true to downgrade"
    ]
    allowed = upgrade_plan(hosts, {"corosync": "3.1.7-1"}, allow_downgrade=True)
    assert allowed["errors"] == [] and allowed["hosts"]["n1"]["changes"] == [
        "corosync 3.1.7-1+deb12u2 -> 3.1.7-1 (downgrade)"
    ]


def test_a_version_no_source_offers_and_a_missing_package_are_refused():
    plan = upgrade_plan({"n1": parse_package_state(STATE)}, {"corosync": "3.1.9-1", "corosync-qdevice": "3.0.3-1"})
    assert "corosync 3.1.9-1 is not offered by the package sources of n1" in plan["errors"][0]
    assert "offers 3.1.7-1+deb12u2+quorate1, 3.1.7-1+deb12u2" in plan["errors"][0]
    assert plan["errors"][1] == (
        "quorate_upgrade_packages: corosync-qdevice is not installed on n1; an upgrade installs nothing new"
    )

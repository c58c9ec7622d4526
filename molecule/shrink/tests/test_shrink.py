"""Shrinking a running cluster from 5 to 3 nodes with quorate.cluster.remove_nodes, under load.

The scenario converges n1-n5. These tests first check that bad input is refused with nothing changed,
then preview the removal in check mode, then remove n4 and n5 while n1-n3 write checkpoint sections
(the shared Writer, molecule/conftest.py) and their quorum is sampled, then re-run everything that
must now change nothing.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import STACK, Writer, assert_no_acknowledged_write_lost, assert_quorum_held

REMOVE_NODES = "quorate.cluster.remove_nodes"
BRINGUP = "quorate.cluster.bringup"
STAY, LEAVE = ["n1", "n2", "n3"], ["n4", "n5"]
# token 3000 + (3 - 2) x token_coefficient 650, as the effective_token filter computes it.
TOKEN_3_NODES = 3650
# What the collection wrote on a node (roles/remove_nodes/vars/main.yml), gone from a removed node.
WRITTEN = (
    "/etc/corosync/corosync.conf",
    "/etc/corosync/authkey",
    "/etc/systemd/system/quorate-ckptd.service",
    "/etc/systemd/system/quorate-controld.service",
    "/usr/sbin/quorate-ckpt",
    "/usr/lib/quorate",
)


def conf_hashes(cluster, nodes: list) -> dict[str, str]:
    return {node: cluster.check_output(node, "sha256sum /etc/corosync/corosync.conf") for node in nodes}


def untouched(cluster) -> dict:
    return {"pids": cluster.stack_pids(cluster.nodes), "conf": conf_hashes(cluster, cluster.nodes)}


@pytest.fixture(scope="module")
def marked(cluster, tmp_path_factory):
    """A second inventory source marking n4 and n5 for removal."""
    return cluster.overlay_inventory(
        tmp_path_factory.mktemp("remove"), {node: {"quorate_corosync_remove": True} for node in LEAVE}
    )


@pytest.fixture(scope="module")
def initial(cluster):
    assert cluster.nodes == STAY + LEAVE
    fields = cluster.quorum("n1")
    assert fields["Expected votes"] == "5" and fields["Total votes"] == "5", fields
    return untouched(cluster)


@pytest.fixture(scope="module")
def refused(cluster, initial, tmp_path_factory, marked):
    """Bad input, each refused before any node changes."""
    every = cluster.overlay_inventory(
        tmp_path_factory.mktemp("every"), {node: {"quorate_corosync_remove": True} for node in cluster.nodes}
    )
    runs = {
        "every host": cluster.playbook(REMOVE_NODES, "-i", every),
        # The bring-up never removes: a host marked for removal in its group is refused...
        "bring-up with a marked host": cluster.playbook(BRINGUP, "-i", marked),
        # ...and so is a member left out of its group (the reload would drop it while it runs).
        "bring-up without n5": cluster.playbook(BRINGUP, "-e", "quorate_hosts=n1:n2:n3:n4"),
        "not a boolean": cluster.playbook(REMOVE_NODES, "-e", "quorate_force_remove=maybe"),
    }
    return {"runs": runs, "after": untouched(cluster)}


@pytest.fixture(scope="module")
def previewed(cluster, initial, refused, marked):
    run = cluster.playbook(REMOVE_NODES, "-i", marked, "--check", "--diff")
    return {"run": run, "after": untouched(cluster)}


@pytest.fixture(scope="module")
def shrunk(cluster, initial, refused, previewed, marked):
    """remove_nodes on n4 and n5 while n1-n3 write and their quorum is sampled."""
    writers = [Writer(cluster, node) for node in STAY]
    time.sleep(3)  # writes are flowing before the cluster shrinks
    started = time.monotonic()
    with cluster.sampling_quorum(STAY) as sampler:
        run = cluster.playbook(REMOVE_NODES, "-i", marked)
        seconds = time.monotonic() - started
        time.sleep(3)  # and after n4 and n5 are gone
    for writer in writers:
        writer.stop()
    print(f"\nshrink 5 -> 3 nodes under load: remove_nodes {seconds:.1f}s, ", end="")
    print(f"{len(sampler.samples)} quorum samples; ", end="")
    print(", ".join(f"{w.node}: {len(w.acked)} writes acked, errors {w.summary.get('errors')}" for w in writers))
    return {"run": run, "after": cluster.stack_pids(STAY), "writers": writers, "sampler": sampler}


def test_bad_input_is_refused_naming_the_variable_before_any_change(initial, refused):
    expected = {
        "every host": "quorate_corosync_remove is set on every host of the group (n1, n2, n3, n4, n5)",
        "bring-up with a marked host": (
            "n4, n5: quorate_corosync_remove is set, and only the quorate.cluster.remove_nodes playbook removes nodes"
        ),
        "bring-up without n5": "node n5 (id 5) of the running cluster is not a host of this play",
        "not a boolean": "quorate_force_remove",
    }
    for case, run in refused["runs"].items():
        assert run.rc != 0, (case, run.tail())
        assert expected[case] in " ".join(run.output.split()), (case, run.tail())
        assert "Traceback" not in run.output, (case, run.tail())
    assert refused["after"] == initial


def test_check_mode_previews_the_nodelists_and_the_votes_and_changes_nothing(initial, previewed):
    run = previewed["run"]
    assert run.rc == 0, run.tail()
    assert "-        name: n4" in run.output and "-        name: n5" in run.output, run.tail()
    summary = " ".join(run.output.split())
    assert "remove n4 (stopped, cleaned) then n5 (stopped, cleaned), one corosync-cfgtool -R each" in summary
    assert "expected votes 5 -> 3, live votes 5 -> 3, quorum needs 3 -> 2; n1, n2, n3 restart nothing" in summary
    assert previewed["after"] == initial


def test_the_shrink_restarted_nothing_on_the_nodes_that_stay(initial, shrunk):
    assert shrunk["run"].rc == 0, shrunk["run"].tail()
    for node in STAY:
        assert shrunk["after"][node] == initial["pids"][node], f"{node}: a daemon was restarted"


def test_three_members_expected_votes_three_and_the_token_shrank(cluster, shrunk):
    for node in STAY:
        fields = cluster.quorum(node)
        assert fields["Quorate"] == "Yes", (node, fields)
        assert fields["Expected votes"] == "3" and fields["Total votes"] == "3", (node, fields)
        assert cluster.cmap_int(node, "runtime.config.totem.token") == TOKEN_3_NODES, node
        nodelist = cluster.check_output(node, "corosync-cmapctl -b nodelist.node | grep name")
        assert sorted(re.findall(r"= (n\d)", nodelist)) == STAY, (node, nodelist)


def test_the_removed_nodes_are_stopped_disabled_cleaned_and_marked(cluster, shrunk):
    for node in LEAVE:
        for unit in STACK:
            state = cluster.ssh(node, f"systemctl is-active {unit}; systemctl is-enabled {unit}").stdout.split()
            enabled = len(state) > 1 and state[1] == "enabled"
            assert state[0] in ("inactive", "unknown") and not enabled, (node, unit, state)
        present = [path for path in WRITTEN if cluster.ssh(node, f"test -e {path}").returncode == 0]
        assert not present, f"{node} still has {present}"
        marker = json.loads(cluster.check_output(node, "cat /var/lib/quorate/removed"))
        assert marker == {"cluster_name": "quorate", "nodeid": int(node[1:]), "name": node}, marker


def test_every_acknowledged_write_is_readable_on_the_nodes_that_stay(cluster, shrunk):
    assert_no_acknowledged_write_lost(cluster, STAY, shrunk["writers"])


def test_quorum_held_in_every_sample(shrunk):
    expected = assert_quorum_held(shrunk["sampler"], at_least=30)
    assert expected[0] == "5" and expected[-1] == "3", "the sampler did not see the cluster shrink"


def test_a_rerun_changes_nothing_and_says_already_removed(cluster, shrunk, marked):
    run = cluster.playbook(REMOVE_NODES, "-i", marked)
    assert run.rc == 0, run.tail()
    assert set(run.changed().values()) == {0}, run.tail()
    assert "already removed: n4, n5" in run.output, run.tail()
    assert cluster.stack_pids(STAY) == shrunk["after"]


def test_the_status_shows_the_removed_hosts_as_removed(cluster, shrunk, marked):
    run = cluster.playbook("quorate.cluster.status", "-i", marked)
    assert run.rc == 0, run.tail()
    said = " ".join(run.output.split())
    for node in LEAVE:
        removed = f"not a member: corosync is not running; removed from cluster quorate (node id {node[1:]})"
        assert removed in said, run.tail()
    assert said.count("members 1,2,3, quorate True") == len(STAY), run.tail()


def test_the_bringup_of_the_three_changes_nothing(cluster, shrunk):
    run = cluster.playbook(BRINGUP, "-e", "quorate_hosts=n1:n2:n3")
    assert run.rc == 0, run.tail()
    assert set(run.changed().values()) == {0}, run.tail()


# Last, on the cluster these tests leave (n1-n3 up, n4 and n5 removed): the whole cluster destroyed.
DESTROY = "quorate.cluster.destroy"


@pytest.fixture(scope="module")
def destroyed(cluster, shrunk):
    refused = cluster.playbook(DESTROY)
    wrong = cluster.playbook(DESTROY, "-e", "quorate_destroy_confirm=other")
    after_refusal = cluster.stack_pids(STAY)
    preview = cluster.playbook(DESTROY, "-e", "quorate_destroy_confirm=quorate", "--check")
    after_preview = cluster.stack_pids(STAY)
    run = cluster.playbook(DESTROY, "-e", "quorate_destroy_confirm=quorate")
    again = cluster.playbook(DESTROY, "-e", "quorate_destroy_confirm=quorate")
    return {
        "refused": refused,
        "wrong": wrong,
        "after_refusal": after_refusal,
        "preview": preview,
        "after_preview": after_preview,
        "run": run,
        "again": again,
    }


def test_destroy_is_refused_without_the_cluster_name(shrunk, destroyed):
    for run in (destroyed["refused"], destroyed["wrong"]):
        assert run.rc != 0, run.tail()
        assert "To go ahead, set quorate_destroy_confirm=quorate" in " ".join(run.output.split()), run.tail()
    assert "(it is other)" in " ".join(destroyed["wrong"].output.split())
    assert destroyed["after_refusal"] == shrunk["after"]


def test_destroy_in_check_mode_lists_and_changes_nothing(shrunk, destroyed):
    preview = destroyed["preview"]
    assert preview.rc == 0, preview.tail()
    assert all(preview.changed()[node] > 0 for node in STAY), preview.tail()
    assert destroyed["after_preview"] == shrunk["after"]


def test_destroy_stops_and_cleans_every_node_and_a_rerun_changes_nothing(cluster, destroyed):
    assert destroyed["run"].rc == 0, destroyed["run"].tail()
    for node in cluster.nodes:
        for unit in STACK:
            state = cluster.ssh(node, f"systemctl is-active {unit}").stdout.strip()
            assert state in ("inactive", "unknown"), (node, unit, state)
        present = [path for path in WRITTEN if cluster.ssh(node, f"test -e {path}").returncode == 0]
        assert not present, f"{node} still has {present}"
    again = destroyed["again"]
    assert again.rc == 0 and set(again.changed().values()) == {0}, again.tail()


def test_the_destroyed_nodes_can_be_brought_up_fresh(cluster, destroyed):
    run = cluster.playbook(BRINGUP, "-e", "quorate_hosts=n1:n2:n3")
    assert run.rc == 0, run.tail()
    fields = cluster.quorum("n1")
    assert fields["Quorate"] == "Yes" and fields["Total votes"] == "3", fields
    listed = cluster.check_output("n1", "quorate-ckpt list")
    assert "quorate:controld" in listed and "rolltest" not in listed, listed

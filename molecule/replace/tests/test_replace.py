"""Replacing a dead node: n3 of three is killed for good, removed without being contacted, and n4 added.

The scenario converges n1-n3 (group replace_initial). These tests check bad input first, kill n3's
container, show the rolling restart going past n3 once it is declared dead, then remove n3 (two nodes
remain: two_node is set by the reload) and add n4 with the bring-up, while n1 and n2 write checkpoint
sections (the shared Writer, molecule/conftest.py) and their quorum is sampled.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from conftest import STACK, Cluster, Writer, assert_no_acknowledged_write_lost, assert_quorum_held, quorum_fields

REMOVE_NODES = "quorate.cluster.remove_nodes"
BRINGUP = "quorate.cluster.bringup"
ROLLING_RESTART = "quorate.cluster.rolling_restart"
STAY = ["n1", "n2"]
INITIAL = "quorate_hosts=replace_initial"
# token 3000 + (3 - 2) x token_coefficient 650, as the effective_token filter computes it.
TOKEN_3_NODES = 3650


def one_line(run) -> str:
    return " ".join(run.output.split())


def wait_for_members(cluster, node: str, count: int, within: float = 60.0) -> float:
    """Seconds until ``node`` sees ``count`` members."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        fields = quorum_fields(cluster.ssh(node, "corosync-quorumtool -s").stdout)
        if fields.get("Total votes") == str(count):
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"{node} did not see {count} members within {within}s")


@pytest.fixture(scope="module")
def overlays(cluster, tmp_path_factory):
    """Second inventory sources, each setting host variables on top of molecule's inventory."""
    made = {
        "n4 marked": {"n4": {"quorate_corosync_remove": True}},
        "n3 dead": {"n3": {"quorate_corosync_dead": True}},
        "n3 dead, n2 marked": {"n3": {"quorate_corosync_dead": True}, "n2": {"quorate_corosync_remove": True}},
        "n2 dead": {"n2": {"quorate_corosync_dead": True}, "n3": {"quorate_corosync_dead": True}},
        "n3 dead and marked": {"n3": {"quorate_corosync_dead": True, "quorate_corosync_remove": True}},
    }
    return {
        name: cluster.overlay_inventory(tmp_path_factory.mktemp("overlay"), host_vars)
        for name, host_vars in made.items()
    }


@pytest.fixture(scope="module")
def initial(cluster):
    assert cluster.nodes == ["n1", "n2", "n3", "n4"]
    fields = cluster.quorum("n1")
    assert fields["Expected votes"] == "3" and fields["Total votes"] == "3", fields
    assert cluster.ssh("n4", "systemctl is-active --quiet corosync").returncode != 0, "n4 already runs corosync"
    return {"pids": cluster.stack_pids(["n1", "n2", "n3"])}


@pytest.fixture(scope="module")
def not_a_member(cluster, initial, overlays):
    run = cluster.playbook(REMOVE_NODES, "-i", overlays["n4 marked"])
    return {"run": run, "pids": cluster.stack_pids(["n1", "n2", "n3"])}


@pytest.fixture(scope="module")
def killed(cluster, initial, not_a_member):
    """n3's container killed: powered off for good, as far as the cluster can tell."""
    subprocess.run(["podman", "kill", Cluster.container("n3")], check=True, capture_output=True, timeout=60)
    seconds = wait_for_members(cluster, "n1", 2)
    print(f"\nn3 killed: n1 saw 2 members after {seconds:.1f}s")
    return seconds


@pytest.fixture(scope="module")
def refused_dead(cluster, killed, overlays):
    """Bad input with n3 dead, each refused before any node changes."""
    runs = {
        "quorum": cluster.playbook(REMOVE_NODES, "-i", overlays["n3 dead, n2 marked"], "-e", INITIAL),
        "dead member": cluster.playbook(REMOVE_NODES, "-i", overlays["n2 dead"], "-e", INITIAL),
        "bring-up": cluster.playbook(BRINGUP, "-i", overlays["n3 dead"], "-e", INITIAL),
        "roll, dead member": cluster.playbook(ROLLING_RESTART, "-i", overlays["n2 dead"], "-e", INITIAL),
    }
    return {"runs": runs, "pids": cluster.stack_pids(STAY)}


@pytest.fixture(scope="module")
def rolled(cluster, killed, refused_dead, overlays):
    """The rolling restart with n3 declared dead: nothing to restart, then forced."""
    plain = cluster.playbook(ROLLING_RESTART, "-i", overlays["n3 dead"], "-e", INITIAL)
    forced = cluster.playbook(
        ROLLING_RESTART, "-i", overlays["n3 dead"], "-e", INITIAL, "-e", "quorate_rolling_restart_force=true"
    )
    return {"plain": plain, "forced": forced, "pids": cluster.stack_pids(STAY)}


@pytest.fixture(scope="module")
def replaced(cluster, initial, killed, refused_dead, rolled, overlays):
    """remove_nodes on n3 (dead), then the bring-up with n4, while n1 and n2 write and are sampled."""
    writers = [Writer(cluster, node) for node in STAY]
    time.sleep(3)  # writes are flowing before the change
    with cluster.sampling_quorum(STAY) as sampler:
        started = time.monotonic()
        removed = cluster.playbook(REMOVE_NODES, "-i", overlays["n3 dead and marked"], "-e", INITIAL)
        remove_seconds = time.monotonic() - started
        two_nodes = {node: cluster.quorum(node) for node in STAY}
        started = time.monotonic()
        added = cluster.playbook(BRINGUP, "-e", "quorate_hosts=n1:n2:n4")
        add_seconds = time.monotonic() - started
        time.sleep(3)  # and after n4 is in
    for writer in writers:
        writer.stop()
    print(f"\nreplace n3 by n4 under load: remove_nodes {remove_seconds:.1f}s, bring-up {add_seconds:.1f}s, ", end="")
    print(f"{len(sampler.samples)} quorum samples; ", end="")
    print(", ".join(f"{w.node}: {len(w.acked)} writes acked, errors {w.summary.get('errors')}" for w in writers))
    return {
        "removed": removed,
        "added": added,
        "two_nodes": two_nodes,
        "writers": writers,
        "sampler": sampler,
        "after": cluster.stack_pids([*STAY, "n4"]),
    }


def test_removing_a_host_that_is_not_a_member_is_refused(initial, not_a_member):
    run = not_a_member["run"]
    assert run.rc != 0, run.tail()
    assert "n4: quorate_corosync_remove is set but n4 (node id 4) is not a node of the running cluster" in one_line(run)
    assert not_a_member["pids"] == initial["pids"]


def test_bad_input_with_a_dead_node_is_refused_before_any_change(initial, refused_dead):
    expected = {
        "quorum": "stopping n2 leaves 1 live vote(s) while 3 are expected, and quorum needs 2",
        "dead member": "n2: quorate_corosync_dead is set but node 2 is a member of the running cluster",
        "bring-up": "n3: quorate_corosync_dead is set, and this playbook needs every node of the group",
        "roll, dead member": "node(s) 2 declared dead (quorate_corosync_dead) are members of the running cluster",
    }
    for case, run in refused_dead["runs"].items():
        assert run.rc != 0, (case, run.tail())
        assert expected[case] in one_line(run), (case, run.tail())
        assert "UNREACHABLE" not in run.output, (case, "the dead node was contacted", run.tail())
    assert refused_dead["pids"] == {node: initial["pids"][node] for node in STAY}


def test_the_rolling_restart_goes_past_the_dead_node(initial, rolled):
    plain = rolled["plain"]
    assert plain.rc == 0, plain.tail()
    assert set(plain.recap) == set(STAY), "the dead node was in the play"
    assert set(plain.changed().values()) == {0}, plain.tail()
    forced = rolled["forced"]
    # With one of three nodes dead, no other may stop: the roll stops at once, saying why, nothing touched.
    assert forced.rc != 0, forced.tail()
    assert "would lose quorum: 2 votes present, this node has 1, quorum needs 2" in one_line(forced), forced.tail()
    assert "UNREACHABLE" not in forced.output, forced.tail()
    assert rolled["pids"] == {node: initial["pids"][node] for node in STAY}


def test_the_dead_node_was_removed_without_contact_and_two_node_set_live(replaced):
    run = replaced["removed"]
    assert run.rc == 0, run.tail()
    assert "n3" not in run.recap and "UNREACHABLE" not in run.output, run.tail()
    assert "remove n3 (declared dead, not contacted)" in one_line(run), run.tail()
    for node, fields in replaced["two_nodes"].items():
        assert fields["Quorate"] == "Yes" and fields["Expected votes"] == "2", (node, fields)
        assert "2Node" in fields["Flags"], (node, fields)


def test_n4_joined_in_n3s_place_and_nothing_restarted_on_n1_n2(cluster, initial, replaced):
    assert replaced["added"].rc == 0, replaced["added"].tail()
    for node in STAY:
        assert replaced["after"][node] == initial["pids"][node], f"{node}: a daemon was restarted"
    for unit in STACK:
        assert replaced["after"]["n4"][unit] > 0, f"n4: {unit} is not running"
    for node in [*STAY, "n4"]:
        fields = cluster.quorum(node)
        assert fields["Quorate"] == "Yes" and fields["Expected votes"] == "3", (node, fields)
        assert fields["Total votes"] == "3" and "2Node" not in fields["Flags"], (node, fields)
        assert cluster.cmap_int(node, "runtime.config.totem.token") == TOKEN_3_NODES, node
    ready = json.loads(cluster.check_output("n4", "cat /run/quorate/controld.json"))
    assert ready["first"] is False and ready["daemon_protocol"] == [1, 0], ready


def test_every_acknowledged_write_is_readable_on_the_three(cluster, replaced):
    assert_no_acknowledged_write_lost(cluster, [*STAY, "n4"], replaced["writers"])


def test_quorum_held_in_every_sample(replaced):
    expected = assert_quorum_held(replaced["sampler"], at_least=20)
    assert expected[0] == "3" and "2" in expected and expected[-1] == "3", "the sampler did not see 3 -> 2 -> 3"


def test_reruns_change_nothing(cluster, replaced, overlays):
    # The whole group now: n3 declared dead and removed (already out), n4 a member.
    removed = cluster.playbook(REMOVE_NODES, "-i", overlays["n3 dead and marked"])
    assert removed.rc == 0, removed.tail()
    assert set(removed.changed().values()) == {0}, removed.tail()
    assert "already removed: n3" in one_line(removed), removed.tail()
    added = cluster.playbook(BRINGUP, "-e", "quorate_hosts=n1:n2:n4")
    assert added.rc == 0, added.tail()
    assert set(added.changed().values()) == {0}, added.tail()
    assert cluster.stack_pids([*STAY, "n4"]) == replaced["after"]


def test_a_live_change_while_corosync_versions_differ_is_refused_before_any_change(cluster, replaced):
    # n1's corosync binary replaced as a package upgrade replaces it (a new file in its place): the running
    # corosync still maps the old one until it restarts, so n1 runs a version other than the installed one.
    cluster.check_output(
        "n1", "cp -p /usr/sbin/corosync /usr/sbin/corosync.new && mv /usr/sbin/corosync.new /usr/sbin/corosync"
    )
    nodes = [*STAY, "n4"]
    confs = {node: cluster.check_output(node, "sha256sum /etc/corosync/corosync.conf") for node in nodes}
    totem = {
        "token": 4000,
        "token_coefficient": 650,
        "join": 50,
        "token_retransmits_before_loss_const": 4,
        "crypto_cipher": "aes256",
        "crypto_hash": "sha256",
    }
    run = cluster.playbook(BRINGUP, "-e", "quorate_hosts=n1:n2:n4", "-e", json.dumps({"quorate_corosync_totem": totem}))
    assert run.rc != 0, run.tail()
    said = one_line(run)
    assert "would change live (totem.token)" in said, run.tail()
    assert "n1 still run(s) the corosync binary replaced since it started" in said, run.tail()
    assert "corosync-cfgtool -R across versions is unsupported" in said, run.tail()
    assert {node: cluster.check_output(node, "sha256sum /etc/corosync/corosync.conf") for node in nodes} == confs
    assert cluster.stack_pids(nodes) == replaced["after"]

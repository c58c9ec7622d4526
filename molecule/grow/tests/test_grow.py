"""Growing a running cluster from 3 to 5 nodes with the bring-up, under load.

The scenario converges n1-n3 (group grow_initial); these tests run quorate.cluster.bringup on all five
while n1-n3 keep writing checkpoint sections and their quorum is sampled (fixtures in ../../conftest.py).
The writer is the shared one (molecule/conftest.py Writer, running rolling_restart's ckpt_writer.py).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from conftest import STACK, Writer, assert_no_acknowledged_write_lost, assert_quorum_held

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
BRINGUP = str(REPO / "playbooks" / "bringup.yml")
OLD, NEW = ["n1", "n2", "n3"], ["n4", "n5"]
# token 3000 + (5 - 2) x token_coefficient 650, as the effective_token filter computes it.
TOKEN_5_NODES = 4950


def reload_to_members(cluster) -> str:
    """From the reload to 5 members, as n1's corosync logged them."""
    journal = cluster.check_output("n1", "journalctl --no-pager -o short-unix -u corosync")
    reload = next((line for line in journal.splitlines() if "Config reload requested" in line), None)
    if reload is None:
        return "no reload in n1's corosync log"
    after = journal[journal.index(reload) :].splitlines()
    five = next((line for line in after if "Members[5]:" in line), None)
    if five is None:
        return "5 members not in n1's corosync log"
    return f"reload -> 5 members {float(five.split()[0]) - float(reload.split()[0]):.1f}s"


def conf_hashes(cluster, nodes: list) -> dict[str, str]:
    return {node: cluster.check_output(node, "sha256sum /etc/corosync/corosync.conf") for node in nodes}


@pytest.fixture(scope="module")
def initial(cluster):
    """The converged three-node cluster, before anything else runs."""
    assert cluster.nodes == OLD + NEW
    fields = cluster.quorum("n1")
    assert fields["Expected votes"] == "3" and fields["Total votes"] == "3", fields
    for node in NEW:
        running = cluster.ssh(node, "systemctl is-active --quiet corosync").returncode == 0
        assert not running, f"{node} already runs corosync"
    return {"pids": cluster.stack_pids(OLD), "conf": conf_hashes(cluster, OLD)}


@pytest.fixture(scope="module")
def refused(cluster, initial, tmp_path_factory):
    """n4 given n3's node id while n3 is left out of the play: the running nodelist has it."""
    # A second inventory source with its own host_vars: molecule's inventory keeps n4's other variables,
    # and host_vars files outrank host variables written in an inventory file.
    inventory = tmp_path_factory.mktemp("collide")
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    n4:\n")
    (inventory / "host_vars").mkdir()
    (inventory / "host_vars" / "n4.yml").write_text("quorate_corosync_nodeid: 3\n")
    shown = subprocess.run(
        ["ansible-inventory", "-i", cluster.inventory, "-i", str(inventory), "--host", "n4"],
        capture_output=True,
        text=True,
        check=True,
    )
    # Otherwise the run below would really change the cluster: stop before it.
    assert json.loads(shown.stdout)["quorate_corosync_nodeid"] == 3, shown.stdout
    run = cluster.playbook(BRINGUP, "-i", str(inventory), "-e", "quorate_hosts=n1:n2:n4")
    return {"run": run, "pids": cluster.stack_pids(OLD), "conf": conf_hashes(cluster, OLD)}


@pytest.fixture(scope="module")
def previewed(cluster, initial, refused):
    """The grow in check mode with --diff: the nodelist diff shown, nothing applied."""
    run = cluster.playbook(BRINGUP, "--check", "--diff")
    return {"run": run, "pids": cluster.stack_pids(OLD), "conf": conf_hashes(cluster, OLD)}


@pytest.fixture(scope="module")
def grown(cluster, initial, refused, previewed):
    """The bring-up on all five nodes while n1-n3 write and their quorum is sampled."""
    writers = [Writer(cluster, node) for node in OLD]
    time.sleep(3)  # writes are flowing before the cluster grows
    started = time.monotonic()
    with cluster.sampling_quorum(OLD) as sampler:
        run = cluster.playbook(BRINGUP)
        seconds = time.monotonic() - started
        time.sleep(3)  # and after the new nodes are in
    for writer in writers:
        writer.stop()
    if run.rc != 0:  # what the new nodes' daemons said, for the failure message
        for node in NEW:
            journal = cluster.ssh(node, "journalctl --no-pager -o short-precise -u quorate-ckptd -u quorate-controld")
            print(f"\n--- {node}: journal of quorate-ckptd and quorate-controld\n{journal.stdout[-6000:]}")
    print(f"\ngrow 3 -> 5 nodes under load: bring-up {seconds:.1f}s, {reload_to_members(cluster)}, ", end="")
    print(f"{len(sampler.samples)} quorum samples; ", end="")
    print(", ".join(f"{w.node}: {len(w.acked)} writes acked, errors {w.summary.get('errors')}" for w in writers))
    return {"run": run, "after": cluster.stack_pids(cluster.nodes), "writers": writers, "sampler": sampler}


def test_a_new_node_with_a_live_members_node_id_is_refused_before_any_change(initial, refused):
    run = refused["run"]
    assert run.rc != 0, run.tail()
    assert "n4: quorate_corosync_nodeid 3 is node n3" in run.output, run.tail()
    assert refused["pids"] == initial["pids"]
    assert refused["conf"] == initial["conf"]


def test_check_mode_previews_the_added_nodes_and_changes_nothing(initial, previewed):
    run = previewed["run"]
    assert run.rc == 0, run.tail()
    assert "+        name: n4" in run.output and "+        name: n5" in run.output, run.tail()
    said = " ".join(run.output.split())
    assert "nodelist (adds n4 (id 4), n5 (id 5)): applied with one corosync-cfgtool -R on n1" in said, run.tail()
    assert "expected votes 3 -> 5; the members restart nothing" in said, run.tail()
    assert previewed["pids"] == initial["pids"]
    assert previewed["conf"] == initial["conf"]


def test_the_grow_restarted_nothing_on_the_members(initial, grown):
    assert grown["run"].rc == 0, grown["run"].tail()
    for node in OLD:
        assert grown["after"][node] == initial["pids"][node], f"{node}: a daemon was restarted"
    for node in NEW:
        for unit in STACK:
            assert grown["after"][node][unit] > 0, f"{node}: {unit} is not running"


def test_five_members_expected_votes_five_and_the_token_grew(cluster, grown):
    for node in cluster.nodes:
        fields = cluster.quorum(node)
        assert fields["Quorate"] == "Yes", (node, fields)
        assert fields["Expected votes"] == "5" and fields["Total votes"] == "5", (node, fields)
        assert cluster.cmap_int(node, "runtime.config.totem.token") == TOKEN_5_NODES, node


def test_the_new_nodes_controld_joined_the_running_protocol(cluster, grown):
    for node in NEW:
        ready = json.loads(cluster.check_output(node, "cat /run/quorate/controld.json"))
        assert ready["first"] is False, (node, ready)
        assert ready["daemon_protocol"] == [1, 0], (node, ready)


def test_every_acknowledged_write_is_readable_on_all_five(cluster, grown):
    assert_no_acknowledged_write_lost(cluster, cluster.nodes, grown["writers"])


def test_quorum_held_in_every_sample(grown):
    grew = assert_quorum_held(grown["sampler"], at_least=30)
    assert grew[0] == "3" and grew[-1] == "5", "the sampler did not see the cluster grow"


def test_a_rerun_changes_nothing(cluster, grown):
    run = cluster.playbook(BRINGUP)
    assert run.rc == 0, run.tail()
    assert set(run.changed().values()) == {0}, run.tail()
    assert cluster.stack_pids(cluster.nodes) == grown["after"]

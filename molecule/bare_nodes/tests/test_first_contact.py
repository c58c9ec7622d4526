"""What a user meets on their own nodes after the first bring-up: where corosync came from, a corosync
someone else configured, an inventory whose group is not the one the playbooks look for.

The cluster was converged from bare nodes (the shared checks in molecule/resources/tests ran first).
Each case here ends with the cluster whole again, and the last one with a run that changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

BRINGUP = "quorate.cluster.bringup"
TAKEN_OVER = "n3"
# Another tool's two-node cluster that TAKEN_OVER belongs to; its peer does not exist.
FOREIGN_PEER = "10.89.89.99"
FOREIGN_CONF = """totem {{
    version: 2
    cluster_name: other
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}}
nodelist {{
    node {{
        name: {node}
        nodeid: 3
        ring0_addr: {addr}
    }}
    node {{
        name: elsewhere
        nodeid: 9
        ring0_addr: {peer}
    }}
}}
quorum {{
    provider: corosync_votequorum
}}
"""
STACK_DOWN = "systemctl stop quorate-controld quorate-ckptd corosync"


def members(cluster, node: str) -> list[int]:
    """Node ids in the membership table of ``corosync-quorumtool -s`` (rc 2 when not quorate)."""
    out = cluster.check_output(node, "corosync-quorumtool -s; true")
    table = out.split("Nodeid", 1)[-1].splitlines()[1:]
    return sorted(int(line.split()[0]) for line in table if line.split() and line.split()[0].isdigit())


def whole(cluster) -> bool:
    status = cluster.on_every_node(lambda node: json.loads(cluster.check_output(node, "quorate-ckpt --json status")))
    return all(s["synced"] and len(s["members"]) == len(cluster.nodes) for s in status.values())


def test_the_playbooks_come_from_the_installed_tarball_not_the_checkout():
    listing = subprocess.run(
        ["ansible-galaxy", "collection", "list", "quorate.cluster", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "collections" / "ansible_collections"
    assert list(json.loads(listing)) == [str(installed)], listing


def test_corosync_came_from_the_repository_the_role_was_given(cluster):
    for node in cluster.nodes:
        policy = cluster.check_output(node, "apt-cache policy corosync")
        assert "Installed: 3." in policy, policy
        assert "http://10.89.89.1:8080 ./" in policy, policy
        # Debian's package started corosync with its own configuration; ours replaced it in the same run.
        conf = cluster.check_output(node, "head -1 /etc/corosync/corosync.conf")
        assert conf.startswith("# Managed by the quorate.cluster.corosync role"), conf
        assert cluster.check_output(node, "corosync-cmapctl -g totem.cluster_name").split("= ")[-1].strip() == "quorate"


def test_a_node_of_another_cluster_stops_the_bringup_before_any_node_changes(cluster):
    addr = cluster.hostvars[TAKEN_OVER]["quorate_corosync_addrs"][0]
    foreign = FOREIGN_CONF.format(node=TAKEN_OVER, addr=addr, peer=FOREIGN_PEER)
    cluster.check_output(
        TAKEN_OVER, f"{STACK_DOWN} && cat > /etc/corosync/corosync.conf <<'EOF'\n{foreign}EOF\nsystemctl start corosync"
    )
    before = cluster.on_every_node(cluster.snapshot)
    run = cluster.playbook(BRINGUP)
    assert run.rc != 0, run.tail()
    assert f"corosync on {TAKEN_OVER} (cluster 'other', nodelist {addr}, {FOREIGN_PEER})" in run.output, run.tail()
    assert "quorate_corosync_takeover: true" in run.output, run.tail()
    assert "Traceback" not in run.output, run.tail()
    assert run.changed() == dict.fromkeys(cluster.nodes, 0), run.tail()
    assert cluster.on_every_node(cluster.snapshot) == before


def test_takeover_replaces_it_without_restarting_the_others(cluster):
    others = [node for node in cluster.nodes if node != TAKEN_OVER]
    pids = {node: cluster.main_pid(node, "corosync") for node in others}
    run = cluster.playbook(BRINGUP, "-e", "quorate_corosync_takeover=true")
    assert run.rc == 0, run.tail()
    assert {node for node, count in run.changed().items() if count} == {TAKEN_OVER}, run.tail()
    assert {node: cluster.main_pid(node, "corosync") for node in others} == pids
    assert members(cluster, TAKEN_OVER) == [1, 2, 3]
    assert whole(cluster)


def test_the_packages_own_configuration_running_is_replaced_without_being_asked(cluster):
    # What a node looks like after `apt-get install corosync` by hand: a one-node cluster on 127.0.0.1.
    cluster.check_output(
        TAKEN_OVER,
        f"{STACK_DOWN} && dpkg-deb --fsys-tarfile /var/cache/apt/archives/corosync_*.deb"
        " | tar -xO ./etc/corosync/corosync.conf > /etc/corosync/corosync.conf && systemctl start corosync",
    )
    assert "debian" in cluster.check_output(TAKEN_OVER, "corosync-cmapctl -g totem.cluster_name")
    run = cluster.playbook(BRINGUP)
    assert run.rc == 0, run.tail()
    assert members(cluster, TAKEN_OVER) == [1, 2, 3]
    assert whole(cluster)


@pytest.mark.parametrize("extra", [[], ["-e", "quorate_hosts=quorate"]], ids=["default group", "quorate_hosts"])
def test_an_inventory_without_the_clusters_group_fails_naming_it(cluster, tmp_path: Path, extra):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  children:\n    quorate_nodes:\n      hosts:\n        n1: {}\n")
    run = cluster.playbook(BRINGUP, *extra, inventory=str(inventory))
    group = "quorate" if extra else "quorate_cluster"
    assert run.rc != 0, run.tail()
    assert f"no host in the inventory matches {group}" in run.output, run.tail()
    assert "Traceback" not in run.output, run.tail()


def test_a_second_run_changes_nothing(cluster):
    run = cluster.playbook(BRINGUP)
    assert run.rc == 0 and run.changed() == dict.fromkeys(cluster.nodes, 0), run.tail()

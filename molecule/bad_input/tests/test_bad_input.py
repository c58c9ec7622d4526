"""Bad input stops the bring-up before any node changes, and the failure names the variable to fix.

The cluster was converged with good input. Each case runs the bring-up (its first role is
quorate.cluster.preflight) on a copy of the inventory with one mistake an operator could make. The run
must fail, name the variable, report changed=0, and leave every node exactly as it was: configuration,
authkey, unit files and links, node programs, daemon PIDs, runtime totem values.

Mistakes outside the totem settings come with a valid token change: a bring-up that checked them only
after corosync was configured would have written and reloaded that token before failing.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

VALIDATED_BRINGUP = "quorate.cluster.bringup"  # runs the preflight role first
VALID_TOKEN_CHANGE = 4000


def totem(**values):
    def change(hosts: dict) -> None:
        for hostvars in hosts.values():
            hostvars["quorate_corosync_totem"].update(values)

    return change


def on_host(host: str, **values):
    def change(hosts: dict) -> None:
        hosts[host].update(values)

    return change


def on_every_host(**values):
    def change(hosts: dict) -> None:
        for hostvars in hosts.values():
            hostvars.update(values)

    return change


def totem_on(host: str, **values):
    def change(hosts: dict) -> None:
        hosts[host]["quorate_corosync_totem"] = dict(hosts[host]["quorate_corosync_totem"], **values)

    return change


def without(host: str, name: str):
    def change(hosts: dict) -> None:
        del hosts[host][name]

    return change


def same_addrs_as(host: str, other: str):
    def change(hosts: dict) -> None:
        hosts[host]["quorate_corosync_addrs"] = list(hosts[other]["quorate_corosync_addrs"])

    return change


# (id, mistake, what the failure must say)
CASES = [
    ("token-zero", totem(token=0), ["quorate_corosync_totem.token: 0 must be a positive integer"]),
    ("token-with-a-unit", totem(token="3s"), ["quorate_corosync_totem.token: '3s' must be a positive integer"]),
    (
        "consensus-below-1.2-x-token",
        totem(consensus=3500),
        ["quorate_corosync_totem.consensus: 3500 is below 1.2 x the effective token"],
    ),
    (
        # Host-specific: a cluster-wide setting that one host holds differently (here also invalid).
        "token-zero-on-one-host",
        totem_on("n3", token=0),
        ["quorate_corosync_totem must be the same on every host of the cluster", "n3: {"],
    ),
    ("nodeid-used-twice", on_host("n3", quorate_corosync_nodeid=1), ["quorate_corosync_nodeid: 1 is used by n1, n3"]),
    (
        "nodeid-missing",
        without("n2", "quorate_corosync_nodeid"),
        ["missing required arguments: quorate_corosync_nodeid"],
    ),
    ("addrs-missing", without("n2", "quorate_corosync_addrs"), ["missing required arguments: quorate_corosync_addrs"]),
    ("addr-is-a-hostname", on_host("n2", quorate_corosync_addrs=["n2"]), ["quorate_corosync_addrs: 'n2' is not an IP"]),
    ("addr-used-twice", same_addrs_as("n3", "n1"), ["quorate_corosync_addrs: 10.89.85.11 is used by n1, n3"]),
    (
        "unknown-controld-daemon",
        on_every_host(quorate_controld_daemons=["quorate-controld", "ocfs2_controld"]),
        ["quorate_controld_daemons: unknown daemon 'ocfs2_controld'"],
    ),
    (
        "dlm_controld-without-kernel-dlm",
        on_every_host(quorate_controld_daemons=["dlm_controld", "quorate-controld"]),
        ["dlm_controld needs the kernel DLM", "quorate_controld_dlm_unsupported: skip"],
    ),
    (
        "dlm-unsupported-not-a-choice",
        on_every_host(quorate_controld_dlm_unsupported="ignore"),
        ["quorate_controld_dlm_unsupported must be one of: fail, skip"],
    ),
    (
        # Host-specific: the check must look at every host, not only at the first one's values.
        "controld-retention-negative-on-one-host",
        on_host("n3", quorate_controld_local_retention=-1),
        ["quorate_controld_local_retention: -1 must be a non-negative number"],
    ),
    (
        "checkpoint-prefix-too-long",
        on_every_host(quorate_controld_checkpoint_prefix="quorate:" + "x" * 250),
        ["quorate_controld_checkpoint_prefix:"],
    ),
    (
        "ckptd-timeout-not-a-number",
        on_every_host(quorate_ckptd_wait_timeout="1m"),
        ["quorate_ckptd_wait_timeout", "unable to convert to int"],
    ),
]


def inventory_with(cluster, mistake, directory: Path) -> str:
    """The molecule inventory as one file, with the valid token change and then the mistake."""
    hosts = {
        node: {key: value for key, value in copy.deepcopy(cluster.hostvars[node]).items() if "molecule" not in key}
        for node in cluster.nodes
    }
    totem(token=VALID_TOKEN_CHANGE)(hosts)
    mistake(hosts)
    path = directory / "inventory.json"  # JSON is YAML: the yaml inventory plugin reads it
    path.write_text(json.dumps({"all": {"children": {"quorate_cluster": {"hosts": hosts}}}}, indent=2))
    return str(path)


@pytest.fixture(scope="module")
def converged(cluster) -> dict:
    """Every node's snapshot after the good converge."""
    snapshots = cluster.on_every_node(cluster.snapshot)
    for node, snapshot in snapshots.items():
        assert "missing" not in snapshot.values(), (node, snapshot)
        assert all(int(pid) > 0 for key, pid in snapshot.items() if key.startswith("MainPID")), (node, snapshot)
    return snapshots


@pytest.mark.parametrize("mistake, says", [pytest.param(m, s, id=i) for i, m, s in CASES])
def test_a_mistake_fails_naming_the_variable_and_changes_no_node(cluster, converged, mistake, says, tmp_path):
    run = cluster.playbook(VALIDATED_BRINGUP, inventory=inventory_with(cluster, mistake, tmp_path))
    assert run.rc != 0, run.tail()
    for text in says:
        assert text in run.output, run.tail()
    assert run.changed() == dict.fromkeys(cluster.nodes, 0), run.tail()
    assert "TASK [quorate.cluster.corosync : Write corosync.conf]" not in run.output, run.tail()
    assert cluster.on_every_node(cluster.snapshot) == converged


# A role checks its own input when no preflight role checked these values before it in the play: run
# alone, or given other values (role vars) than the ones the preflight role passed.
PREFLIGHT = {"role": "quorate.cluster.preflight"}
ROLE_CASES = [
    (
        "corosync-alone",
        [{"role": "quorate.cluster.corosync"}],
        totem(token=0),
        ["quorate.cluster.corosync: quorate_corosync_totem.token: 0 must be a positive integer"],
    ),
    (
        "controld-alone",
        [{"role": "quorate.cluster.controld"}],
        on_every_host(quorate_controld_daemons=["quorate-controld", "ocfs2_controld"]),
        ["quorate.cluster.controld: quorate_controld_daemons: unknown daemon 'ocfs2_controld'"],
    ),
    (
        "corosync-role-vars-after-the-preflight-role",
        [PREFLIGHT, {"role": "quorate.cluster.corosync", "vars": {"quorate_corosync_totem": {"token": 0}}}],
        totem(),
        ["quorate.cluster.corosync: quorate_corosync_totem.token: 0 must be a positive integer"],
    ),
    (
        "controld-role-vars-after-the-preflight-role",
        [PREFLIGHT, {"role": "quorate.cluster.controld", "vars": {"quorate_controld_fs_name": "Not-A-Name"}}],
        totem(),
        ["quorate.cluster.controld: quorate_controld_fs_name: 'Not-A-Name' must be"],
    ),
]


@pytest.mark.parametrize("roles, mistake, says", [pytest.param(r, m, s, id=i) for i, r, m, s in ROLE_CASES])
def test_a_role_checks_what_no_preflight_role_passed_before_it(cluster, converged, roles, mistake, says, tmp_path):
    play = [{"name": "Roles", "hosts": "quorate_cluster", "gather_facts": False, "roles": roles}]
    playbook = tmp_path / "roles.yml"
    playbook.write_text(json.dumps(play))
    run = cluster.playbook(str(playbook), inventory=inventory_with(cluster, mistake, tmp_path))
    assert run.rc != 0, run.tail()
    for text in says:
        assert text in run.output, run.tail()
    assert run.changed() == dict.fromkeys(cluster.nodes, 0), run.tail()
    assert cluster.on_every_node(cluster.snapshot) == converged


def test_the_good_inventory_still_passes_and_changes_nothing(cluster, converged):
    """Also proves the checks above failed for their mistake, not for any input."""
    run = cluster.playbook(VALIDATED_BRINGUP)
    assert run.rc == 0, run.tail()
    assert run.changed() == dict.fromkeys(cluster.nodes, 0), run.tail()
    assert cluster.on_every_node(cluster.snapshot) == converged
    # The roles did not check again what the preflight role had passed.
    assert run.output.count("TASK [quorate.cluster.controld : Preflight | Check the controld settings") == 1, run.tail()

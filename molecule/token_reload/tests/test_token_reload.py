"""A live token change: the bring-up re-run with a new token reloads corosync on every node, restarts nothing.

The cluster was converged with token 3000. These tests run in file order and share one re-run of the
bring-up with token 10000 (module fixtures): before it, every node's runtime totem values and daemon
PIDs are recorded and a thread samples `corosync-quorumtool -s` on the nodes while it runs.
"""

from __future__ import annotations

import json

import pytest

NEW_TOKEN = 10000
DAEMONS = ("corosync", "quorate-ckptd", "quorate-controld")


def effective_token(totem: dict, nodes: int) -> int:
    """corosync.conf(5): with 3 or more nodes the runtime token adds (nodes - 2) x token_coefficient."""
    return totem["token"] + max(0, nodes - 2) * totem.get("token_coefficient", 650)


def runtime_state(cluster, node: str) -> dict:
    return {
        "token": cluster.cmap_int(node, "runtime.config.totem.token"),
        "consensus": cluster.cmap_int(node, "runtime.config.totem.consensus"),
        "pids": {unit: cluster.main_pid(node, unit) for unit in DAEMONS},
    }


@pytest.fixture(scope="module")
def converged_totem(cluster) -> dict:
    return cluster.hostvars[cluster.nodes[0]]["quorate_corosync_totem"]


@pytest.fixture(scope="module")
def new_totem_vars(converged_totem, tmp_path_factory):
    """Extra vars: the converged totem settings with the new token (consensus left to corosync)."""
    assert "consensus" not in converged_totem or converged_totem["consensus"] is None
    path = tmp_path_factory.mktemp("token_reload") / "new_totem.json"
    path.write_text(json.dumps({"quorate_corosync_totem": dict(converged_totem, token=NEW_TOKEN)}))
    return f"@{path}"


@pytest.fixture(scope="module")
def before(cluster) -> dict:
    return cluster.on_every_node(lambda node: runtime_state(cluster, node))


@pytest.fixture(scope="module")
def reload_run(cluster, before, new_totem_vars):
    """The bring-up with the new token, while the nodes' quorum is sampled; then the state it left."""
    with cluster.sampling_quorum() as sampler:
        run = cluster.playbook("quorate.cluster.bringup", "-e", new_totem_vars)
    after = cluster.on_every_node(lambda node: runtime_state(cluster, node))
    return run, sampler.samples, after


def test_before_the_change_the_runtime_token_is_the_converged_one(cluster, before, converged_totem):
    expected = effective_token(converged_totem, len(cluster.nodes))
    assert {node: state["token"] for node, state in before.items()} == dict.fromkeys(cluster.nodes, expected)


def test_the_bringup_with_the_new_token_succeeds_and_reloads_once(cluster, reload_run):
    run, _samples, _after = reload_run
    assert run.rc == 0, run.tail()
    assert sorted(run.recap) == cluster.nodes and all(run.changed().values()), run.tail()
    assert "Apply a live-reloadable change with corosync-cfgtool -R" in run.output
    assert "changed: [" in run.output.split("corosync-cfgtool -R", 1)[1].split("TASK [", 1)[0], run.tail()


def test_every_node_runs_the_new_effective_token(cluster, reload_run, converged_totem):
    _run, _samples, after = reload_run
    expected = effective_token(dict(converged_totem, token=NEW_TOKEN), len(cluster.nodes))
    assert {node: state["token"] for node, state in after.items()} == dict.fromkeys(cluster.nodes, expected)


def test_every_node_runs_the_consensus_that_follows_the_new_token(cluster, before, reload_run, converged_totem):
    _run, _samples, after = reload_run
    # consensus is unset, so corosync derives it: 1.2 x the effective token.
    expected = int(1.2 * effective_token(dict(converged_totem, token=NEW_TOKEN), len(cluster.nodes)))
    assert {node: state["consensus"] for node, state in after.items()} == dict.fromkeys(cluster.nodes, expected)
    assert all(before[node]["consensus"] != expected for node in cluster.nodes)


def test_every_node_has_the_new_token_in_its_file(cluster, reload_run):
    for node in cluster.nodes:
        conf = cluster.check_output(node, "cat /etc/corosync/corosync.conf")
        assert f"    token: {NEW_TOKEN}\n" in conf, node


def test_nothing_was_restarted(before, reload_run):
    _run, _samples, after = reload_run
    assert {node: state["pids"] for node, state in after.items()} == {
        node: state["pids"] for node, state in before.items()
    }


def test_the_cluster_stayed_quorate_while_the_token_changed(cluster, reload_run):
    _run, samples, _after = reload_run
    assert samples, "no quorum sample was taken while the bring-up ran"
    members = f"Nodes:            {len(cluster.nodes)}"
    lost = [(node, rc, out) for node, rc, out in samples if rc != 0 or "Quorate:          Yes" not in out]
    assert not lost, f"{len(lost)} of {len(samples)} samples not quorate, first: {lost[0]}"
    assert all(members in out for _node, _rc, out in samples)


def test_a_further_run_with_the_new_token_changes_nothing(cluster, reload_run, new_totem_vars):
    run = cluster.playbook("quorate.cluster.bringup", "-e", new_totem_vars)
    assert run.rc == 0, run.tail()
    assert run.changed() == dict.fromkeys(cluster.nodes, 0), run.tail()

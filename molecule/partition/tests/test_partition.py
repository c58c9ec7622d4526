"""A link cut during a rolling restart: a bounded, explained stop; the majority keeps quorum; it heals.

The first node of the rolling restart (serial: 1, so n1) loses its corosync link (``ip link set
eth1 down`` inside its container: the scenario gives corosync its own network, as production
clusters have, so Ansible still reaches the node) while the play restarts it. Its corosync
barrier cannot complete; the play must stop at n1 naming what is missing, leave n2 and n3
untouched and quorate, and a run after the link is back must finish the job.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Cluster, PlaybookRun, is_quorate

REPO = Path(__file__).resolve().parents[3]
ROLLING_RESTART = str(REPO / "playbooks" / "rolling_restart.yml")
STACK = ("corosync", "quorate-ckptd", "quorate-controld")
# Short barriers: the failure must come in seconds, not in the default two minutes.
FAST_FAIL = ("-e", "quorate_corosync_wait_timeout=20", "-e", "quorate_rolling_restart_health_timeout=20")


def set_link(node: str, state: str) -> None:
    subprocess.run(
        ["podman", "exec", Cluster.container(node), "ip", "link", "set", "eth1", state], check=True, timeout=60
    )


def stack_pids(cluster) -> dict:
    return cluster.on_every_node(lambda node: {unit: cluster.main_pid(node, unit) for unit in STACK})


def rolling_restart_cutting_link(cluster, node: str) -> tuple[PlaybookRun, float]:
    """Force a rolling restart; cut ``node``'s link as soon as the play starts stopping its services."""
    argv = ["ansible-playbook", "-i", cluster.inventory, ROLLING_RESTART, "-e", "quorate_rolling_restart_force=true"]
    proc = subprocess.Popen(
        [*argv, *FAST_FAIL], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    cut_at = None
    for line in proc.stdout:
        lines.append(line)
        # The task comes from the rolling_restart role (TASK [quorate.cluster.rolling_restart : Stop ...]).
        if cut_at is None and line.startswith("TASK [") and "Stop the services, top-down]" in line:
            set_link(node, "down")
            cut_at = time.monotonic()
    proc.wait(timeout=600)
    assert cut_at is not None, "the play never reached a restart:\n" + "".join(lines[-40:])
    run = PlaybookRun.from_process(subprocess.CompletedProcess(argv, proc.returncode, "".join(lines), ""))
    return run, time.monotonic() - cut_at


@pytest.fixture(scope="module")
def partitioned(cluster):
    cut, others = cluster.nodes[0], cluster.nodes[1:]
    before = stack_pids(cluster)
    with cluster.sampling_quorum() as sampler:
        run, stop_seconds = rolling_restart_cutting_link(cluster, cut)
        majority = {node: cluster.check_output(node, "corosync-quorumtool -s") for node in others}
    print(f"link of {cut} cut during its restart: the play stopped {stop_seconds:.1f}s later (rc={run.rc})")
    yield {"cut": cut, "others": others, "run": run, "before": before, "samples": sampler.samples,
           "majority": majority}  # fmt: skip
    set_link(cut, "up")  # whatever a test asserted, give the node its link back


def test_the_play_stops_at_the_cut_node_and_says_why(partitioned):
    run, cut = partitioned["run"], partitioned["cut"]
    assert run.rc != 0, "the play went on without the cut node"
    assert run.recap[cut]["failed"] == 1, run.tail()
    failure = run.output[run.output.index(f"fatal: [{cut}]") :]
    assert "Wait until every node is a member" in run.output, run.tail()
    assert re.search(r"nodes \[2, 3\] not in the membership", failure), run.tail()
    for node in partitioned["others"]:
        # max_fail_percentage 0 + serial 1: the play never reached the others.
        assert run.recap.get(node, {}).get("changed", 0) == 0, run.tail()


def test_the_other_nodes_were_untouched_and_stayed_quorate(cluster, partitioned):
    after = stack_pids(cluster)
    for node in partitioned["others"]:
        assert after[node] == partitioned["before"][node], f"{node} was restarted"
        assert is_quorate(0, partitioned["majority"][node]), partitioned["majority"][node]
    theirs = [(node, rc, out) for node, rc, out in partitioned["samples"] if node in partitioned["others"]]
    assert len(theirs) > 10, "the sampler did not run"
    lost = [(node, out.strip().splitlines()[-3:]) for node, rc, out in theirs if not is_quorate(rc, out)]
    assert not lost, f"the majority lost quorum: {lost[:3]}"


def test_the_next_run_after_the_link_is_back_completes(cluster, partitioned):
    cut = partitioned["cut"]
    set_link(cut, "up")
    # The healed cluster is whole again before the next run: the run's own preflight would say so otherwise.
    run = cluster.playbook(ROLLING_RESTART)
    assert run.rc == 0, run.tail()
    # n1's checkpoint layers never came back in the failed run: this run starts them, and only them.
    assert {node for node, count in run.changed().items() if count} == {cut}, run.tail()
    for unit in STACK:
        assert cluster.main_pid(cut, unit) > 0, f"{cut}: {unit} is not running"
    again = cluster.playbook(ROLLING_RESTART)
    assert again.rc == 0 and set(again.changed().values()) == {0}, again.tail()

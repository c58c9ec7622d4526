"""A rolling upgrade of corosync and the node programs on three real nodes, under load.

The nodes' package source offers their corosync repackaged with a higher version (molecule.yml); the
second version of the node programs announces controld protocol 1.1 (hack/staged_bundle.py). Bad input
is refused first, then a canary that cannot join the running protocol (programs of major 2) stops the
roll at n1 with n2 and n3 untouched; then the real upgrade runs while every node writes checkpoint
sections and quorum is sampled, raises the running protocol to 1.1 live, and a second run changes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import NODE_PROGRAMS, STACK, Writer, assert_no_acknowledged_write_lost, assert_quorum_held

UPGRADE = "quorate.cluster.upgrade"
NODES = ["n1", "n2", "n3"]
REPO = Path(__file__).resolve().parents[3]
# hack/apt_repo.py build-upgrade: the image's corosync, repackaged one step higher.
INSTALLED = "3.1.7-1+deb12u2"
NEWER = INSTALLED + "+quorate1"


def one_line(run) -> str:
    return " ".join(run.output.split())


def packages(version: str) -> str:
    return json.dumps({"quorate_upgrade_packages": {"corosync": version}})


def staged(tmp: Path, name: str, daemon_max: str, fs_max: str) -> str:
    out = tmp / f"{name}.zip"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "hack" / "staged_bundle.py"),
            str(out),
            "--daemon-max",
            daemon_max,
            "--fs-max",
            fs_max,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(out)


def corosync_version(cluster, node: str) -> str:
    return cluster.check_output(node, "dpkg-query -W -f='${Version}' corosync").strip()


def programs_hash(cluster, node: str) -> str:
    return cluster.check_output(node, f"sha256sum {NODE_PROGRAMS}").split()[0]


def controld_ready(cluster, node: str) -> dict:
    return json.loads(cluster.check_output(node, "cat /run/quorate/controld.json"))


def state(cluster) -> dict:
    return {
        node: {
            "pids": cluster.stack_pids([node])[node],
            "corosync": corosync_version(cluster, node),
            "programs": programs_hash(cluster, node),
        }
        for node in NODES
    }


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bundles")
    return {"1.1": staged(tmp, "protocol-1.1", "1.1", "1.1"), "2.0": staged(tmp, "protocol-2.0", "2.0", "1.1")}


@pytest.fixture(scope="module")
def initial(cluster):
    before = state(cluster)
    for node in NODES:
        assert before[node]["corosync"] == INSTALLED, before
        assert controld_ready(cluster, node)["daemon_protocol"] == [1, 0]
    return before


@pytest.fixture(scope="module")
def refused(cluster, initial, bundles):
    runs = {
        "downgrade": cluster.playbook(UPGRADE, "-e", packages("3.1.7-1")),
        "not offered": cluster.playbook(UPGRADE, "-e", packages("3.1.9-1")),
        "not a mapping": cluster.playbook(UPGRADE, "-e", '{"quorate_upgrade_packages": ["corosync"]}'),
        "bad version": cluster.playbook(UPGRADE, "-e", '{"quorate_upgrade_packages": {"corosync": "latest!"}}'),
    }
    return {"runs": runs, "after": state(cluster)}


@pytest.fixture(scope="module")
def canary_failed(cluster, initial, refused, bundles):
    run = cluster.playbook(UPGRADE, "-e", packages(NEWER), "-e", f"quorate_ckptd_node_programs={bundles['2.0']}")
    return {"run": run, "after": state(cluster)}


@pytest.fixture(scope="module")
def upgraded(cluster, initial, canary_failed, bundles):
    """The upgrade, resumed after the failed canary, while every node writes and quorum is sampled."""
    args = ("-e", packages(NEWER), "-e", f"quorate_ckptd_node_programs={bundles['1.1']}")
    writers = [Writer(cluster, node) for node in NODES]
    time.sleep(3)  # writes are flowing before the roll
    with cluster.sampling_quorum(NODES) as sampler:
        started = time.monotonic()
        run = cluster.playbook(UPGRADE, *args)
        seconds = time.monotonic() - started
        time.sleep(3)
    for writer in writers:
        writer.stop()
    after = state(cluster)
    again = cluster.playbook(UPGRADE, *args)
    print(f"\nrolling upgrade of 3 nodes under load: {seconds:.1f}s, {len(sampler.samples)} quorum samples; ", end="")
    print(", ".join(f"{w.node}: {len(w.acked)} writes acked, errors {w.summary.get('errors')}" for w in writers))
    return {"run": run, "seconds": seconds, "writers": writers, "sampler": sampler, "after": after, "again": again}


def test_bad_input_is_refused_before_any_node_changes(initial, refused):
    expected = {
        "downgrade": f"quorate_upgrade_packages: corosync 3.1.7-1 is lower than {INSTALLED} installed on n1; "
        "set quorate_upgrade_allow_downgrade: true to downgrade",
        "not offered": "quorate_upgrade_packages: corosync 3.1.9-1 is not offered by the package sources of n1",
        "not a mapping": "quorate_upgrade_packages",
        "bad version": "quorate_upgrade_packages: corosync: 'latest!' is not a Debian version",
    }
    for case, run in refused["runs"].items():
        assert run.rc != 0, (case, run.tail())
        assert expected[case] in one_line(run), (case, run.tail())
        assert "Traceback" not in run.output, (case, run.tail())
    assert refused["after"] == initial


def test_a_canary_that_cannot_join_stops_the_roll_with_the_others_untouched(initial, canary_failed):
    run = canary_failed["run"]
    assert run.rc != 0, run.tail()
    assert "canary n1 did not pass its upgrade" in one_line(run), run.tail()
    assert "n2, n3 untouched" in one_line(run), run.tail()
    after = canary_failed["after"]
    for node in ("n2", "n3"):
        assert after[node] == initial[node], f"{node} was touched"
    assert after["n1"]["programs"] != initial["n1"]["programs"]


def test_the_upgrade_rolls_every_node_and_raises_the_protocol_live(cluster, initial, upgraded):
    run = upgraded["run"]
    assert run.rc == 0, run.tail()
    assert "running protocol 1.0 -> 1.1 (raised)" in one_line(run), run.tail()
    for node in NODES:
        after = upgraded["after"][node]
        assert after["corosync"] == NEWER, (node, after)
        for unit in STACK:
            assert after["pids"][unit] != initial[node]["pids"][unit], f"{node}: {unit} was not restarted"
        ready = controld_ready(cluster, node)
        assert ready["daemon_protocol"] == [1, 1] and ready["fs_protocol"] == [1, 1], (node, ready)
        assert ready["daemon_max_protocol"] == [1, 1], (node, ready)
        # Read from this node's replica of the global checkpoint, through the checkpoint service.
        shown = json.loads(cluster.check_output(node, "quorate-ckpt show --json quorate:controld"))
        assert shown == {"daemon_protocol": "01 01", "ocfs2_protocol": "01 01"}, (node, shown)
        fields = cluster.quorum(node)
        assert fields["Quorate"] == "Yes" and fields["Total votes"] == "3", (node, fields)


def test_every_acknowledged_write_survived_the_roll(cluster, upgraded):
    assert_no_acknowledged_write_lost(cluster, NODES, upgraded["writers"])


def test_quorum_held_in_every_sample(upgraded):
    assert_quorum_held(upgraded["sampler"], at_least=20)


def test_a_second_run_changes_nothing(upgraded):
    again = upgraded["again"]
    assert again.rc == 0, again.tail()
    assert set(again.changed().values()) == {0}, again.tail()
    assert "already the highest every node supports" in one_line(again), again.tail()

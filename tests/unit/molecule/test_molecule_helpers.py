"""The molecule verifiers' shared helpers (molecule/conftest.py): recap parsing, snapshots, quorum sampling."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HELPERS_PATH = Path(__file__).resolve().parents[3] / "molecule" / "conftest.py"
_spec = importlib.util.spec_from_file_location("quorate_molecule_helpers", HELPERS_PATH)
helpers = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = helpers  # dataclasses look their module up while the file executes
_spec.loader.exec_module(helpers)

# The end of a failed bring-up as ansible-playbook prints it with colours forced on.
FAILED_RUN = (
    "TASK [quorate.cluster.corosync : Preflight | Check the inventory before any node is touched] ***\n"
    '\x1b[0;31mfatal: [n1 -> localhost]: FAILED! => {"msg": "quorate.cluster.corosync: '
    'quorate_corosync_totem.token: 0 must be a positive integer (ms)"}\x1b[0m\n'
    "\n"
    "PLAY RECAP *********************************************************************\n"
    "\x1b[0;31mn1\x1b[0m                         : \x1b[0;32mok=3   \x1b[0m changed=0    unreachable=0    "
    "\x1b[0;31mfailed=1   \x1b[0m skipped=0    rescued=0    ignored=0   \n"
    "\x1b[0;31mn2\x1b[0m                         : \x1b[0;32mok=2   \x1b[0m changed=0    unreachable=0    "
    "\x1b[0;31mfailed=1   \x1b[0m skipped=0    rescued=0    ignored=0   \n"
    "\x1b[0;33mn3\x1b[0m                         : \x1b[0;32mok=9   \x1b[0m \x1b[0;33mchanged=2   \x1b[0m "
    "unreachable=0    failed=0    skipped=1    rescued=0    ignored=0   \n"
)


def completed(stdout: str, rc: int = 0, stderr: str = "") -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(["ansible-playbook"], rc, stdout, stderr)


def test_the_recap_is_read_per_host_with_colours_stripped():
    run = helpers.PlaybookRun.from_process(completed(FAILED_RUN, rc=2))
    assert run.rc == 2
    assert run.changed() == {"n1": 0, "n2": 0, "n3": 2}
    assert run.recap["n1"] == {"ok": 3, "changed": 0, "unreachable": 0, "failed": 1}
    assert "quorate_corosync_totem.token: 0 must be a positive integer" in run.output
    assert "\x1b[" not in run.output


def test_a_run_without_a_recap_reports_no_hosts_rather_than_zero_changes():
    run = helpers.PlaybookRun.from_process(completed("", rc=4, stderr="ERROR! the playbook could not be found"))
    assert run.recap == {} and run.changed() == {}
    assert run.tail() == "ERROR! the playbook could not be found"


def test_the_tail_keeps_the_last_lines():
    run = helpers.PlaybookRun.from_process(completed("\n".join(f"line {i}" for i in range(100))))
    assert run.tail(2) == "line 98\nline 99"


def test_a_snapshot_keeps_values_with_spaces_and_ignores_other_lines():
    text = (
        "/etc/corosync/authkey\tsha256 ab12\n"
        "/etc/systemd/system/multi-user.target.wants/quorate-ckptd.service\tlink to /etc/systemd/system/x\n"
        "MainPID of corosync\t812\n"
        "runtime.config.totem.token\truntime.config.totem.token (u32) = 3650\n"
        "a line some tool printed on its own\n"
    )
    assert helpers.parse_snapshot(text) == {
        "/etc/corosync/authkey": "sha256 ab12",
        "/etc/systemd/system/multi-user.target.wants/quorate-ckptd.service": "link to /etc/systemd/system/x",
        "MainPID of corosync": "812",
        "runtime.config.totem.token": "runtime.config.totem.token (u32) = 3650",
    }


def test_a_key_twice_in_a_snapshot_is_an_error():
    with pytest.raises(AssertionError, match="appears twice"):
        helpers.parse_snapshot("MainPID of corosync\t1\nMainPID of corosync\t2\n")


class ScriptedNodes:
    """Stands in for Cluster: answers quorumtool from a script, and lets the test stop the sampler."""

    def __init__(self, answers: list[tuple[int, str]]):
        self.nodes = ["n1", "n2"]
        self.answers = list(answers)
        self.calls: list[str] = []
        self.exhausted = threading.Event()

    def ssh(self, node: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        self.calls.append(node)
        rc, out = self.answers.pop(0) if self.answers else (0, "Quorate:          Yes\n")
        if not self.answers:
            self.exhausted.set()
        return subprocess.CompletedProcess(["ssh"], rc, out, "")


def test_the_sampler_reads_the_nodes_in_turn_until_stopped():
    nodes = ScriptedNodes([(0, "Quorate:          Yes\n"), (2, "Quorate:          No\n"), (1, "Cannot initialize")])
    with helpers.QuorumSampler(nodes, pause=0) as sampler:
        assert nodes.exhausted.wait(10)
    assert not sampler._thread.is_alive()
    assert sampler.samples[:3] == [
        ("n1", 0, "Quorate:          Yes\n"),
        ("n2", 2, "Quorate:          No\n"),
        ("n1", 1, "Cannot initialize"),
    ]
    assert all(node == nodes.nodes[i % 2] for i, node in enumerate(nodes.calls))


def test_the_sampler_stops_during_its_pause():
    nodes = ScriptedNodes([(0, "Quorate:          Yes\n")])
    with helpers.QuorumSampler(nodes, pause=30) as sampler:
        assert nodes.exhausted.wait(10)
    assert not sampler._thread.is_alive()
    assert len(sampler.samples) == 1


def test_the_controllers_own_play_is_not_counted_among_the_nodes():
    recap = "localhost                  : ok=1    changed=0    unreachable=0    failed=0    skipped=0\n"
    run = helpers.PlaybookRun.from_process(completed(FAILED_RUN + recap, rc=2))
    assert sorted(run.recap) == ["n1", "n2", "n3"]


# Stands in for ckpt_writer.py behind ssh: two acks, then its summary once stdin closes.
FAKE_WRITER = (
    "import sys\n"
    "print('{\"ack\": 0}', flush=True)\n"
    "print('{\"ack\": 1}', flush=True)\n"
    "sys.stdin.read()\n"
    'print(\'{"done": 2, "errors": {"TRY_AGAIN": 1}}\', flush=True)\n'
)


class LocalNodes:
    """Stands in for Cluster: ``ssh_argv`` runs the command here, with the fake writer."""

    def __init__(self):
        self.commands: list[tuple[str, str]] = []

    def check_output(self, node: str, command: str) -> str:
        self.commands.append((node, command))
        return ""

    def ssh_argv(self, node: str, command: str) -> list[str]:
        self.commands.append((node, command))
        return [sys.executable, "-c", FAKE_WRITER]


def test_a_writer_uploads_the_script_runs_it_and_keeps_its_acks_until_stopped(tmp_path):
    script = tmp_path / "ckpt_writer.py"
    script.write_text("print('the writer')\n")
    nodes = LocalNodes()
    before = time.monotonic()
    writer = helpers.Writer(nodes, "n2", script=script)
    deadline = time.monotonic() + 10
    while len(writer.acks) < 2:
        assert time.monotonic() < deadline, writer.acks
        time.sleep(0.01)
    assert writer.summary == {}  # still writing
    assert writer.stop() is writer
    assert writer.proc.returncode == 0
    assert writer.acked == [0, 1]
    assert writer.summary == {"done": 2, "errors": {"TRY_AGAIN": 1}}
    assert writer.between(before, time.monotonic()) == 2
    assert writer.between(time.monotonic(), float("inf")) == 0
    upload, run = nodes.commands
    assert upload == ("n2", "cat > /root/ckpt_writer.py <<'EOF'\nprint('the writer')\n\nEOF")
    assert run == ("n2", f"PYTHONPATH={helpers.NODE_PROGRAMS} python3 -u /root/ckpt_writer.py n2-")


def test_the_writer_script_is_the_rolling_restart_scenarios():
    assert helpers.WRITER_SCRIPT.is_file()
    assert "def payload(prefix: str, index: int)" in helpers.WRITER_SCRIPT.read_text()


QUORATE = "Quorate:          Yes\n"
ALONE = "Quorate:          No\nTotal votes:      1\n"


def test_a_roll_holds_quorum_while_a_majority_of_every_round_is_quorate():
    nodes = ["n1", "n2", "n3"]
    # n2 restarts (down, then alone in its own ring): one node out of each round at most.
    samples = [("n1", 0, QUORATE), ("n2", 1, "Cannot initialize CMAP service"), ("n3", 0, QUORATE)]
    samples += [("n1", 0, QUORATE), ("n2", 2, ALONE), ("n3", 0, QUORATE), ("n1", 0, QUORATE)]
    assert helpers.majority_lost_rounds(samples, nodes) == []
    with pytest.raises(AssertionError, match="never saw n1 down"):
        helpers.assert_majority_quorate_in_every_round(samples, nodes, at_least=3)
    lost = samples + [("n2", 2, ALONE), ("n3", 2, ALONE)]
    assert len(helpers.majority_lost_rounds(lost, nodes)) == 1  # only the last round: n1 alone quorate
    with pytest.raises(AssertionError, match="did not run"):
        helpers.assert_majority_quorate_in_every_round(samples, nodes, at_least=30)

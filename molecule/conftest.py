"""What the molecule scenarios' verifiers share: the nodes over SSH, runs of the bring-up from a test,
and checkpoint writers on the nodes.

Scenarios that change the cluster on purpose (a new token, bad input) drive ansible-playbook themselves
with the molecule inventory and configuration (ANSIBLE_CONFIG comes from molecule's environment), and
read the nodes over plain SSH: quick enough to sample a node while a playbook runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

GROUP = "quorate_cluster"
SCENARIOS = Path(__file__).resolve().parent
NODE_PROGRAMS = "/usr/lib/quorate/quorate_node.zip"  # the quorate_node bundle the roles install
WRITER_SCRIPT = SCENARIOS / "rolling_restart" / "tests" / "ckpt_writer.py"
WRITER_CHECKPOINT = "quorate:rolltest"  # where ckpt_writer.py writes
STACK = ("corosync", "quorate-ckptd", "quorate-controld")  # a node's stack, bottom-up

_RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# One SSH round trip per node: what a bring-up could change, as "key<TAB>value" lines.
SNAPSHOT_SCRIPT = r"""
for path in /etc/corosync/corosync.conf /etc/corosync/authkey /usr/lib/quorate/quorate_node.zip \
            $(find /etc/systemd/system -name 'quorate-*' | sort); do
    if [ -L "$path" ]; then printf '%s\tlink to %s\n' "$path" "$(readlink "$path")"
    elif [ -f "$path" ]; then printf '%s\tsha256 %s\n' "$path" "$(sha256sum < "$path" | cut -d' ' -f1)"
    else printf '%s\tmissing\n' "$path"; fi
done
for unit in corosync quorate-ckptd quorate-controld; do
    printf 'MainPID of %s\t%s\n' "$unit" "$(systemctl show -p MainPID --value "$unit")"
done
for key in token consensus; do
    printf 'runtime.config.totem.%s\t%s\n' "$key" "$(corosync-cmapctl -g "runtime.config.totem.$key" 2>&1)"
done
"""


def is_quorate(rc: int, output: str) -> bool:
    """One ``corosync-quorumtool -s`` sample says this node is quorate."""
    return rc == 0 and re.search(r"^Quorate:\s+Yes", output, re.MULTILINE) is not None


def quorum_fields(output: str) -> dict[str, str]:
    """corosync-quorumtool -s as "Key: value" pairs (Quorate, Expected votes, Total votes, Flags...)."""
    return {m[1].strip(): m[2].strip() for m in re.finditer(r"^([A-Za-z][A-Za-z ]+):\s+(.*)$", output, re.MULTILINE)}


def parse_snapshot(text: str) -> dict[str, str]:
    """SNAPSHOT_SCRIPT's output as a dict; a key printed twice would hide a change, so it is an error."""
    snapshot: dict[str, str] = {}
    for line in text.splitlines():
        key, tab, value = line.partition("\t")
        if not tab:
            continue
        assert key not in snapshot, f"{key} appears twice in the snapshot"
        snapshot[key] = value
    return snapshot


@dataclass
class PlaybookRun:
    """One ansible-playbook run: its exit code, its output and the counts of its PLAY RECAP."""

    rc: int
    output: str
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def from_process(cls, proc: subprocess.CompletedProcess) -> PlaybookRun:
        output = _ANSI.sub("", proc.stdout + proc.stderr)
        # The nodes' counts: the playbooks' first play (the inventory check) runs on the controller.
        recap = {
            match["host"]: {key: int(match[key]) for key in ("ok", "changed", "unreachable", "failed")}
            for match in _RECAP_LINE.finditer(output)
            if match["host"] != "localhost"
        }
        return cls(proc.returncode, output, recap)

    def changed(self) -> dict[str, int]:
        return {host: counts["changed"] for host, counts in self.recap.items()}

    def tail(self, lines: int = 60) -> str:
        """The end of the output, for assertion messages."""
        return "\n".join(self.output.splitlines()[-lines:])


class Cluster:
    """The scenario's nodes, as the molecule inventory describes them."""

    def __init__(self, inventory: str):
        self.inventory = inventory
        listing = json.loads(
            subprocess.run(
                ["ansible-inventory", "-i", inventory, "--list"], capture_output=True, text=True, check=True
            ).stdout
        )
        self.hostvars: dict[str, dict] = listing["_meta"]["hostvars"]
        self.nodes: list[str] = sorted(listing[GROUP]["hosts"])

    def ssh(self, node: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a shell command on a node as root; rc 255 is SSH's own failure."""
        # stdin: a /dev/null of its own. ssh sets O_NONBLOCK on the stdin it inherits, which the test
        # process shares; an ansible-playbook started meanwhile then refuses to run ("Ansible requires
        # blocking IO on stdin").
        return subprocess.run(
            self.ssh_argv(node, command),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ssh_argv(self, node: str, command: str) -> list[str]:
        """The ssh command line that runs ``command`` on ``node`` as root."""
        hostvars = self.hostvars[node]
        return [
            "ssh",
            "-i", hostvars["ansible_private_key_file"],
            "-p", str(hostvars.get("ansible_port", 22)),
            # Throwaway nodes with fresh host keys on every create.
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
            f"{hostvars.get('ansible_user', 'root')}@{hostvars['ansible_host']}",
            command,
        ]  # fmt: skip

    def check_output(self, node: str, command: str) -> str:
        proc = self.ssh(node, command)
        assert proc.returncode == 0, f"{node}: {command!r} failed ({proc.returncode}): {proc.stderr.strip()}"
        return proc.stdout

    def on_every_node(self, function) -> dict:
        """``function(node)`` on every node at once; node -> result."""
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            return dict(zip(self.nodes, pool.map(function, self.nodes)))

    def cmap_int(self, node: str, key: str) -> int:
        # "runtime.config.totem.token (u32) = 3650"
        return int(self.check_output(node, f"corosync-cmapctl -g {key}").rsplit("=", 1)[-1])

    def main_pid(self, node: str, unit: str) -> int:
        return int(self.check_output(node, f"systemctl show -p MainPID --value {unit}"))

    def stack_pids(self, nodes: list) -> dict[str, dict[str, int]]:
        """Node -> unit -> MainPID of its stack (0: not running)."""
        return {node: {unit: self.main_pid(node, unit) for unit in STACK} for node in nodes}

    def quorum(self, node: str) -> dict[str, str]:
        return quorum_fields(self.check_output(node, "corosync-quorumtool -s"))

    def lost_writes(self, node: str, writers: list[Writer]) -> dict[str, list[int]]:
        """Per writer, the acknowledged writes that ``node`` does not hold (empty lists: none lost)."""
        stored = json.loads(self.check_output(node, f"quorate-ckpt --json show {WRITER_CHECKPOINT}"))
        return {
            writer.node: [
                index
                for index in writer.acked
                if stored.get(f"{writer.node}-{index:06d}", "").split(":", 1)[0] != f"{writer.node}-{index}"
            ]
            for writer in writers
        }

    def snapshot(self, node: str) -> dict[str, str]:
        """What a bring-up could change on the node: file hashes, unit links, daemon PIDs, runtime totem."""
        return parse_snapshot(self.check_output(node, SNAPSHOT_SCRIPT))

    def sampling_quorum(self, nodes: list | None = None) -> QuorumSampler:
        """``with cluster.sampling_quorum() as sampler:`` samples every node's quorum (or only ``nodes``'s)
        until the block ends."""
        return QuorumSampler(self, nodes=nodes)

    @staticmethod
    def container(node: str) -> str:
        """The node's podman container: hack/podman_cluster.py names it <prefix>-<node>, and
        molecule/resources/create.yml sets the prefix from the scenario's name."""
        return f"mol-{os.environ['MOLECULE_SCENARIO_NAME']}-{node}"

    def overlay_inventory(self, directory: Path, host_vars: dict[str, dict]) -> str:
        """A second inventory source in ``directory`` that sets ``host_vars`` (node -> vars) on top of
        molecule's; pass it as ``"-i", path`` after molecule's inventory. Host_vars files outrank the
        variables molecule writes into its inventory file, and molecule's other variables stay."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "host_vars").mkdir(exist_ok=True)
        (directory / "hosts.yml").write_text(
            "all:\n  hosts:\n" + "".join(f"    {node}:\n" for node in sorted(host_vars))
        )
        for node, values in host_vars.items():
            (directory / "host_vars" / f"{node}.yml").write_text(json.dumps(values) + "\n")
        return str(directory)

    def playbook(self, playbook: str, *args: str, inventory: str | None = None) -> PlaybookRun:
        proc = subprocess.run(
            ["ansible-playbook", "-i", inventory or self.inventory, playbook, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        return PlaybookRun.from_process(proc)


class QuorumSampler:
    """Reads ``corosync-quorumtool -s`` from the nodes in turn, in a thread, until stopped."""

    def __init__(self, cluster: Cluster, pause: float = 0.2, nodes: list | None = None):
        self.cluster = cluster
        self.pause = pause
        self.nodes = list(nodes or cluster.nodes)
        self.samples: list[tuple[str, int, str]] = []  # (node, rc, output)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="quorum-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for node in self.nodes:
                proc = self.cluster.ssh(node, "corosync-quorumtool -s", timeout=30)
                self.samples.append((node, proc.returncode, proc.stdout + proc.stderr))
                if self._stop.wait(self.pause):
                    return

    def unquorate(self) -> list[tuple[str, int, str]]:
        """The samples in which the node was not quorate (node, rc, the end of the output)."""
        return [
            (node, rc, out.strip()[-200:])
            for node, rc, out in self.samples
            if quorum_fields(out).get("Quorate") != "Yes"
        ]

    def expected_votes(self) -> list[str | None]:
        """The expected votes of every sample, in order."""
        return [quorum_fields(out).get("Expected votes") for _node, _rc, out in self.samples]

    def __enter__(self) -> QuorumSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


class Writer:
    """ckpt_writer.py on one node over SSH: it writes until ``stop()`` closes its stdin.

    ``acks`` holds every acknowledged write as (index, monotonic time the ack arrived here);
    ``summary`` is the writer's closing line (``{"done": ..., "errors": {...}}``), empty if it
    did not end cleanly.
    """

    def __init__(self, cluster: Cluster, node: str, script: Path = WRITER_SCRIPT):
        self.node = node
        cluster.check_output(node, f"cat > /root/ckpt_writer.py <<'EOF'\n{script.read_text()}\nEOF")
        command = f"PYTHONPATH={NODE_PROGRAMS} python3 -u /root/ckpt_writer.py {node}-"
        argv = cluster.ssh_argv(node, command)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.acks: list[tuple[int, float]] = []
        self.summary: dict = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            record = json.loads(line)
            if "ack" in record:
                self.acks.append((record["ack"], time.monotonic()))
            else:
                self.summary = record

    @property
    def acked(self) -> list[int]:
        """The indexes of the acknowledged writes, in the order acknowledged."""
        return [index for index, _at in self.acks]

    def between(self, start: float, end: float) -> int:
        """How many acks arrived in [start, end) (monotonic times)."""
        return sum(1 for _index, at in self.acks if start <= at < end)

    def stop(self) -> Writer:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own ssh client, by its handle
            self.proc.wait()
        self._reader.join(timeout=10)
        return self


def assert_no_acknowledged_write_lost(cluster: Cluster, nodes: list, writers: list[Writer]) -> None:
    """Every writer ended cleanly after enough writes to prove anything, and every write it saw
    acknowledged is readable on every one of ``nodes``."""
    for writer in writers:
        assert writer.summary, f"{writer.node}: the writer did not end cleanly"
        assert len(writer.acked) > 100, f"{writer.node}: too few writes to prove anything ({len(writer.acked)})"
    for node in nodes:
        for name, lost in cluster.lost_writes(node, writers).items():
            assert not lost, f"{node} lacks {len(lost)} of {name}'s acknowledged writes, e.g. {lost[:5]}"


def majority_lost_rounds(samples: list, nodes: list) -> list:
    """Rounds of the round-robin sampler (one sample per node) in which fewer than a majority were quorate.

    While a roll restarts one node, that node is briefly not quorate (corosync down, or alone in its
    own ring until it merges): the cluster holds quorum as long as a majority of every round is."""
    bad = []
    for start in range(0, len(samples) - len(nodes) + 1):
        window = samples[start : start + len(nodes)]
        quorate = sum(1 for _node, rc, out in window if is_quorate(rc, out))
        if quorate < len(nodes) // 2 + 1:
            bad.append([(node, rc, out.strip().splitlines()[-1:] if out else "") for node, rc, out in window])
    return bad


def assert_majority_quorate_in_every_round(samples: list, nodes: list, at_least: int = 30) -> None:
    """A roll of ``nodes``: the sampler saw each node down (or the check proves nothing), and a majority
    was quorate in every round."""
    assert len(samples) >= at_least, f"the sampler did not run ({len(samples)} samples)"
    for node in nodes:
        down = [s for s in samples if s[0] == node and not is_quorate(s[1], s[2])]
        assert down, f"the sampler never saw {node} down"
    bad = majority_lost_rounds(samples, nodes)
    assert not bad, f"quorum lost in {len(bad)} sampling rounds, first: {bad[0]}"


def assert_quorum_held(sampler: QuorumSampler, at_least: int) -> list[str | None]:
    """Every sample (at least ``at_least`` of them) quorate; returns the expected votes sampled, in order."""
    assert len(sampler.samples) >= at_least, f"the sampler did not run ({len(sampler.samples)} samples)"
    lost = sampler.unquorate()
    assert not lost, f"quorum lost in {len(lost)} of {len(sampler.samples)} samples, first: {lost[0]}"
    return sampler.expected_votes()


@pytest.fixture(scope="session")
def cluster(pytestconfig) -> Cluster:
    """The nodes of the molecule inventory testinfra was given."""
    inventory = pytestconfig.getoption("ansible_inventory", default=None)
    if not inventory:
        pytest.skip("needs molecule's inventory (run through `molecule verify`)")
    return Cluster(inventory)

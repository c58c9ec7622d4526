"""Run a real multi-node corosync cluster on one host using network namespaces.

Topology (all private to our own namespaces, nothing touches the root netns
except the namespace handles under /run/netns):

    qrt-<prefix>-<ownerpid>-sw   : "switch" namespace holding bridge br0
    qrt-<prefix>-<ownerpid>-nN   : one namespace per node, veth <prefix>vN with
                                   10.213.<octet>.N/24, peer <prefix>pN in the
                                   switch namespace enslaved to br0

Each corosync runs as ``ip netns exec NODE unshare -m ... corosync -f`` with
per-node /run and /var/lib/corosync bind mounts, so pid files and ring state do
not clash.  libqb IPC uses abstract unix sockets, which are scoped by the
network namespace, so any process run inside a node's netns (see ``exec`` and
``node_env_prefix``) talks to exactly that node's corosync.

The owner pid is part of every namespace name so that namespaces left behind by
a SIGKILLed test run can be recognised (owner dead) and reaped later.
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import hashlib
import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from ansible_collections.quorate.cluster.plugins.module_utils._modules import corosync_conf
from ansible_collections.quorate.cluster.plugins.module_utils.shared import corosync_runtime

__all__ = [
    "ClusterError",
    "NetnsCluster",
    "QuorumStatus",
    "cluster_required",
    "netns_available",
    "parse_quorumtool",
    "reap_stale_namespaces",
]

NS_TAG = "qrt"
DEFAULT_TOKEN_MS = 3000
STOP_TIMEOUT_S = 10.0
SHM_DIR = Path("/dev/shm")
REQUIRE_ENV = "QUORATE_REQUIRE_CLUSTER"

# Interface names are limited to IFNAMSIZ-1 = 15 chars; "<prefix>v<NN>" must fit.
_PREFIX_RE = re.compile(r"^[a-z0-9]{1,6}$")
_NS_RE = re.compile(rf"^{NS_TAG}-(?P<prefix>[a-z0-9]{{1,6}})-(?P<owner>\d+)-(?P<role>sw|n\d+)$")
_WORKDIR_TAG = "quorate-netns"
_WORKDIR_RE = re.compile(rf"^{_WORKDIR_TAG}-[a-z0-9]{{1,6}}-(?P<owner>\d+)-")
_KEEP_MARKER = ".keep"
_MAX_NODES = 32
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_counter = itertools.count()

_PR_SET_PDEATHSIG = 1


class ClusterError(RuntimeError):
    """Raised when the namespace cluster cannot be built or does not converge."""


# --------------------------------------------------------------------------- helpers


def _b36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            return out


def _default_prefix() -> str:
    # pid in base36 (<= 5 chars even for pid_max 4194304) + one counter char, so
    # several clusters in one process and parallel pytest workers never collide.
    return (_b36(os.getpid()) + _B36[next(_counter) % 36])[-6:]


def _run(argv: Sequence[str], *, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise ClusterError(
            f"command failed ({proc.returncode}): {shlex.join(argv)}\n{proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _list_netns() -> list[str]:
    proc = _run(["ip", "netns", "list"], check=False)
    # Lines look like "name" or "name (id: 3)".
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def _netns_pids(ns: str) -> list[int]:
    proc = _run(["ip", "netns", "pids", ns], check=False)
    return [int(tok) for tok in proc.stdout.split() if tok.isdigit()]


def _terminate_pids(pids: Iterable[int], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM, wait, then SIGKILL the given pids (not our children: poll with kill 0)."""
    pids = [p for p in pids if p != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _delete_netns(ns: str) -> None:
    # Processes inside keep a netns alive after "ip netns del", so end them first.
    if ns not in _list_netns():
        return
    _terminate_pids(_netns_pids(ns))
    _run(["ip", "netns", "del", ns], check=False)


# libqb 2.0 / corosync 3.1 leave these in /dev/shm when corosync dies hard:
#   qb-corosync-<pid>-blackbox-{header,data}       flight recorder, ~8 MiB each node
#   qb-<srvpid>-<clientpid>-<fd>-<6 random chars>/ one dir per IPC connection that was
#                                                  open at the time (files inside are
#                                                  qb-{request,response,event}-<svc>-{header,data})
# A clean SIGTERM shutdown removes them itself.
_SHM_BLACKBOX_RE = re.compile(r"^qb-corosync-(?P<pid>\d+)-blackbox-(?:header|data)$")
_SHM_CONN_RE = re.compile(r"^qb-(?P<pid>\d+)-\d+-\d+-[A-Za-z0-9]{6}$")


def _shm_files_of(pids: Iterable[int]) -> list[Path]:
    """libqb /dev/shm entries created by one of the corosync ``pids`` (server side)."""
    wanted = {str(p) for p in pids}
    if not wanted or not SHM_DIR.is_dir():
        return []
    found = []
    for entry in SHM_DIR.iterdir():
        m = _SHM_BLACKBOX_RE.match(entry.name) or _SHM_CONN_RE.match(entry.name)
        if m is not None and m["pid"] in wanted:
            found.append(entry)
    return found


def _cleanup_shm(pids: Iterable[int]) -> list[Path]:
    # Only for pids that are really gone; a live corosync still maps these.
    dead = [p for p in pids if not _pid_alive(p)]
    removed = []
    for path in _shm_files_of(dead):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
    return removed


def _set_pdeathsig() -> None:
    # Safety net: if the test process is SIGKILLed, the kernel SIGTERMs corosync.
    # The setting survives the exec chain ip -> unshare -> sh -> corosync.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:
        pass


def netns_available() -> tuple[bool, str]:
    """Whether this host can run a NetnsCluster; (False, reason) otherwise."""
    if os.geteuid() != 0:
        return False, "needs root (network namespaces, bind mounts)"
    for tool in ("ip", "unshare", "corosync", "corosync-quorumtool", "corosync-keygen", "mount"):
        if shutil.which(tool) is None:
            return False, f"'{tool}' not found in PATH"
    if not Path("/var/lib/corosync").is_dir():
        return False, "/var/lib/corosync missing (bind-mount target for per-node state)"
    probe = f"{NS_TAG}-probe-{os.getpid()}-sw"  # matches _NS_RE, so a leaked probe gets reaped
    try:
        add = _run(["ip", "netns", "add", probe], check=False, timeout=10)
        if add.returncode != 0:
            return False, f"'ip netns add' failed: {add.stderr.strip()}"
        link = _run(["ip", "-n", probe, "link", "add", "probebr0", "type", "bridge"], check=False, timeout=10)
        if link.returncode != 0:
            return False, f"cannot create a bridge inside a netns: {link.stderr.strip()}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"'ip netns' unusable: {exc}"
    finally:
        _run(["ip", "netns", "del", probe], check=False, timeout=10)
    return True, "ok"


def cluster_required() -> bool:
    """CI sets QUORATE_REQUIRE_CLUSTER=1: then a missing prerequisite is a failure."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "no", "false")


def reap_stale_namespaces() -> list[str]:
    """Delete our namespaces (and temp workdirs) whose owning process is dead.

    That only happens after the test process itself was SIGKILLed; atexit and
    fixture finalizers cover every other exit path.
    """
    reaped = []
    for ns in _list_netns():
        m = _NS_RE.match(ns)
        # Owner 0 marks a detached cluster: it is removed by its own "down", never reaped.
        if m is None or m["owner"] == "0" or _pid_alive(int(m["owner"])):
            continue
        pids = _netns_pids(ns)
        _delete_netns(ns)
        _cleanup_shm(pids)
        reaped.append(ns)
    for d in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_TAG}-*"):
        m = _WORKDIR_RE.match(d.name)
        if m is None or not d.is_dir() or (d / _KEEP_MARKER).exists() or _pid_alive(int(m["owner"])):
            continue
        shutil.rmtree(d, ignore_errors=True)
        reaped.append(str(d))
    return reaped


# --------------------------------------------------------------------------- quorum parsing


@dataclasses.dataclass(frozen=True)
class QuorumStatus:
    """Parsed ``corosync-quorumtool -s`` output of one node."""

    returncode: int  # 0 quorate, 2 not quorate, 1 corosync unreachable
    quorate: bool
    nodes: int | None
    node_id: int | None
    ring_id: str | None
    expected_votes: int | None
    total_votes: int | None
    members: tuple[int, ...]
    stdout: str
    stderr: str


def parse_quorumtool(stdout: str, returncode: int, stderr: str = "") -> QuorumStatus:
    """The collection's parser (corosync_runtime.parse_quorumtool), plus the exit code and the
    ``Nodes:`` count the harness checks; output it cannot parse (corosync not running) gives a
    status with no fields, not an error."""
    nodes = re.search(r"^Nodes:\s*(\d+)\s*$", stdout, re.MULTILINE)
    try:
        state = corosync_runtime.parse_quorumtool(stdout)
    except corosync_runtime.CorosyncQueryError:
        state = None
    return QuorumStatus(
        returncode=returncode,
        quorate=returncode == 0 and state is not None and state.quorate,
        nodes=int(nodes.group(1)) if nodes else None,
        node_id=state.node_id if state is not None and state.node_id else None,
        ring_id=state.ring_id if state is not None else None,
        expected_votes=state.expected_votes if state is not None else None,
        total_votes=state.total_votes if state is not None else None,
        members=tuple(state.members) if state is not None else (),
        stdout=stdout,
        stderr=stderr,
    )


# --------------------------------------------------------------------------- the cluster


class NetnsCluster:
    """N corosync nodes, each in its own network namespace, joined by a bridge.

    Nodes are addressed by their 1-based corosync nodeid (1..nodes).
    """

    def __init__(
        self,
        nodes: int = 3,
        prefix: str | None = None,
        token_ms: int = DEFAULT_TOKEN_MS,
        workdir: str | os.PathLike[str] | None = None,
        subnet_octet: int | None = None,
        keep_workdir: bool = False,
        token_coefficient: int | None = None,
        detached: bool = False,
    ) -> None:
        if not 1 <= nodes <= _MAX_NODES:
            raise ValueError(f"nodes must be 1..{_MAX_NODES}, got {nodes}")
        self.prefix = prefix if prefix is not None else _default_prefix()
        if not _PREFIX_RE.match(self.prefix):
            raise ValueError(f"prefix must match {_PREFIX_RE.pattern} (interface names are <= 15 chars)")
        self.size = nodes
        self.token_ms = token_ms
        # corosync adds (nodes-2)*token_coefficient (default 650) to the runtime token;
        # set 0 when a test asserts runtime.config.totem.token exactly.
        self.token_coefficient = token_coefficient
        self.keep_workdir = keep_workdir
        self._owner = os.getpid()
        # A detached cluster (``make cluster``) outlives this process: owner 0 in its names
        # keeps reap_stale_namespaces() away, and corosync gets no parent-death signal.
        self.detached = detached
        self._ns_owner = 0 if detached else self._owner
        self.subnet_octet = subnet_octet if subnet_octet is not None else self._pick_octet()
        if not 1 <= self.subnet_octet <= 254:
            raise ValueError("subnet_octet must be 1..254")
        self._own_workdir = workdir is None
        # Absolute, because the path ends up in corosync.conf and in corosync's argv.
        self.workdir = (
            Path(workdir).resolve()
            if workdir is not None
            else Path(tempfile.mkdtemp(prefix=f"{_WORKDIR_TAG}-{self.prefix}-{self._owner}-"))
        )
        self.cluster_name = f"qrt{self.prefix}"
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._started_pids: set[int] = set()
        self._created = False
        self._destroyed = False
        # From here on something exists on the host; make sure it goes away on exit.
        if not detached:
            atexit.register(self.destroy)

    # ----- naming

    def _pick_octet(self) -> int:
        # Each cluster has its own switch netns, so equal subnets could not even
        # collide; still spread them by prefix and skip any 10.213.X/24 present in
        # the root netns so addresses in logs and listings are never ambiguous.
        used = set()
        out = _run(["ip", "-4", "-o", "addr", "show"], check=False).stdout
        for m in re.finditer(r"inet 10\.213\.(\d+)\.", out):
            used.add(int(m.group(1)))
        start = int(hashlib.sha256(self.prefix.encode()).hexdigest(), 16) % 254
        for i in range(254):
            octet = (start + i) % 254 + 1
            if octet not in used:
                return octet
        raise ClusterError("no free 10.213.X.0/24 subnet")

    @property
    def node_ids(self) -> list[int]:
        return list(range(1, self.size + 1))

    @property
    def switch_ns(self) -> str:
        return f"{NS_TAG}-{self.prefix}-{self._ns_owner}-sw"

    def netns(self, node: int) -> str:
        return f"{NS_TAG}-{self.prefix}-{self._ns_owner}-n{self._check(node)}"

    def node_name(self, node: int) -> str:
        return f"n{self._check(node)}"

    def addr(self, node: int) -> str:
        return f"10.213.{self.subnet_octet}.{self._check(node)}"

    @property
    def conf_path(self) -> Path:
        return self.workdir / "corosync.conf"

    @property
    def authkey_path(self) -> Path:
        return self.workdir / "authkey"

    def log_path(self, node: int) -> Path:
        return self.workdir / f"{self.node_name(node)}.log"

    def node_dir(self, node: int) -> Path:
        return self.workdir / self.node_name(node)

    def pid(self, node: int) -> int | None:
        proc = self._procs.get(self._check(node))
        return proc.pid if proc is not None and proc.poll() is None else None

    def _check(self, node: int) -> int:
        if not isinstance(node, int) or not 1 <= node <= self.size:
            raise ValueError(f"node must be 1..{self.size}, got {node!r}")
        return node

    @property
    def namespaces(self) -> list[str]:
        return [self.switch_ns] + [self.netns(n) for n in self.node_ids]

    # ----- build

    def create(self) -> NetnsCluster:
        if self._destroyed:
            raise ClusterError("cluster was destroyed; build a new NetnsCluster")
        if self._created:
            return self
        self._created = True  # set first so destroy() also tears down a half-built topology
        self._remove_leftovers()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.keep_workdir:
            (self.workdir / _KEEP_MARKER).touch()  # stops reap_stale_namespaces() deleting kept logs

        sw = self.switch_ns
        _run(["ip", "netns", "add", sw])
        _run(["ip", "-n", sw, "link", "set", "lo", "up"])
        _run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"])
        _run(["ip", "-n", sw, "link", "set", "br0", "up"])
        for n in self.node_ids:
            ns, veth, peer = self.netns(n), f"{self.prefix}v{n}", f"{self.prefix}p{n}"
            _run(["ip", "netns", "add", ns])
            # Both ends are created directly inside their target namespaces, never in the root netns.
            _run(["ip", "link", "add", veth, "netns", ns, "type", "veth", "peer", "name", peer, "netns", sw])
            _run(["ip", "-n", sw, "link", "set", peer, "master", "br0", "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            _run(["ip", "-n", ns, "addr", "add", f"{self.addr(n)}/24", "dev", veth])
            _run(["ip", "-n", ns, "link", "set", veth, "up"])
            for sub in ("run", "lib"):
                (self.node_dir(n) / sub).mkdir(parents=True, exist_ok=True)

        if self.authkey_path.exists():
            self.authkey_path.unlink()
        _run(["corosync-keygen", "-l", "-k", str(self.authkey_path)])
        self.authkey_path.chmod(0o400)
        self.write_conf()
        return self

    def destroy_leftovers(self) -> None:
        """Remove every namespace of this prefix (e.g. a detached cluster from an earlier run)."""
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        # Namespaces of an earlier crashed run: same prefix (any owner) or dead owner.
        reap_stale_namespaces()
        for ns in _list_netns():
            m = _NS_RE.match(ns)
            if m is not None and m["prefix"] == self.prefix:
                pids = _netns_pids(ns)
                _delete_netns(ns)
                _cleanup_shm(pids)

    def render_conf(self, token_ms: int | None = None) -> str:
        """This cluster's corosync.conf, written by the collection's own renderer (corosync_conf.render)."""
        token = self.token_ms if token_ms is None else token_ms
        totem = {
            "crypto_cipher": "aes256",
            "crypto_hash": "sha256",
            "token": token,
            "token_coefficient": self.token_coefficient,  # None: left out, corosync's default
        }
        nodes = [{"nodeid": n, "name": self.node_name(n), "addrs": [self.addr(n)]} for n in self.node_ids]
        return corosync_conf.render(
            self.cluster_name,
            totem,
            nodes,
            quorum={"provider": "corosync_votequorum"},
            logging={"to_stderr": True, "to_syslog": False, "to_logfile": False, "timestamp": "on"},
            keyfile=str(self.authkey_path),
        )

    def write_conf(self, token_ms: int | None = None) -> Path:
        """(Re)write the shared corosync.conf, e.g. with a new token before ``corosync-cfgtool -R``."""
        if token_ms is not None:
            self.token_ms = token_ms
        tmp = self.conf_path.with_suffix(".tmp")
        tmp.write_text(self.render_conf())
        tmp.replace(self.conf_path)  # atomic: a reload never sees a half-written file
        return self.conf_path

    # ----- process control

    def _launch_argv(self, node: int) -> list[str]:
        d = self.node_dir(node)
        script = (
            f"mount --bind {shlex.quote(str(d / 'run'))} /run"
            f" && mount --bind {shlex.quote(str(d / 'lib'))} /var/lib/corosync"
            f" && exec corosync -f -c {shlex.quote(str(self.conf_path))}"
        )
        # Private mount ns: the bind mounts stay invisible to the host and other nodes.
        return self.node_env_prefix(node) + ["unshare", "-m", "--propagation", "private", "sh", "-c", script]

    def start(self, node: int) -> int:
        """Start corosync on ``node``; returns its pid (ip/unshare/sh all exec, so it is corosync's)."""
        self._require_created()
        if self.is_running(node):
            raise ClusterError(f"corosync on {self.node_name(node)} is already running (pid {self.pid(node)})")
        with open(self.log_path(node), "ab") as log:
            log.write(f"---- start {time.strftime('%H:%M:%S')} ----\n".encode())
            log.flush()
            proc = subprocess.Popen(
                self._launch_argv(node),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal ^C must go to pytest, which then stops us cleanly
                preexec_fn=None if self.detached else _set_pdeathsig,
            )
        self._procs[node] = proc
        self._started_pids.add(proc.pid)
        return proc.pid

    def start_all(self) -> list[int]:
        # Launch back to back so all nodes form the initial membership together.
        return [self.start(n) for n in self.node_ids if not self.is_running(n)]

    def heal(self, timeout: float = 60.0) -> dict[int, QuorumStatus]:
        """Start every stopped node and wait for the full cluster (for shared fixtures)."""
        self.start_all()
        return self.wait_quorate(timeout)

    def is_running(self, node: int) -> bool:
        proc = self._procs.get(self._check(node))
        return proc is not None and proc.poll() is None

    def running_nodes(self) -> list[int]:
        return [n for n in self.node_ids if self.is_running(n)]

    def stop(self, node: int, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM our corosync, wait up to ``timeout`` s, then SIGKILL. Returns its exit code."""
        proc = self._procs.get(self._check(node))
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _cleanup_shm([proc.pid])  # only left behind if it had to be SIGKILLed
        return proc.returncode

    def stop_all(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Like stop() on every node, but signalled together so shutdown overlaps."""
        procs = [p for p in self._procs.values() if p.poll() is None]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _cleanup_shm(p.pid for p in procs)

    def kill9(self, node: int) -> int | None:
        """Hard crash of one node (no leave message; peers notice after token+consensus)."""
        proc = self._procs.get(self._check(node))
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _cleanup_shm([proc.pid])  # ~16 MiB of blackbox per kill otherwise
        return proc.returncode

    # ----- running things inside a node

    def node_env_prefix(self, node: int) -> list[str]:
        """argv prefix that runs a command inside ``node``'s network namespace."""
        return ["ip", "netns", "exec", self.netns(node)]

    def exec(
        self,
        node: int,
        argv: Sequence[str],
        timeout: float = 30.0,
        check: bool = False,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        self._require_created()
        return subprocess.run(
            self.node_env_prefix(node) + list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            input=input,
            env=env,
        )

    def quorum_status(self, node: int, timeout: float = 10.0) -> QuorumStatus:
        try:
            proc = self.exec(node, ["corosync-quorumtool", "-s"], timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            return parse_quorumtool("", -1, f"timed out: {exc}")
        return parse_quorumtool(proc.stdout, proc.returncode, proc.stderr)

    def wait_quorate(
        self, timeout: float = 30.0, nodes: Iterable[int] | None = None, interval: float = 0.25
    ) -> dict[int, QuorumStatus]:
        """Block until each of ``nodes`` (default: all running) is quorate and sees exactly them.

        Raises ClusterError with every node's last status and log tail on timeout,
        or as soon as one of the awaited corosyncs exits.
        """
        self._require_created()
        want = sorted(self._check(n) for n in nodes) if nodes is not None else self.running_nodes()
        if not want:
            raise ClusterError("wait_quorate: no corosync is running")
        deadline = time.monotonic() + timeout
        last: dict[int, QuorumStatus] = {}
        while True:
            dead = [n for n in want if not self.is_running(n)]
            if dead:
                raise ClusterError(
                    f"corosync not running on {', '.join(self.node_name(n) for n in dead)} "
                    "while waiting for quorum\n" + self._diagnostics(last, want)
                )
            for n in want:
                last[n] = self.quorum_status(n)
            if all(s.quorate and s.members == tuple(want) and s.nodes == len(want) for s in last.values()):
                return last
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"cluster {self.prefix!r} not quorate with members {want} after {timeout:g}s\n"
                    + self._diagnostics(last, want)
                )
            time.sleep(interval)

    def _diagnostics(self, status: dict[int, QuorumStatus], nodes: Iterable[int]) -> str:
        parts = []
        for n in nodes:
            s = status.get(n)
            if s is not None:
                parts.append(
                    f"== {self.node_name(n)}: rc={s.returncode} quorate={s.quorate} nodes={s.nodes} "
                    f"members={list(s.members)} {s.stderr.strip()[:200]}"
                )
            parts.append(f"-- {self.log_path(n)} (tail) --\n{self.log_tail(n)}")
        return "\n".join(parts)

    def log_tail(self, node: int, n: int = 30) -> str:
        try:
            lines = self.log_path(node).read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "<no log>"
        return "\n".join(lines[-n:])

    # ----- teardown

    def _require_created(self) -> None:
        if not self._created or self._destroyed:
            raise ClusterError("call create() first (and not after destroy())")

    def destroy(self) -> None:
        """Stop our corosyncs, delete our namespaces and workdir. Safe to call repeatedly."""
        if self._destroyed or (os.getpid() != self._owner and not self.detached):
            return  # a forked child must not tear down its parent's cluster
        self._destroyed = True
        errors: list[str] = []
        # Every step is best effort so one failure does not leave the rest behind.
        try:
            self.stop_all()
        except Exception as exc:
            errors.append(f"stop_all: {exc}")
        # Anything else a test left running inside our namespaces is ours too.
        for ns in self.namespaces:
            try:
                _delete_netns(ns)
            except Exception as exc:
                errors.append(f"delete netns {ns}: {exc}")
        try:
            _cleanup_shm(self._started_pids)
        except OSError as exc:
            errors.append(f"/dev/shm cleanup: {exc}")
        if self._own_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        atexit.unregister(self.destroy)
        left = set(self.namespaces) & set(_list_netns())
        if left:
            errors.append(f"namespaces still present: {sorted(left)}")
        if errors:
            raise ClusterError("destroy() incomplete: " + "; ".join(errors))

    def __enter__(self) -> NetnsCluster:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def __repr__(self) -> str:
        return (
            f"NetnsCluster(prefix={self.prefix!r}, nodes={self.size}, subnet=10.213.{self.subnet_octet}.0/24, "
            f"running={self.running_nodes()})"
        )

"""Local podman nodes for `make cluster`, molecule and the benchmarks.

Nodes are podman containers with systemd as PID 1 on a dedicated internal podman network (no
route out; the host reaches them through the bridge, so Ansible talks to them over SSH exactly
as to real machines). Facts from docs/design.md#the-test-cluster-on-podman: runtime runc (crun
fails on this cgroup hybrid), lowered default ulimits (podman's defaults fail with "error setting
rlimit"), a larger /dev/shm.

    python hack/podman_cluster.py up   [--nodes 3] [--prefix quorate]   # creates, writes the inventory
    python hack/podman_cluster.py up --bare --apt-repo build/apt-repo   # bare nodes + a local apt repo
    python hack/podman_cluster.py down [--prefix quorate]
    python hack/podman_cluster.py check-network    # can this host start a container on a bridge network?
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build"
IMAGE = os.environ.get("QUORATE_NODE_IMAGE", "localhost/quorate-node:bookworm-2")
# What a user's bare node has: systemd, sshd, python3; no corosync, no package source (hack/node-image.sh --bare).
BARE_IMAGE = "localhost/quorate-node-bare:bookworm"
APT_REPO_PORT = 8080
CONTAINERS_CONF = BUILD / "podman" / "containers.conf"


def podman_env() -> dict:
    CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
    CONTAINERS_CONF.write_text(
        '[containers]\ndefault_ulimits = ["nofile=16384:16384", "nproc=8192:8192"]\n[engine]\nruntime = "runc"\n'
        # netavark gives an --internal network's bridge the gateway address, so the host reaches the
        # nodes through it; the CNI backend leaves that bridge without one (see check_route).
        '[network]\nnetwork_backend = "netavark"\n'
    )
    return dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF))


def podman(*args: str, check: bool = True, capture: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=capture, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def check_route(addr: str) -> None:
    """Refuse to talk to a node unless the host routes its address straight onto a local bridge.

    A bridge without an address (podman's CNI backend on an --internal network) leaves the node
    subnet to the default route: SSH would then go to the outside network, which tests must never
    touch. Checked before the first packet to any node.
    """
    route = subprocess.run(["ip", "-o", "route", "get", addr], capture_output=True, text=True, check=False).stdout
    words = route.split()
    device = words[words.index("dev") + 1] if "dev" in words else ""
    if "via" in words or not device:
        raise RuntimeError(
            f"the host routes node address {addr} through a gateway ({route.strip() or 'no route'}), not a "
            "local podman bridge: is podman's netavark backend installed (hack/install-host-deps.sh)? "
            "Nothing was sent to the node."
        )


# What podman prints when a host package is missing, and which package that is. netavark runs the
# iptables program to set up a bridge network; a --no-install-recommends host lacks it
# (docs/design.md#the-test-cluster-on-podman).
MISSING_PACKAGE_SIGNS = (
    ("netavark: No such file or directory", "iptables"),
    ("aardvark-dns", "aardvark-dns"),
    ("netavark", "netavark"),
    ("runc", "runc"),
)


def check_container_network() -> None:
    """Start a throwaway container on a throwaway internal network, the way the nodes start.

    Runs `true` from a root made of the host's own /usr/bin/true and its libraries: no image and
    no registry needed. Raises SystemExit with one line naming the missing package.
    """
    if shutil.which("podman") is None:
        raise SystemExit("check-network: podman is not installed: run hack/install-host-deps.sh as root")
    network = f"quorate-netcheck-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="quorate-netcheck.") as root:
        libs = subprocess.run(["ldd", "/usr/bin/true"], capture_output=True, text=True, check=True).stdout
        for path in ["/usr/bin/true", *(w for w in libs.split() if w.startswith("/"))]:
            target = Path(root + path)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
        podman("network", "rm", "-f", network, check=False)
        # A subnet no cluster of ours uses (they take 10.89.7x-9x); internal: no route out.
        made = podman("network", "create", "--internal", "--subnet", "10.89.250.0/24", network, check=False)
        try:
            run = (
                made
                if made.returncode
                else podman(
                    "run", "--rm", "--network", network, "--rootfs", root, "/usr/bin/true", check=False, timeout=60
                )
            )
        finally:
            podman("network", "rm", "-f", network, check=False)
    if run.returncode == 0:
        return
    error = (run.stderr.strip().splitlines() or [f"exit {run.returncode}"])[-1]
    for sign, package in MISSING_PACKAGE_SIGNS:
        if sign in error:
            raise SystemExit(
                f"check-network: podman cannot start a container on a bridge network ({error}): "
                f"install the Debian package {package} (hack/install-host-deps.sh lists it)"
            )
    raise SystemExit(f"check-network: podman cannot start a container on a bridge network: {error}")


class PodmanCluster:
    def __init__(
        self,
        nodes: int = 3,
        prefix: str = "quorate",
        subnet_octet: int = 77,
        ring_octet: int | None = None,
        bare: bool = False,
        apt_repo: Path | None = None,
        apt_repo_upgrade: bool = False,
    ):
        self.size = nodes
        self.bare = bare
        self.image = BARE_IMAGE if bare else IMAGE
        # Served to the nodes over HTTP on their bridge's address, the only place they can reach.
        self.apt_repo = apt_repo
        # The repository holds a newer build of the image's own corosync (apt_repo.build_upgrade).
        self.apt_repo_upgrade = apt_repo_upgrade
        self.prefix = prefix
        self.network = f"{prefix}-net"
        self.subnet = f"10.89.{subnet_octet}"
        # Optional dedicated corosync network (eth1), as production clusters have: its link can be
        # cut while Ansible still reaches the node over the first one (eth0).
        self.ring_network = f"{prefix}-ring" if ring_octet is not None else None
        self.ring_subnet = f"10.89.{ring_octet}" if ring_octet is not None else None
        self.workdir = BUILD / prefix
        self.key = self.workdir / "id_ed25519"
        self.inventory = self.workdir / "inventory.yml"
        self.apt_repo_pid = self.workdir / "apt-repo.pid"

    @property
    def apt_repository(self) -> str:
        """The sources.list line that reaches the served repository from the nodes."""
        return f"deb [trusted=yes] http://{self.subnet}.1:{APT_REPO_PORT}/ ./"

    def name(self, node: int) -> str:
        return f"{self.prefix}-n{node}"

    def addr(self, node: int) -> str:
        return f"{self.subnet}.{10 + node}"

    def ring_addr(self, node: int) -> str:
        """The node's corosync address: on the ring network when there is one."""
        return f"{self.ring_subnet or self.subnet}.{10 + node}"

    @property
    def nodes(self) -> list[int]:
        return list(range(1, self.size + 1))

    def exists(self) -> list[str]:
        out = podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
        return [n for n in out if n.startswith(f"{self.prefix}-n")]

    def down(self) -> None:
        """Remove every container and the network of this prefix (leftovers of any size)."""
        from apt_repo import stop

        stop(self.apt_repo_pid)
        for name in self.exists():
            podman("rm", "-f", "-t", "2", name, check=False)
        for network in (self.network, self.ring_network):
            if network:
                podman("network", "rm", "-f", network, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def up(self) -> None:
        image_script = [str(REPO / "hack" / "node-image.sh"), *(["--bare"] if self.bare else []), self.image]
        subprocess.run(image_script, check=True, env=podman_env())
        if self.apt_repo:
            from apt_repo import build, build_upgrade

            if self.apt_repo_upgrade:
                build_upgrade(self.apt_repo, self.image)
            else:
                build(self.apt_repo, self.image)
        self.down()  # names of a stopped run would collide
        self.workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)], check=True)
        podman("network", "create", "--internal", "--subnet", f"{self.subnet}.0/24", self.network)
        if self.ring_network:
            podman("network", "create", "--internal", "--subnet", f"{self.ring_subnet}.0/24", self.ring_network)
        for node in self.nodes:
            # Named: with two networks podman otherwise hands out eth0/eth1 in no fixed order, and a
            # test that cuts corosync's link (eth1) could cut the one Ansible uses.
            networks = ["--network", f"{self.network}:ip={self.addr(node)},interface_name=eth0"]
            if self.ring_network:
                networks += ["--network", f"{self.ring_network}:ip={self.ring_addr(node)},interface_name=eth1"]
            podman(
                "create",
                "--name", self.name(node),
                "--hostname", f"n{node}",
                *networks,
                "--systemd=always",
                "--shm-size=256m",
                "--cap-add", "SYS_NICE,IPC_LOCK,NET_ADMIN,NET_RAW",
                "--label", f"quorate.cluster={self.prefix}",
                self.image,
                "/sbin/init",
            )  # fmt: skip
        pubkey = self.key.with_suffix(".pub").read_text()
        for node in self.nodes:
            podman("start", self.name(node))
        for node in self.nodes:
            check_route(self.addr(node))
        if self.apt_repo:
            from apt_repo import serve

            # The bridge has its address once the first node is on it (netavark creates it then).
            serve(self.apt_repo, f"{self.subnet}.1", APT_REPO_PORT, self.apt_repo_pid)
            # As at an air-gapped site: the served repository is the nodes' only package source (the full
            # image keeps debootstrap's Debian mirror, which an internal network cannot reach).
            for node in self.nodes:
                self.exec(node, "sh", "-c", ": > /etc/apt/sources.list", check=True)
        for node in self.nodes:
            subprocess.run(
                ["podman", "exec", "-i", self.name(node), "sh", "-c", "umask 077; cat > /root/.ssh/authorized_keys"],
                input=pubkey,
                text=True,
                env=podman_env(),
                check=True,
            )
        for node in self.nodes:
            self.wait_ssh(node)
        self.write_inventory()

    def wait_ssh(self, node: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.addr(node), 22), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"sshd on {self.name(node)} ({self.addr(node)}) did not come up in {timeout}s")

    def write_inventory(self) -> None:
        hosts = {
            f"n{node}": {
                "ansible_host": self.addr(node),
                "quorate_corosync_nodeid": node,
                "quorate_corosync_addrs": [self.ring_addr(node)],
            }
            for node in self.nodes
        }
        inventory = {
            "all": {
                "children": {"quorate_cluster": {"hosts": hosts}},
                "vars": {
                    "ansible_user": "root",
                    "ansible_ssh_private_key_file": str(self.key),
                    # Throwaway nodes with fresh host keys on every `up`.
                    "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                    "-o LogLevel=ERROR",
                    "ansible_python_interpreter": "/usr/bin/python3",
                    "quorate_podman_container_prefix": self.prefix,
                    **({"quorate_corosync_apt_repository": self.apt_repository} if self.apt_repo else {}),
                },
            }
        }
        # JSON is YAML: no YAML library needed here.
        self.inventory.write_text(json.dumps(inventory, indent=2) + "\n")

    def exec(self, node: int, *argv: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
        return podman("exec", self.name(node), *argv, check=check, timeout=timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("up", "down", "check-network"))
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--prefix", default="quorate")
    parser.add_argument("--subnet-octet", type=int, default=77)
    parser.add_argument("--ring-octet", type=int, help="give corosync its own network 10.89.RING.0/24 (eth1)")
    parser.add_argument("--bare", action="store_true", help="nodes without corosync (hack/node-image.sh --bare)")
    parser.add_argument("--apt-repo", type=Path, help="build this local apt repository and serve it to the nodes")
    parser.add_argument(
        "--apt-repo-upgrade", action="store_true", help="the repository holds a newer build of the image's corosync"
    )
    args = parser.parse_args()
    if args.action == "check-network":
        check_container_network()
        sys.stdout.write("check-network: podman starts containers on an internal bridge network\n")
        return 0
    apt_repo = args.apt_repo.resolve() if args.apt_repo else None
    cluster = PodmanCluster(
        args.nodes, args.prefix, args.subnet_octet, args.ring_octet, args.bare, apt_repo, args.apt_repo_upgrade
    )
    if args.action == "down":
        cluster.down()
        return 0
    cluster.up()
    sys.stdout.write(f"{args.nodes} podman nodes up; inventory {cluster.inventory}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

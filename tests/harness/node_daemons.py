"""Start the collection's node daemons (quorate-ckptd, quorate-controld) inside netns nodes.

The daemons run from build/node/quorate_node, a link to plugins/module_utils: the same files
the roles install on real nodes as the quorate_node package. Every process started here is
tracked by PID and stopped by PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NODE_PATH = REPO / "build" / "node"
COLLECTIONS = REPO / "build" / "collections"


def ensure_node_package() -> None:
    link = NODE_PATH / "quorate_node"
    NODE_PATH.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(REPO / "plugins" / "module_utils", target_is_directory=True)


class NodeDaemons:
    """The daemons of one NetnsCluster; ``stop_all()`` ends every one of them."""

    def __init__(self, cluster):
        ensure_node_package()
        self.cluster = cluster
        self.procs: dict[tuple, subprocess.Popen] = {}
        self.env = dict(os.environ, PYTHONPATH=str(NODE_PATH), PYTHONUNBUFFERED="1")

    def socket(self, node: int) -> str:
        return str(self.cluster.node_dir(node) / "ckptd.sock")

    def ready_file(self, node: int) -> Path:
        return self.cluster.node_dir(node) / "controld.json"

    def log(self, name: str, node: int) -> Path:
        return self.cluster.workdir / f"{name}-n{node}.log"

    def _start(self, name: str, node: int, module: str, args: list) -> subprocess.Popen:
        self.stop(name, node)
        argv = self.cluster.node_env_prefix(node) + [sys.executable, "-m", f"quorate_node.programs.{module}"] + args
        with open(self.log(name, node), "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.procs[(name, node)] = proc
        return proc

    def start_ckptd(self, node: int) -> subprocess.Popen:
        return self._start("ckptd", node, "ckptd", ["--socket", self.socket(node)])

    def start_controld(self, node: int, *extra: str) -> subprocess.Popen:
        try:
            self.ready_file(node).unlink()
        except FileNotFoundError:
            pass
        args = ["--socket", self.socket(node), "--ready-file", str(self.ready_file(node)), *extra]
        return self._start("controld", node, "controld", args)

    def stop(self, name: str, node: int, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        proc = self.procs.pop((name, node), None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def kill9(self, name: str, node: int) -> None:
        self.stop(name, node, signal.SIGKILL)

    def start_synced_ckptds(self, timeout: float = 30.0) -> None:
        """quorate-ckptd on every node of the cluster, then until every one is synced with all."""
        nodes = self.cluster.node_ids
        for node in nodes:
            self.start_ckptd(node)
        self.wait_synced(nodes, len(nodes), timeout)

    def stop_all(self) -> None:
        for name, node in list(self.procs):
            self.stop(name, node)

    def running(self, name: str, node: int) -> bool:
        proc = self.procs.get((name, node))
        return proc is not None and proc.poll() is None

    # -- looking at the service ----------------------------------------------------------

    def ckpt(self, node: int, *argv: str) -> subprocess.CompletedProcess:
        """Run quorate-ckpt on ``node`` (JSON output)."""
        cmd = [sys.executable, "-m", "quorate_node.programs.ckpt_cli", "--socket", self.socket(node), "--json", *argv]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=30, check=False)

    def status(self, node: int) -> dict:
        proc = self.ckpt(node, "status")
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    def wait_synced(self, nodes: list, members: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [self.status(n) for n in nodes]
            if all(s.get("synced") and len(s.get("members", [])) == members for s in states):
                return
            time.sleep(0.1)
        raise AssertionError(f"ckptd not synced with {members} members: {states}\n{self.tails('ckptd', nodes)}")

    def wait_ready(self, nodes: list, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.ready_file(n).exists() for n in nodes):
                return {n: json.loads(self.ready_file(n).read_text()) for n in nodes}
            for node in nodes:
                proc = self.procs.get(("controld", node))
                if proc is not None and proc.poll() is not None:
                    raise AssertionError(
                        f"controld on node {node} exited {proc.returncode}\n{self.tails('controld', [node])}"
                    )
            time.sleep(0.05)
        raise AssertionError(f"controld not ready within {timeout}s\n{self.tails('controld', nodes)}")

    def listing(self, node: int) -> list:
        return json.loads(self.ckpt(node, "list").stdout or "[]")

    def tails(self, name: str, nodes: list, lines: int = 15) -> str:
        out = []
        for node in nodes:
            path = self.log(name, node)
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
            out.append(f"--- {name} n{node}\n" + "\n".join(text))
        return "\n".join(out)

    def run_module(self, node: int, module: str, args: dict, timeout: float = 120.0) -> tuple[bool, dict]:
        """Run a quorate.cluster module's code directly (args file) inside ``node``."""
        args_file = self.cluster.workdir / f"args-{module}-n{node}.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        argv = self.cluster.node_env_prefix(node) + [
            sys.executable,
            "-m",
            f"ansible_collections.quorate.cluster.plugins.modules.{module}",
            str(args_file),
        ]
        env = dict(self.env, PYTHONPATH=str(COLLECTIONS))
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
        result = json.loads(proc.stdout)
        return bool(result.get("failed")), result


@contextmanager
def ckptd_everywhere(cluster) -> Iterator[NodeDaemons]:
    """quorate-ckptd on every node of a running, quorate cluster, synced; every daemon stopped after."""
    daemons = NodeDaemons(cluster)
    try:
        daemons.start_synced_ckptds()
        yield daemons
    finally:
        daemons.stop_all()

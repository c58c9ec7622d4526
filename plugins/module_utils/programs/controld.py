# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""quorate-controld: the reference controld, doing the protocol negotiation of docs/design.md#the-problem for real.

At startup, as ocfs2_controld did:

1. create this node's local checkpoint (exclusively: a fast restart meets its predecessor's
   checkpoint until that is torn down, Case.EXIST_CREATE) with the sections
   ``daemon_max_protocol`` and ``<fs>_max_protocol`` (``"<2-hex major> <2-hex minor>\\0"``),
   *before* joining the CPG group;
2. join the CPG group. The member whose join shows only itself is first: it opens the global
   checkpoint read/write and stores ``daemon_protocol`` / ``<fs>_protocol``, the lowest maximum
   among the local checkpoints present, so a mixed-version cluster runs the lowest common
   version. Every other member opens the global checkpoint read-only (Case.NOT_EXIST_READ
   until the first member's open is visible) and reads it.

Unlike ocfs2_controld, "my join shows only me" is trusted only once corosync is quorate: during a
simultaneous corosync start every node is briefly alone in its own ring
(docs/design.md#the-simultaneous-start-race), and a
daemon deciding then would race the others. Every open goes through the retry client with
its live-totem deadline. Readiness: sd_notify READY=1 and a JSON ready file.

Once ready, the daemon reads the running protocol again every PROTOCOL_POLL_SECONDS and adopts a
raise (shared/controld_protocol.raise_running, run by the upgrade playbook once every node
announces a higher maximum): the ready file and the unit's status then show the new level.

Run: ``python3 -m quorate_node.programs.controld``. Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import time
from typing import Any

from ..shared.ais_errors import AisError, AisException, Operation
from ..shared.ckpt_client import CheckpointClient, default_socket
from ..shared.ckpt_protocol import OPEN_READ, protocol_version_text
from ..shared.controld_protocol import (
    DAEMON_SECTION,
    DEFAULT_PREFIX,
    NODE_DAEMON_MAX_PROTOCOL,
    NODE_FS_MAX_PROTOCOL,
    compatible,
    local_checkpoint_name,
    lowest_common,
    parse_version,
    read_maxima,
    read_running,
    version_text,
)
from ..shared.corosync_runtime import CorosyncRuntime
from ..shared.files import write_atomic
from ..shared.retry_policy import RetryClient, RetryFailed, RetryPolicy
from .cpg import CpgError, CpgGroup
from .node_service import DEFAULT_RUN_DIR, ensure_run_dir, on_stop_signals, sd_notify, setup_logging

DEFAULT_GROUP = "quorate_controld"
DEFAULT_READY_FILE = os.path.join(DEFAULT_RUN_DIR, "controld.json")
# Seconds between two reads of the running protocol once ready: how soon a live raise
# (shared/controld_protocol.raise_running) reaches this daemon.
PROTOCOL_POLL_SECONDS = 2.0


def subprocess_runner(argv: list) -> tuple:
    env = dict(os.environ, LC_ALL="C", LANG="C")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, check=False)
    return proc.returncode, proc.stdout, proc.stderr


class _Membership:
    """CPG handler that records our first configuration change."""

    def __init__(self, log: Any):
        self.log = log
        self.first_view: list | None = None
        self.me: tuple | None = None

    def on_confchg(self, members, left, joined) -> None:
        ids = [(m.nodeid, m.pid) for m in members]
        if self.first_view is None and self.me in ids:
            self.first_view = ids
        self.log.info(
            "controld group: %s (left %s, joined %s)", ids, [m.nodeid for m in left], [m.nodeid for m in joined]
        )

    def on_deliver(self, nodeid: int, pid: int, payload: bytes) -> None:
        return None

    def on_totem_confchg(self, ring_id, members) -> None:
        return None


class StartupAborted(Exception):
    """A stop signal arrived before the daemon was ready."""


class Controld:
    def __init__(self, args: argparse.Namespace, log: Any):
        self.args = args
        self.log = log
        self.fs = args.fs_name
        self.daemon_max = parse_version(args.daemon_max)
        self.fs_max = parse_version(args.fs_max)
        self.runtime = CorosyncRuntime(subprocess_runner)
        self.client = CheckpointClient(args.socket, timeout=5.0)
        self.running = True
        self.ready = False
        self.cpg: CpgGroup | None = None
        self.reports: dict[str, dict] = {}

    def retry(self, timeout: float | None = None) -> RetryClient:
        policy = RetryPolicy(timeout=timeout, min_timeout=self.args.min_timeout)
        return RetryClient(policy, timing_source=self.runtime.totem_timing)

    # -- the startup sequence --------------------------------------------------------------------

    def wait_for_settled_membership(self) -> int:
        def quorate() -> tuple:
            state = self.runtime.quorum()
            return state.quorate, state

        state, report = self.retry(self.args.startup_timeout).wait_for(quorate, what="quorate corosync membership")
        self.reports["membership"] = report.as_dict()
        self.log.info("corosync quorate: members %s, ring %s", state.members, state.ring_id)
        return state.node_id

    def create_local_checkpoint(self, nodeid: int) -> None:
        name = local_checkpoint_name(self.args.prefix, nodeid)
        attrs = {
            "creation_flags": 0,
            "checkpoint_size": 4096,
            "retention_duration": int(self.args.local_retention * 1e9),
            "max_sections": 16,
            "max_section_size": 256,
            "max_section_id_size": 64,
        }

        opened: dict = {}

        def create() -> int:
            # Keep the handle across retries: re-creating our own checkpoint would collide.
            if "handle" not in opened:
                opened["handle"] = self.client.create(name, attrs, exclusive=True)
            self.put_section(opened["handle"], f"{DAEMON_SECTION}_max_protocol", self.daemon_max)
            self.put_section(opened["handle"], f"{self.fs}_max_protocol", self.fs_max)
            return opened["handle"]

        self.local_handle, report = self.retry().call(
            create, Operation.OPEN_CREATE, reconnect=lambda: self.reconnect(opened), what=f"create of {name}"
        )
        self.reports["local"] = report.as_dict()
        self.log.info("local checkpoint %s created (case %s, %d attempts)", name, report.case, report.attempts)

    def reconnect(self, opened: dict) -> None:
        # Handles die with their connection; the service closes them for us.
        opened.clear()
        self.client.reconnect()

    def put_section(self, handle: int, section: str, version: tuple) -> None:
        self.client.section_put(handle, section, protocol_version_text(*version))

    def join_group(self) -> list:
        handler = _Membership(self.log)
        self.cpg = CpgGroup(self.args.group, handler)

        def join() -> None:
            try:
                self.cpg.initialize()
                handler.me = (self.cpg.local_nodeid(), os.getpid())
                self.cpg.join()
            except CpgError as exc:
                self.cpg.finalize()
                raise AisException(exc.code, str(exc)) from exc

        self.retry().call(join, what=f"join of CPG group {self.args.group}")
        deadline = time.monotonic() + 30
        while handler.first_view is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no configuration change for our join of {self.args.group} within 30s")
            select.select([self.cpg.fileno()], [], [], 0.1)
            self.cpg.dispatch()
        self.handler = handler
        return handler.first_view

    def read_maxima(self, members: list) -> list:
        """``[(nodeid, daemon_max, fs_max)]`` from the local checkpoints of the current corosync members."""
        found = read_maxima(self.client, self.args.prefix, self.fs, members)
        return [(nodeid, daemon, fs) for nodeid, (daemon, fs) in found.items()]

    def negotiate_as_first(self) -> tuple:
        attrs = {
            "creation_flags": 0,
            "checkpoint_size": 4096,
            "retention_duration": 0,  # gone with the last controld: no stale protocol for the next start
            "max_sections": 16,
            "max_section_size": 256,
            "max_section_id_size": 64,
        }

        opened: dict = {}

        grace_until = time.monotonic() + self.args.announce_grace

        def open_and_store() -> tuple:
            members = self.runtime.quorum().members
            maxima = self.read_maxima(members)
            # Daemons started at the same moment announce their maxima within milliseconds;
            # wait briefly for every corosync member's, so the pick is the same whatever the
            # start order. A node without a controld only delays us by the grace period.
            missing = sorted(set(members) - {m[0] for m in maxima})
            if missing and time.monotonic() < grace_until:
                raise AisException(
                    AisError.NOT_EXIST, f"local checkpoints of nodes {missing} not there yet", Operation.OPEN_READ
                )
            # The lowest common version among the daemons that announced theirs (same major).
            daemon = lowest_common([m[1] for m in maxima] + [self.daemon_max], self.daemon_max[0])
            fs = lowest_common([m[2] for m in maxima] + [self.fs_max], self.fs_max[0])
            if "handle" not in opened:
                opened["handle"] = self.client.create(self.args.prefix, attrs)
            self.put_section(opened["handle"], f"{DAEMON_SECTION}_protocol", daemon)
            self.put_section(opened["handle"], f"{self.fs}_protocol", fs)
            return opened["handle"], daemon, fs, [m[0] for m in maxima]

        (self.global_handle, daemon, fs, seen), report = self.retry().call(
            open_and_store,
            Operation.OPEN_CREATE,
            reconnect=lambda: self.reconnect(opened),
            what="create of the global checkpoint",
        )
        self.reports["global"] = report.as_dict()
        self.log.info("first member: running protocol daemon %s, %s %s (maxima of nodes %s)", daemon, self.fs, fs, seen)
        return daemon, fs

    def negotiate_as_joiner(self) -> tuple:
        def open_and_read() -> tuple:
            handle = self.client.open(self.args.prefix, OPEN_READ)
            try:
                daemon, fs = read_running(self.client, self.args.prefix, self.fs, handle)
            except AisException as exc:
                self.client.close(handle)
                if exc.code is AisError.NOT_EXIST:
                    # Open but not written yet: the first member is between its open and its write.
                    raise AisException(
                        AisError.NOT_EXIST, "protocol sections not written yet", Operation.OPEN_READ
                    ) from exc
                raise
            return handle, daemon, fs

        (self.global_handle, daemon, fs), report = self.retry().call(
            open_and_read,
            Operation.OPEN_READ,
            reconnect=self.client.reconnect,
            what="read-only open of the global checkpoint",
        )
        self.reports["global"] = report.as_dict()
        self.log.info("joined running protocol daemon %s, %s %s (case %s)", daemon, self.fs, fs, report.case)
        return daemon, fs

    # -- run ---------------------------------------------------------------------------------------

    def run(self) -> int:
        on_stop_signals(self.stop)
        started = time.monotonic()
        try:
            nodeid = self.wait_for_settled_membership()
            self.create_local_checkpoint(nodeid)
            view = self.join_group()
            first = view == [self.handler.me]
            daemon, fs = self.negotiate_as_first() if first else self.negotiate_as_joiner()
        except StartupAborted:
            # The process ends now: the checkpoint service closes our handles with the connection
            # and corosync drops the CPG member with the process.
            self.log.info("stopped during startup, after %.1fs", time.monotonic() - started)
            return 0
        except RetryFailed as failed:
            self.log.error("startup failed: %s; report %s", failed, json.dumps(failed.report.as_dict()))
            return 1
        except (RuntimeError, AisException) as exc:
            self.log.error("startup failed: %s", exc)
            return 1
        if not compatible(daemon, self.daemon_max) or not compatible(fs, self.fs_max):
            self.log.error(
                "running protocol daemon %s / %s %s is not supported by this daemon (max %s / %s): "
                "upgrade this node or downgrade the cluster",
                daemon, self.fs, fs, self.daemon_max, self.fs_max,
            )  # fmt: skip
            return 2
        self.ready_state = {
            "nodeid": nodeid,
            "first": first,
            "daemon_protocol": list(daemon),
            "fs_protocol": list(fs),
            "fs_name": self.fs,
            "daemon_max_protocol": list(self.daemon_max),
            "fs_max_protocol": list(self.fs_max),
            "group_view": [list(m) for m in view],
            "startup_seconds": round(time.monotonic() - started, 3),
            "reports": self.reports,
            "pid": os.getpid(),
        }
        self.write_ready(self.ready_state)
        self.ready = True
        sd_notify(f"READY=1\nSTATUS=running protocol {version_text(daemon)}")
        self.log.info("ready: %s", json.dumps(self.ready_state, sort_keys=True))
        return self.serve()

    def follow_running_protocol(self) -> int | None:
        """Adopt a raise of the running protocol (made live by controld_protocol after a rolling
        upgrade). Returns an exit code when this daemon cannot run the new protocol."""
        try:
            daemon, fs = read_running(self.client, self.args.prefix, self.fs, self.global_handle)
        except (AisException, ValueError) as exc:
            # TRY_AGAIN during a membership change, a dead connection: the next poll reads again.
            self.log.debug("running protocol not read this time: %s", exc)
            return None
        current = (tuple(self.ready_state["daemon_protocol"]), tuple(self.ready_state["fs_protocol"]))
        if (daemon, fs) == current:
            return None
        if not compatible(daemon, self.daemon_max) or not compatible(fs, self.fs_max):
            self.log.error(
                "running protocol changed to daemon %s / %s %s, which this daemon does not support (max %s / %s): "
                "exiting; upgrade this node's programs",
                version_text(daemon), self.fs, version_text(fs),
                version_text(self.daemon_max), version_text(self.fs_max),
            )  # fmt: skip
            return 2
        self.ready_state.update(daemon_protocol=list(daemon), fs_protocol=list(fs))
        self.write_ready(self.ready_state)
        sd_notify(f"STATUS=running protocol {version_text(daemon)}")
        self.log.info(
            "running protocol raised: daemon %s -> %s, %s %s -> %s",
            version_text(current[0]), version_text(daemon), self.fs, version_text(current[1]), version_text(fs),
        )  # fmt: skip
        return None

    def write_ready(self, ready: dict) -> None:
        path = self.args.ready_file
        ensure_run_dir(os.path.dirname(path) or ".")
        write_atomic(path, json.dumps(ready, sort_keys=True))

    def serve(self) -> int:
        """Keep the handles (and so the checkpoints) open; follow the group until stopped."""
        next_poll = time.monotonic() + PROTOCOL_POLL_SECONDS
        while self.running:
            readable, _w, _x = select.select([self.cpg.fileno()], [], [], 0.5)
            if readable:
                try:
                    self.cpg.dispatch()
                except CpgError as exc:
                    self.log.error("lost corosync: %s; exiting so systemd restarts us in order", exc)
                    return 3
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + PROTOCOL_POLL_SECONDS
                code = self.follow_running_protocol()
                if code is not None:
                    return code
        self.log.info("stopping: closing checkpoints and leaving the group")
        for handle in (getattr(self, "global_handle", None), getattr(self, "local_handle", None)):
            if handle is not None:
                try:
                    self.client.close(handle)
                except AisException as exc:
                    self.log.warning("close failed (%s): the service closes it with our connection", exc)
        try:
            self.cpg.leave()
        except CpgError:
            pass
        self.cpg.finalize()
        try:
            os.unlink(self.args.ready_file)
        except OSError:
            pass
        return 0

    def stop(self, signum: int) -> None:
        self.running = False
        if not self.ready:
            # Startup retries can run for minutes (quorum wait); a stop must not wait for them, or
            # systemd's stop timeout ends in SIGKILL. The handler runs in the main thread, so this
            # unwinds whichever retry loop is sleeping.
            raise StartupAborted(f"signal {signum}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quorate-controld", description="reference controld: protocol negotiation")
    parser.add_argument("--socket", default=default_socket(), help="checkpoint service socket")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="global checkpoint name (local ones add :<nodeid>)")
    parser.add_argument("--group", default=DEFAULT_GROUP, help="CPG group name")
    parser.add_argument("--fs-name", default="ocfs2", help="name of the second protocol (sections <fs>_protocol)")
    parser.add_argument(
        "--daemon-max", default=version_text(NODE_DAEMON_MAX_PROTOCOL), help="maximum daemon protocol MAJOR.MINOR"
    )
    parser.add_argument(
        "--fs-max", default=version_text(NODE_FS_MAX_PROTOCOL), help="maximum <fs> protocol MAJOR.MINOR"
    )
    parser.add_argument("--local-retention", type=float, default=3.0, help="seconds the local checkpoint outlives us")
    parser.add_argument(
        "--announce-grace", type=float, default=5.0, help="seconds the first member waits for the others' maxima"
    )
    parser.add_argument("--startup-timeout", type=float, default=120.0, help="limit for quorum at startup")
    parser.add_argument("--min-timeout", type=float, default=0.0, help="floor for every checkpoint retry deadline")
    parser.add_argument("--ready-file", default=DEFAULT_READY_FILE)
    parser.add_argument("--verbose", action="store_true")
    return parser


def main(argv: list | None = None) -> int:
    args = build_parser().parse_args(argv)
    for option in ("daemon_max", "fs_max"):
        try:
            parse_version(getattr(args, option))
        except ValueError as exc:
            sys.stderr.write(f"quorate-controld: --{option.replace('_', '-')}: {exc}\n")
            return 64
    log = setup_logging("quorate-controld", args.verbose)
    return Controld(args, log).run()


if __name__ == "__main__":
    raise SystemExit(main())

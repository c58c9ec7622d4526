"""Per-node helper for bench_checkpoint.py; run it inside a node's netns (``ip netns exec NODE``).

corosync's libqb IPC is scoped by network namespace, so CPG calls and the corosync tools used
here talk to that node's corosync; the checkpoint service is reached through its socket path.
Every result is one JSON line on stdout; ``t`` values are CLOCK_MONOTONIC, which is host-wide
(not per netns), so the benchmark can subtract its own timestamps from them. Modes:

  wait     the ckpt_wait barrier: for each JSON command on stdin (``{"name", "sections"}``) run
           the checkpoint barrier's ``probe()`` (module_utils/shared/ckpt_barrier.py) under the
           RetryClient exactly as the module's main() does, and print when it succeeded. Ends when stdin closes.
  bandaid  the two-try retry (ocfs2_controld's TENTATIVE path,
           docs/design.md#why-a-fixed-retry-fails): the same steps as quorate-controld, but
           every checkpoint open/read/write is tried at most twice, 1 s apart, with no quorum
           wait and no announce grace. Prints one ``result`` line,
           then keeps its handles (like a running daemon) until stdin closes.
  writers  --clients K connections to the local ckptd, each overwriting its own 1 KiB section
           back to back for --duration seconds; prints writes/s, MB/s and per-write latency.
           Each connection has exactly one write outstanding: the next is sent only after the
           reply to the last one (which the ckptd sends once the write came back in agreed
           order). One blocking CheckpointClient per thread; ``--selector`` drives all K
           connections from one thread instead (about half the client CPU per write, but on a
           busy host one thread gets one scheduler share where K threads get K, so it is not
           faster there: the benchmark keeps the threads). ``--window W`` (W > 1): each
           connection keeps W writes in flight instead, pipelined through
           CheckpointClient.section_overwrite_many (what a writer of many sections does); the
           latency is then the mean by Little's law (W / the connection's rate).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import select
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# On a node the installed node programs are on PYTHONPATH (.../quorate_node.zip); in the benchmark's
# netns nodes the checkout's module_utils is, linked as tests/harness/node_daemons.py does.
if importlib.util.find_spec("quorate_node") is None:
    sys.path.insert(0, str(REPO / "build" / "node"))

from quorate_node.programs.cpg import CpgError, CpgGroup, CpgMember  # noqa: E402
from quorate_node.shared.ais_errors import (  # noqa: E402
    AisError,
    AisException,
    Operation,
)
from quorate_node.shared.ckpt_barrier import probe  # noqa: E402
from quorate_node.shared.ckpt_client import CheckpointClient  # noqa: E402
from quorate_node.shared.ckpt_protocol import (  # noqa: E402
    KIND_REPLY,
    OPEN_READ,
    OPEN_WRITE,
    FrameReader,
    parse_protocol_version,
    protocol_version_text,
    request,
)
from quorate_node.shared.corosync_runtime import CorosyncRuntime  # noqa: E402
from quorate_node.shared.retry_policy import (  # noqa: E402
    RetryClient,
    RetryFailed,
    RetryPolicy,
)
from stats import percentile  # noqa: E402  next to this file, here and on the nodes

# The two-try retry (docs/design.md#why-a-fixed-retry-fails): two tries, one second apart.
TENTATIVE_TRIES = 2
TENTATIVE_SLEEP_S = 1.0
# Hard bound for one two-try run (CPG setup loops included) and for its lingering.
BANDAID_LIMIT_S = 30.0
LINGER_LIMIT_S = 180.0


def emit(event: dict[str, Any]) -> None:
    event.setdefault("t", time.monotonic())
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def run_command(argv: list) -> tuple:
    """The modules' runner shape (rc, out, err), with the C locale they force."""
    env = dict(os.environ, LC_ALL="C", LANG="C")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, check=False)
    return proc.returncode, proc.stdout, proc.stderr


# --------------------------------------------------------------------------- wait


def run_wait(args: argparse.Namespace) -> int:
    runtime = CorosyncRuntime(run_command)
    emit({"ev": "ready", "pid": os.getpid()})
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        name, sections = cmd["name"], list(cmd.get("sections", []))
        # As ckpt_wait's main(): a fresh client per run, policy from the (absent) timeout option.
        client = CheckpointClient(args.socket)
        retry = RetryClient(RetryPolicy(timeout=cmd.get("timeout")), timing_source=runtime.totem_timing)
        started = time.monotonic()
        emit({"ev": "waiting", "name": name, "t": started})
        try:
            values, report = retry.call(
                lambda c=client, n=name, s=sections: probe(c, n, "read", None, s),
                Operation.OPEN_READ,
                reconnect=client.reconnect,
                what=f"open of checkpoint {name!r}",
            )
            done = time.monotonic()
            emit(
                {
                    "ev": "done",
                    "ok": True,
                    "name": name,
                    "t": done,
                    "started": started,
                    "sections": values,
                    **report.as_dict(),
                }
            )
        except RetryFailed as failed:
            emit(
                {
                    "ev": "done",
                    "ok": False,
                    "name": name,
                    "started": started,
                    "msg": str(failed),
                    **failed.report.as_dict(),
                }
            )
        finally:
            client.close_connection()
    return 0


# --------------------------------------------------------------------------- bandaid


class BandAidFailed(Exception):
    def __init__(self, step: str, error: str) -> None:
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error


class _View:
    """CPG handler that keeps the first configuration change that includes us."""

    def __init__(self) -> None:
        self.me: tuple[int, int] | None = None
        self.first_view: list[tuple[int, int]] | None = None
        self.views = 0

    def on_confchg(self, members: list[CpgMember], left: list[CpgMember], joined: list[CpgMember]) -> None:
        ids = [(m.nodeid, m.pid) for m in members]
        self.views += 1
        if self.first_view is None and self.me in ids:
            self.first_view = ids

    def on_deliver(self, nodeid: int, pid: int, payload: bytes) -> None:
        return None

    def on_totem_confchg(self, ring_id: Any, members: list[int]) -> None:
        return None


class BandAid:
    """ocfs2_controld's startup with the TENTATIVE retry: at most two tries per checkpoint call."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.client = CheckpointClient(args.socket, timeout=5.0)
        self.errors: Counter = Counter()
        self.tries: Counter = Counter()
        self.handles: list[int] = []
        self.cpg: CpgGroup | None = None
        self.view = _View()
        self.deadline = time.monotonic() + BANDAID_LIMIT_S

    def tentative(self, step: str, fn: Callable[[], Any], operation: Operation) -> Any:
        for attempt in range(1, TENTATIVE_TRIES + 1):
            self.tries[step] += 1
            try:
                return fn()
            except AisException as exc:
                if exc.operation is Operation.CALL:
                    exc.operation = operation
                self.errors[f"{step}:{exc.code.sa_name}"] += 1
                verdict = exc.verdict
                if not verdict.transient or attempt == TENTATIVE_TRIES:
                    raise BandAidFailed(step, exc.code.sa_name) from exc
                if verdict.reconnect:
                    try:
                        self.client.reconnect()
                    except AisException as again:
                        self.errors[f"{step}:reconnect:{again.code.sa_name}"] += 1
            time.sleep(TENTATIVE_SLEEP_S)
        raise AssertionError("unreachable")

    def cpg_loop(self, step: str, fn: Callable[[], Any]) -> Any:
        """ocfs2_controld's CPG setup: TRY_AGAIN retried every second (bounded here); anything else is fatal."""
        while True:
            try:
                return fn()
            except CpgError as exc:
                self.errors[f"{step}:{exc.name}"] += 1
                if not exc.try_again or time.monotonic() + TENTATIVE_SLEEP_S > self.deadline:
                    raise BandAidFailed(step, exc.name) from exc
            time.sleep(TENTATIVE_SLEEP_S)

    def put_section(self, handle: int, section: str, version: tuple[int, int]) -> None:
        self.client.section_put(handle, section, protocol_version_text(*version))

    def read_version(self, handle: int, section: str) -> tuple[int, int]:
        try:
            return parse_protocol_version(self.client.section_read(handle, section))
        except AisException as exc:
            if exc.code is AisError.NOT_EXIST:
                # Open but not written yet: transient, as an unwritten section is for controld.
                raise AisException(
                    AisError.NOT_EXIST, f"section {section} not written yet", Operation.OPEN_READ
                ) from exc
            raise

    def run(self) -> dict[str, Any]:
        args = self.args
        started = time.monotonic()
        result: dict[str, Any] = {"ev": "result", "ok": False, "first": None}
        daemon_max, fs_max = (1, 0), (1, 0)
        try:
            self.cpg = CpgGroup(args.group, self.view)
            self.cpg_loop("cpg_initialize", self.cpg.initialize)
            nodeid = self.cpg.local_nodeid()
            result["nodeid"] = nodeid
            self.view.me = (nodeid, os.getpid())
            local_name = f"{args.prefix}:{nodeid:08x}"
            local_attrs = {
                "creation_flags": 0,
                "checkpoint_size": 4096,
                "retention_duration": int(args.local_retention * 1e9),
                "max_sections": 16,
                "max_section_size": 256,
                "max_section_id_size": 64,
            }
            local = self.tentative(
                "local_create",
                lambda: self.client.create(local_name, local_attrs, exclusive=True),
                Operation.OPEN_CREATE,
            )
            self.handles.append(local)
            for section, version in (("daemon_max_protocol", daemon_max), ("ocfs2_max_protocol", fs_max)):
                self.tentative(
                    f"local_write_{section}", lambda s=section, v=version: self.put_section(local, s, v), Operation.CALL
                )
            self.cpg_loop("cpg_join", self.cpg.join)
            while self.view.first_view is None:
                if time.monotonic() > self.deadline:
                    raise BandAidFailed("cpg_confchg", "no configuration change for our join")
                select.select([self.cpg.fileno()], [], [], 0.1)
                self.cpg.dispatch()
            result["group_view"] = [list(m) for m in self.view.first_view]
            first = self.view.first_view == [self.view.me]
            result["first"] = first
            if first:
                global_attrs = dict(local_attrs, retention_duration=0)
                handle = self.tentative(
                    "global_create", lambda: self.client.create(args.prefix, global_attrs), Operation.OPEN_CREATE
                )
                self.handles.append(handle)
                for section, version in (("daemon_protocol", daemon_max), ("ocfs2_protocol", fs_max)):
                    self.tentative(
                        f"global_write_{section}",
                        lambda s=section, v=version: self.put_section(handle, s, v),
                        Operation.CALL,
                    )
                daemon, fs = daemon_max, fs_max
            else:
                handle = self.tentative(
                    "global_open_read", lambda: self.client.open(args.prefix, OPEN_READ), Operation.OPEN_READ
                )
                self.handles.append(handle)
                daemon = self.tentative(
                    "global_read_daemon_protocol", lambda: self.read_version(handle, "daemon_protocol"), Operation.CALL
                )
                fs = self.tentative(
                    "global_read_ocfs2_protocol", lambda: self.read_version(handle, "ocfs2_protocol"), Operation.CALL
                )
            result.update(ok=True, daemon_protocol=list(daemon), fs_protocol=list(fs))
        except BandAidFailed as exc:
            result.update(failed_step=exc.step, error=exc.error)
        except (AisException, CpgError, OSError, ValueError) as exc:
            result.update(failed_step="unexpected", error=f"{type(exc).__name__}: {exc}")
        result.update(errors=dict(self.errors), tries=dict(self.tries), elapsed=round(time.monotonic() - started, 4))
        return result

    def linger(self) -> None:
        """Hold the handles and the group membership until the benchmark closes our stdin."""
        fds = [sys.stdin.fileno()]
        if self.cpg is not None and self.cpg.initialized:
            fds.append(self.cpg.fileno())
        limit = time.monotonic() + LINGER_LIMIT_S
        while time.monotonic() < limit:
            readable, _w, _x = select.select(fds, [], [], 0.5)
            if sys.stdin.fileno() in readable and not os.read(sys.stdin.fileno(), 4096):
                break
            if len(fds) > 1 and fds[1] in readable:
                try:
                    self.cpg.dispatch()
                except CpgError:
                    fds.pop()

    def shutdown(self) -> None:
        for handle in self.handles:
            try:
                self.client.close(handle)
            except AisException:
                pass  # the service closes it with the connection
        self.client.close_connection()
        if self.cpg is not None and self.cpg.initialized:
            try:
                self.cpg.leave()
            except CpgError:
                pass
            self.cpg.finalize()


def run_bandaid(args: argparse.Namespace) -> int:
    bandaid = BandAid(args)
    try:
        emit(bandaid.run())
        bandaid.linger()
    finally:
        bandaid.shutdown()
    return 0


# --------------------------------------------------------------------------- writers


def _drop_checkpoint(owner: CheckpointClient, handle: int, name: str, errors: Counter) -> None:
    """End of a writers run: remove its checkpoint and the owner's connection, counting what failed."""
    try:
        owner.unlink(name)  # before the close: with retention 0 the last close already deletes it
        owner.close(handle)
    except AisException as exc:
        errors[f"cleanup:{exc.code.sa_name}"] += 1
    owner.close_connection()


class _Conn:
    """One client connection of the selector-driven writers: one request in flight at a time."""

    def __init__(self, path: str, index: int) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(10.0)
        self.sock.connect(path)
        self.reader = FrameReader()
        self.section = f"s{index:04d}".encode()
        self.ids = 0
        self.handle = 0
        self.sent_at = 0.0
        self.done = False

    def send(self, op: str, **args: Any) -> None:
        self.ids += 1
        self.sent_at = time.monotonic()
        self.sock.sendall(request(op, self.ids, **args))

    def replies(self) -> list:
        """The replies that arrived (call when readable); raises OSError when the service hung up."""
        data = self.sock.recv(256 * 1024)
        if not data:
            raise OSError("the checkpoint service closed the connection")
        return [body for kind, body in self.reader.feed(data) if kind == KIND_REPLY]

    def call(self, op: str, **args: Any) -> dict:
        """Blocking request/reply (setup only)."""
        self.send(op, **args)
        while True:
            for body in self.replies():
                if body.get("id") == self.ids:
                    if body.get("rc") != AisError.OK:
                        raise AisException(AisError.from_code(body.get("rc")), str(body.get("detail")))
                    return body.get("values") or {}

    def overwrite(self, payload: bytes) -> None:
        self.send("section_overwrite", handle=self.handle, section=self.section, data=payload)


def run_writers(args: argparse.Namespace) -> int:
    if args.window > 1:
        return run_writers_pipelined(args)
    return (run_writers_selector if args.selector else run_writers_threads)(args)


def _writers_result(
    clients: int,
    size: int,
    counts: list,
    latencies: list,
    errors: Counter,
    began: float,
    ended: float,
    cpu_s: float | None = None,
    window: int = 1,
) -> int:
    total = sum(counts)
    elapsed = ended - began
    flat = [x for lat in latencies for x in lat]
    emit(
        {
            "ev": "writers_result",
            "clients": clients,
            "window": window,
            "size": size,
            "writes": total,
            "elapsed": elapsed,
            "writes_per_s": total / elapsed if elapsed > 0 else None,
            "mb_per_s": total * size / elapsed / 1e6 if elapsed > 0 else None,
            "per_client": counts,
            # Pipelined: one figure, the mean by Little's law (each write's own time is not seen).
            "latency_ms": (
                {"mean": _ms(flat[0] if flat else None), "p50": None, "p90": None, "p99": None, "max": None}
                if window > 1
                else {
                    "p50": _ms(percentile(flat, 50)),
                    "p90": _ms(percentile(flat, 90)),
                    "p99": _ms(percentile(flat, 99)),
                    "max": _ms(max(flat) if flat else None),
                }
            ),
            "errors": dict(errors),
            # This process's CPU (all threads) during the timed window, % of one core.
            "client_cpu_pct": round(100.0 * cpu_s / elapsed, 1) if cpu_s is not None and elapsed > 0 else None,
        }
    )
    return 0 if total and not any(k.startswith("setup") for k in errors) else 1


def _writers_checkpoint(args: argparse.Namespace) -> tuple[str, dict]:
    name = f"bench-writers-{os.getpid()}-{args.clients}"
    attrs = {
        "creation_flags": 0,
        "checkpoint_size": args.size * args.clients,
        "retention_duration": 0,
        "max_sections": args.clients,
        "max_section_size": args.size,
        "max_section_id_size": 32,
    }
    return name, attrs


def run_writers_selector(args: argparse.Namespace) -> int:
    clients, size = args.clients, args.size
    name, attrs = _writers_checkpoint(args)
    owner = CheckpointClient(args.socket, timeout=10.0).connect()
    owner_handle = owner.create(name, attrs)
    payload = os.urandom(size)
    counts = [0] * clients
    latencies: list[list[float]] = [[] for _c in range(clients)]
    errors: Counter = Counter()
    conns: list[_Conn] = []
    sel = selectors.DefaultSelector()
    began = ended = time.monotonic()
    cpu_s = None
    try:
        for index in range(clients):
            conn = _Conn(args.socket, index)
            conns.append(conn)
            conn.handle = conn.call("open", name=name, flags=OPEN_READ | OPEN_WRITE)["handle"]
            conn.call("section_create", handle=conn.handle, section=conn.section, data=payload)
            for _warm in range(5):  # settle the connection and the ckptd before timing
                conn.call("section_overwrite", handle=conn.handle, section=conn.section, data=payload)
            sel.register(conn.sock, selectors.EVENT_READ, index)
        began, cpu0 = time.monotonic(), time.process_time()
        stop_at = began + args.duration
        for conn in conns:
            conn.overwrite(payload)
        running = clients
        while running:
            for key, _events in sel.select(1.0):
                index = key.data
                conn = conns[index]
                for body in conn.replies():
                    if body.get("id") != conn.ids:
                        continue
                    now = time.monotonic()
                    if body.get("rc") == AisError.OK:
                        latencies[index].append(now - conn.sent_at)
                        counts[index] += 1
                    else:
                        errors[AisError.from_code(body.get("rc")).sa_name] += 1
                    if now < stop_at:
                        conn.overwrite(payload)
                    else:
                        conn.done = True
                        running -= 1
                        sel.unregister(conn.sock)
            if time.monotonic() > stop_at + 30:
                errors["timeout:replies missing"] += running
                break
        ended, cpu_s = time.monotonic(), time.process_time() - cpu0
        for conn in conns:
            conn.sock.settimeout(10.0)
            conn.call("close", handle=conn.handle)
    except (AisException, OSError) as exc:
        errors[f"setup:{type(exc).__name__}:{exc}"] += 1
    finally:
        for conn in conns:
            conn.sock.close()
        sel.close()
    _drop_checkpoint(owner, owner_handle, name, errors)
    return _writers_result(clients, size, counts, latencies, errors, began, ended, cpu_s)


def _timed_writers(args: argparse.Namespace, warm_up: Callable, timed: Callable) -> tuple:
    """What both threaded modes share: one checkpoint, --clients threads, each with its own
    connection, handle and section, released together into one timed window.

    ``warm_up(client, handle, section, payload)`` runs before the window opens;
    ``timed(index, client, handle, section, payload, stop_at, errors)`` writes until ``stop_at``.
    Returns (errors, began, ended, cpu_s): the window as measured by this process.
    """
    name, attrs = _writers_checkpoint(args)
    owner = CheckpointClient(args.socket, timeout=10.0).connect()
    owner_handle = owner.create(name, attrs)
    payload = os.urandom(args.size)
    window: dict[str, float] = {}

    def open_window() -> None:
        # Barrier action: runs once, after every writer arrived and before any is released.
        window["began"], window["cpu0"] = time.monotonic(), time.process_time()
        window["stop"] = window["began"] + args.duration

    start_gate = threading.Barrier(args.clients + 1, action=open_window, timeout=30)
    errors: Counter = Counter()

    def writer(index: int) -> None:
        section = f"s{index:04d}".encode()
        client = CheckpointClient(args.socket, timeout=10.0).connect()
        try:
            handle = client.open(name, OPEN_READ | OPEN_WRITE)
            client.section_create(handle, section, payload)
            warm_up(client, handle, section, payload)  # settle the connection and the ckptd before timing
            start_gate.wait()
            timed(index, client, handle, section, payload, window["stop"], errors)
            client.close(handle)
        except (AisException, threading.BrokenBarrierError) as exc:
            errors[f"setup:{type(exc).__name__}:{exc}"] += 1
            if not start_gate.broken:
                start_gate.abort()
        finally:
            client.close_connection()

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    try:
        start_gate.wait()
    except threading.BrokenBarrierError:
        window.setdefault("began", time.monotonic())
    for thread in threads:
        thread.join(args.duration + 30)
    ended = time.monotonic()
    cpu_s = time.process_time() - window["cpu0"] if "cpu0" in window else None
    _drop_checkpoint(owner, owner_handle, name, errors)
    return errors, window["began"], ended, cpu_s


def run_writers_threads(args: argparse.Namespace) -> int:
    """--clients connections, one blocking overwrite in flight each."""
    counts = [0] * args.clients
    latencies: list[list[float]] = [[] for _c in range(args.clients)]

    def warm_up(client, handle, section, payload) -> None:
        for _warm in range(5):
            client.section_overwrite(handle, section, payload)

    def timed(index, client, handle, section, payload, stop_at, errors) -> None:
        lat = latencies[index]
        while True:
            before = time.monotonic()
            if before >= stop_at:
                break
            try:
                client.section_overwrite(handle, section, payload)
            except AisException as exc:
                errors[exc.code.sa_name] += 1
                continue
            lat.append(time.monotonic() - before)
            counts[index] += 1

    errors, began, ended, cpu_s = _timed_writers(args, warm_up, timed)
    return _writers_result(args.clients, args.size, counts, latencies, errors, began, ended, cpu_s)


def run_writers_pipelined(args: argparse.Namespace) -> int:
    """--clients connections, each with --window overwrites of its section in flight."""
    counts = [0] * args.clients
    elapsed = [0.0] * args.clients

    def warm_up(client, handle, section, payload) -> None:
        client.section_overwrite_many(handle, ((section, payload) for _w in range(args.window)), args.window)

    def timed(index, client, handle, section, payload, stop_at, errors) -> None:
        def until_stop():
            while time.monotonic() < stop_at:
                yield section, payload

        results = client.section_overwrite_many(handle, until_stop(), args.window)
        elapsed[index] = time.monotonic() - (stop_at - args.duration)
        for result in results:
            if result is None:
                counts[index] += 1
            else:
                errors[result.code.sa_name] += 1

    errors, began, ended, cpu_s = _timed_writers(args, warm_up, timed)
    # Little's law per connection: W writes in flight at its rate -> the mean time of one write.
    little = [args.window * t / n for n, t in zip(counts, elapsed) if n]
    latencies = [[sum(little) / len(little)]] if little else [[]]
    return _writers_result(args.clients, args.size, counts, latencies, errors, began, ended, cpu_s, args.window)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("wait", "bandaid", "writers"))
    parser.add_argument("--socket", required=True, help="this node's quorate-ckptd socket")
    parser.add_argument("--prefix", default="quorate:bandaid", help="bandaid: global checkpoint name")
    parser.add_argument("--group", default="quorate_bandaid", help="bandaid: CPG group")
    parser.add_argument("--local-retention", type=float, default=0.2, help="bandaid: local checkpoint retention, s")
    parser.add_argument("--clients", type=int, default=1, help="writers: concurrent connections")
    parser.add_argument("--size", type=int, default=1024, help="writers: bytes per section write")
    parser.add_argument("--duration", type=float, default=5.0, help="writers: seconds of writing")
    parser.add_argument("--selector", action="store_true", help="writers: all connections from one thread")
    parser.add_argument("--window", type=int, default=1, help="writers: writes in flight per connection (pipelined)")
    args = parser.parse_args(argv)
    if args.mode == "wait":
        return run_wait(args)
    if args.mode == "bandaid":
        return run_bandaid(args)
    return run_writers(args)


if __name__ == "__main__":
    sys.exit(main())

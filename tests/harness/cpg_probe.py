"""Drive the CPG binding from inside one corosync node (run it under ``ip netns exec NODE``).

libqb IPC is scoped by network namespace, so this process talks to that node's corosync.
Every event is printed to stdout as one JSON object per line (``{"ev": ...}``); the test
(or the benchmark) reads them. Modes:

  order    join, wait for --members members, multicast --count numbered messages, wait for
           members*count deliveries, print the delivery sequence, then stay in the group printing
           events until stdin closes (then leave, exit 0) or dispatch fails (print it, exit 3).
  flood    join, wait for --members members; with --send multicast --count messages of --size
           bytes as fast as flow control allows; every member counts the sender's deliveries and
           prints a ``flood_result`` line with msgs/s and MB/s (see ``run_flood``).
  selftest single process: handler errors, double join, finalize twice, finalize from a callback.

Exit codes: 0 ok, 3 a CPG call failed (printed as an ``error`` event), 4 timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# tests/conftest.py links build/collections/ansible_collections/quorate/cluster -> REPO.
sys.path.insert(0, str(REPO / "build" / "collections"))

from ansible_collections.quorate.cluster.plugins.module_utils.programs.cpg import (  # noqa: E402
    CS_ERR_EXIST,
    CpgError,
    CpgGroup,
    CpgMember,
    RingId,
)

EXIT_OK, EXIT_CPG_ERROR, EXIT_TIMEOUT = 0, 3, 4
FLOOD_MAGIC = b"QCFL"
_FLOOD_HEADER = struct.Struct("!4sI")  # magic, sequence number
RETRY_SLEEP_S = 0.001

Emit = Callable[[dict[str, Any]], None]


class ProbeTimeout(Exception):
    pass


def emit_json(event: dict[str, Any]) -> None:
    event.setdefault("t", round(time.monotonic(), 6))  # CLOCK_MONOTONIC is host-wide, not per netns
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _member_dicts(members: list[CpgMember]) -> list[dict[str, int]]:
    return [{"nodeid": m.nodeid, "pid": m.pid, "reason": m.reason} for m in members]


class Recorder:
    """CpgHandler that keeps the current member list and hands deliveries to ``on_message``."""

    def __init__(self, emit: Emit, on_message: Callable[[int, int, bytes], None] | None = None) -> None:
        self.emit = emit
        self.on_message = on_message
        self.members: list[CpgMember] = []
        self.totem_members: list[int] = []

    def on_deliver(self, nodeid: int, pid: int, payload: bytes) -> None:
        if self.on_message is not None:
            self.on_message(nodeid, pid, payload)

    def on_confchg(self, members: list[CpgMember], left: list[CpgMember], joined: list[CpgMember]) -> None:
        self.members = members
        self.emit(
            {
                "ev": "confchg",
                "members": _member_dicts(members),
                "left": _member_dicts(left),
                "joined": _member_dicts(joined),
            }
        )

    def on_totem_confchg(self, ring_id: RingId, members: list[int]) -> None:
        self.totem_members = members
        self.emit({"ev": "totem_confchg", "ring_nodeid": ring_id.nodeid, "ring_seq": ring_id.seq, "members": members})


def retry_try_again(func: Callable[[], Any], deadline: float, what: str) -> Any:
    """Call ``func`` until it stops answering CS_ERR_TRY_AGAIN (sync windows, corosync starting)."""
    while True:
        try:
            return func()
        except CpgError as exc:
            if not exc.try_again or time.monotonic() >= deadline:
                raise
        if time.monotonic() >= deadline:
            raise ProbeTimeout(f"{what}: still TRY_AGAIN at the deadline")
        time.sleep(0.01)


def open_group(name: str, handler: Recorder, deadline: float) -> CpgGroup:
    group = CpgGroup(name, handler)
    retry_try_again(group.initialize, deadline, "cpg_initialize")
    try:
        retry_try_again(group.join, deadline, "cpg_join")
    except BaseException:
        group.finalize()
        raise
    return group


def pump(group: CpgGroup, sel: selectors.BaseSelector, timeout: float) -> list[int]:
    """Wait up to ``timeout`` s for any registered fd, dispatch CPG if it is readable; returns ready fds."""
    ready = [key.fd for key, _events in sel.select(max(0.0, timeout))]
    if group.fileno() in ready:
        group.dispatch()
    return ready


def wait_until(
    group: CpgGroup, sel: selectors.BaseSelector, cond: Callable[[], bool], deadline: float, what: str
) -> None:
    while not cond():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeTimeout(f"timed out waiting for {what}")
        pump(group, sel, min(remaining, 0.5))


def mcast_retry(group: CpgGroup, payload: bytes, deadline: float) -> int:
    """mcast, riding out flow control (dispatch our own deliveries, sleep 1 ms); returns the TRY_AGAIN count."""
    retries = 0
    while True:
        try:
            group.mcast(payload)
            return retries
        except CpgError as exc:
            if not exc.try_again:
                raise
        retries += 1
        if time.monotonic() >= deadline:
            raise ProbeTimeout(f"cpg_mcast_joined: flow control did not clear after {retries} retries")
        group.dispatch()
        time.sleep(RETRY_SLEEP_S)


# --------------------------------------------------------------------------- order


def run_order(args: argparse.Namespace, emit: Emit) -> int:
    deadline = time.monotonic() + args.timeout
    sequence: list[list[int]] = []
    recorder = Recorder(emit, lambda nodeid, pid, payload: sequence.append([nodeid, pid, *json.loads(payload)]))
    group = open_group(args.group, recorder, deadline)
    sel = selectors.DefaultSelector()
    try:
        sel.register(group.fileno(), selectors.EVENT_READ)
        me = group.local_nodeid()
        emit({"ev": "ready", "nodeid": me, "pid": os.getpid(), "max_atomic_msgsize": group.max_atomic_msgsize()})
        wait_until(group, sel, lambda: len(recorder.members) >= args.members, deadline, f"{args.members} members")

        retries = 0
        for i in range(args.count):
            retries += mcast_retry(group, json.dumps([me, i]).encode(), deadline)
        emit({"ev": "sent", "count": args.count, "try_again": retries})

        total = args.members * args.count
        wait_until(group, sel, lambda: len(sequence) >= total, deadline, f"{total} deliveries")
        emit({"ev": "order_done", "sequence": sequence})
        emit({"ev": "membership", "members": _member_dicts(group.membership())})

        # Linger: report membership changes until the test closes our stdin.
        stdin_fd = sys.stdin.fileno()
        sel.register(stdin_fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProbeTimeout("linger: stdin never closed")
            if stdin_fd in pump(group, sel, min(remaining, 0.5)) and not os.read(stdin_fd, 4096):
                break
        sel.unregister(group.fileno())
        group.leave()
        emit({"ev": "bye"})
        return EXIT_OK
    except CpgError as exc:
        emit({"ev": "error", "code": exc.code, "name": exc.name, "call": exc.call})
        return EXIT_CPG_ERROR
    finally:
        sel.close()
        group.finalize()
        group.finalize()  # idempotent, also on a handle whose corosync is gone
        emit({"ev": "finalized"})


# --------------------------------------------------------------------------- flood


def run_flood(
    group_name: str,
    members: int,
    count: int,
    size: int = 1024,
    send: bool = False,
    timeout: float = 120.0,
    emit: Emit | None = None,
    window: int = 0,
) -> dict[str, Any]:
    """Raw CPG multicast throughput, as seen by this member. Reused by the benchmark.

    Every member calls this (one with ``send=True``). All wait until ``members`` processes are in
    ``group_name``; the sender then multicasts ``count`` payloads of ``size`` bytes back to back,
    retrying TRY_AGAIN after a dispatch and a 1 ms sleep. Each member (the sender too) counts the
    sender's deliveries; the rate is taken between the first and the last delivery here.

    ``window`` > 0 makes the sender closed-loop: at most that many of its messages are sent and
    not yet delivered back to it (what ``window`` synchronous clients of a service would see).
    """
    if size < _FLOOD_HEADER.size:
        raise ValueError(f"size must be at least {_FLOOD_HEADER.size}")
    out = emit or (lambda event: None)
    deadline = time.monotonic() + timeout
    stats: dict[str, Any] = {"received": 0, "bytes": 0, "out_of_order": 0, "first": None, "last": None}
    expect = {"next": 0, "sender": None}

    def on_message(nodeid: int, pid: int, payload: bytes) -> None:
        if not payload.startswith(FLOOD_MAGIC):
            return
        now = time.monotonic()
        seq = _FLOOD_HEADER.unpack_from(payload)[1]
        # One sender's messages arrive in its send order; anything else is a lost or reordered message.
        if seq != expect["next"]:
            stats["out_of_order"] += 1
        expect["next"] = seq + 1
        expect["sender"] = (nodeid, pid)
        stats["received"] += 1
        stats["bytes"] += len(payload)
        if stats["first"] is None:
            stats["first"] = now
        stats["last"] = now

    recorder = Recorder(out, on_message)
    group = open_group(group_name, recorder, deadline)
    sel = selectors.DefaultSelector()
    result: dict[str, Any] = {
        "ev": "flood_result",
        "role": "sender" if send else "receiver",
        "count": count,
        "window": window,
    }
    try:
        sel.register(group.fileno(), selectors.EVENT_READ)
        result["nodeid"] = group.local_nodeid()
        wait_until(group, sel, lambda: len(recorder.members) >= members, deadline, f"{members} members")
        out({"ev": "flood_ready", "nodeid": result["nodeid"]})
        if send:
            padding = b"\0" * (size - _FLOOD_HEADER.size)
            retries = 0
            started = time.monotonic()
            for seq in range(count):
                retries += mcast_retry(group, _FLOOD_HEADER.pack(FLOOD_MAGIC, seq) + padding, deadline)
                if window > 0:
                    while seq + 1 - stats["received"] >= window and time.monotonic() < deadline:
                        pump(group, sel, 0.1)
                elif seq % 64 == 0:
                    group.dispatch()  # keep our own delivery queue short while sending
            result.update(send_started=started, send_s=time.monotonic() - started, try_again=retries)
        wait_until(group, sel, lambda: stats["received"] >= count, deadline, f"{count} flood deliveries")
        sel.unregister(group.fileno())
        group.leave()
    except ProbeTimeout as exc:
        result["timeout"] = str(exc)
    finally:
        sel.close()
        group.finalize()
    span = (stats["last"] - stats["first"]) if stats["received"] > 1 else 0.0
    result.update(
        received=stats["received"],
        bytes=stats["bytes"],
        out_of_order=stats["out_of_order"],
        first_delivery=stats["first"],
        last_delivery=stats["last"],
        span_s=span,
        msgs_per_s=(stats["received"] - 1) / span if span > 0 else None,
        mb_per_s=(stats["bytes"] * (stats["received"] - 1) / stats["received"]) / span / 1e6 if span > 0 else None,
    )
    return result


# --------------------------------------------------------------------------- selftest


class _Boom(Exception):
    pass


def run_selftest(args: argparse.Namespace, emit: Emit) -> int:
    """Binding behaviour that needs a real corosync but only one process."""
    deadline = time.monotonic() + args.timeout
    got: list[bytes] = []

    def on_message(nodeid: int, pid: int, payload: bytes) -> None:
        got.append(payload)
        if payload == b"boom":
            raise _Boom("raised inside the deliver callback")

    recorder = Recorder(emit, on_message)
    group = open_group(args.group, recorder, deadline)
    sel = selectors.DefaultSelector()
    report: dict[str, Any] = {"ev": "selftest"}
    try:
        sel.register(group.fileno(), selectors.EVENT_READ)
        wait_until(group, sel, lambda: len(recorder.members) >= 1, deadline, "own join")
        report["local_nodeid"] = group.local_nodeid()
        report["flow_control"] = group.flow_control_enabled()

        # Joining the group a second time on the same handle.
        try:
            group.join()
            report["double_join"] = "CS_OK"
        except CpgError as exc:
            report["double_join"] = exc.name
            report["double_join_is_exist"] = exc.code == CS_ERR_EXIST

        # A handler exception surfaces from dispatch(); the events after it stay queued.
        for payload in (b"boom", b"after-1", b"after-2"):
            mcast_retry(group, payload, deadline)
        raised = None
        while raised is None and time.monotonic() < deadline:
            sel.select(0.5)
            try:
                group.dispatch()
            except _Boom as exc:
                raised = exc
        report["handler_error_reraised"] = raised is not None
        report["delivered_before_reraise"] = [p.decode() for p in got]
        wait_until(group, sel, lambda: len(got) >= 3, deadline, "deliveries after the handler error")
        report["delivered_after"] = [p.decode() for p in got]
        report["empty_payload"] = None
        mcast_retry(group, b"", deadline)
        wait_until(group, sel, lambda: len(got) >= 4, deadline, "empty payload")
        report["empty_payload"] = got[3] == b""

        # A large message (libcpg fragments above max_atomic_msgsize) arrives whole.
        big = os.urandom(group.max_atomic_msgsize() + 12345)
        mcast_retry(group, big, deadline)
        wait_until(group, sel, lambda: len(got) >= 5, deadline, "fragmented payload")
        report["fragmented_ok"] = got[4] == big

        # After leave() corosync 3.1 never lets the same handle join again (EXIST, even once the
        # leave is delivered): rejoining takes a fresh handle, which may meet TRY_AGAIN briefly.
        group.leave()
        wait_until(group, sel, lambda: not recorder.members, deadline, "own leave confchg")
        try:
            group.join()
            report["rejoin_same_handle"] = "CS_OK"
        except CpgError as exc:
            report["rejoin_same_handle"] = exc.name
        sel.unregister(group.fileno())
        group.finalize()
        started = time.monotonic()
        group.initialize()
        codes: list[str] = []
        while True:
            try:
                group.join()
                break
            except CpgError as exc:
                if not exc.try_again or time.monotonic() >= deadline:
                    raise
                codes.append(exc.name)
            time.sleep(0.001)
        report["rejoin_new_handle_try_again"] = len(codes)
        report["rejoin_new_handle_ms"] = round((time.monotonic() - started) * 1000, 1)
        sel.register(group.fileno(), selectors.EVENT_READ)
        wait_until(group, sel, lambda: len(recorder.members) >= 1, deadline, "rejoin confchg")

        # finalize() from inside a callback ends dispatch() quietly.
        def finalize_inside(nodeid: int, pid: int, payload: bytes) -> None:
            group.finalize()

        recorder.on_message = finalize_inside
        sel.unregister(group.fileno())  # finalize() closes the fd
        mcast_retry(group, b"finalize-me", deadline)
        while group.initialized and time.monotonic() < deadline:
            time.sleep(0.01)
            group.dispatch()
        report["finalized_in_callback"] = not group.initialized
        try:
            group.mcast(b"x")
        except CpgError as exc:
            report["after_finalize"] = exc.name
        group.finalize()
        emit(report)
        return EXIT_OK
    except CpgError as exc:
        emit({"ev": "error", "code": exc.code, "name": exc.name, "call": exc.call, "partial": report})
        return EXIT_CPG_ERROR
    finally:
        sel.close()
        group.finalize()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("order", "flood", "selftest"))
    parser.add_argument("--group", default="qc-test")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--send", action="store_true")
    parser.add_argument(
        "--window", type=int, default=0, help="flood: at most this many own messages in flight (0: no limit)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="hard limit for the whole run, seconds")
    args = parser.parse_args(argv)
    try:
        if args.mode == "order":
            return run_order(args, emit_json)
        if args.mode == "flood":
            result = run_flood(
                args.group, args.members, args.count, args.size, args.send, args.timeout, emit_json, args.window
            )
            emit_json(result)
            return EXIT_TIMEOUT if "timeout" in result else EXIT_OK
        return run_selftest(args, emit_json)
    except ProbeTimeout as exc:
        emit_json({"ev": "timeout", "what": str(exc)})
        return EXIT_TIMEOUT
    except CpgError as exc:
        emit_json({"ev": "error", "code": exc.code, "name": exc.name, "call": exc.call})
        return EXIT_CPG_ERROR


if __name__ == "__main__":
    sys.exit(main())

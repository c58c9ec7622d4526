"""Simulated CPG groups for unit tests: SimGroup for the checkpoint state machine, LoopbackCpg for the daemon.

One totally ordered event stream (configuration changes and messages), as corosync's agreed
order gives; every member applies each event it is a member for, in the same order. Each
member's outgoing messages are appended to the stream (so they are ordered after whatever is
already queued, as a real multicast is). Not a stand-in for corosync in integration tests.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from ansible_collections.quorate.cluster.plugins.module_utils.programs.ckpt_store import (
    CheckpointStore,
    MalformedMessage,
)
from ansible_collections.quorate.cluster.plugins.module_utils.programs.cpg import CpgError, CpgMember
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import decode, encode


@dataclass
class SimGroup:
    now: float = 0.0
    stores: dict = field(default_factory=dict)  # member -> store
    view: list = field(default_factory=list)
    queue: list = field(default_factory=list)
    results: dict = field(default_factory=dict)  # token -> Result for ops we sent
    tokens: int = 0
    delivered: int = 0
    next_view: list = field(default_factory=list)  # the view after every queued confchg
    rejected: list = field(default_factory=list)  # (member, MalformedMessage): the daemon logs and skips
    # Simulated votequorum: with expected_votes set (one vote per node), every member's store is
    # told its node's quorum state at each confchg, as the daemon does, before its digest.
    # ``stale_quorum`` lists members that are told the state of their previous view instead
    # (corosync's quorum news arriving after the CPG confchg).
    expected_votes: int = 0
    stale_quorum: set = field(default_factory=set)

    def add(self, member: tuple, store: CheckpointStore | None = None) -> CheckpointStore:
        """A daemon joins the group (its store may carry state from an earlier life)."""
        store = store or CheckpointStore(member, self.now)
        self.stores[member] = store
        self.confchg(self.next_view + [member])
        return store

    def remove(self, member: tuple) -> CheckpointStore:
        store = self.stores.pop(member)
        self.confchg([m for m in self.next_view if m != member])
        return store

    def confchg(self, members: list) -> None:
        self.next_view = sorted(members)
        self.queue.append(("confchg", self.next_view))

    def op(self, member: tuple, op: str, **args) -> int:
        """Member ``member`` multicasts an operation; returns its token for ``result()``."""
        self.tokens += 1
        self.queue.append(("msg", member, encode({"t": "op", "op": op, "token": self.tokens, "args": args})))
        return self.tokens

    def run(self, max_events: int = 100_000) -> None:
        for _step in range(max_events):
            if not self.queue:
                return
            event = self.queue.pop(0)
            if event[0] == "confchg":
                self.view = event[1]
                for member in self.view:
                    # A stale reading: the quorum of the member's own previous view.
                    seen = self.stores[member].view if member in self.stale_quorum else self.view
                    self.feed_quorum(member, seen)
                for member in self.view:
                    for out in self.stores[member].on_confchg(self.view, self.now):
                        self.queue.append(("msg", member, encode(out)))
                continue
            _kind, sender, payload = event
            msg = decode(payload)
            self.delivered += 1
            for member in self.view:
                try:
                    outs, result = self.stores[member].on_deliver(sender, msg, self.now)
                except MalformedMessage as exc:  # as the daemon does: logged, skipped
                    self.rejected.append((member, exc))
                    continue
                for out in outs:
                    self.queue.append(("msg", member, encode(out)))
                if member == sender and result is not None and msg.get("t") == "op":
                    self.results[msg["token"]] = result
        raise AssertionError("the simulated group did not settle")

    def quorum_facts(self, view: list) -> tuple:
        """(quorate, votes, quorum) of a node whose corosync sees the nodes of ``view``."""
        quorum = self.expected_votes // 2 + 1
        return len({m[0] for m in view}) >= quorum, 1, quorum

    def feed_quorum(self, member: tuple, view: list) -> list:
        store = self.stores[member]
        if not self.expected_votes or not hasattr(store, "set_quorum"):  # (the old store had none)
            return []
        return store.set_quorum(*self.quorum_facts(view or [member]))

    def requorum(self) -> None:
        """Every member reads its quorum again (the daemon's poll): changes are multicast."""
        for member in self.view:
            for out in self.feed_quorum(member, self.view):
                self.queue.append(("msg", member, encode(out)))
        self.run()

    def tick(self, seconds: float) -> None:
        self.now += seconds
        for member in self.view:
            for out in self.stores[member].tick(self.now):
                self.queue.append(("msg", member, encode(out)))
        self.run()

    def result(self, token: int):
        return self.results[token]

    def do(self, member: tuple, op: str, **args):
        token = self.op(member, op, **args)
        self.run()
        return self.result(token)


class LoopbackCpg:
    """One-member group: every multicast comes straight back, in order. Unit tests only."""

    def __init__(self, name, handler):
        self.handler = handler
        self.fail_next_dispatch = False  # set to simulate corosync going away under the daemon
        self.events: list = []
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.finalized = False
        self.quorum = (True, 1, 1)

    def _signal(self):
        os.write(self.write_fd, b"x")

    def initialize(self):
        pass

    def local_nodeid(self):
        return 1

    def quorum_facts(self):
        """(quorate, votes, quorum) for the daemon: a one-node group is quorate unless a test says not."""
        return self.quorum

    def join(self):
        me = CpgMember(1, os.getpid(), 1)
        self.events.append(("confchg", [me], [], [me]))
        self._signal()

    def fileno(self):
        if self.finalized:  # like libcpg: a dead handle has no fd to tell
            raise CpgError(9, "cpg_fd_get")
        return self.read_fd

    def mcast(self, payload):
        self.events.append(("deliver", 1, os.getpid(), bytes(payload)))
        self._signal()

    def dispatch(self, all_pending=True):
        if self.fail_next_dispatch:
            self.fail_next_dispatch = False
            raise CpgError(2, "cpg_dispatch")
        try:
            os.read(self.read_fd, 4096)
        except BlockingIOError:
            pass
        while self.events:
            self._callback(self.events.pop(0))

    def _callback(self, event) -> None:
        """Hand one queued event to the handler, as cpg_dispatch calls its callbacks."""
        if event[0] == "confchg":
            self.handler.on_confchg(*event[1:])
        else:
            self.handler.on_deliver(*event[1:])

    def leave(self):
        pass

    def finalize(self):
        self.finalized = True
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class CpgBus:
    """Several daemons in one process over one simulated group, in one agreed order. Unit tests only.

    Every multicast and every configuration change is appended to each member's queue under one
    lock, so every member sees the same sequence; each daemon dispatches its own queue.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.members: dict = {}  # nodeid -> BusCpg

    def factory(self, nodeid: int):
        """A ``cpg_factory`` for the daemon that plays node ``nodeid``."""
        return lambda name, handler: BusCpg(self, nodeid, handler)

    def _view(self) -> list:
        return [CpgMember(n, os.getpid(), 1) for n in sorted(self.members)]

    def join(self, cpg) -> None:
        with self.lock:
            self.members[cpg.nodeid] = cpg
            me = CpgMember(cpg.nodeid, os.getpid(), 1)
            view = self._view()
            for member in self.members.values():
                member.push(("confchg", view, [], [me]))

    def leave(self, cpg) -> None:
        with self.lock:
            if self.members.get(cpg.nodeid) is not cpg:
                return
            del self.members[cpg.nodeid]
            gone = CpgMember(cpg.nodeid, os.getpid(), 1)
            view = self._view()
            for member in self.members.values():
                member.push(("confchg", view, [gone], []))

    def mcast(self, nodeid: int, pid: int, payload: bytes) -> None:
        with self.lock:
            for member in self.members.values():
                member.push(("deliver", nodeid, pid, payload))


class BusCpg(LoopbackCpg):
    """One member of a CpgBus (the LoopbackCpg interface)."""

    def __init__(self, bus: CpgBus, nodeid: int, handler):
        super().__init__("bus", handler)
        self.bus = bus
        self.nodeid = nodeid
        self.queue_lock = threading.Lock()

    def push(self, event) -> None:
        with self.queue_lock:
            if self.finalized:  # its fds are closed (and their numbers may be someone else's now)
                return
            self.events.append(event)
            self._signal()

    def local_nodeid(self):
        return self.nodeid

    def join(self):
        self.bus.join(self)

    def mcast(self, payload):
        self.bus.mcast(self.nodeid, os.getpid(), bytes(payload))

    def dispatch(self, all_pending=True):
        try:
            os.read(self.read_fd, 65536)
        except (BlockingIOError, OSError):
            pass
        while True:
            with self.queue_lock:
                if not self.events:
                    return
                event = self.events.pop(0)
            self._callback(event)  # outside the lock: the handler may multicast

    def leave(self):
        self.bus.leave(self)

    def finalize(self):
        with self.queue_lock:
            super().finalize()

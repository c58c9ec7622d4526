"""A simulated CPG group for unit tests of the checkpoint state machine.

One totally ordered event stream (configuration changes and messages), as corosync's agreed
order gives; every member applies each event it is a member for, in the same order. Each
member's outgoing messages are appended to the stream (so they are ordered after whatever is
already queued, as a real multicast is). Not a stand-in for corosync in integration tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.quorate.cluster.plugins.module_utils.programs.ckpt_store import CheckpointStore
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
                    for out in self.stores[member].on_confchg(self.view, self.now):
                        self.queue.append(("msg", member, encode(out)))
                continue
            _kind, sender, payload = event
            msg = decode(payload)
            self.delivered += 1
            for member in self.view:
                outs, result = self.stores[member].on_deliver(sender, msg, self.now)
                for out in outs:
                    self.queue.append(("msg", member, encode(out)))
                if member == sender and result is not None and msg.get("t") == "op":
                    self.results[msg["token"]] = result
        raise AssertionError("the simulated group did not settle")

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

"""The ctypes CPG binding (plugins/module_utils/programs/cpg.py) against a real 3-node corosync cluster.

The binding has to run inside a node's network namespace (libqb IPC is scoped by netns), so
each node gets a ``cpg_probe.py`` process that prints JSON events; these tests drive and read them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from harness.netns_cluster import NetnsCluster
from harness.processes import close_and_reap, json_events

from ansible_collections.quorate.cluster.plugins.module_utils.programs import cpg

pytestmark = pytest.mark.integration

PROBE = Path(__file__).resolve().parents[1] / "harness" / "cpg_probe.py"
NODES = (1, 2, 3)
EVENT_TIMEOUT_S = 30.0

Event = dict[str, Any]


class Probe:
    """One cpg_probe.py inside a node's netns; a reader thread collects its JSON lines."""

    def __init__(self, cluster: NetnsCluster, node: int, args: list[str]) -> None:
        self.node = node
        self.proc = subprocess.Popen(
            cluster.node_env_prefix(node) + [sys.executable, str(PROBE), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[Event] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for event in json_events(self.proc.stdout):
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    @property
    def pid(self) -> int:
        return self.proc.pid  # ip netns exec execs the probe, so this is the pid CPG reports

    def describe(self) -> str:
        tail = "".join(self.stderr[-30:])
        evs = "\n".join(json.dumps(e)[:300] for e in self.events[-15:])
        return f"probe on n{self.node} (rc={self.proc.poll()}):\nevents:\n{evs}\nstderr:\n{tail}"

    def wait_for(self, pred: Callable[[Event], bool], what: str, timeout: float = EVENT_TIMEOUT_S) -> Event:
        """The first event (from the start) matching ``pred``; fails on timeout or probe exit."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if pred(event):
                        return event
                exited = self.proc.poll() is not None and not self._threads[0].is_alive()
                remaining = deadline - time.monotonic()
                if exited or remaining <= 0:
                    reason = "exited" if exited else f"no event after {timeout:g}s"
                    pytest.fail(f"waiting for {what}: {reason}\n{self.describe()}", pytrace=False)
                self._cond.wait(min(remaining, 0.5))

    def close(self, timeout: float = 15.0) -> int:
        """Close stdin (the probe leaves and exits), then make sure the process is gone."""
        returncode = close_and_reap(self.proc, timeout)
        for thread in self._threads:
            thread.join(5)
        return returncode


@contextmanager
def probes(
    cluster: NetnsCluster, args_for: Callable[[int], list[str]], nodes: tuple[int, ...] = NODES
) -> Iterator[dict[int, Probe]]:
    with ExitStack() as stack:
        running: dict[int, Probe] = {}
        for node in nodes:
            running[node] = Probe(cluster, node, args_for(node))
            stack.callback(running[node].close)
        yield running


def _is(ev: str) -> Callable[[Event], bool]:
    return lambda event: event.get("ev") == ev


# --------------------------------------------------------------------------- no cluster needed


def test_missing_library_is_a_clear_error() -> None:
    group = cpg.CpgGroup("qc-test", handler=None, library="libcpg-does-not-exist.so.0")  # type: ignore[arg-type]
    with pytest.raises(cpg.CpgLibraryMissing, match="libcpg"):
        group.initialize()
    with pytest.raises(cpg.CpgError) as info:
        group.mcast(b"x")
    assert info.value.code == cpg.CS_ERR_BAD_HANDLE and info.value.name == "CS_ERR_BAD_HANDLE"
    group.finalize()
    group.finalize()


def test_group_name_limits() -> None:
    cpg.CpgGroup("g" * 127, handler=None)  # type: ignore[arg-type]
    for bad in ("", "g" * 128, "\u00e9" * 64):
        with pytest.raises(ValueError):
            cpg.CpgGroup(bad, handler=None)  # type: ignore[arg-type]
    err = cpg.CpgError(6, "cpg_mcast_joined")
    assert err.try_again and not err.connection_lost and "CS_ERR_TRY_AGAIN" in str(err)
    assert cpg.CpgError(2, "cpg_dispatch").connection_lost


# --------------------------------------------------------------------------- real cluster


def test_selftest_single_node(netns_cluster: NetnsCluster) -> None:
    with probes(netns_cluster, lambda node: ["selftest", "--group", "qc-self", "--timeout", "60"], (1,)) as running:
        report = running[1].wait_for(lambda e: e.get("ev") in ("selftest", "error", "timeout"), "selftest report")
        assert report["ev"] == "selftest", running[1].describe()
        assert running[1].close() == 0
    assert report["local_nodeid"] == 1
    assert report["double_join_is_exist"] is True
    assert report["handler_error_reraised"] is True
    # dispatch() stopped at the failing event: nothing after it was handed to the handler yet.
    assert report["delivered_before_reraise"] == ["boom"]
    assert report["delivered_after"] == ["boom", "after-1", "after-2"]
    assert report["empty_payload"] is True
    assert report["fragmented_ok"] is True
    assert report["rejoin_same_handle"] == "CS_ERR_EXIST"
    assert report["finalized_in_callback"] is True
    assert report["after_finalize"] == "CS_ERR_BAD_HANDLE"
    print(f"\nselftest: {json.dumps(report)}")


def test_agreed_order_then_node_loss(netns_cluster: NetnsCluster) -> None:
    cluster = netns_cluster
    count = 100
    try:
        with probes(
            cluster,
            lambda node: ["order", "--group", "qc-test", "--members", "3", "--count", str(count), "--timeout", "120"],
        ) as running:
            pids = {node: probe.pid for node, probe in running.items()}
            for node, probe in running.items():
                ready = probe.wait_for(_is("ready"), "ready")
                assert ready["nodeid"] == node and ready["pid"] == pids[node]
                full = probe.wait_for(lambda e: e.get("ev") == "confchg" and len(e["members"]) == 3, "3 members")
                assert sorted((m["nodeid"], m["pid"]) for m in full["members"]) == sorted(pids.items())
                # CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF: the ring id arrives by value, members are node ids.
                totem = probe.wait_for(_is("totem_confchg"), "initial totem confchg")
                assert sorted(totem["members"]) == [1, 2, 3] and totem["ring_seq"] > 0

            sequences = {}
            for node, probe in running.items():
                sequences[node] = probe.wait_for(_is("order_done"), "300 deliveries", timeout=60)["sequence"]
            reference = sequences[1]
            assert len(reference) == 3 * count
            # Entries are [nodeid, pid, sender's own nodeid, number] (the last two from the payload).
            assert all(s[0] == s[2] for s in reference)
            assert sorted((s[0], s[3]) for s in reference) == sorted((n, i) for n in NODES for i in range(count))
            for node in NODES:
                assert sequences[node] == reference, f"n{node} delivered in a different order than n1"
                # The sender's pid and nodeid are reported per message.
                assert all(pids[s[0]] == s[1] for s in sequences[node])
            for node in NODES:
                seen = [s[3] for s in reference if s[0] == node]
                assert seen == list(range(count)), "one sender's messages out of send order"
            for probe in running.values():
                members = probe.wait_for(_is("membership"), "membership()")["members"]
                assert sorted((m["nodeid"], m["pid"]) for m in members) == sorted(pids.items())

            # Node 3's corosync goes away under its running client.
            stopped_at = time.monotonic()
            assert cluster.stop(3) == 0
            err = running[3].wait_for(_is("error"), "CS_ERR_LIBRARY on n3")
            assert (err["code"], err["name"], err["call"]) == (2, "CS_ERR_LIBRARY", "cpg_dispatch")
            running[3].wait_for(_is("finalized"), "finalize on a dead handle")
            assert running[3].close() == 3
            left = {}
            for node in (1, 2):
                left[node] = running[node].wait_for(
                    lambda e: e.get("ev") == "confchg" and any(m["nodeid"] == 3 for m in e["left"]), "n3 in left"
                )
                assert left[node]["left"][0]["pid"] == pids[3]
                assert sorted(m["nodeid"] for m in left[node]["members"]) == [1, 2]
                assert left[node]["left"][0]["reason"] in (cpg.CPG_REASON_NODEDOWN, cpg.CPG_REASON_PROCDOWN)
            for node in (1, 2):
                assert running[node].close() == 0, running[node].describe()
                assert running[node].wait_for(_is("bye"), "clean leave")
            print(
                f"\nn3 stop: CS_ERR_LIBRARY after {err['t'] - stopped_at:.3f}s; "
                f"n1 confchg left={left[1]['left']} after {left[1]['t'] - stopped_at:.3f}s"
            )
    finally:
        cluster.heal()


def test_raw_mcast_throughput(netns_cluster: NetnsCluster, capsys: pytest.CaptureFixture[str]) -> None:
    count, size = 20000, 1024

    def args_for(node: int) -> list[str]:
        args = ["flood", "--group", "qc-flood", "--members", "3", "--count", str(count), "--size", str(size)]
        return args + ["--timeout", "180"] + (["--send"] if node == 1 else [])

    with probes(netns_cluster, args_for) as running:
        results = {
            node: probe.wait_for(_is("flood_result"), "flood result", timeout=200) for node, probe in running.items()
        }
        for probe in running.values():
            assert probe.close() == 0, probe.describe()
    for res in results.values():
        assert res["received"] == count and res["out_of_order"] == 0, res
    sender = results[1]
    with capsys.disabled():
        print(
            f"\nraw CPG mcast, {count} x {size} B from n1 (send {sender['send_s']:.2f}s, "
            f"{sender['try_again']} TRY_AGAIN):"
        )
        for node, res in results.items():
            end_to_end = res["last_delivery"] - sender["send_started"]
            print(
                f"  n{node} {res['role']:8s}: {res['msgs_per_s']:9.0f} msgs/s {res['mb_per_s']:7.2f} MB/s "
                f"(first->last {res['span_s']:.2f}s, send start->last {end_to_end:.2f}s)"
            )

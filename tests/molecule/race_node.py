"""Node side of the molecule ``race`` scenario: start this node's whole stack at an agreed instant.

Shipped to every podman node next to the benchmark's node driver ``ckpt_node_driver.py``, which it
reuses unchanged, and run once per node for the whole run:
``ssh root@NODE python3 -u race_node.py agent --nodeid N``. It answers each JSON command on stdin
with one JSON line on stdout:

``{"cmd": "stop"}``
    End the previous trial (the two-try retry's driver, if one lingers), then
    ``systemctl stop quorate-controld quorate-ckptd corosync``.
``{"cmd": "start", "at": T, "variant": "barrier" | "bandaid"}``
    Sleep until wall-clock time T (containers share the host's clock, so every node wakes at
    the same instant), start corosync and quorate-ckptd as a boot does (``systemctl start
    quorate-ckptd``: systemd orders corosync first and returns once the service is ready), then

    - ``barrier``: start quorate-controld without waiting for it and at once run the ckpt_wait
      barrier the controld role runs (this node's local checkpoint, then the global one);
    - ``bandaid``: run the two-try retry (``ckpt_node_driver.py bandaid``), which keeps
      its checkpoints open until the next ``stop``.
``{"cmd": "restore"}``
    ``systemctl start quorate-controld``: the whole stack running, as the bring-up left it.

Neither the barrier nor the two-try retry is reimplemented here: ``driver`` runs the benchmark's node
driver, whose ``wait`` mode calls the checkpoint barrier's ``probe()`` under the RetryClient as the
``ckpt_wait`` module's ``main()`` does, from the node programs the ckptd role installed (the
``quorate_node`` zip). Stdlib only, like the node programs.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
READY_FILE = "/run/quorate/controld.json"
STACK = ("quorate-controld", "quorate-ckptd", "corosync")  # stop order
SYSTEMCTL_TIMEOUT_S = 150.0  # above the units' own TimeoutStartSec, so systemd reports first
CONTROLD_SETTLE_S = 30.0  # how long a started controld may take to end up active or failed
BANDAID_RESULT_S = 45.0  # the driver bounds one two-try run at 30 s
SLOW_STOP_S = 10.0  # a unit that takes longer to stop gets its journal into the results


class JsonLines:
    """JSON lines read from a pipe with a timeout (select, no threads); malformed lines are kept."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.eof = False

    def next(self, timeout: float, wanted: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """The next event (with ``ev`` in ``wanted`` if given); None on timeout or end of stream."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    event = {"ev": "garbage", "line": line.decode(errors="replace")[:200]}
                if not wanted or event.get("ev") in wanted:
                    return event
            remaining = deadline - time.monotonic()
            if self.eof or remaining <= 0:
                return None
            readable, _w, _x = select.select([self.fd], [], [], remaining)
            if readable:
                chunk = os.read(self.fd, 65536)
                if chunk:
                    self.buffer += chunk
                else:
                    self.eof = True


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
    sys.stdout.flush()


def log(msg: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- the reused code


def run_driver(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    import ckpt_node_driver

    return ckpt_node_driver.main(argv)


class Driver:
    """One ckpt_node_driver.py process (through ``race_node.py driver``), talking JSON lines."""

    def __init__(self, *args: str) -> None:
        # stderr goes where ours goes: over ssh into the runner's per-node log.
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(Path(__file__).resolve()), "driver", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.lines = JsonLines(self.proc.stdout.fileno())

    def send(self, command: dict[str, Any]) -> None:
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()

    def finish(self, timeout: float = 10.0) -> int | None:
        """Close its stdin (it closes its handles and leaves its group), then make sure it is gone."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by PID
            return self.proc.wait(5)


# --------------------------------------------------------------------------- systemd


def systemctl(*args: str) -> dict[str, Any]:
    began = time.monotonic()
    try:
        proc = subprocess.run(
            ["systemctl", *args], capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT_S, check=False
        )
        rc, err = proc.returncode, proc.stderr.strip()
    except subprocess.TimeoutExpired:
        rc, err = None, f"timed out after {SYSTEMCTL_TIMEOUT_S:g}s"
    return {"rc": rc, "seconds": round(time.monotonic() - began, 3), **({"stderr": err[-300:]} if rc else {})}


def unit_state(unit: str) -> dict[str, str]:
    proc = subprocess.run(
        ["systemctl", "show", "-p", "ActiveState", "-p", "SubState", "-p", "MainPID", "-p", "NRestarts", unit],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def journal(unit: str, since: str) -> list[str]:
    proc = subprocess.run(
        ["journalctl", "-u", unit, "--since", since, "--no-pager", "-o", "short-precise", "-n", "40"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.stdout.splitlines()


def read_ready_file() -> dict[str, Any] | None:
    try:
        with open(READY_FILE, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None  # not ready yet (it is written with a rename, so never half)


# --------------------------------------------------------------------------- the agent


class Agent:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.bandaid: Driver | None = None
        self.waiter: Driver | None = None

    def local_checkpoint(self) -> tuple[str, list[str]]:
        # The controld role's first barrier: this node's local checkpoint with its max protocols.
        name = f"{self.args.prefix}:{self.args.nodeid:08x}"
        return name, ["daemon_max_protocol", f"{self.args.fs_name}_max_protocol"]

    def global_checkpoint(self) -> tuple[str, list[str]]:
        return self.args.prefix, ["daemon_protocol", f"{self.args.fs_name}_protocol"]

    def ensure_waiter(self) -> Driver:
        if self.waiter is None or self.waiter.proc.poll() is not None:
            self.waiter = Driver("wait", "--socket", self.args.socket)
            if self.waiter.lines.next(30, ("ready",)) is None:
                raise RuntimeError("the ckpt_wait driver did not start")
        return self.waiter

    def stop(self) -> dict[str, Any]:
        began = time.monotonic()
        bandaid_rc = None
        if self.bandaid is not None:
            bandaid_rc = self.bandaid.finish()
            self.bandaid = None
        # One unit at a time (the order systemd would use anyway), so a slow stop names its unit.
        stopped = {}
        for unit in STACK:
            since = time.strftime("%Y-%m-%d %H:%M:%S")
            stopped[unit] = systemctl("stop", unit)
            if stopped[unit]["seconds"] > SLOW_STOP_S:
                stopped[unit]["journal"] = journal(unit, since)
        try:
            os.unlink(READY_FILE)  # a controld killed by the stop leaves it behind
        except OSError:
            pass
        # The trials restart the stack on purpose, every few seconds: reset systemd's start-rate
        # counters (the units' StartLimitBurst is there for crash loops), or a deliberate start is
        # refused with start-limit-hit.
        stopped["reset-failed"] = systemctl("reset-failed", *STACK)
        return {"ev": "stopped", "systemctl": stopped, "bandaid_rc": bandaid_rc, "s": _since(began)}

    def start(self, at: float, variant: str) -> dict[str, Any]:
        waiter = self.ensure_waiter() if variant == "barrier" else None
        time.sleep(max(0.0, at - time.time()))
        woke = time.time()
        began = time.monotonic()
        result: dict[str, Any] = {"ev": "result", "variant": variant, "late_s": round(woke - at, 4)}
        result["ckptd_start"] = systemctl("start", "quorate-ckptd")
        if variant == "barrier":
            result["controld_start"] = systemctl("start", "--no-block", "quorate-controld")
            result["barrier"] = {}
            for phase, (name, sections) in (("local", self.local_checkpoint()), ("global", self.global_checkpoint())):
                waiter.send({"name": name, "sections": sections, "timeout": self.args.barrier_timeout})
                done = waiter.lines.next(self.args.barrier_timeout + 30, ("done",))
                result["barrier"][phase] = _slim(done) if done else {"ok": False, "msg": "no answer from the driver"}
                result["barrier"][phase]["done_s"] = _since(began)
            result["controld"] = self.settled_controld(began)
        else:
            self.bandaid = Driver("bandaid", "--socket", self.args.socket)
            outcome = self.bandaid.lines.next(BANDAID_RESULT_S, ("result",))
            result["bandaid"] = _slim(outcome) if outcome else {"ok": False, "failed_step": "no_result"}
            result["bandaid"]["done_s"] = _since(began)
        return result

    def settled_controld(self, began: float) -> dict[str, Any]:
        """Once it is active (ready) or has given up: its state, restarts and ready file."""
        deadline = time.monotonic() + CONTROLD_SETTLE_S
        while True:
            state = unit_state("quorate-controld")
            if state.get("ActiveState") in ("active", "failed", "inactive") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        ready = read_ready_file() if state.get("ActiveState") == "active" else None
        return {"state": state, "ready": ready, "settled_s": _since(began)}

    def restore(self) -> dict[str, Any]:
        if self.bandaid is not None:
            self.bandaid.finish()
            self.bandaid = None
        started = systemctl("start", "quorate-controld")
        return {"ev": "restored", "systemctl": started, "states": {unit: unit_state(unit) for unit in STACK}}

    def close(self) -> None:
        for driver in (self.bandaid, self.waiter):
            if driver is not None:
                driver.finish()

    def serve(self) -> int:
        commands = JsonLines(sys.stdin.fileno())
        self.ensure_waiter()  # now, so its start-up never delays a start instant
        emit({"ev": "hello", "nodeid": self.args.nodeid, "pid": os.getpid()})
        try:
            while True:
                command = commands.next(24 * 3600.0)
                if command is None:
                    return 0  # the runner closed our stdin
                try:
                    if command.get("cmd") == "stop":
                        emit(self.stop())
                    elif command.get("cmd") == "start":
                        emit(self.start(float(command["at"]), command["variant"]))
                    elif command.get("cmd") == "restore":
                        emit(self.restore())
                    else:
                        emit({"ev": "error", "error": f"unknown command {command!r}"})
                except Exception as exc:  # report it to the runner instead of dying silently
                    log(f"{command.get('cmd')} failed: {type(exc).__name__}: {exc}")
                    emit({"ev": "error", "cmd": command.get("cmd"), "error": f"{type(exc).__name__}: {exc}"})
        finally:
            self.close()


def _since(began: float) -> float:
    return round(time.monotonic() - began, 3)


def _slim(event: dict[str, Any]) -> dict[str, Any]:
    # Monotonic stamps of another process are meaningless to the runner.
    return {key: value for key, value in event.items() if key not in ("t", "started", "ev")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["driver"]:
        return run_driver(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("agent",))
    parser.add_argument("--nodeid", type=int, required=True)
    parser.add_argument("--socket", default="/run/quorate/ckptd.sock")
    parser.add_argument("--prefix", default="quorate:controld", help="quorate_controld_checkpoint_prefix")
    parser.add_argument("--fs-name", default="ocfs2", help="quorate_controld_fs_name")
    parser.add_argument("--barrier-timeout", type=float, default=60.0, help="quorate_controld_wait_timeout")
    args = parser.parse_args(argv)
    return Agent(args).serve()


if __name__ == "__main__":
    raise SystemExit(main())

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does a running service still run what is on disk? The rolling restart's "changed only" rule.

A service needs a restart when, since its main process started,

- a file it depends on was rewritten (program bundle, authkey: ``paths``; its unit file and
  drop-ins always count, a daemon-reload does not change the running process);
- a restart-pending marker was written for it (a corosync.conf change that corosync cannot
  apply live: the corosync role writes the marker, because the file alone cannot tell a
  reloaded change from a pending one);
- its executable or a shared library it mapped was replaced (a package upgrade): the kernel
  shows such mappings as ``<path> (deleted)``.

A marker older than the process start is spent: the restart it asked for has happened, so
restarts done by other means (reboot, manual restart) also clear it.

Stdlib only: the logic here is used by the ``restart_needed`` module on the nodes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .systemd_units import Systemctl, SystemctlError, is_active

DEFAULT_MARKER_DIR = "/var/lib/quorate/restart-pending"
_DELETED = " (deleted)"
# What the inspector reads of a unit: is it up, its main process and since when, its unit files.
SHOW_PROPERTIES = (
    "ActiveState",
    "MainPID",
    "ExecMainStartTimestampMonotonic",
    "FragmentPath",
    "DropInPaths",
)
# Only program files count: corosync and libqb map /dev/shm ring buffers that are deleted
# by design, and those say nothing about upgrades.
_PROGRAM_PREFIXES = ("/usr/", "/lib/", "/lib64/", "/bin/", "/sbin/", "/opt/")


@dataclass
class ServiceState:
    name: str
    running: bool = False
    pid: int = 0
    started: float | None = None  # wall-clock time the main process started
    stale: bool = False
    reasons: list = field(default_factory=list)
    unit_files: list = field(default_factory=list)  # the unit file and its drop-ins

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def start_walltime(monotonic_usec: int, now_wall: float, now_monotonic: float) -> float:
    """Turn systemd's ``ExecMainStartTimestampMonotonic`` into wall-clock seconds.

    The monotonic stamp cannot jump with NTP, and file mtimes are wall-clock, so convert once
    with the current offset between the two clocks.
    """
    return now_wall - (now_monotonic - monotonic_usec / 1e6)


def deleted_program_files(maps_text: str, exe_link: str) -> list[str]:
    """Program files (executable, shared libraries) the process maps but that were replaced."""
    found = []
    candidates = [exe_link] + [
        line.split(None, 5)[5] for line in maps_text.splitlines() if len(line.split(None, 5)) == 6
    ]
    for path in candidates:
        if path.endswith(_DELETED):
            path = path[: -len(_DELETED)]
            if path.startswith(_PROGRAM_PREFIXES) and path not in found:
                found.append(path)
    return found


def judge(
    state: ServiceState,
    paths: list[str],
    marker: str,
    mtime: Callable[[str], float | None],
    read_text: Callable[[str], str | None],
    replaced_programs: list[str],
) -> ServiceState:
    """Fill ``stale`` and ``reasons`` of a running service from what changed since it started."""
    if not state.running or state.started is None:
        return state
    # A file written in the same instant as the start counts as older: the playbooks write
    # before they start, and mtime and start stamps have different granularities.
    slack = 0.05
    for path in paths:
        changed_at = mtime(path)
        if changed_at is not None and changed_at > state.started + slack:
            state.reasons.append(f"{path} changed after the service started")
    marker_at = mtime(marker)
    if marker_at is not None and marker_at > state.started + slack:
        why = (read_text(marker) or "").strip() or "a change is waiting for a restart"
        state.reasons.append(f"pending: {why}")
    for path in replaced_programs:
        state.reasons.append(f"{path} was replaced (upgraded) after the service started")
    state.stale = bool(state.reasons)
    return state


def restart_plan(order: list[str], states: dict[str, ServiceState], force: bool = False) -> list[str]:
    """Which services of one node's stack to restart, bottom-up in ``order``.

    A restart of one layer takes down everything above it (their connections to it die), so the
    plan starts at the lowest stale layer and includes every layer above it; layers that are
    not running are started by the plan too. ``force`` restarts the whole stack.
    """
    if force:
        return list(order)
    for index, name in enumerate(order):
        state = states.get(name)
        if state is None or state.stale or not state.running:
            return list(order[index:])
    return []


class ServiceInspector:
    """Reads the live state of systemd services on this node (``run`` is the command runner)."""

    def __init__(
        self,
        run: Callable[[list], tuple],
        systemctl: str = "systemctl",
        proc: str = "/proc",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.run = run
        self.systemctl = Systemctl(run, systemctl)
        self.proc = proc
        self.clock = clock
        self.monotonic = monotonic

    def state(self, name: str) -> ServiceState:
        try:
            values = self.systemctl.show(name, SHOW_PROPERTIES)
        except SystemctlError as exc:
            raise RuntimeError(
                f"systemctl show {name} failed (rc={exc.rc}): {exc.err.strip() or exc.out.strip()}"
            ) from None
        pid = int(values.get("MainPID") or 0)
        running = is_active(values) and pid > 0
        state = ServiceState(name=name, running=running, pid=pid if running else 0)
        state.unit_files = [
            path for path in [values.get("FragmentPath", "")] + values.get("DropInPaths", "").split() if path
        ]
        if running:
            stamp = int(values.get("ExecMainStartTimestampMonotonic") or 0)
            state.started = start_walltime(stamp, self.clock(), self.monotonic()) if stamp else None
        return state

    def replaced_programs(self, pid: int) -> list[str]:
        try:
            exe = os.readlink(f"{self.proc}/{pid}/exe")
            with open(f"{self.proc}/{pid}/maps", encoding="utf-8", errors="replace") as maps:
                return deleted_program_files(maps.read(), exe)
        except OSError:
            return []  # the process just ended: nothing to judge, the plan starts it anyway


def file_mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def file_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(4096)
    except OSError:
        return None

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controld protocol negotiation's one source: names, versions, the common pick and the live raise.

Two checkpoints carry it (docs/design.md#the-problem):

- each node's **local checkpoint** ``<prefix>:<nodeid as 8 hex>`` holds that node's maxima,
  ``daemon_max_protocol`` and ``<fs>_max_protocol``;
- the **global checkpoint** ``<prefix>`` holds the running protocol, ``daemon_protocol`` and
  ``<fs>_protocol``.

The first controld of a fresh cluster picks the lowest maximum among the members' local
checkpoints (so a mixed-version cluster runs what every node supports). Later, once every member
announces a higher maximum (after a rolling upgrade), :func:`raise_running` lifts the running
protocol in place, without stopping anything: every running controld reads the global checkpoint
again every few seconds and adopts a raise it supports.

Compatibility rule: a controld runs a protocol of its own major and a minor up to its maximum's.
A raise never goes past what every current member announced, and never to another major (that
needs the whole cluster's controlds stopped and started again). Once raised, a node whose programs
announce less cannot join until it is upgraded too.

Stdlib only: used by the controld on the nodes and by the controld_protocol module.
"""

from __future__ import annotations

from .ais_errors import AisError, AisException
from .ckpt_client import CheckpointClient
from .ckpt_protocol import OPEN_READ, OPEN_WRITE, parse_protocol_version, protocol_version_text

DEFAULT_PREFIX = "quorate:controld"
DAEMON_SECTION = "daemon"
# What this version of the node programs supports; a controld announces these unless its unit
# says otherwise (quorate_controld_daemon_max_protocol / quorate_controld_fs_max_protocol).
NODE_DAEMON_MAX_PROTOCOL = (1, 0)
NODE_FS_MAX_PROTOCOL = (1, 0)

Version = tuple  # (major, minor)


class RaiseRefused(Exception):
    """The running protocol cannot be raised now; the message says why and what to do."""


def local_checkpoint_name(prefix: str, nodeid: int) -> str:
    return f"{prefix}:{nodeid:08x}"


def parse_version(text: str) -> Version:
    """``"1.2"`` -> ``(1, 2)``; a bare major means minor 0. Raises ValueError."""
    major, _dot, minor = str(text).partition(".")
    version = int(major), int(minor or 0)
    protocol_version_text(*version)  # the range check: two hex digits each
    return version


def version_text(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def compatible(running: Version, maximum: Version) -> bool:
    """Same major, and a running minor this daemon supports."""
    return running[0] == maximum[0] and running[1] <= maximum[1]


def lowest_common(maxima: list, major: int) -> Version | None:
    """The lowest of the announced maxima of ``major`` (None when none has it)."""
    same = [tuple(m) for m in maxima if m[0] == major]
    return min(same) if same else None


def read_maxima(client: CheckpointClient, prefix: str, fs_name: str, members: list) -> dict:
    """``{nodeid: (daemon_max, fs_max)}`` for the members whose local checkpoint carries both.

    A member without one (its controld not started, or between its create and its writes) is
    absent from the result: the caller decides whether to wait for it."""
    maxima = {}
    for nodeid in members:
        try:
            handle = client.open(local_checkpoint_name(prefix, nodeid), OPEN_READ)
        except AisException as exc:
            if exc.code is AisError.NOT_EXIST:
                continue
            raise
        try:
            daemon = parse_protocol_version(client.section_read(handle, f"{DAEMON_SECTION}_max_protocol".encode()))
            fs = parse_protocol_version(client.section_read(handle, f"{fs_name}_max_protocol".encode()))
            maxima[nodeid] = (daemon, fs)
        except AisException as exc:
            if exc.code is not AisError.NOT_EXIST:
                raise
        finally:
            try:
                client.close(handle)
            except AisException:
                pass
    return maxima


def read_running(client: CheckpointClient, prefix: str, fs_name: str, handle: int | None = None) -> tuple:
    """The running ``(daemon, fs)`` protocol from the global checkpoint (through ``handle`` if open)."""
    own = handle is None
    if own:
        handle = client.open(prefix, OPEN_READ)
    try:
        daemon = parse_protocol_version(client.section_read(handle, f"{DAEMON_SECTION}_protocol".encode()))
        fs = parse_protocol_version(client.section_read(handle, f"{fs_name}_protocol".encode()))
    finally:
        if own:
            try:
                client.close(handle)
            except AisException:
                pass
    return daemon, fs


def raise_target(running: tuple, maxima: dict, members: list) -> tuple:
    """The protocol ``(daemon, fs)`` every member supports, never below ``running``.

    Raises :class:`RaiseRefused` when a member announced nothing (its controld is not running)
    or runs programs of another major."""
    missing = sorted(set(members) - set(maxima))
    if missing:
        raise RaiseRefused(
            f"node(s) {', '.join(map(str, missing))} have no local checkpoint (their controld is not running): "
            "start it there first; a raise now could leave them behind"
        )
    target = []
    for index, name in ((0, "daemon"), (1, "fs")):
        current = tuple(running[index])
        announced = [m[index] for m in maxima.values()]
        other = sorted({nodeid for nodeid, m in maxima.items() if m[index][0] != current[0]})
        if other:
            raise RaiseRefused(
                f"node(s) {', '.join(map(str, other))} announce a {name} protocol of another major than the running "
                f"{version_text(current)}: a major change needs every controld stopped and started again"
            )
        target.append(max(current, lowest_common(announced, current[0])))
    return tuple(target)


def raise_running(client: CheckpointClient, prefix: str, fs_name: str, members: list, check_mode: bool = False) -> dict:
    """Raise the running protocol to the highest every member supports, in the global checkpoint.

    Returns ``{"before", "after", "maxima", "changed"}`` (versions as (major, minor)). In
    ``check_mode`` nothing is written. Raises :class:`RaiseRefused` or AisException."""
    running = read_running(client, prefix, fs_name)
    maxima = read_maxima(client, prefix, fs_name, members)
    target = raise_target(running, maxima, members)
    changed = target != tuple(running)
    if changed and not check_mode:
        handle = client.open(prefix, OPEN_READ | OPEN_WRITE)
        try:
            # fs first: a daemon that reads between the two writes sees the old daemon protocol,
            # and adopts both on its next read.
            client.section_overwrite(handle, f"{fs_name}_protocol".encode(), protocol_version_text(*target[1]))
            client.section_overwrite(handle, f"{DAEMON_SECTION}_protocol".encode(), protocol_version_text(*target[0]))
        finally:
            try:
                client.close(handle)
            except AisException:
                pass
    return {"before": tuple(running), "after": target, "maxima": maxima, "changed": changed}

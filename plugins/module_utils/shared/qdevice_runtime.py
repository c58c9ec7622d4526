# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The quorum device as this node sees it: is the device's vote counted, and if not, why not.

Three sources, read through the tools (verified on Debian 12, corosync 3.1.7, corosync-qdevice 3.0.3):

- ``corosync-quorumtool -s -p``: ``Flags: ... Qdevice`` while this node's corosync-qdevice is
  registered with votequorum (the flag goes when it stops); the membership table's ``Qdevice``
  column (``A,V,NMW``: the node's qdevice is alive and casts its vote; ``NA``/``NV``: not alive / no
  vote; ``NR``: no qdevice registered on that node, also shown on clusters without a device) and,
  once corosync.conf has a device, a last row ``0  <votes>  Qdevice`` whose votes are those counted
  now (``0  0  Qdevice (votes 1)`` while the vote is not cast).
- ``corosync-qdevice-tool -s``: the daemon's view; ``State:`` of the connection to qnetd
  (``Connecting``, ``Connect failed``, ``Connected``...). It exits non-zero when the daemon is
  not running ("Can't connect to QDevice socket").
- corosync-qdevice's own log lines (its unit sends stderr nowhere; it logs to syslog/journal):
  ``Can't connect to qnetd host`` / ``Connect timeout`` when qnetd cannot be reached, ``Unhandled
  error when reading from server`` when qnetd drops the TLS handshake (certificate refused or
  missing), ``Can't init nss`` when the node's certificate database is missing or unreadable.

Stdlib only: this file runs on the managed nodes.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

QDEVICE_TOOL = "corosync-qdevice-tool"

# Why the device's vote is not counted on this node, and what to do; ``voting`` is success.
REASONS = {
    "voting": "the quorum device's vote is counted",
    "not_configured": (
        "corosync has no quorum device (no 'Qdevice' flag): corosync.conf has no quorum.device section "
        "or corosync was not reloaded; set quorate_corosync_quorum.device and run the bring-up"
    ),
    "not_running": (
        "corosync-qdevice is not running on this node: see `journalctl -u corosync-qdevice` "
        "(systemctl start corosync-qdevice)"
    ),
    "no_certificate": (
        "corosync-qdevice cannot open its certificate database (/etc/corosync/qdevice/net/nssdb): "
        "run the bring-up again, which creates and signs the certificates"
    ),
    "qnetd_unreachable": (
        "qnetd cannot be reached from this node (quorate_corosync_quorum.device.net.host, TCP port 5403 by "
        "default): check that corosync-qnetd runs there (corosync-qnetd-tool -s) and the network path"
    ),
    "certificate_refused": (
        "qnetd refused this node's TLS handshake (certificate missing, or signed by another qnetd CA): "
        "remove /etc/corosync/qdevice/net/nssdb on the members and run the bring-up again"
    ),
    "vote_not_cast": (
        "connected to qnetd, but the device's vote is not (yet) cast for this partition: qnetd gives it "
        "to one partition only (algorithm ffsplit/lms); wait, or see corosync-qnetd-tool -lv on the qnetd host"
    ),
}

_UNREACHABLE = ("can't connect to qnetd", "connect timeout", "connection refused", "network address not available")
_REFUSED = ("unhandled error when reading from server", "certificate", "ssl", "tls", "peer")
_NO_NSSDB = ("can't init nss",)


@dataclass(frozen=True)
class QuorumDevice:
    """The device as ``corosync-quorumtool -s`` shows it on this node."""

    registered: bool  # the "Qdevice" flag: this node's corosync-qdevice is registered with votequorum
    votes: int | None  # votes the device contributes now (the "0 <votes> Qdevice" row), None without a row
    configured_votes: int | None  # its configured votes ("(votes 1)" while none are counted), else votes
    local_flags: list = field(default_factory=list)  # this node's Qdevice column, e.g. ["A", "V", "NMW"]
    node_flags: dict = field(default_factory=dict)  # nodeid -> its Qdevice column

    @property
    def voting(self) -> bool:
        """The device's vote is counted and this node's qdevice is alive and votes."""
        return self.registered and bool(self.votes) and "A" in self.local_flags and "V" in self.local_flags

    @property
    def configured(self) -> bool:
        """corosync has a quorum device (its row in the membership table, or this node registered)."""
        return self.votes is not None or self.registered

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), voting=self.voting, configured=self.configured)


def parse_quorum_device(text: str) -> QuorumDevice:
    """Read the quorum device out of ``corosync-quorumtool -s`` (plain or ``-p``) output."""
    flags: list[str] = []
    votes = configured = None
    local: list[str] = []
    nodes: dict[int, list[str]] = {}
    in_members = False
    has_column = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Flags:"):
            flags = stripped.partition(":")[2].split()
        if stripped.startswith("Membership information"):
            in_members = True
            continue
        if not in_members:
            continue
        columns = stripped.split()
        if columns[:1] == ["Nodeid"]:
            has_column = "Qdevice" in columns
            continue
        if len(columns) < 3 or not columns[0].isdigit() or not columns[1].isdigit():
            continue
        if columns[0] == "0" and columns[2] == "Qdevice":
            votes = int(columns[1])
            match = re.search(r"\(votes (\d+)\)", stripped)
            configured = int(match[1]) if match else votes
            continue
        if has_column:
            node_flags = columns[2].split(",")
            nodes[int(columns[0])] = node_flags
            if "(local)" in stripped:
                local = node_flags
    return QuorumDevice(
        registered="Qdevice" in flags,
        votes=votes,
        configured_votes=configured,
        local_flags=local,
        node_flags=nodes,
    )


def parse_qdevice_tool(text: str) -> dict[str, str]:
    """``corosync-qdevice-tool -s`` (or ``-sv``) as ``key -> value`` (``State``, ``QNetd host``,
    ``Algorithm``, ``Cluster name``, ``TLS active``...); tab-aligned, one ``Key: value`` a line."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith((" ", "\t")) or ":" not in line:
            continue
        key, _sep, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _mentions(lines: list[str], needles: tuple) -> str | None:
    """The last of ``lines`` that contains one of ``needles`` (case-insensitive)."""
    for line in reversed(lines):
        lowered = line.lower()
        if any(needle in lowered for needle in needles):
            return line.strip()
    return None


def diagnose(device: QuorumDevice | None, tool: dict | None, log_lines: list | None = None) -> tuple[str, str]:
    """Why the device's vote is not counted on this node: ``(reason, evidence)``.

    ``device``: parsed quorumtool output (None when corosync did not answer); ``tool``: parsed
    ``corosync-qdevice-tool -s`` output, None when the daemon did not answer; ``log_lines``:
    corosync-qdevice's recent log lines, oldest first. ``reason`` is a key of :data:`REASONS`;
    ``evidence`` is the state or log line it rests on.
    """
    lines = [str(line) for line in log_lines or [] if str(line).strip()]
    if device is not None and device.voting:
        return "voting", f"device votes {device.votes}, this node {','.join(device.local_flags)}"
    if tool is None:
        nss = _mentions(lines, _NO_NSSDB)
        if nss:
            return "no_certificate", nss
        if device is not None and not device.configured:
            return "not_configured", "no Qdevice row in corosync-quorumtool -s"
        return "not_running", _mentions(lines, ("",)) or "corosync-qdevice-tool cannot reach the daemon"
    state = tool.get("State", "")
    last_problem = _mentions(lines, _UNREACHABLE + _REFUSED + _NO_NSSDB)
    if state == "Connected" or state.startswith("Connected"):
        flags = ",".join(device.local_flags) if device else "?"
        return "vote_not_cast", f"State: {state}; device votes {device.votes if device else '?'}, this node {flags}"
    if last_problem and any(needle in last_problem.lower() for needle in _NO_NSSDB):
        return "no_certificate", last_problem
    if last_problem and any(needle in last_problem.lower() for needle in _UNREACHABLE):
        return "qnetd_unreachable", f"State: {state}; {last_problem}"
    if last_problem and any(needle in last_problem.lower() for needle in _REFUSED):
        return "certificate_refused", f"State: {state}; {last_problem}"
    if state == "Connect failed":
        return "qnetd_unreachable", f"State: {state}"
    return "vote_not_cast", f"State: {state or 'unknown'}"


def explain(reason: str, evidence: str) -> str:
    """One sentence for an operator: the reason, what it rests on, what to do."""
    return f"{REASONS.get(reason, reason)} ({evidence})"

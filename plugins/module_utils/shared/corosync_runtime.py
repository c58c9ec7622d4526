# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runtime state of the local corosync: totem timing, members, quorum, ring id.

Read through corosync's own tools (``corosync-cmapctl``, ``corosync-quorumtool``) so the values
are exactly what corosync computed (the runtime token includes the per-node coefficient).
The command runner is injected: modules pass ``module.run_command``, tests pass fixtures of
real output.

Stdlib only: this file runs on the managed nodes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .retry_policy import ServiceUnavailable, TotemTiming

# (argv) -> (rc, stdout, stderr), the shape of AnsibleModule.run_command.
Runner = Callable[[list], tuple]

CMAPCTL = "corosync-cmapctl"
QUORUMTOOL = "corosync-quorumtool"

# corosync-quorumtool -s exits 0 when quorate, 2 when not quorate, 1 on errors.
_QUORUMTOOL_OK_RCS = (0, 2)

_CMAP_LINE = re.compile(r"^(?P<key>\S+) \((?P<type>[a-z0-9]+)\) = ?(?P<value>.*)$")
_MEMBER_ADDR = re.compile(r"ip\(([^)]*)\)")
_MEMBER_KEY = re.compile(r"^runtime\.members\.(?P<id>\d+)\.(?P<attr>[a-z_]+)$")
_INT_TYPES = {"u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"}


class CorosyncNotRunning(ServiceUnavailable):
    """corosync's IPC is not answering: the daemon is stopped, starting, or crashed."""


class CorosyncQueryError(RuntimeError):
    """A corosync tool failed for a reason other than corosync being down."""

    def __init__(self, message: str, rc: int = 0, stdout: str = "", stderr: str = ""):
        super().__init__(message)
        self.rc, self.stdout, self.stderr = rc, stdout, stderr


@dataclass(frozen=True)
class Member:
    nodeid: int
    addrs: list = field(default_factory=list)
    status: str = "unknown"
    join_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QuorumState:
    quorate: bool
    node_id: int
    ring_id: str
    members: list
    expected_votes: int | None = None
    total_votes: int | None = None
    quorum: int | None = None
    flags: list = field(default_factory=list)
    member_votes: dict = field(default_factory=dict)  # nodeid -> votes, from the membership table

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_cmap(text: str) -> dict[str, Any]:
    """Parse ``corosync-cmapctl`` output into key -> value (ints for integer types)."""
    values: dict[str, Any] = {}
    for line in text.splitlines():
        match = _CMAP_LINE.match(line.rstrip("\n"))
        if not match:
            continue
        value: Any = match.group("value").rstrip()
        if match.group("type") in _INT_TYPES:
            try:
                value = int(value)
            except ValueError:
                pass
        values[match.group("key")] = value
    return values


def parse_members(cmap: dict[str, Any]) -> list[Member]:
    """Build the member list from ``runtime.members.<id>.*`` keys (joined and left ones)."""
    raw: dict[int, dict[str, Any]] = {}
    for key, value in cmap.items():
        match = _MEMBER_KEY.match(key)
        if match:
            raw.setdefault(int(match.group("id")), {})[match.group("attr")] = value
    return [
        Member(
            nodeid=nodeid,
            addrs=_MEMBER_ADDR.findall(str(attrs.get("ip", ""))),
            status=str(attrs.get("status", "unknown")),
            join_count=int(attrs.get("join_count", 0) or 0),
        )
        for nodeid, attrs in sorted(raw.items())
    ]


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    match = re.match(r"\s*(\d+)", text)
    return int(match.group(1)) if match else None


def parse_quorumtool(text: str) -> QuorumState:
    """Parse ``corosync-quorumtool -s`` output (both the plain and the ``-p`` layout)."""
    fields: dict[str, str] = {}
    members: list[int] = []
    votes: dict[int, int] = {}
    in_members = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Membership information"):
            in_members = True
            continue
        if in_members:
            columns = stripped.split()
            # Node ids are decimal unless -H was given; header and ruler lines are skipped.
            if columns and columns[0].isdigit() and columns[0] != "0":  # row 0: the quorum device
                members.append(int(columns[0]))
                if len(columns) > 1 and columns[1].isdigit():
                    votes[int(columns[0])] = int(columns[1])
            continue
        if ":" in stripped:
            key, _sep, value = stripped.partition(":")
            fields[key.strip()] = value.strip()
    if "Quorate" not in fields or "Ring ID" not in fields:
        raise CorosyncQueryError("unexpected corosync-quorumtool output: no 'Quorate'/'Ring ID' line", stdout=text)
    return QuorumState(
        quorate=fields["Quorate"].lower().startswith("yes"),
        node_id=_int_or_none(fields.get("Node ID")) or 0,
        ring_id=fields["Ring ID"],
        members=sorted(members),
        expected_votes=_int_or_none(fields.get("Expected votes")),
        total_votes=_int_or_none(fields.get("Total votes")),
        quorum=_int_or_none(fields.get("Quorum")),
        flags=fields.get("Flags", "").split(),
        member_votes=votes,
    )


class CorosyncRuntime:
    """Queries against the local corosync; every method raises :class:`CorosyncNotRunning`
    when corosync does not answer and :class:`CorosyncQueryError` on anything else."""

    def __init__(self, run: Runner, cmapctl: str = CMAPCTL, quorumtool: str = QUORUMTOOL):
        self._run = run
        self.cmapctl = cmapctl
        self.quorumtool = quorumtool

    def _invoke(self, argv: list, ok_rcs: tuple = (0,)) -> tuple[int, str]:
        rc, out, err = self._run(argv)
        if rc in ok_rcs:
            return rc, out
        # The tools print "Cannot initialize CMAP service" or "Failed to initialize the ...
        # API. Error CS_ERR_LIBRARY/CS_ERR_TRY_AGAIN" while corosync is down or starting.
        if "initiali" in (err + out).lower():
            raise CorosyncNotRunning(f"corosync is not running (or still starting): {err.strip() or out.strip()}")
        raise CorosyncQueryError(f"{' '.join(argv)} failed with rc={rc}: {err.strip() or out.strip()}", rc, out, err)

    def cmap(self, prefix: str) -> dict[str, Any]:
        """All cmap keys under ``prefix``."""
        out = self._invoke([self.cmapctl, prefix])[1]
        return parse_cmap(out)

    def totem(self) -> dict[str, Any]:
        """The runtime totem values, keyed by their short names (``token``, ``consensus``...)."""
        prefix = "runtime.config.totem."
        return {key[len(prefix) :]: value for key, value in self.cmap(prefix).items()}

    def totem_timing(self) -> TotemTiming:
        totem = self.totem()
        try:
            return TotemTiming(
                token_ms=int(totem["token"]), consensus_ms=int(totem["consensus"]), join_ms=int(totem.get("join", 50))
            )
        except KeyError as exc:
            raise CorosyncQueryError(f"runtime.config.totem.{exc.args[0]} is missing from cmap") from exc

    def members(self) -> list[Member]:
        return parse_members(self.cmap("runtime.members."))

    def nodelist_ids(self) -> list[int]:
        """Node ids of the configured nodelist (what the cluster expects)."""
        cmap = self.cmap("nodelist.node.")
        return sorted(int(v) for k, v in cmap.items() if k.endswith(".nodeid"))

    def nodelist_addrs(self) -> list[str]:
        """Every address of the configured nodelist (all links), sorted."""
        cmap = self.cmap("nodelist.node.")
        return sorted(str(v) for k, v in cmap.items() if re.search(r"\.ring\d+_addr$", k))

    def nodelist_nodes(self) -> list[dict[str, Any]]:
        """The configured nodelist, one ``{"nodeid", "name", "addrs"}`` per node (addresses in link
        order), sorted by node id."""
        nodes: dict[str, dict[str, Any]] = {}
        for key, value in self.cmap("nodelist.node.").items():
            match = re.match(r"nodelist\.node\.(\d+)\.(nodeid|name|ring(\d+)_addr)$", key)
            if match:
                node = nodes.setdefault(match[1], {"nodeid": None, "name": None, "links": {}})
                if match[3] is not None:
                    node["links"][int(match[3])] = str(value)
                else:
                    node[match[2]] = int(value) if match[2] == "nodeid" else str(value)
        return sorted(
            (
                {"nodeid": n["nodeid"], "name": n["name"], "addrs": [n["links"][link] for link in sorted(n["links"])]}
                for n in nodes.values()
            ),
            key=lambda n: (n["nodeid"] is None, n["nodeid"] or 0),
        )

    def quorum_text(self) -> str:
        """``corosync-quorumtool -s -p`` as printed (quorate or not)."""
        return self._invoke([self.quorumtool, "-s", "-p"], ok_rcs=_QUORUMTOOL_OK_RCS)[1]

    def quorum(self) -> QuorumState:
        return parse_quorumtool(self.quorum_text())

    def config_version(self) -> int | None:
        """``totem.config_version`` if the configuration sets one, else None."""
        rc, out, _err = self._run([self.cmapctl, "-g", "totem.config_version"])
        if rc != 0:
            return None
        value = parse_cmap(out).get("totem.config_version")
        return value if isinstance(value, int) else None

    def cluster_name(self) -> str | None:
        return parse_cmap(self._invoke([self.cmapctl, "totem.cluster_name"])[1]).get("totem.cluster_name")


class CorosyncSnapshot(CorosyncRuntime):
    """Answers every cmap query from one read of the whole cmap (one ``corosync-cmapctl`` call
    instead of one per query), for a module that reads many keys once; quorum stays live."""

    def __init__(self, run: Runner, cmapctl: str = CMAPCTL, quorumtool: str = QUORUMTOOL):
        super().__init__(run, cmapctl=cmapctl, quorumtool=quorumtool)
        self._dump: dict[str, Any] | None = None

    def _all(self) -> dict[str, Any]:
        if self._dump is None:
            self._dump = parse_cmap(self._invoke([self.cmapctl])[1])
        return self._dump

    def cmap(self, prefix: str) -> dict[str, Any]:
        return {key: value for key, value in self._all().items() if key.startswith(prefix)}

    def config_version(self) -> int | None:
        value = self._all().get("totem.config_version")
        return value if isinstance(value, int) else None

    def cluster_name(self) -> str | None:
        return self._all().get("totem.cluster_name")

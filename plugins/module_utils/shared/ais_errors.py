# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SA Forum AIS error model: one source for the client, the modules and the node daemons.

Every ``SaAisErrorT`` code by number and name, an exception that carries the code, and the
classification the retry client applies: which errors are transient in which situation
(and which named Case they are, docs/design.md#the-two-named-cases), and which are fatal at once.

Stdlib only: this file is also installed on the nodes for the checkpoint daemons.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AisError(enum.IntEnum):
    """SaAisErrorT, numbered as in the SA Forum AIS B-series specification."""

    OK = 1
    LIBRARY = 2
    VERSION = 3
    INIT = 4
    TIMEOUT = 5
    TRY_AGAIN = 6
    INVALID_PARAM = 7
    NO_MEMORY = 8
    BAD_HANDLE = 9
    BUSY = 10
    ACCESS = 11
    NOT_EXIST = 12
    NAME_TOO_LONG = 13
    EXIST = 14
    NO_SPACE = 15
    INTERRUPT = 16
    NAME_NOT_FOUND = 17
    NO_RESOURCES = 18
    NOT_SUPPORTED = 19
    BAD_OPERATION = 20
    FAILED_OPERATION = 21
    MESSAGE_ERROR = 22
    QUEUE_FULL = 23
    QUEUE_NOT_AVAILABLE = 24
    BAD_FLAGS = 25
    TOO_BIG = 26
    NO_SECTIONS = 27
    SECURITY = 100

    @property
    def sa_name(self) -> str:
        """The name as the SA Forum AIS specification spells it."""
        return "SA_AIS_OK" if self is AisError.OK else f"SA_AIS_ERR_{self.name}"

    @classmethod
    def from_code(cls, code: int) -> AisError:
        try:
            return cls(int(code))
        except ValueError:
            # An unknown number from a peer must not crash the caller: treat it as a
            # library fault, which the classification below reconnects on.
            return cls.LIBRARY


class Operation(enum.Enum):
    """What the caller was doing; the same code means different things in different calls."""

    OPEN_READ = "open_read"  # checkpoint open without CREATE
    OPEN_CREATE = "open_create"  # checkpoint open with CREATE
    CALL = "call"  # any other library call (section ops, close, queries)


class Case(str, enum.Enum):
    """Why a transient error happened; the names are part of the modules' return values."""

    TRY_AGAIN = "try_again"  # membership in flux, or the service is not synced yet
    NOT_EXIST_READ = "not_exist_read"  # read-only open before the creator made it visible
    EXIST_CREATE = "exist_create"  # create collides with an instance awaiting teardown
    RECONNECT = "reconnect"  # the connection to the local service is dead
    NOT_QUORATE = "not_quorate"  # this node's partition does not hold quorum: writes are refused


# The detail a TRY_AGAIN starts with when the partition is not quorate (ckpt_store): the
# retry client reports it as Case.NOT_QUORATE.
NOT_QUORATE_DETAIL = "not quorate"
NOT_QUORATE_HINT = (
    "this node's partition does not hold quorum (corosync votequorum): the checkpoint service "
    "refuses writes, creations and unlinks there until it merges with the quorate part; reads "
    "may return stale data; check the links and membership (corosync-quorumtool -s)"
)


@dataclass(frozen=True)
class Verdict:
    """The classification of one error: retry (with which case) or fail now."""

    transient: bool
    case: Case | None = None

    @property
    def reconnect(self) -> bool:
        return self.case is Case.RECONNECT


# Errors that mean "nothing happened, the same call can succeed shortly": membership is
# changing, the service is syncing, or a request timed out before it was applied.
_ALWAYS_TRANSIENT = frozenset({AisError.TRY_AGAIN, AisError.BUSY, AisError.TIMEOUT, AisError.INTERRUPT})
_RECONNECT = frozenset({AisError.LIBRARY, AisError.BAD_HANDLE})

# What the operator should fix, for the errors that are never retried.
_FIX_HINTS: dict[AisError, str] = {
    AisError.VERSION: "the client and the checkpoint service speak different protocol versions; "
    "upgrade the collection on every node so both sides match",
    AisError.INIT: "the library was used before initialization; this is a client bug, report it",
    AisError.INVALID_PARAM: "a parameter was rejected (creation attributes, sizes, flags); "
    "check the checkpoint's creation attributes, section ids and that data fits maxSectionSize",
    AisError.NO_MEMORY: "the checkpoint service ran out of memory on this node",
    AisError.ACCESS: "the checkpoint was opened without the access the call needs "
    "(READ/WRITE), or the socket permissions deny this user",
    AisError.NOT_EXIST: "the checkpoint or section does not exist; create it first or fix the name",
    AisError.NAME_TOO_LONG: "the checkpoint or section name is longer than the service allows; shorten it",
    AisError.EXIST: "the checkpoint or section already exists with other attributes; "
    "unlink it or open it with the attributes it was created with",
    AisError.NO_SPACE: "the checkpoint is full (maxSections / checkpointSize) or /dev/shm on the node "
    "is full; raise the limits or free space (stale corosync shm files after kill -9)",
    AisError.NAME_NOT_FOUND: "the name is unknown to the service; check the spelling",
    AisError.NO_RESOURCES: "the service has no resources left for this request (too many open "
    "checkpoints or clients); close unused handles",
    AisError.NOT_SUPPORTED: "the service does not support this operation",
    AisError.BAD_OPERATION: "the operation is not allowed in this state (e.g. write on a read-only open)",
    AisError.FAILED_OPERATION: "the service could not carry out the request; see its journal",
    AisError.MESSAGE_ERROR: "a message was malformed; client and service may be out of step, check versions",
    AisError.QUEUE_FULL: "the service's queue is full",
    AisError.QUEUE_NOT_AVAILABLE: "the service's queue is not available",
    AisError.BAD_FLAGS: "the open or creation flags are invalid; use READ/WRITE/CREATE and valid creation flags",
    AisError.TOO_BIG: "a creation attribute is above the service's ceiling or the request is above "
    "its size limit; lower it or write less",
    AisError.NO_SECTIONS: "the checkpoint has no sections; write them first",
    AisError.SECURITY: "the request was refused for security reasons; check who runs the client",
}


def classify(code: AisError | int, operation: Operation = Operation.CALL) -> Verdict:
    """Tell whether ``code`` is worth retrying for ``operation``, and which case it is."""
    err = AisError.from_code(code)
    if err in _ALWAYS_TRANSIENT:
        return Verdict(True, Case.TRY_AGAIN)
    if err in _RECONNECT:
        return Verdict(True, Case.RECONNECT)
    # Case.NOT_EXIST_READ (docs/design.md#the-two-named-cases): a read-only open of a checkpoint that another node
    # is creating right now. It becomes visible once the creator's open is delivered.
    if err is AisError.NOT_EXIST and operation is Operation.OPEN_READ:
        return Verdict(True, Case.NOT_EXIST_READ)
    # Case.EXIST_CREATE (docs/design.md#the-two-named-cases): a fast restart whose previous instance is still held
    # (retention time); it clears when the old instance is torn down.
    if err is AisError.EXIST and operation is Operation.OPEN_CREATE:
        return Verdict(True, Case.EXIST_CREATE)
    return Verdict(False, None)


def fix_hint(code: AisError | int) -> str:
    """One sentence on what to look at for ``code``."""
    err = AisError.from_code(code)
    if err in _RECONNECT:
        return (
            "the local service could not be reached or dropped the connection; check that "
            "quorate-ckptd and corosync run on this node (systemctl status quorate-ckptd corosync)"
        )
    if err in _ALWAYS_TRANSIENT:
        return (
            "the cluster did not settle before the deadline; check membership and quorum "
            "(corosync-quorumtool -s) and the checkpoint service (quorate-ckpt status)"
        )
    return _FIX_HINTS.get(err, "see the checkpoint service journal on the node")


class AisException(Exception):
    """A checkpoint call failed with an SA error code."""

    def __init__(self, code: AisError | int, message: str = "", operation: Operation = Operation.CALL):
        self.code = AisError.from_code(code)
        self.operation = operation
        self.detail = message
        text = self.code.sa_name
        if message:
            text = f"{text}: {message}"
        super().__init__(text)

    @property
    def verdict(self) -> Verdict:
        if self.code is AisError.TRY_AGAIN and self.detail.startswith(NOT_QUORATE_DETAIL):
            return Verdict(True, Case.NOT_QUORATE)
        return classify(self.code, self.operation)

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small ctypes binding of corosync's closed process group library (libcpg).

One ``CpgGroup`` is one libcpg handle joined to one group (corosync allows one group per
handle). The owner drives it from its own event loop::

    group = CpgGroup("qc-ckpt", handler)
    group.initialize()
    group.join()
    selector.register(group.fileno(), selectors.EVENT_READ)
    ...                          # on readable: group.dispatch()
    group.mcast(b"payload")      # delivered to every member, same total order everywhere

Callbacks run synchronously inside ``dispatch()``, on the caller's thread. A ``CpgGroup`` is
not thread-safe; use it from one thread.

Error model (``cs_error_t``, numbered like ``SaAisErrorT``): every failing call raises
``CpgError`` with the code. ``CS_ERR_TRY_AGAIN`` is transient (sync window, flow control,
corosync still starting); ``CS_ERR_LIBRARY`` means the local corosync went away and the handle
is dead for good: ``finalize()`` and ``initialize()`` a new one.

Stdlib only, and libcpg is loaded on first use, so this file imports anywhere (ansible-test
imports module_utils in a bare environment); without libcpg ``initialize()`` raises
``CpgLibraryMissing``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "CPG_MAX_NAME_LENGTH",
    "CS_ERR_BAD_HANDLE",
    "CS_ERR_EXIST",
    "CS_ERR_LIBRARY",
    "CS_ERR_NOT_EXIST",
    "CS_ERR_TRY_AGAIN",
    "CS_OK",
    "DEFAULT_LIBRARY",
    "CpgError",
    "CpgGroup",
    "CpgHandler",
    "CpgLibraryMissing",
    "CpgMember",
    "RingId",
    "cs_error_name",
]

DEFAULT_LIBRARY = "libcpg.so.4"

# cs_error_t (corosync/corotypes.h), the one table of its codes: 1..27 and 100 match SaAisErrorT
# (shared.ais_errors.AisError). cs_error_name() reads the names from these constants.
CS_OK = 1
CS_ERR_LIBRARY = 2
CS_ERR_VERSION = 3
CS_ERR_INIT = 4
CS_ERR_TIMEOUT = 5
CS_ERR_TRY_AGAIN = 6
CS_ERR_INVALID_PARAM = 7
CS_ERR_NO_MEMORY = 8
CS_ERR_BAD_HANDLE = 9
CS_ERR_BUSY = 10
CS_ERR_ACCESS = 11
CS_ERR_NOT_EXIST = 12
CS_ERR_NAME_TOO_LONG = 13
CS_ERR_EXIST = 14
CS_ERR_NO_SPACE = 15
CS_ERR_INTERRUPT = 16
CS_ERR_NAME_NOT_FOUND = 17
CS_ERR_NO_RESOURCES = 18
CS_ERR_NOT_SUPPORTED = 19
CS_ERR_BAD_OPERATION = 20
CS_ERR_FAILED_OPERATION = 21
CS_ERR_MESSAGE_ERROR = 22
CS_ERR_QUEUE_FULL = 23
CS_ERR_QUEUE_NOT_AVAILABLE = 24
CS_ERR_BAD_FLAGS = 25
CS_ERR_TOO_BIG = 26
CS_ERR_NO_SECTIONS = 27
CS_ERR_CONTEXT_NOT_FOUND = 28
CS_ERR_TOO_MANY_GROUPS = 30
CS_ERR_SECURITY = 100
_CS_ERROR_NAMES = {code: name for name, code in list(globals().items()) if name.startswith(("CS_OK", "CS_ERR_"))}

# cs_dispatch_flags_t. ONE_NONBLOCKING returns TRY_AGAIN (unmasked) when nothing is queued.
CS_DISPATCH_ONE = 1
CS_DISPATCH_ALL = 2
CS_DISPATCH_BLOCKING = 3
CS_DISPATCH_ONE_NONBLOCKING = 4

# cpg.h. Note CPG_TYPE_AGREED is 2 (0 is UNORDERED); corosync orders every message
# agreed whatever is passed, but we send what we mean.
CPG_TYPE_AGREED = 2
CPG_MODEL_V1 = 1
CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF = 0x01
CPG_MAX_NAME_LENGTH = 128
CPG_MEMBERS_MAX = 128
CPG_FLOW_CONTROL_ENABLED = 1

# cpg_reason_t, the ``reason`` of a CpgMember in a confchg.
CPG_REASON_JOIN = 1
CPG_REASON_LEAVE = 2
CPG_REASON_NODEDOWN = 3
CPG_REASON_NODEUP = 4
CPG_REASON_PROCDOWN = 5

# cpg_membership_get copies as many entries as corosync reports without looking at the
# caller's array size; the reply holds at most PROCESSOR_COUNT_MAX, so size for that.
_MEMBERSHIP_ARRAY = 384


def cs_error_name(code: int) -> str:
    return _CS_ERROR_NAMES.get(code, f"CS_ERR_UNKNOWN_{code}")


class CpgError(Exception):
    """A libcpg call returned something other than CS_OK."""

    def __init__(self, code: int, call: str, detail: str = "") -> None:
        self.code = int(code)
        self.name = cs_error_name(self.code)
        self.call = call
        text = f"{call}: {self.name} ({self.code})"
        super().__init__(f"{text}: {detail}" if detail else text)

    @property
    def try_again(self) -> bool:
        """Transient: sync window, flow control, corosync starting, or a rejoin racing its own leave."""
        return self.code == CS_ERR_TRY_AGAIN

    @property
    def connection_lost(self) -> bool:
        """The handle is dead (corosync stopped/restarted, or finalized): start over with a new one."""
        return self.code in (CS_ERR_LIBRARY, CS_ERR_BAD_HANDLE)


class CpgLibraryMissing(RuntimeError):
    """libcpg cannot be loaded on this host (not a cluster node, or libcpg4 not installed)."""


@dataclass(frozen=True)
class CpgMember:
    nodeid: int
    pid: int
    reason: int  # CPG_REASON_*; 0 where corosync does not say (membership())


@dataclass(frozen=True)
class RingId:
    nodeid: int
    seq: int


class CpgHandler(Protocol):
    """What the owner of a CpgGroup implements; called from inside ``CpgGroup.dispatch()``."""

    def on_deliver(self, nodeid: int, pid: int, payload: bytes) -> None: ...

    def on_confchg(self, members: list[CpgMember], left: list[CpgMember], joined: list[CpgMember]) -> None: ...

    def on_totem_confchg(self, ring_id: RingId, members: list[int]) -> None: ...


# --------------------------------------------------------------------------- C shapes


class _CpgName(ctypes.Structure):
    _fields_ = [("length", ctypes.c_uint32), ("value", ctypes.c_char * CPG_MAX_NAME_LENGTH)]


class _CpgAddress(ctypes.Structure):
    _fields_ = [("nodeid", ctypes.c_uint32), ("pid", ctypes.c_uint32), ("reason", ctypes.c_uint32)]


class _CpgRingId(ctypes.Structure):
    _fields_ = [("nodeid", ctypes.c_uint32), ("seq", ctypes.c_uint64)]


class _Iovec(ctypes.Structure):
    # c_char_p so assigning a bytes object points at its buffer (no copy) and keeps it alive.
    _fields_ = [("iov_base", ctypes.c_char_p), ("iov_len", ctypes.c_size_t)]


_DeliverFn = ctypes.CFUNCTYPE(
    None,
    ctypes.c_uint64,
    ctypes.POINTER(_CpgName),
    ctypes.c_uint32,
    ctypes.c_uint32,
    ctypes.c_void_p,
    ctypes.c_size_t,
)
_ConfchgFn = ctypes.CFUNCTYPE(
    None,
    ctypes.c_uint64,
    ctypes.POINTER(_CpgName),
    ctypes.POINTER(_CpgAddress),
    ctypes.c_size_t,
    ctypes.POINTER(_CpgAddress),
    ctypes.c_size_t,
    ctypes.POINTER(_CpgAddress),
    ctypes.c_size_t,
)
# The ring id is passed BY VALUE (a 16-byte struct), not by pointer.
_TotemConfchgFn = ctypes.CFUNCTYPE(None, ctypes.c_uint64, _CpgRingId, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32))


class _ModelV1Data(ctypes.Structure):
    _fields_ = [
        ("model", ctypes.c_int),
        ("cpg_deliver_fn", _DeliverFn),
        ("cpg_confchg_fn", _ConfchgFn),
        ("cpg_totem_confchg_fn", _TotemConfchgFn),
        ("flags", ctypes.c_uint),
    ]


_HANDLE = ctypes.c_uint64
_PROTOTYPES = {
    "cpg_model_initialize": (ctypes.POINTER(_HANDLE), ctypes.c_int, ctypes.POINTER(_ModelV1Data), ctypes.c_void_p),
    "cpg_finalize": (_HANDLE,),
    "cpg_fd_get": (_HANDLE, ctypes.POINTER(ctypes.c_int)),
    "cpg_dispatch": (_HANDLE, ctypes.c_int),
    "cpg_join": (_HANDLE, ctypes.POINTER(_CpgName)),
    "cpg_leave": (_HANDLE, ctypes.POINTER(_CpgName)),
    "cpg_mcast_joined": (_HANDLE, ctypes.c_int, ctypes.POINTER(_Iovec), ctypes.c_uint),
    "cpg_membership_get": (
        _HANDLE,
        ctypes.POINTER(_CpgName),
        ctypes.POINTER(_CpgAddress),
        ctypes.POINTER(ctypes.c_int),
    ),
    "cpg_local_get": (_HANDLE, ctypes.POINTER(ctypes.c_uint)),
    "cpg_max_atomic_msgsize_get": (_HANDLE, ctypes.POINTER(ctypes.c_uint32)),
    "cpg_flow_control_state_get": (_HANDLE, ctypes.POINTER(ctypes.c_int)),
}

_libs: dict[str, ctypes.CDLL] = {}
_libs_lock = threading.Lock()


def _load(library: str) -> ctypes.CDLL:
    """dlopen libcpg once per name, with prototypes set (wrong arg sizes would corrupt the stack)."""
    with _libs_lock:
        lib = _libs.get(library)
        if lib is not None:
            return lib
        candidates = [library]
        if library == DEFAULT_LIBRARY:
            # Another soname (a newer corosync) is still the same ABI for everything used here.
            found = ctypes.util.find_library("cpg")
            if found and found != library:
                candidates.append(found)
        errors = []
        for name in candidates:
            try:
                # A private CDLL: setting argtypes on ctypes.cdll's shared one would leak to others.
                lib = ctypes.CDLL(name)
                break
            except OSError as exc:
                errors.append(str(exc))
        else:
            raise CpgLibraryMissing(
                f"cannot load corosync's CPG library ({'; '.join(errors)}); "
                "install libcpg4 (Debian/Ubuntu) or corosynclib (RHEL/SUSE)"
            )
        for func_name, argtypes in _PROTOTYPES.items():
            func = getattr(lib, func_name)
            func.argtypes = argtypes
            func.restype = ctypes.c_int
        _libs[library] = lib
        return lib


def _members(array: Any, count: int) -> list[CpgMember]:
    return [CpgMember(array[i].nodeid, array[i].pid, array[i].reason) for i in range(count)]


# --------------------------------------------------------------------------- the group


class CpgGroup:
    """One libcpg handle joined to one process group."""

    def __init__(self, group_name: str, handler: CpgHandler, library: str = DEFAULT_LIBRARY) -> None:
        raw = group_name.encode("utf-8")
        # cpg_name holds 128 bytes; keep one for a NUL so C tools printing it as a string stay safe.
        if not raw or len(raw) > CPG_MAX_NAME_LENGTH - 1:
            raise ValueError(f"CPG group name must be 1..{CPG_MAX_NAME_LENGTH - 1} bytes, got {len(raw)}")
        self.group_name = group_name
        self.handler = handler
        self.library = library
        self._name = _CpgName(len(raw), raw)
        self._lib: ctypes.CDLL | None = None
        self._handle: int | None = None
        self._fd: int | None = None
        self._left = False
        self._dispatching = False
        self._callback_error: BaseException | None = None
        # libcpg keeps raw pointers to these thunks for the handle's whole life, and a callback may
        # still be running when finalize() is called from inside it: never drop them.
        self._c_deliver = _DeliverFn(self._on_deliver)
        self._c_confchg = _ConfchgFn(self._on_confchg)
        self._c_totem = _TotemConfchgFn(self._on_totem_confchg)
        self._model = _ModelV1Data(
            CPG_MODEL_V1, self._c_deliver, self._c_confchg, self._c_totem, CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF
        )

    # ----- lifecycle

    @property
    def initialized(self) -> bool:
        return self._handle is not None

    def initialize(self) -> None:
        """Connect to the local corosync. CS_ERR_LIBRARY: corosync is down; TRY_AGAIN: it is starting."""
        if self._handle is not None:
            raise RuntimeError("CpgGroup is already initialized; finalize() it first")
        if self._lib is None:
            self._lib = _load(self.library)
        handle = _HANDLE(0)
        rc = self._lib.cpg_model_initialize(ctypes.byref(handle), CPG_MODEL_V1, ctypes.byref(self._model), None)
        if rc != CS_OK:
            raise CpgError(rc, "cpg_model_initialize")
        self._handle = handle.value
        self._left = False
        self._callback_error = None

    def finalize(self) -> None:
        """Release the handle. Idempotent; never raises, even when corosync is already gone.

        Unregister ``fileno()`` from selectors first: the descriptor is closed here.
        """
        handle, self._handle, self._fd = self._handle, None, None
        if handle is None or self._lib is None:
            return
        # libcpg frees the handle even when the goodbye to corosync fails (LIBRARY on a dead
        # connection), so the result carries no information we could act on.
        self._lib.cpg_finalize(handle)

    def __enter__(self) -> CpgGroup:
        if self._handle is None:
            self.initialize()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finalize()

    # ----- calls

    def _call(self, name: str, *args: object) -> None:
        if self._handle is None or self._lib is None:
            # What libcpg itself answers for a finalized handle, so callers need one reconnect path.
            raise CpgError(CS_ERR_BAD_HANDLE, name, "not initialized")
        rc = getattr(self._lib, name)(self._handle, *args)
        if rc != CS_OK:
            raise CpgError(rc, name)

    def fileno(self) -> int:
        """The descriptor that becomes readable when events wait for ``dispatch()``."""
        if self._fd is None:
            fd = ctypes.c_int(-1)
            self._call("cpg_fd_get", ctypes.byref(fd))
            self._fd = fd.value
        return self._fd

    def join(self) -> None:
        """Join the group. TRY_AGAIN inside sync windows and while an earlier handle's leave is in flight."""
        try:
            self._call("cpg_join", ctypes.byref(self._name))
        except CpgError as exc:
            if exc.code == CS_ERR_EXIST and self._left:
                detail = "this handle left the group; finalize() and initialize() to rejoin"
                raise CpgError(exc.code, exc.call, detail) from exc
            raise

    def leave(self) -> None:
        """Leave the group. The handle cannot join again (corosync 3.1 keeps it in LEAVE_STARTED and
        answers CS_ERR_EXIST forever): finalize() and initialize() a fresh one to rejoin."""
        self._call("cpg_leave", ctypes.byref(self._name))
        self._left = True

    def mcast(self, payload: bytes | bytearray | memoryview) -> None:
        """Multicast to the group in agreed order. CpgError.try_again means flow control: dispatch, retry."""
        data = payload if isinstance(payload, bytes) else bytes(payload)
        iov = _Iovec(data, len(data))
        self._call("cpg_mcast_joined", CPG_TYPE_AGREED, ctypes.byref(iov), 1)

    def local_nodeid(self) -> int:
        nodeid = ctypes.c_uint(0)
        self._call("cpg_local_get", ctypes.byref(nodeid))
        return nodeid.value

    def membership(self) -> list[CpgMember]:
        """Current members of the group as this node's corosync sees them (reason is always 0)."""
        members = (_CpgAddress * _MEMBERSHIP_ARRAY)()
        count = ctypes.c_int(_MEMBERSHIP_ARRAY)
        self._call("cpg_membership_get", ctypes.byref(self._name), members, ctypes.byref(count))
        # corosync leaves 'reason' uninitialised in this reply: report UNDEFINED, not stack garbage.
        return [CpgMember(members[i].nodeid, members[i].pid, 0) for i in range(min(count.value, _MEMBERSHIP_ARRAY))]

    def max_atomic_msgsize(self) -> int:
        """Largest payload sent as one IPC message; bigger ones libcpg fragments (still atomic to receivers)."""
        size = ctypes.c_uint32(0)
        self._call("cpg_max_atomic_msgsize_get", ctypes.byref(size))
        return size.value

    def flow_control_enabled(self) -> bool:
        """True while corosync asks senders to back off (mcast would answer TRY_AGAIN)."""
        state = ctypes.c_int(0)
        self._call("cpg_flow_control_state_get", ctypes.byref(state))
        return state.value == CPG_FLOW_CONTROL_ENABLED

    def dispatch(self, all_pending: bool = True) -> int:
        """Run the handler for queued events (all of them, or at most one).

        Returns how many IPC messages were taken from the queue (a fragment of a large message counts
        on its own and calls no handler; the last one delivers the whole payload).

        Never blocks. Raises CpgError(CS_ERR_LIBRARY) once corosync went away. An exception from the
        handler is re-raised here; events after it stay queued for the next dispatch(), so none is
        lost or delivered past a failed one.
        """
        if self._dispatching:
            raise RuntimeError("CpgGroup.dispatch() called from inside a CPG callback")
        handle = self._handle
        if handle is None or self._lib is None:
            raise CpgError(CS_ERR_BAD_HANDLE, "cpg_dispatch", "not initialized")
        taken = 0
        self._dispatching = True
        try:
            while True:
                # One event per call (not CS_DISPATCH_ALL) so we can stop right after a handler
                # error. libcpg's dispatch puts a 1 MiB buffer on the C stack: keep thread stacks big.
                rc = self._lib.cpg_dispatch(handle, CS_DISPATCH_ONE_NONBLOCKING)
                error, self._callback_error = self._callback_error, None
                if error is not None:
                    raise error
                if self._handle != handle:
                    return taken  # the handler finalized (maybe re-initialized) us; libcpg then says BAD_HANDLE
                if rc == CS_ERR_TRY_AGAIN:
                    return taken  # queue empty
                if rc != CS_OK:
                    raise CpgError(rc, "cpg_dispatch")
                taken += 1
                if not all_pending:
                    return taken
        finally:
            self._dispatching = False

    # ----- C callbacks: never let an exception reach C, never keep pointers past the return

    def _on_deliver(self, _handle: int, _group: object, nodeid: int, pid: int, msg: int | None, msg_len: int) -> None:
        try:
            # Copy now: the buffer is libcpg's and reused after we return.
            payload = ctypes.string_at(msg, msg_len) if msg_len else b""
            self.handler.on_deliver(nodeid, pid, payload)
        except BaseException as exc:  # must not unwind into C; dispatch() re-raises it
            self._callback_error = exc

    def _on_confchg(
        self,
        _handle: int,
        _group: object,
        member_list: Any,
        member_count: int,
        left_list: Any,
        left_count: int,
        joined_list: Any,
        joined_count: int,
    ) -> None:
        try:
            self.handler.on_confchg(
                _members(member_list, member_count),
                _members(left_list, left_count),
                _members(joined_list, joined_count),
            )
        except BaseException as exc:  # see _on_deliver
            self._callback_error = exc

    def _on_totem_confchg(self, _handle: int, ring_id: _CpgRingId, member_count: int, member_list: Any) -> None:
        try:
            members = [member_list[i] for i in range(member_count)]
            self.handler.on_totem_confchg(RingId(ring_id.nodeid, ring_id.seq), members)
        except BaseException as exc:  # see _on_deliver
            self._callback_error = exc

    def __repr__(self) -> str:
        state = f"handle={self._handle:#x}" if self._handle is not None else "not initialized"
        return f"CpgGroup({self.group_name!r}, {state})"

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""quorate-ckptd: the replicated checkpoint service daemon (one per node).

Glue between three things: clients on a Unix socket (the wire protocol of ckpt_protocol),
corosync CPG (the binding in cpg), and the replicated state machine (ckpt_store). Mutations
are multicast in agreed order and answered when they come back; reads are answered from the
local copy. While the group is synchronising, or corosync is unreachable, calls get TRY_AGAIN.

Run: ``python3 -m quorate_node.programs.ckptd [--socket PATH] [--group NAME]`` (the role installs the
unit). Stdlib only.
"""

from __future__ import annotations

# Exact types on purpose: a bool is not an integer here, nor a subclass of bytes bytes.
# pylint: disable=unidiomatic-typecheck
import argparse
import errno
import itertools
import os
import selectors
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..shared.ais_errors import AisError
from ..shared.ckpt_attributes import MAX_SECTION_ID_SIZE, validate_attributes
from ..shared.ckpt_protocol import (
    HANDLE_OPS,
    KIND_REQUEST,
    MAX_NAME_LENGTH,
    MSG_BATCH,
    MSG_OP,
    OP_CLOSE,
    OP_HELLO,
    OP_LIST,
    OP_OPEN,
    OP_SECTION_CREATE,
    OP_SECTION_EXPIRATION_SET,
    OP_SECTION_ITERATE,
    OP_STATUS,
    OP_UNLINK,
    OPEN_CREATE,
    OPEN_EXCLUSIVE,
    OPEN_READ,
    OPEN_WRITE,
    READ_OPS,
    SA_TIME_END,
    SYNC_MESSAGES,
    WRITE_OPS,
    ProtocolError,
    StreamReader,
    decode_replication,
    encode,
    encode_record,
    replication_payload,
    reply,
)
from ..shared.corosync_runtime import CorosyncQueryError, CorosyncRuntime
from ..shared.retry_policy import ServiceUnavailable
from .ckpt_store import FEATURE_SA_CALLS, CheckpointStore, MalformedMessage, Result
from .cpg import CpgError, CpgGroup
from .node_service import DEFAULT_RUN_DIR, ensure_run_dir, on_stop_signals, sd_notify, setup_logging

DEFAULT_SOCKET = os.path.join(DEFAULT_RUN_DIR, "ckptd.sock")
DEFAULT_GROUP = "quorate_ckptd"
TICK_S = 0.05
RECONNECT_S = 0.2
# Messages packed into one multicast: bounded so one batch stays well inside a CPG message.
# Measured (bench_checkpoint (c), 64 writers): 16 KiB batches gave ~1/3 fewer writes/s than
# these bounds. Each multicast is a synchronous IPC round trip to corosync and one more
# dispatch on every node, which costs more on a busy host than a longer message on the ring.
BATCH_MAX = 256
BATCH_BYTES = 512 * 1024
# Non-blocking polls after the first, before a multicast, while they find more to do: the
# requests that clients send while we answer the last delivery go into the same multicast
# (measured: fewer, larger multicasts give more writes/s; an empty poll costs one syscall).
EXTRA_POLLS = 3
# Back-pressure: a client's requests are read only while its replies not yet sent stay within
# CLIENT_OUT_LIMIT bytes and its operations not yet delivered within CLIENT_QUEUED_LIMIT (a
# pipelining client could otherwise queue its whole window of large writes here).
CLIENT_OUT_LIMIT = 8 * 1024 * 1024
CLIENT_QUEUED_LIMIT = 16 * 1024 * 1024
OP_OVERHEAD = 64  # bytes counted per queued operation besides its section id and data
# Bounds on the clients as a whole (docs/operator-guide.md#limits-and-access; each a flag):
# how many may be connected, the bytes held for all of them (requests read and not yet handled,
# partial frames, replies not yet sent), and how long one may hold a partial frame or leave its
# replies unread without any progress.
MAX_CLIENTS = 256
# Of those, the last few are kept for root (controld, the role's barrier): other users cannot
# take them all with idle connections.
ROOT_RESERVE = 16
MAX_BUFFERED = 128 * 1024 * 1024
CLIENT_IDLE_TIMEOUT_S = 30.0
READ_CHUNK = 256 * 1024
ACCEPT_PAUSE_S = 0.5  # accept() ran out of descriptors: wait this long before the next one
LOG_EVERY_S = 10.0  # refusals are logged at most this often (with a count)
# Access by the peer's credentials (SO_PEERCRED): root and the daemon's own user read and
# write; the socket group gets GROUP_ACCESS; anyone else is answered ACCESS.
ACCESS_NONE, ACCESS_READ, ACCESS_WRITE = "none", "read-only", "read-write"
GROUP_ACCESS_CHOICES = (ACCESS_READ, ACCESS_WRITE)
_PEERCRED = struct.Struct("3i")  # pid, uid, gid
DETAIL_LIMIT = 80  # bytes of a client's value echoed in an error text

# How often the node's votequorum state is read (in a thread: corosync's tool may take seconds
# while the membership changes, and the loop must not wait). Each confchg's digest carries the
# latest reading; a change is multicast to the view, which applies it in agreed order.
QUORUM_POLL_S = 0.5


def _run_tool(argv: list) -> tuple:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


def read_votequorum() -> tuple:
    """(quorate, this node's votes, quorum) as corosync's votequorum reports them now.

    Anything that keeps us from reading it counts as "not quorate": writes wait (TRY_AGAIN)
    rather than risk being lost at a merge.
    """
    try:
        state = CorosyncRuntime(_run_tool).quorum()
    except (ServiceUnavailable, CorosyncQueryError, ValueError):  # down, missing, odd output
        return False, 1, 0
    votes = state.member_votes.get(state.node_id, 1)
    return state.quorate, votes, state.quorum or 0


class QuorumWatcher:
    """The latest votequorum reading, (quorate, votes, quorum), kept fresh by a thread of its own."""

    def __init__(self, reader: Any, log: Any):
        self.reader = reader
        self.log = log
        self.facts = tuple(reader())  # the first reading before we join: never "quorate" by default
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="quorum-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(QUORUM_POLL_S):
            try:
                self.facts = tuple(self.reader())
            except Exception as exc:  # a reader bug must not end the watching
                self.log.error("reading votequorum failed: %s; counting this node as not quorate", exc)
                self.facts = (False, 1, 0)

    def stop(self) -> None:
        self._stop.set()


class BadRequest(Exception):
    """A request whose fields do not fit: answered with ``code``, the connection goes on."""

    def __init__(self, text: str, code: AisError = AisError.INVALID_PARAM):
        super().__init__(text)
        self.code = code


def check_socket_mode(mode: int, socket_gid: int) -> None:
    """The socket may be open to its owner and, with a socket group, to that group: nothing else."""
    if mode & ~0o660:
        raise ValueError(f"socket mode {mode:#o}: only owner and group bits (at most 0660) are allowed")
    if mode & 0o600 != 0o600:
        raise ValueError(f"socket mode {mode:#o}: the owner (root) needs read and write")
    if mode & 0o060 and socket_gid < 0:
        raise ValueError(f"socket mode {mode:#o} opens the socket to a group: name it with --socket-group")
    if socket_gid >= 0 and mode & 0o060 != 0o060:
        raise ValueError(f"socket mode {mode:#o}: --socket-group needs group read and write (0660)")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "..."


def _int_arg(args: dict, key: str, low: int, high: int, default: Any = ...) -> Any:
    value = args.get(key, default)
    if value is ...:
        raise BadRequest(f"missing argument {key!r}")
    if value is default and default is not ...:
        return value
    if type(value) is not int:
        raise BadRequest(f"{key} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise BadRequest(f"{key} {value} is outside {low}..{high}")
    return value


def _bytes_arg(args: dict, key: str, default: Any = ...) -> bytes:
    value = args.get(key, default)
    if value is ...:
        raise BadRequest(f"missing argument {key!r}")
    if type(value) is not bytes:
        raise BadRequest(f"{key} must be bytes, got {type(value).__name__}")
    return value


def _str_arg(args: dict, key: str) -> str:
    value = args.get(key, ...)
    if value is ...:
        raise BadRequest(f"missing argument {key!r}")
    if type(value) is not str:
        raise BadRequest(f"{key} must be a string, got {type(value).__name__}")
    if not value:
        raise BadRequest("checkpoint name must be a non-empty string")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_NAME_LENGTH:
        raise BadRequest(f"checkpoint names are limited to {MAX_NAME_LENGTH} bytes", AisError.NAME_TOO_LONG)
    return value


def _groups_of(pid: int) -> set:
    """Supplementary groups of a process (SO_PEERCRED gives only the primary one)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Groups:"):
                    return {int(g) for g in line.split()[1:] if g.isdigit()}
    except OSError:
        pass
    return set()


@dataclass(eq=False)
class Client:
    sock: socket.socket
    reader: StreamReader = field(default_factory=StreamReader)
    out: bytearray = field(default_factory=bytearray)
    handles: dict = field(default_factory=dict)  # handle id -> (cid, open flags)
    closing: set = field(default_factory=set)  # handles whose close is in flight: no longer usable
    closed: bool = False
    events: int = selectors.EVENT_READ  # what the selector watches for this client now (0: nothing)
    queued: int = 0  # bytes of its operations sent to the group and not yet delivered
    access: str = ACCESS_WRITE  # by its credentials (SO_PEERCRED)
    peer: str = "?"  # "pid P uid U gid G", for the log
    held: int = 0  # bytes counted for it in the daemon's ``buffered``
    progress: float = 0.0  # monotonic time it last sent bytes or took our replies
    backlog: bool = False  # complete requests wait in its reader: handled as its limits allow

    def usable(self, handle: int) -> tuple | None:
        """(cid, open flags) of an open handle whose close is not in flight, else None."""
        return None if handle in self.closing else self.handles.get(handle)


@dataclass
class Pending:
    client: Client | None
    req_id: int
    op: str
    handle: int = 0
    flags: int = 0
    internal: bool = False  # a close we issued for a dead client: re-send until applied
    msg: dict = field(default_factory=dict)
    size: int = 0  # what it counts in its client's ``queued``


class CheckpointDaemon:
    def __init__(
        self,
        socket_path: str,
        group: str,
        log: Any,
        socket_mode: int = 0o600,
        socket_gid: int = -1,
        cpg_factory: Any = CpgGroup,
        group_access: str = ACCESS_READ,
        max_clients: int = MAX_CLIENTS,
        max_buffered: int = MAX_BUFFERED,
        client_out_limit: int = CLIENT_OUT_LIMIT,
        idle_timeout: float = CLIENT_IDLE_TIMEOUT_S,
        quorum_reader: Any = None,
    ):
        check_socket_mode(socket_mode, socket_gid)
        if group_access not in GROUP_ACCESS_CHOICES:
            raise ValueError(f"group access must be one of {GROUP_ACCESS_CHOICES}")
        self.group_access = group_access
        self.max_clients = max_clients
        self.max_buffered = max_buffered
        self.client_out_limit = client_out_limit
        self.idle_timeout = idle_timeout
        self.clients: set = set()
        self.buffered = 0  # bytes held for all clients (see Client.held)
        self.backlogged: set = set()
        self.accept_paused_until = 0.0
        self.next_idle_check = 0.0
        self._refusals: dict = {}  # what -> [count since the last log line, time of that line]
        self.cpg_factory = cpg_factory  # unit tests pass a loopback group
        # () -> (quorate, votes, quorum); default: the group's own (the loopback's), else votequorum.
        self.quorum_reader = quorum_reader
        self.quorum_watcher: QuorumWatcher | None = None
        self.socket_path = socket_path
        self.group_name = group
        self.log = log
        self.socket_mode = socket_mode
        self.socket_gid = socket_gid
        self.sel = selectors.DefaultSelector()
        self.cpg: CpgGroup | None = None
        self.cpg_fd: int | None = None
        self.store: CheckpointStore | None = None
        self.me: tuple = (0, os.getpid())
        self.outgoing: list = []
        self.pending: dict[int, Pending] = {}
        self.tokens = itertools.count(1)
        self.handle_ids = itertools.count(1)
        self.running = True
        self.connected = False
        self.ready_sent = False
        self.next_reconnect = 0.0
        self.listener: socket.socket | None = None

    # -- setup -----------------------------------------------------------------------------

    def listen(self) -> None:
        run_dir = os.path.dirname(self.socket_path) or "."
        # 0755 (node_service.RUN_DIR_MODE, as the unit's RuntimeDirectoryMode): the socket group
        # reaches the socket; its mode and the peer's credentials decide the rest.
        ensure_run_dir(run_dir)
        # Bind and listen under a temporary name, then rename: the socket path appears only
        # once it accepts connections, so "path exists" means "ready" to clients and tests.
        staging = f"{self.socket_path}.{os.getpid()}.new"
        for stale in (staging, self.socket_path):
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old_umask = os.umask(0o177)  # no window in which the socket is open to others
        try:
            sock.bind(staging)
        finally:
            os.umask(old_umask)
        os.chmod(staging, self.socket_mode)
        if self.socket_gid >= 0:
            os.chown(staging, -1, self.socket_gid)
        sock.listen(64)
        os.rename(staging, self.socket_path)
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, ("listen", None))
        self.listener = sock

    def connect_cpg(self) -> bool:
        """(Re)join the group; False while corosync is not there yet."""
        group = self.cpg_factory(self.group_name, self)
        try:
            group.initialize()
            nodeid = group.local_nodeid()
            group.join()
        except CpgError as exc:
            group.finalize()
            self.log.debug("corosync not ready: %s", exc)
            return False
        self.cpg = group
        if self.quorum_watcher is None:
            reader = self.quorum_reader or getattr(group, "quorum_facts", None) or read_votequorum
            self.quorum_watcher = QuorumWatcher(reader, self.log)
        self.me = (nodeid, os.getpid())
        if self.store is None:
            self.store = CheckpointStore(self.me, time.monotonic())
        else:
            # Our nodeid cannot change, but be explicit: the store keeps its checkpoints and
            # merges them with the group's in the sync that our join triggers.
            self.store.me = self.me
        # Remember the number: a dead handle cannot tell its fd any more, and the next handle
        # may well get the same number back.
        self.cpg_fd = group.fileno()
        self.sel.register(self.cpg_fd, selectors.EVENT_READ, ("cpg", None))
        self.connected = True
        self.log.info("joined CPG group %s as node %d pid %d", self.group_name, nodeid, os.getpid())
        return True

    def drop_cpg(self, why: str) -> None:
        self.log.warning("lost corosync (%s); answering TRY_AGAIN until it is back", why)
        if self.cpg_fd is not None:
            try:
                self.sel.unregister(self.cpg_fd)
            except (KeyError, ValueError):
                pass
            self.cpg_fd = None
        if self.cpg is not None:
            self.cpg.finalize()
        self.cpg = None
        self.connected = False
        if self.store is not None:
            self.store.syncing = True
        # What we multicast may or may not have been applied elsewhere: the clients retry.
        for token, pend in list(self.pending.items()):
            del self.pending[token]
            self._complete(pend, Result(AisError.TRY_AGAIN, "corosync connection lost"))
        self.outgoing = [m for m in self.outgoing if m.get("t") == MSG_OP and m.get("op") == OP_CLOSE]
        self.next_reconnect = time.monotonic() + RECONNECT_S

    # -- CPG callbacks (called from cpg.dispatch) --------------------------------------------

    def on_confchg(self, members, left, joined) -> None:
        ids = [(m.nodeid, m.pid) for m in members]
        if self.me not in ids:
            return
        self.log.info(
            "membership: %s (left %s, joined %s); synchronising",
            ids,
            [(m.nodeid, m.pid) for m in left],
            [(m.nodeid, m.pid) for m in joined],
        )
        # The latest quorum facts for our digest (the store sends them with it, not on their own).
        self._read_quorum()
        self.outgoing.extend(self.store.on_confchg(ids, time.monotonic()))

    def _read_quorum(self) -> list:
        """Feed the store the latest votequorum reading (no I/O); returns what it wants multicast."""
        quorate, votes, quorum = self.quorum_watcher.facts
        before = self.store.local_quorum
        out = self.store.set_quorum(quorate, votes, quorum)
        if before is None or before["quorate"] != bool(quorate):
            self.log.info(
                "votequorum on this node: %s (votes %s, quorum %s)",
                "quorate" if quorate else "NOT quorate",
                votes,
                quorum,
            )
        return out

    def on_totem_confchg(self, ring_id, members) -> None:
        self.log.debug("totem ring %s.%s members %s", ring_id.nodeid, ring_id.seq, members)

    def on_deliver(self, nodeid: int, pid: int, payload: bytes) -> None:
        try:
            # One message, or several of one sender packed together: atomic in the agreed
            # order, applied in turn.
            messages, errors = decode_replication(payload)
        except ProtocolError as exc:
            self.log.error("undecodable message from node %d pid %d: %s", nodeid, pid, exc)
            return
        for exc in errors:
            self.log.error("undecodable batched message from node %d pid %d: %s", nodeid, pid, exc)
        for msg in messages:
            self._deliver_one(nodeid, pid, msg)

    def _deliver_one(self, nodeid: int, pid: int, msg: Any) -> None:
        if not isinstance(msg, dict):
            kind = type(msg).__name__
            self.log.error("malformed message from node %d pid %d: a %s, not a map; ignored", nodeid, pid, kind)
            return
        was_syncing = self.store.syncing
        try:
            out, result = self.store.on_deliver((nodeid, pid), msg, time.monotonic())
        except MalformedMessage as exc:
            # A bad message must not stop the service; every member skips it alike.
            self.log.error("%s; ignored", exc)
            return
        self.outgoing.extend(out)
        if was_syncing and not self.store.syncing:
            status = self.store.status()
            self.log.info("synchronised: %d members, %d checkpoints", len(status["members"]), status["checkpoints"])
            if not self.ready_sent:
                # Type=notify: "started" means synchronised with the group, not just running.
                sd_notify("READY=1\nSTATUS=synchronised")
                self.ready_sent = True
        if result is not None and result.malformed:
            self.log.error("%s; rejected on every member", result.detail)
        token = msg.get("token")
        if result is not None and (nodeid, pid) == self.me and type(token) is int:
            pend = self.pending.pop(token, None)
            if pend is not None:
                self._complete(pend, result)

    # -- completing requests ------------------------------------------------------------------

    def _complete(self, pend: Pending, result: Result) -> None:
        client = pend.client
        alive = client is not None and not client.closed
        if client is not None:
            client.queued -= pend.size  # the reply below lets _watch read this client again
        if pend.op == OP_OPEN and result.code is AisError.OK:
            if alive:
                client.handles[pend.handle] = (result.values["cid"], pend.flags)
            else:
                # The client died while its open was in flight: give the handle back.
                self._send_op(OP_CLOSE, {"cid": result.values["cid"], "handle": pend.handle}, None, 0, internal=True)
        if pend.op == OP_CLOSE and pend.internal and result.code is AisError.TRY_AGAIN:
            self.outgoing.append(pend.msg)
            self.pending[pend.msg["token"]] = pend
            return
        if pend.op == OP_CLOSE and client is not None:
            client.closing.discard(pend.handle)
        if pend.op == OP_CLOSE and result.code is AisError.OK and alive:
            client.handles.pop(pend.handle, None)
        if alive:
            values = result.values
            if pend.op == OP_OPEN and result.code is AisError.OK:
                values = dict(values, handle=pend.handle)
            self._send(client, reply(pend.req_id, result.code, result.detail, **values))

    def _send_op(self, op: str, args: dict, client: Client | None, req_id: int, **extra: Any) -> None:
        token = next(self.tokens)
        msg = {"t": MSG_OP, "op": op, "token": token, "args": args}
        pend = Pending(client, req_id, op, msg=msg, **extra)
        if client is not None:
            pend.size = OP_OVERHEAD + len(args.get("section", b"")) + len(args.get("data", b""))
            client.queued += pend.size
        self.pending[token] = pend
        self.outgoing.append(msg)

    # -- client requests -------------------------------------------------------------------------

    def handle_request(self, client: Client, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("args", {}), dict):
            self._send(client, reply(0, AisError.MESSAGE_ERROR, "a request is a map with op, id and args"))
            return
        op, req_id, args = body.get("op"), body.get("id", 0), body.get("args") or {}
        if type(req_id) is not int:
            req_id = 0
        try:
            self._dispatch_request(client, op, req_id, args)
        except BadRequest as exc:
            self._send(client, reply(req_id, exc.code, f"{_short(op)}: {exc}"))
        except (KeyError, TypeError, ValueError, OverflowError, MemoryError) as exc:
            # Not reached by any request the checks above let through; kept as the last guard.
            self.log.error("request %s from client %s failed: %r", _short(op), client.peer, exc)
            self._send(client, reply(req_id, AisError.INVALID_PARAM, f"malformed arguments for {_short(op)}"))

    def _dispatch_request(self, client: Client, op: Any, req_id: int, args: dict) -> None:
        store = self.store
        if type(op) is not str:
            raise BadRequest("unknown operation", AisError.BAD_OPERATION)
        if op == OP_HELLO:
            self._send(client, reply(req_id, AisError.OK, nodeid=self.me[0], pid=self.me[1], version=1))
            return
        if client.access == ACCESS_NONE:
            raise BadRequest("this user may not use the checkpoint service (root or the socket group)", AisError.ACCESS)
        if op == OP_STATUS:
            status = store.status() if store else {"synced": False, "members": [], "checkpoints": 0}
            status.update(connected=self.connected, nodeid=self.me[0])
            self._send(client, reply(req_id, AisError.OK, **status))
            return
        if not self.connected or store is None or store.syncing:
            why = "corosync is not reachable" if not self.connected else "membership change: synchronising"
            self._send(client, reply(req_id, AisError.TRY_AGAIN, why))
            return
        if op == OP_LIST:
            self._send(client, reply(req_id, AisError.OK, checkpoints=store.listing()))
        elif op == OP_OPEN:
            name = _str_arg(args, "name")
            flags = _int_arg(args, "flags", 0, 0xFFFFFFFF)
            attrs = args.get("attrs")
            if attrs is not None:
                code, why, attrs = validate_attributes(attrs)
                if code is not AisError.OK:
                    raise BadRequest(why, code)
            if client.access != ACCESS_WRITE and flags & (OPEN_WRITE | OPEN_CREATE | OPEN_EXCLUSIVE):
                raise BadRequest("this user may open checkpoints for reading only", AisError.ACCESS)
            handle = next(self.handle_ids)
            self._send_op(
                OP_OPEN,
                {"name": name, "flags": flags, "attrs": attrs, "handle": handle},
                client,
                req_id,
                handle=handle,
                flags=flags,
            )
        elif op == OP_UNLINK:
            name = _str_arg(args, "name")
            if client.access != ACCESS_WRITE:
                raise BadRequest("this user may not unlink checkpoints", AisError.ACCESS)
            self._send_op(OP_UNLINK, {"name": name}, client, req_id)
        elif op == OP_CLOSE:
            handle, entry = self._open_handle(client, req_id, args)
            if entry is None:
                return
            # As if closed at once: what this client pipelines after the close gets BAD_HANDLE, as it
            # would one call at a time. A close that fails (TRY_AGAIN) gives the handle back.
            client.closing.add(handle)
            self._send_op(OP_CLOSE, {"cid": entry[0], "handle": handle}, client, req_id, handle=handle)
        elif op in WRITE_OPS or op in READ_OPS:
            self._section_request(client, op, req_id, args)
        elif op in HANDLE_OPS:
            self._handle_request(client, op, req_id, args)
        else:
            self._send(client, reply(req_id, AisError.BAD_OPERATION, f"unknown operation {_short(op)}"))

    def _section_request(self, client: Client, op: str, req_id: int, args: dict) -> None:
        # Every field is checked against the checkpoint's own limits before anything is built
        # or multicast: the group never sees a request the store would refuse for its size.
        _handle, entry = self._open_handle(client, req_id, args)
        if entry is None:
            return
        cid, flags = entry
        if self._lacks_mode(client, req_id, op, flags, OPEN_WRITE if op in WRITE_OPS else OPEN_READ):
            return
        ckpt = self.store.checkpoints.get(cid)
        if ckpt is None:
            self._send(client, reply(req_id, AisError.BAD_HANDLE, "the checkpoint of this handle no longer exists"))
            return
        limits = ckpt.attrs
        if op != OP_SECTION_ITERATE:
            # The empty id is the default section (SA_CKPT_DEFAULT_SECTION_ID); the store decides
            # what it allows there.
            sid = _bytes_arg(args, "section")
            id_limit = min(limits["max_section_id_size"], MAX_SECTION_ID_SIZE)
            if len(sid) > id_limit:
                raise BadRequest(f"section id must be 1..{id_limit} bytes")
        if op in WRITE_OPS:
            data = _bytes_arg(args, "data", b"")
            op_args = {"cid": cid, "section": sid, "data": data}
            if "offset" in args:
                op_args["offset"] = _int_arg(args, "offset", 0, limits["max_section_size"])
            if op_args.get("offset", 0) + len(data) > limits["max_section_size"]:
                # INVALID_PARAM, as the store (and openais) answer data beyond maxSectionSize.
                raise BadRequest(f"{len(data)} bytes exceed max_section_size")
            if op == OP_SECTION_CREATE and args.get("expiration", SA_TIME_END) != SA_TIME_END:
                op_args["expiration"] = _sa_time(args["expiration"], "expiration")
                if self._not_everywhere(client, req_id):
                    return
            self._send_op(op, op_args, client, req_id)
            return
        if op == OP_SECTION_ITERATE:
            # "expiration" (ns) only for a section that has one: absent means never (SA_TIME_END).
            expirations = ckpt.expirations
            sections = [
                {"id": sid, "size": len(data), "expiration": expirations[sid]}
                if sid in expirations
                else {"id": sid, "size": len(data)}
                for sid, data in sorted(ckpt.sections.items())
            ]
            self._send(client, reply(req_id, AisError.OK, sections=sections, generation=ckpt.generation))
            return
        offset = _int_arg(args, "offset", 0, limits["max_section_size"], 0)
        size = _int_arg(args, "size", 0, limits["max_section_size"], None)
        data = ckpt.sections.get(sid)
        if data is None:
            self._send(client, reply(req_id, AisError.NOT_EXIST, f"no section {sid!r}"))
            return
        chunk = data[offset : offset + size] if size is not None else data[offset:]
        self._send(client, reply(req_id, AisError.OK, data=chunk, generation=ckpt.generation))

    def _handle_request(self, client: Client, op: str, req_id: int, args: dict) -> None:
        """saCkptSectionExpirationTimeSet (needs WRITE) and saCkptCheckpointRetentionDurationSet."""
        _handle, entry = self._open_handle(client, req_id, args)
        if entry is None:
            return
        cid, flags = entry
        if client.access != ACCESS_WRITE:
            raise BadRequest(f"this user may not use {op}", AisError.ACCESS)
        if self._not_everywhere(client, req_id):
            return
        if op == OP_SECTION_EXPIRATION_SET:
            if self._lacks_mode(client, req_id, op, flags, OPEN_WRITE):
                return
            op_args = {
                "cid": cid,
                "section": _bytes_arg(args, "section"),
                "expiration": _sa_time(args.get("expiration"), "expiration"),
            }
        else:
            # As openais: no access mode needed (the checkpoint, not a section, changes).
            op_args = {"cid": cid, "retention": _sa_time(args["retention"], "retention")}
        self._send_op(op, op_args, client, req_id)

    def _open_handle(self, client: Client, req_id: int, args: dict) -> tuple[int, tuple | None]:
        """The request's handle and its (cid, flags); None, answered BAD_HANDLE, if it is not open."""
        handle = _int_arg(args, "handle", 0, 2**63 - 1)
        entry = client.usable(handle)
        if entry is None:
            self._send(client, reply(req_id, AisError.BAD_HANDLE, f"no open handle {handle}"))
        return handle, entry

    def _lacks_mode(self, client: Client, req_id: int, op: str, flags: int, needed: int) -> bool:
        """Answer ACCESS when the handle was not opened with ``needed`` (OPEN_READ or OPEN_WRITE)."""
        if flags & needed:
            return False
        mode = "WRITE" if needed == OPEN_WRITE else "READ"
        self._send(client, reply(req_id, AisError.ACCESS, f"{op} needs a handle opened with {mode}"))
        return True

    def _not_everywhere(self, client: Client, req_id: int) -> bool:
        """Answer NOT_SUPPORTED, without a multicast, while a member predates the issue 17 calls:
        that member would not apply them (see ckpt_store, "Mixed versions")."""
        if FEATURE_SA_CALLS in self.store.features:
            return False
        why = "a member of the group runs a quorate-ckptd without this call; upgrade it"
        self._send(client, reply(req_id, AisError.NOT_SUPPORTED, why))
        return True

    # -- sockets -----------------------------------------------------------------------------------

    def _send(self, client: Client, data: bytes) -> None:
        if client.closed:
            return
        client.out.extend(data)
        self._flush_client(client)

    def _account(self, client: Client) -> None:
        """Count what is held for ``client`` now in the daemon's total."""
        held = 0 if client.closed else len(client.out) + client.reader.buffered
        self.buffered += held - client.held
        client.held = held

    def _flush_client(self, client: Client) -> None:
        while client.out and not client.closed:
            try:
                sent = client.sock.send(client.out)
            except BlockingIOError:
                break
            except OSError:
                self._drop_client(client)
                return
            del client.out[:sent]
            client.progress = time.monotonic()
        self._account(client)
        self._watch(client)

    def _within_limits(self, client: Client) -> bool:
        return len(client.out) <= self.client_out_limit and client.queued <= CLIENT_QUEUED_LIMIT

    def _watch(self, client: Client) -> None:
        """Watch the client for what it may do now: write while replies wait, read within the limits."""
        if client.closed:
            return
        events = selectors.EVENT_WRITE if client.out else 0
        if not client.backlog and self._within_limits(client):
            events |= selectors.EVENT_READ
        if events == client.events:  # an epoll_ctl only when the interest changes
            return
        if not client.events:
            self.sel.register(client.sock, events, ("client", client))
        elif not events:  # nothing to send and too much queued: a selector cannot watch for nothing
            self.sel.unregister(client.sock)
        else:
            self.sel.modify(client.sock, events, ("client", client))
        client.events = events

    def _refuse_log(self, what: str, text: str, *args: Any) -> None:
        """Log a refusal at most every LOG_EVERY_S per kind, with how many were refused since."""
        now = time.monotonic()
        entry = self._refusals.setdefault(what, [0, -LOG_EVERY_S])
        entry[0] += 1
        if now - entry[1] >= LOG_EVERY_S:
            self.log.warning(text + " (%d refused since the last such line)", *args, entry[0])
            entry[0], entry[1] = 0, now

    def _accept(self) -> None:
        try:
            conn, _addr = self.listener.accept()
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # Out of descriptors or memory: keep running, try again shortly.
                self._refuse_log("accept", "accept failed (%s): pausing new connections for %.1fs", exc, ACCEPT_PAUSE_S)
                self.sel.unregister(self.listener)
                self.accept_paused_until = time.monotonic() + ACCEPT_PAUSE_S
            else:
                self.log.debug("accept failed: %s", exc)
            return
        conn.setblocking(False)
        client = Client(conn, progress=time.monotonic())
        client.access, client.peer, privileged = self._peer_access(conn)
        limit = self.max_clients if privileged else self.max_clients - min(ROOT_RESERVE, self.max_clients // 4)
        if len(self.clients) >= limit:
            count = len(self.clients)
            self._refuse_log("clients", "refusing a client (%s): %d connected (--max-clients)", client.peer, count)
            try:
                conn.send(reply(0, AisError.NO_RESOURCES, f"too many clients ({self.max_clients})"))
            except OSError:
                pass
            conn.close()
            return
        if client.access == ACCESS_NONE:
            self._refuse_log("access", "client %s may not use the service: its requests get ACCESS", client.peer)
        self.clients.add(client)
        self.sel.register(conn, selectors.EVENT_READ, ("client", client))

    def _peer_access(self, conn: socket.socket) -> tuple:
        """(access, description, privileged) of the process at the other end, by SO_PEERCRED."""
        try:
            pid, uid, gid = _PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        except (OSError, AttributeError, struct.error):
            return ACCESS_NONE, "unknown peer", False
        peer = f"pid {pid} uid {uid} gid {gid}"
        if uid in (0, os.geteuid()):
            return ACCESS_WRITE, peer, True
        if self.socket_gid >= 0 and (gid == self.socket_gid or self.socket_gid in _groups_of(pid)):
            return self.group_access, peer, False
        return ACCESS_NONE, peer, False

    def _read_client(self, client: Client) -> None:
        try:
            data = client.sock.recv(READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop_client(client)
            return
        client.progress = time.monotonic()
        client.reader.push(data)
        self._account(client)
        self._shed()
        self._handle_frames(client)

    def _shed(self) -> None:
        """Beyond the total bound: drop the clients holding the most (a partial frame, unread
        replies) until it holds again; the others stay served."""
        while self.buffered > self.max_buffered and self.clients:
            victim = max(self.clients, key=lambda c: c.held)
            self._refuse_log(
                "memory",
                "dropping client %s: it holds %d bytes, all clients %d (--max-buffered %d)",
                victim.peer,
                victim.held,
                self.buffered,
                self.max_buffered,
            )
            try:  # a courtesy: it may well not read it
                victim.sock.send(reply(0, AisError.NO_RESOURCES, "the service holds too much for its clients"))
            except OSError:
                pass
            self._drop_client(victim)

    def _handle_frames(self, client: Client) -> None:
        """Handle the client's complete requests one by one while its limits allow, then watch it."""
        while not client.closed:
            if not self._within_limits(client):
                client.backlog = client.reader.has_frame()
                break
            try:
                frame = client.reader.next_frame()
            except ProtocolError as exc:
                # Out of step or hostile: answer once, then hang up; everyone else is served on.
                self._refuse_log("protocol", "closing a client connection (%s): %s", client.peer, exc)
                self._send(client, reply(0, AisError.MESSAGE_ERROR, str(exc)))
                self._drop_client(client)
                return
            if frame is None:
                client.backlog = False
                break
            kind, body = frame
            if kind != KIND_REQUEST:
                self._send(client, reply(0, AisError.MESSAGE_ERROR, "clients send requests only"))
            else:
                self.handle_request(client, body)
            if self.buffered > self.max_buffered:
                self._shed()
        if client.closed:
            return
        if client.backlog:
            self.backlogged.add(client)
        else:
            self.backlogged.discard(client)
        self._account(client)
        self._watch(client)  # stop reading once its queued operations reach the limit

    def _housekeeping(self, now: float) -> None:
        """Requests held back by the limits, new connections after a pause, idle clients."""
        for client in list(self.backlogged):
            if client.closed:
                self.backlogged.discard(client)
            elif self._within_limits(client):
                self._handle_frames(client)
        if self.accept_paused_until and now >= self.accept_paused_until:
            self.accept_paused_until = 0.0
            self.sel.register(self.listener, selectors.EVENT_READ, ("listen", None))
        if now < self.next_idle_check:
            return
        self.next_idle_check = now + min(1.0, self.idle_timeout / 4)
        for client in list(self.clients):
            stalled = client.out or (client.reader.buffered and not client.backlog)
            if stalled and now - client.progress > self.idle_timeout:
                self._refuse_log(
                    "idle",
                    "dropping client %s: no progress for %.0fs with %d bytes held (--client-idle-timeout)",
                    client.peer,
                    now - client.progress,
                    client.held,
                )
                self._drop_client(client)

    def _drop_client(self, client: Client) -> None:
        if client.closed:
            return
        client.closed = True
        self.clients.discard(client)
        self.backlogged.discard(client)
        self._account(client)
        client.out = bytearray()
        client.reader = StreamReader()
        try:
            self.sel.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()
        # A dead client's handles are closed for it; this starts their retention timers
        # (the fast-restart case, Case.EXIST_CREATE, comes from exactly this).
        for handle, (cid, _flags) in sorted(client.handles.items()):
            self._send_op(OP_CLOSE, {"cid": cid, "handle": handle}, None, 0, handle=handle, internal=True)
        client.handles.clear()

    # -- main loop ---------------------------------------------------------------------------------

    def _flush_outgoing(self) -> None:
        """Multicast what is queued, packing consecutive messages into bounded CPG messages.

        Every client operation waits for its own delivery, so with many clients the queue holds
        many small operations; packing them saves a CPG message (IPC, dispatch, decode) each.
        Nothing here waits for a delivery: everything queued goes out now, in as many
        multicasts as the bounds ask for, until corosync's flow control says TRY_AGAIN.
        """
        while self.outgoing and self.connected:
            payload, count = self.next_payload(self.outgoing, self.store.wire_version if self.store else 1)
            try:
                self.cpg.mcast(payload)
            except CpgError as exc:
                if exc.try_again:
                    return  # flow control or a sync window in corosync: try on the next turn
                self.drop_cpg(str(exc))
                return
            del self.outgoing[:count]

    @staticmethod
    def next_payload(queue: list, wire_version: int) -> tuple[bytes, int]:
        """The next CPG payload from the head of ``queue``: (payload, messages it holds).

        At most BATCH_MAX messages and, beyond the first, BATCH_BYTES. Version 2 (compact
        records) only once the whole view speaks it, and never for the sync protocol.
        """
        compact = wire_version >= 2 and queue[0].get("t") not in SYNC_MESSAGES
        encoded, size = [], 0
        for msg in queue[:BATCH_MAX]:
            if compact:
                if msg.get("t") in SYNC_MESSAGES:
                    break
                data = encode_record(msg)
            else:
                if wire_version >= 2 and msg.get("t") not in SYNC_MESSAGES:
                    break
                data = encode(msg)
            if encoded and size + len(data) > BATCH_BYTES:
                break
            encoded.append(data)
            size += len(data)
        if compact:
            return replication_payload(encoded), len(encoded)
        payload = encoded[0] if len(encoded) == 1 else encode({"t": MSG_BATCH, "m": encoded})
        return payload, len(encoded)

    def stop(self, signum: int) -> None:
        self.log.info("signal %d: shutting down", signum)
        self.running = False

    def run(self) -> int:
        self.listen()
        on_stop_signals(self.stop)
        self.log.info("listening on %s", self.socket_path)
        while self.running:
            now = time.monotonic()
            if not self.connected and now >= self.next_reconnect:
                if not self.connect_cpg():
                    self.next_reconnect = now + RECONNECT_S
            self._handle_events(TICK_S)
            for _extra in range(EXTRA_POLLS if self.outgoing else 0):
                # Requests that arrived while we worked go into the same multicast.
                if not self._handle_events(0.0):
                    break
            self._housekeeping(time.monotonic())
            if self.connected and self.store is not None:
                self.outgoing.extend(self._read_quorum())
                self.outgoing.extend(self.store.tick(time.monotonic()))
            self._flush_outgoing()
        self.shutdown()
        return 0

    def _handle_events(self, timeout: float) -> int:
        ready = self.sel.select(timeout)
        for key, events in ready:
            kind, client = key.data
            if kind == "listen":
                self._accept()
            elif kind == "cpg":
                if self.cpg is None:
                    continue  # dropped by an earlier event of this round
                try:
                    self.cpg.dispatch()
                except CpgError as exc:
                    self.drop_cpg(str(exc))
            elif kind == "client":
                if events & selectors.EVENT_WRITE:
                    self._flush_client(client)
                if events & selectors.EVENT_READ and not client.closed:
                    self._read_client(client)
        return len(ready)

    def shutdown(self) -> None:
        sd_notify("STOPPING=1")
        if self.quorum_watcher is not None:
            self.quorum_watcher.stop()
        if self.cpg is not None:
            try:
                self.cpg.leave()
            except CpgError:
                pass
            self.cpg.finalize()
        if self.listener is not None:
            self.listener.close()
            try:
                os.unlink(self.socket_path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise


def _sa_time(value: Any, what: str) -> int:
    """An SaTimeT from a client (0..SA_TIME_END ns); anything else answers INVALID_PARAM."""
    if type(value) is not int or not 0 <= value <= SA_TIME_END:
        raise BadRequest(f"{what} must be an integer from 0 to SA_TIME_END ({SA_TIME_END}) nanoseconds")
    return value


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quorate-ckptd", description="replicated checkpoint service on corosync CPG")
    parser.add_argument("--socket", default=os.environ.get("QUORATE_CKPT_SOCKET", DEFAULT_SOCKET))
    parser.add_argument("--group", default=DEFAULT_GROUP, help="CPG group name (default %(default)s)")
    parser.add_argument("--socket-mode", default="0600", help="client socket mode: 0600 or 0660 (default %(default)s)")
    parser.add_argument("--socket-group", type=int, default=-1, help="gid that may use the socket (with mode 0660)")
    parser.add_argument(
        "--socket-group-access",
        choices=GROUP_ACCESS_CHOICES,
        default=ACCESS_READ,
        help="what the socket group may do (default %(default)s); root may do everything",
    )
    parser.add_argument("--max-clients", type=int, default=MAX_CLIENTS, help="connected clients (default %(default)s)")
    parser.add_argument(
        "--max-buffered", type=int, default=MAX_BUFFERED, help="bytes held for all clients (default %(default)s)"
    )
    parser.add_argument(
        "--client-buffer",
        type=int,
        default=CLIENT_OUT_LIMIT,
        help="bytes of replies one client may leave unread before its requests wait (default %(default)s)",
    )
    parser.add_argument(
        "--client-idle-timeout",
        type=float,
        default=CLIENT_IDLE_TIMEOUT_S,
        help="seconds a client may hold a partial request or unread replies without progress (default %(default)s)",
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    try:
        mode = int(args.socket_mode, 8)
        check_socket_mode(mode, args.socket_group)
    except ValueError as exc:
        parser.error(f"--socket-mode {args.socket_mode}: {exc}")
    for name in ("max_clients", "max_buffered", "client_buffer"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not args.client_idle_timeout > 0:
        parser.error("--client-idle-timeout must be positive")
    log = setup_logging("quorate-ckptd", args.verbose)
    daemon = CheckpointDaemon(
        args.socket,
        args.group,
        log,
        mode,
        args.socket_group,
        group_access=args.socket_group_access,
        max_clients=args.max_clients,
        max_buffered=args.max_buffered,
        client_out_limit=args.client_buffer,
        idle_timeout=args.client_idle_timeout,
    )
    return daemon.run()


if __name__ == "__main__":
    raise SystemExit(main())

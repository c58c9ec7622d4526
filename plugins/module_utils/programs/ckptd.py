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

import argparse
import errno
import itertools
import os
import selectors
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..shared.ais_errors import AisError
from ..shared.ckpt_protocol import (
    KIND_REQUEST,
    MSG_BATCH,
    MSG_OP,
    OP_CLOSE,
    OP_HELLO,
    OP_LIST,
    OP_OPEN,
    OP_SECTION_ITERATE,
    OP_STATUS,
    OP_UNLINK,
    OPEN_READ,
    OPEN_WRITE,
    READ_OPS,
    SYNC_MESSAGES,
    WRITE_OPS,
    FrameReader,
    ProtocolError,
    decode_replication,
    encode,
    encode_record,
    replication_payload,
    reply,
)
from ..shared.corosync_runtime import CorosyncQueryError, CorosyncRuntime
from ..shared.retry_policy import ServiceUnavailable
from .ckpt_store import CheckpointStore, MalformedMessage, Result
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


@dataclass
class Client:
    sock: socket.socket
    reader: FrameReader = field(default_factory=FrameReader)
    out: bytearray = field(default_factory=bytearray)
    handles: dict = field(default_factory=dict)  # handle id -> (cid, open flags)
    closing: set = field(default_factory=set)  # handles whose close is in flight: no longer usable
    closed: bool = False
    events: int = selectors.EVENT_READ  # what the selector watches for this client now (0: nothing)
    queued: int = 0  # bytes of its operations sent to the group and not yet delivered

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
        quorum_reader: Any = None,
    ):
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
        ensure_run_dir(os.path.dirname(self.socket_path) or ".")
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
        if result is not None and (nodeid, pid) == self.me:
            pend = self.pending.pop(int(msg.get("token", 0)), None)
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
        if not isinstance(req_id, int):
            req_id = 0
        try:
            self._dispatch_request(client, op, req_id, args)
        except (KeyError, TypeError, ValueError) as exc:
            self._send(client, reply(req_id, AisError.INVALID_PARAM, f"malformed arguments for {op}: {exc}"))

    def _dispatch_request(self, client: Client, op: Any, req_id: int, args: dict) -> None:
        store = self.store
        if op == OP_HELLO:
            self._send(client, reply(req_id, AisError.OK, nodeid=self.me[0], pid=self.me[1], version=1))
            return
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
            handle = next(self.handle_ids)
            flags = int(args["flags"])
            self._send_op(
                OP_OPEN,
                {"name": args["name"], "flags": flags, "attrs": args.get("attrs"), "handle": handle},
                client,
                req_id,
                handle=handle,
                flags=flags,
            )
        elif op == OP_UNLINK:
            self._send_op(OP_UNLINK, {"name": args["name"]}, client, req_id)
        elif op == OP_CLOSE:
            handle = int(args["handle"])
            entry = client.usable(handle)
            if entry is None:
                self._send(client, reply(req_id, AisError.BAD_HANDLE, f"no open handle {handle}"))
                return
            # As if closed at once: what this client pipelines after the close gets BAD_HANDLE, as it
            # would one call at a time. A close that fails (TRY_AGAIN) gives the handle back.
            client.closing.add(handle)
            self._send_op(OP_CLOSE, {"cid": entry[0], "handle": handle}, client, req_id, handle=handle)
        elif op in WRITE_OPS or op in READ_OPS:
            self._section_request(client, op, req_id, args)
        else:
            self._send(client, reply(req_id, AisError.BAD_OPERATION, f"unknown operation {op!r}"))

    def _section_request(self, client: Client, op: str, req_id: int, args: dict) -> None:
        handle = int(args["handle"])
        entry = client.usable(handle)
        if entry is None:
            self._send(client, reply(req_id, AisError.BAD_HANDLE, f"no open handle {handle}"))
            return
        cid, flags = entry
        needed = OPEN_WRITE if op in WRITE_OPS else OPEN_READ
        if not flags & needed:
            mode = "WRITE" if needed == OPEN_WRITE else "READ"
            self._send(client, reply(req_id, AisError.ACCESS, f"{op} needs a handle opened with {mode}"))
            return
        if op in WRITE_OPS:
            op_args = {"cid": cid, "section": bytes(args["section"]), "data": bytes(args.get("data", b""))}
            if "offset" in args:
                op_args["offset"] = int(args["offset"])
            self._send_op(op, op_args, client, req_id)
            return
        ckpt = self.store.checkpoints.get(cid)
        if ckpt is None:
            self._send(client, reply(req_id, AisError.BAD_HANDLE, "the checkpoint of this handle no longer exists"))
            return
        if op == OP_SECTION_ITERATE:
            sections = [{"id": sid, "size": len(data)} for sid, data in sorted(ckpt.sections.items())]
            self._send(client, reply(req_id, AisError.OK, sections=sections, generation=ckpt.generation))
            return
        sid = bytes(args["section"])
        data = ckpt.sections.get(sid)
        if data is None:
            self._send(client, reply(req_id, AisError.NOT_EXIST, f"no section {sid!r}"))
            return
        offset = int(args.get("offset", 0))
        size = args.get("size")
        chunk = data[offset : offset + int(size)] if size is not None else data[offset:]
        self._send(client, reply(req_id, AisError.OK, data=chunk, generation=ckpt.generation))

    # -- sockets -----------------------------------------------------------------------------------

    def _send(self, client: Client, data: bytes) -> None:
        if client.closed:
            return
        client.out.extend(data)
        self._flush_client(client)

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
        self._watch(client)

    def _watch(self, client: Client) -> None:
        """Watch the client for what it may do now: write while replies wait, read within the limits."""
        if client.closed:
            return
        events = selectors.EVENT_WRITE if client.out else 0
        if len(client.out) <= CLIENT_OUT_LIMIT and client.queued <= CLIENT_QUEUED_LIMIT:
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

    def _accept(self) -> None:
        try:
            conn, _addr = self.listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        client = Client(conn)
        self.sel.register(conn, selectors.EVENT_READ, ("client", client))

    def _read_client(self, client: Client) -> None:
        try:
            data = client.sock.recv(256 * 1024)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop_client(client)
            return
        try:
            frames = client.reader.feed(data)
        except ProtocolError as exc:
            # Out of step or hostile: answer once, then hang up; everyone else is served on.
            self.log.warning("closing a client connection: %s", exc)
            self._send(client, reply(0, AisError.MESSAGE_ERROR, str(exc)))
            self._drop_client(client)
            return
        for kind, body in frames:
            if kind != KIND_REQUEST:
                self._send(client, reply(0, AisError.MESSAGE_ERROR, "clients send requests only"))
                continue
            self.handle_request(client, body)
        self._watch(client)  # stop reading once its queued operations reach the limit

    def _drop_client(self, client: Client) -> None:
        if client.closed:
            return
        client.closed = True
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


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quorate-ckptd", description="replicated checkpoint service on corosync CPG")
    parser.add_argument("--socket", default=os.environ.get("QUORATE_CKPT_SOCKET", DEFAULT_SOCKET))
    parser.add_argument("--group", default=DEFAULT_GROUP, help="CPG group name (default %(default)s)")
    parser.add_argument("--socket-mode", default="0600", help="mode of the client socket (default %(default)s)")
    parser.add_argument("--socket-group", type=int, default=-1, help="gid that may use the socket (with mode 0660)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    log = setup_logging("quorate-ckptd", args.verbose)
    daemon = CheckpointDaemon(args.socket, args.group, log, int(args.socket_mode, 8), args.socket_group)
    return daemon.run()


if __name__ == "__main__":
    raise SystemExit(main())

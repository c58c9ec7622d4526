# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client of the local checkpoint service (quorate-ckptd) over its Unix socket.

Every failure is an :class:`AisException` with an SA error code, so the retry client can
classify it: an unreachable service is LIBRARY (reconnect), a daemon that does not answer in
time is TIMEOUT (transient), everything else is what the service answered.

Stdlib only: used by the modules on the nodes, by quorate-controld and by quorate-ckpt.
"""

from __future__ import annotations

import itertools
import os
import selectors
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from .ais_errors import AisError, AisException, Operation
from .ckpt_protocol import (
    HEADER,
    KIND_REPLY,
    OP_CLOSE,
    OP_LIST,
    OP_OPEN,
    OP_RETENTION_DURATION_SET,
    OP_SECTION_CREATE,
    OP_SECTION_DELETE,
    OP_SECTION_EXPIRATION_SET,
    OP_SECTION_ITERATE,
    OP_SECTION_OVERWRITE,
    OP_SECTION_READ,
    OP_SECTION_WRITE,
    OP_STATUS,
    OP_UNLINK,
    OPEN_CREATE,
    OPEN_EXCLUSIVE,
    OPEN_READ,
    OPEN_WRITE,
    SA_TIME_END,
    FrameReader,
    ProtocolError,
    decode,
    parse_header,
    raise_for_reply,
    request,
)

DEFAULT_SOCKET = "/run/quorate/ckptd.sock"
SOCKET_ENV = "QUORATE_CKPT_SOCKET"
# Requests kept in flight by call_many(). The daemon packs what it has read into one multicast,
# so a deeper window means fewer, larger multicasts (bench_checkpoint (c): 256 in flight on one
# connection write 1 KiB sections about as fast as raw CPG floods 1 KiB messages).
DEFAULT_WINDOW = 256
MAX_WINDOW = 4096
# The least time a call gets when the caller's deadline is (nearly) spent, so that the last
# attempt at the deadline still asks; a call ends at most this long after that deadline.
LAST_CALL_GRACE = 0.1


def default_socket() -> str:
    return os.environ.get(SOCKET_ENV, DEFAULT_SOCKET)


class CheckpointClient:
    """One connection to the service; handles are valid only on the connection that opened them.

    ``timeout`` bounds each call as a whole (connect, send, and every read of its reply), not each
    read: a reply that trickles in a byte at a time still ends it by then. ``time_left`` (seconds,
    None for no limit; e.g. :meth:`RetryClient.time_left`) lowers that bound to what is left of the
    caller's own deadline."""

    def __init__(
        self, path: str | None = None, timeout: float = 5.0, time_left: Callable[[], float | None] | None = None
    ):
        self.path = path or default_socket()
        self.timeout = timeout
        self.time_left = time_left
        self._sock: socket.socket | None = None
        self._rbuf = b""  # bytes received past the last reply (never across connections)
        self._ids = itertools.count(1)

    # -- connection --------------------------------------------------------------------------

    def _limit(self) -> float:
        """Seconds one call may take: the timeout, or less when the caller's deadline is nearer."""
        left = self.time_left() if self.time_left is not None else None
        return self.timeout if left is None else min(self.timeout, max(left, LAST_CALL_GRACE))

    def connect(self) -> CheckpointClient:
        self.close_connection()
        limit = self._limit()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(limit)
        try:
            sock.connect(self.path)
        except TimeoutError as exc:
            sock.close()
            raise AisException(
                AisError.TIMEOUT, f"checkpoint service at {self.path} did not accept within {limit:.2f}s"
            ) from exc
        except OSError as exc:
            sock.close()
            raise AisException(
                AisError.LIBRARY, f"checkpoint service not reachable at {self.path} ({exc.strerror or exc})"
            ) from exc
        self._sock = sock
        return self

    def reconnect(self) -> None:
        self.connect()

    def close_connection(self) -> None:
        self._rbuf = b""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> CheckpointClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close_connection()

    def _recv_exact(self, size: int, deadline: float) -> bytes:
        """Exactly ``size`` bytes by ``deadline`` (monotonic; TimeoutError after it); reads ahead
        (one recv for a header and a small body)."""
        buf = self._rbuf
        if len(buf) < size:
            chunks, have = [buf], len(buf)
            while have < size:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("deadline passed")
                self._sock.settimeout(left)  # what is left of the call, not a fresh timeout per read
                chunk = self._sock.recv(max(size - have, 64 * 1024))
                if not chunk:
                    raise AisException(AisError.LIBRARY, "the checkpoint service closed the connection")
                chunks.append(chunk)
                have += len(chunk)
            buf = b"".join(chunks)
        self._rbuf = buf[size:]
        return buf[:size]

    def call(self, op: str, operation: Operation = Operation.CALL, **args: Any) -> dict:
        """Send one request and wait for its reply; returns the reply's values."""
        limit = self._limit()
        deadline = time.monotonic() + limit
        if self._sock is None:
            self.connect()
        req_id = next(self._ids)
        try:
            self._sock.settimeout(max(deadline - time.monotonic(), 1e-3))  # sendall: total, not per send
            self._sock.sendall(request(op, req_id, **args))
            while True:
                kind, length = parse_header(self._recv_exact(HEADER.size, deadline))
                body = decode(self._recv_exact(length, deadline))
                if kind == KIND_REPLY and isinstance(body, dict) and body.get("id") in (req_id, 0):
                    break
        except TimeoutError as exc:
            # The reply may still come: this connection is out of step now, start afresh.
            self.close_connection()
            raise AisException(AisError.TIMEOUT, f"no answer to {op} within {limit:.2f}s", operation) from exc
        except ProtocolError as exc:
            self.close_connection()
            raise AisException(AisError.MESSAGE_ERROR, str(exc), operation) from exc
        except OSError as exc:
            self.close_connection()
            raise AisException(
                AisError.LIBRARY, f"connection to the checkpoint service failed: {exc}", operation
            ) from exc
        except AisException:
            self.close_connection()
            raise
        return raise_for_reply(body, operation)

    def call_many(self, calls: Iterable, window: int = DEFAULT_WINDOW) -> list:
        """Pipelined requests: up to ``window`` of them in flight on this connection.

        ``calls`` yields ``(op, args)`` pairs and is read lazily, as the window frees up, so a
        generator may decide when to stop. Returns one result per call sent, in the order of
        ``calls``: the reply's values (a dict), or the :class:`AisException` the service answered
        for that call (TRY_AGAIN during a membership change, say).

        The service applies one connection's writes in the order they were sent; a read among
        them is answered from the local copy at once, maybe before earlier writes. After the
        first call that fails, no further call is drawn from ``calls``: the list then ends with
        the calls that were in flight (some of them may have succeeded after the failed one), so
        a caller that resends everything from the first failure on keeps its order.

        Requests are sent while replies are read, so large replies never stall the connection.
        A failure of the connection itself (no whole reply within the timeout, however many bytes
        trickle in; the caller's ``time_left`` running out; hang-up; a bad frame) raises for the
        whole batch and closes the connection: which of the calls in flight took effect is unknown.
        An exception from ``calls`` itself is raised as it is, and the connection, now out of
        step, is closed.
        """
        if not 1 <= window <= MAX_WINDOW:
            raise ValueError(f"window must be between 1 and {MAX_WINDOW}, got {window}")
        if self._sock is None:
            self.connect()
        sock = self._sock
        pending: dict[int, tuple[int, Operation]] = {}  # request id -> (index in results, operation)
        results: list = []
        source = iter(calls)
        drawing = True  # until calls is exhausted or a call failed
        out = bytearray()
        reader = FrameReader()
        sel = selectors.DefaultSelector()
        in_step = False
        # Progress is a whole reply: each one must come within the timeout (bytes that trickle in
        # do not count), and the batch ends by the caller's deadline whatever happens.
        overall = self.time_left() if self.time_left is not None else None
        stop_at = None if overall is None else time.monotonic() + max(overall, LAST_CALL_GRACE)
        reply_by = time.monotonic() + self.timeout
        try:
            if self._rbuf:
                # Bytes read ahead by call(): the start of a stray frame at most, never a reply to us.
                reader.feed(self._rbuf)
                self._rbuf = b""
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
            while True:
                while drawing and len(pending) < window:
                    try:
                        op, args = next(source)
                    except StopIteration:
                        drawing = False
                        break
                    except Exception as exc:
                        raise _CallerError(exc) from exc
                    req_id = next(self._ids)
                    pending[req_id] = (len(results), _operation(op, args))
                    results.append(None)
                    out += request(op, req_id, **args)
                if not pending:  # every request sent has its reply (and nothing is left to send)
                    in_step = True
                    return results
                sel.modify(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if out else 0))
                now = time.monotonic()
                wait = reply_by - now if stop_at is None else min(reply_by, stop_at) - now
                ready = sel.select(wait) if wait > 0 else []
                if not ready:
                    why = (
                        f"no reply within {self.timeout}s"
                        if stop_at is None or reply_by <= stop_at
                        else "the caller's deadline passed"
                    )
                    raise AisException(AisError.TIMEOUT, f"{why}, {len(pending)} replies missing")
                events = ready[0][1]
                if events & selectors.EVENT_WRITE:
                    try:
                        del out[: sock.send(out)]
                    except BlockingIOError:
                        pass
                if not events & selectors.EVENT_READ:
                    continue
                try:
                    data = sock.recv(256 * 1024)
                except BlockingIOError:
                    continue
                if not data:
                    raise AisException(AisError.LIBRARY, "the checkpoint service closed the connection")
                for kind, body in reader.feed(data):
                    if kind != KIND_REPLY or not isinstance(body, dict):
                        continue
                    entry = pending.pop(body.get("id"), None)
                    if entry is None:
                        # Id 0: the service could not tell which request it answers.
                        raise ProtocolError(
                            f"reply for request {body.get('id')!r}, which is not in flight: {body.get('detail', '')}"
                        )
                    index, operation = entry
                    reply_by = time.monotonic() + self.timeout
                    try:
                        results[index] = raise_for_reply(body, operation)
                    except AisException as exc:
                        results[index] = exc
                        drawing = False
        except _CallerError as wrapped:
            raise wrapped.error from None
        except ProtocolError as exc:
            raise AisException(AisError.MESSAGE_ERROR, str(exc)) from exc
        except OSError as exc:
            raise AisException(AisError.LIBRARY, f"connection to the checkpoint service failed: {exc}") from exc
        finally:
            sel.close()
            if in_step:
                sock.settimeout(self.timeout)  # blocking again, for call()
            elif self._sock is sock:
                self.close_connection()

    # -- the checkpoint API ------------------------------------------------------------------

    def status(self) -> dict:
        return self.call(OP_STATUS)

    def list(self) -> list:
        return self.call(OP_LIST)["checkpoints"]

    def open(self, name: str, flags: int = OPEN_READ, attrs: dict | None = None) -> int:
        """saCkptCheckpointOpen; returns the handle. ``attrs`` only together with CREATE."""
        return self.open_info(name, flags, attrs)["handle"]

    def open_info(self, name: str, flags: int = OPEN_READ, attrs: dict | None = None) -> dict:
        """As :meth:`open`, with all the service tells: ``handle``, ``created`` (this open created
        the checkpoint) and the checkpoint's ``attrs``."""
        operation = Operation.OPEN_CREATE if flags & OPEN_CREATE else Operation.OPEN_READ
        return self.call(OP_OPEN, operation, name=name, flags=flags, attrs=attrs)

    def create(self, name: str, attrs: dict, exclusive: bool = False, read: bool = True) -> int:
        flags = OPEN_WRITE | OPEN_CREATE | (OPEN_READ if read else 0) | (OPEN_EXCLUSIVE if exclusive else 0)
        return self.open(name, flags, attrs)

    def close(self, handle: int) -> None:
        self.call(OP_CLOSE, handle=handle)

    def unlink(self, name: str) -> None:
        self.call(OP_UNLINK, name=name)

    def section_create(self, handle: int, section: bytes, data: bytes, expiration_ns: int = SA_TIME_END) -> None:
        """saCkptSectionCreate; ``expiration_ns`` is an absolute time (ns since the epoch)."""
        extra = {} if expiration_ns == SA_TIME_END else {"expiration": expiration_ns}
        self.call(OP_SECTION_CREATE, handle=handle, section=_b(section), data=_b(data), **extra)

    def section_delete(self, handle: int, section: bytes) -> None:
        self.call(OP_SECTION_DELETE, handle=handle, section=_b(section))

    def section_write(self, handle: int, section: bytes, data: bytes, offset: int = 0) -> None:
        self.call(OP_SECTION_WRITE, handle=handle, section=_b(section), data=_b(data), offset=offset)

    def section_overwrite(self, handle: int, section: bytes, data: bytes) -> None:
        self.call(OP_SECTION_OVERWRITE, handle=handle, section=_b(section), data=_b(data))

    def section_overwrite_many(self, handle: int, sections: Iterable, window: int = DEFAULT_WINDOW) -> list:
        """Overwrite many sections, pipelined (see :meth:`call_many`); ``sections`` yields
        ``(section id, data)``. Returns, in order, None for each write that succeeded and the
        AisException of each that did not."""
        calls = (
            (OP_SECTION_OVERWRITE, {"handle": handle, "section": _b(section), "data": _b(data)})
            for section, data in sections
        )
        return [None if isinstance(result, dict) else result for result in self.call_many(calls, window)]

    def section_put(self, handle: int, section: bytes, data: bytes) -> None:
        """Create the section, or overwrite it when it exists already (a retried create sequence)."""
        try:
            self.section_create(handle, section, data)
        except AisException as exc:
            if exc.code is not AisError.EXIST:
                raise
            self.section_overwrite(handle, section, data)

    def section_expiration_time_set(self, handle: int, section: bytes, expiration_ns: int) -> None:
        """saCkptSectionExpirationTimeSet: an absolute time (ns since the epoch, this node's
        clock), or SA_TIME_END for never. INVALID_PARAM for the default section."""
        self.call(OP_SECTION_EXPIRATION_SET, handle=handle, section=_b(section), expiration=expiration_ns)

    def retention_duration_set(self, handle: int, retention_ns: int) -> None:
        """saCkptCheckpointRetentionDurationSet; BAD_OPERATION once the checkpoint is unlinked."""
        self.call(OP_RETENTION_DURATION_SET, handle=handle, retention=retention_ns)

    def section_read(self, handle: int, section: bytes, offset: int = 0, size: int | None = None) -> bytes:
        """saCkptCheckpointRead of one section. Section id b"" (ckpt_protocol.DEFAULT_SECTION_ID)
        is the default section of a checkpoint created with max_sections 1, for every section call."""
        return self.call(OP_SECTION_READ, handle=handle, section=_b(section), offset=offset, size=size)["data"]

    def section_iterate(self, handle: int) -> list:
        return self.call(OP_SECTION_ITERATE, handle=handle)["sections"]


class _CallerError(Exception):
    """Carries an exception raised by the caller's ``calls`` out of call_many's own handling."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def _operation(op: str, args: dict) -> Operation:
    """How the retry policy classifies this call's errors (an open's NOT_EXIST is a case of its own)."""
    if op != OP_OPEN:
        return Operation.CALL
    flags = args.get("flags", 0)
    return Operation.OPEN_CREATE if isinstance(flags, int) and flags & OPEN_CREATE else Operation.OPEN_READ


def _b(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)

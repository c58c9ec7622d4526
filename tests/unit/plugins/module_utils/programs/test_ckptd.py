"""The daemon's request handling with real Unix sockets and a one-member loopback CPG."""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import time

import pytest
from harness.sim_cpg import LoopbackCpg

from ansible_collections.quorate.cluster.plugins.module_utils.programs.ckpt_store import MalformedMessage
from ansible_collections.quorate.cluster.plugins.module_utils.programs.ckptd import (
    BATCH_BYTES,
    BATCH_MAX,
    EXTRA_POLLS,
    OP_OVERHEAD,
    TICK_S,
    CheckpointDaemon,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError, AisException
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import (
    HEADER,
    OPEN_READ,
    OPEN_WRITE,
    REC_MESSAGE,
    REPLICATION_VERSION,
    FrameReader,
    decode,
    decode_replication,
    encode,
    encode_record,
    reply,
)

ATTRS = {
    "creation_flags": 0,
    "checkpoint_size": 1024,
    "retention_duration": 300_000_000,  # 0.3 s
    "max_sections": 4,
    "max_section_size": 256,
    "max_section_id_size": 32,
}


def test_socket_is_private(daemon):
    assert oct(os.stat(daemon.socket_path).st_mode & 0o777) == "0o600"


def test_open_write_read_iterate_close(daemon):
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("global", ATTRS)
        client.section_create(handle, "daemon_protocol", b"01 00\0")
        client.section_write(handle, "daemon_protocol", b"02", offset=0)
        assert client.section_read(handle, "daemon_protocol") == b"02 00\0"
        assert client.section_iterate(handle) == [{"id": b"daemon_protocol", "size": 6}]
        reader = client.open("global", OPEN_READ)
        with pytest.raises(AisException) as info:
            client.section_create(reader, "x", b"1")
        assert info.value.code is AisError.ACCESS
        with pytest.raises(AisException) as info:
            client.section_read(handle, "nope")
        assert info.value.code is AisError.NOT_EXIST
        client.close(reader)
        with pytest.raises(AisException) as info:
            client.close(reader)
        assert info.value.code is AisError.BAD_HANDLE
        assert client.list()[0]["open_handles"] == 1


def test_write_only_handle_cannot_read(daemon):
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.open("w", OPEN_WRITE | 0x4, ATTRS)
        client.section_create(handle, "s", b"1")
        with pytest.raises(AisException) as info:
            client.section_read(handle, "s")
        assert info.value.code is AisError.ACCESS


def test_client_death_closes_its_handles_and_starts_retention(daemon):
    first = CheckpointClient(daemon.socket_path).connect()
    first.create("local", ATTRS, exclusive=True)
    first.close_connection()  # the process died: the daemon closes its handle for it
    with CheckpointClient(daemon.socket_path) as client:
        with pytest.raises(AisException) as info:
            client.create("local", ATTRS, exclusive=True)
        assert info.value.code is AisError.EXIST  # Case.EXIST_CREATE, until retention ends
        deadline = time.monotonic() + 5
        while True:
            try:
                client.create("local", ATTRS, exclusive=True)
                break
            except AisException as exc:
                assert exc.code is AisError.EXIST
                assert time.monotonic() < deadline, "retention never expired"
                time.sleep(0.02)


def test_malformed_frames_close_that_connection_only(daemon):
    good = CheckpointClient(daemon.socket_path).connect()
    bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bad.settimeout(5)
    bad.connect(daemon.socket_path)
    bad.sendall(b"GARBAGE-NOT-A-FRAME")
    answer = bad.recv(4096)
    assert decode(answer[HEADER.size :])["rc"] == AisError.MESSAGE_ERROR
    assert bad.recv(4096) == b""  # then it hung up
    oversized = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    oversized.settimeout(5)
    oversized.connect(daemon.socket_path)
    oversized.sendall(HEADER.pack(b"QC", 1, 1, 1 << 30))
    assert decode(oversized.recv(4096)[HEADER.size :])["rc"] == AisError.MESSAGE_ERROR
    assert good.status()["synced"]  # everyone else is still served


def test_unknown_operations_and_bad_arguments(daemon):
    with CheckpointClient(daemon.socket_path) as client:
        with pytest.raises(AisException) as info:
            client.call("frobnicate")
        assert info.value.code is AisError.BAD_OPERATION
        with pytest.raises(AisException) as info:
            client.call("open", name="x")  # no flags
        assert info.value.code is AisError.INVALID_PARAM


def test_unreachable_service_is_a_reconnect_case(tmp_path):
    with pytest.raises(AisException) as info:
        CheckpointClient(str(tmp_path / "absent.sock")).status()
    assert info.value.code is AisError.LIBRARY and info.value.verdict.reconnect


def test_losing_corosync_answers_try_again_then_reconnects(daemon):
    """CS_ERR_LIBRARY from dispatch: drop the handle, answer TRY_AGAIN, join again with a new one
    (whose fd may reuse the old number) and keep serving."""
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("kept", ATTRS)
        client.section_create(handle, "s", b"v")
        daemon.cpg.fail_next_dispatch = True  # this daemon's group only
        client.status()  # any traffic wakes the loop; the next CPG dispatch fails
        with pytest.raises(AisException):
            for _attempt in range(200):
                client.section_overwrite(handle, "s", b"w")
                time.sleep(0.01)
        deadline = time.monotonic() + 5
        while not (client.status().get("connected") and client.status().get("synced")):
            assert time.monotonic() < deadline, "the daemon never came back"
            time.sleep(0.02)
        assert client.section_read(handle, "s") in (b"v", b"w")  # the local copy survived
        client.section_overwrite(handle, "s", b"after")
        assert client.section_read(handle, "s") == b"after"


def test_section_put_creates_then_overwrites(daemon):
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("put", ATTRS)
        client.section_put(handle, "daemon_protocol", b"01 00\0")
        client.section_put(handle, "daemon_protocol", b"01 01\0")  # exists: overwritten, not EXIST
        assert client.section_read(handle, "daemon_protocol") == b"01 01\0"
        reader = client.open("put", OPEN_READ)
        with pytest.raises(AisException) as info:
            client.section_put(reader, "daemon_protocol", b"02 00\0")
        assert info.value.code is AisError.ACCESS  # other errors still raise


def test_replies_change_the_selector_only_when_the_interest_changes(daemon):
    calls = []
    modify = daemon.sel.modify
    daemon.sel.modify = lambda *args: calls.append(args[1]) or modify(*args)
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("quiet", ATTRS)
        client.section_create(handle, "s", b"0")
        for index in range(20):
            client.section_overwrite(handle, "s", str(index).encode())
        assert client.section_read(handle, "s") == b"19"
    assert calls == []  # every reply went out at once: no epoll_ctl per request


def test_the_client_keeps_what_it_read_ahead_for_the_next_reply(tmp_path):
    path = str(tmp_path / "fake.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve():
        conn, _addr = server.accept()
        reader = FrameReader()
        with conn:
            while not reader.feed(conn.recv(4096)):
                pass
            # Both answers in one write: the second is for the request not sent yet.
            conn.sendall(reply(1, AisError.OK, n=1) + reply(2, AisError.OK, n=2))
            while not reader.feed(conn.recv(4096)):
                pass
            conn.recv(1)  # until the client hangs up

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = CheckpointClient(path, timeout=5).connect()
    assert client.call("status") == {"n": 1}
    assert client.call("status") == {"n": 2}
    client.close_connection()
    thread.join(5)
    server.close()


def _op(token, size=100, op="section_overwrite"):
    return {"t": "op", "op": op, "token": token, "args": {"cid": "1.2.3", "section": b"s", "data": b"x" * size}}


def test_batches_are_bounded_in_messages_and_bytes():
    queue = [_op(i) for i in range(BATCH_MAX + 10)]
    payload, count = CheckpointDaemon.next_payload(queue, REPLICATION_VERSION)
    assert count == BATCH_MAX and decode_replication(payload) == (queue[:BATCH_MAX], [])
    size = 2 * BATCH_BYTES // BATCH_MAX  # BATCH_MAX of these exceed BATCH_BYTES
    per = len(encode_record(_op(0, size)))
    queue = [_op(i, size) for i in range(BATCH_MAX)]
    payload, count = CheckpointDaemon.next_payload(queue, REPLICATION_VERSION)
    assert count == BATCH_BYTES // per and len(payload) <= BATCH_BYTES + 3
    # One message larger than the byte bound still goes, alone.
    queue = [_op(1, 3 * BATCH_BYTES), _op(2)]
    payload, count = CheckpointDaemon.next_payload(queue, REPLICATION_VERSION)
    assert count == 1 and decode_replication(payload) == (queue[:1], [])
    # Version 1 packs the same way, as {"t": "batch"} of encoded messages.
    queue = [_op(i) for i in range(3)]
    payload, count = CheckpointDaemon.next_payload(queue, 1)
    assert count == 3 and decode(payload)["t"] == "batch" and decode_replication(payload) == (queue, [])
    payload, count = CheckpointDaemon.next_payload(queue[:1], 1)
    assert count == 1 and decode(payload) == queue[0]


def test_sync_messages_always_go_as_version_1_and_split_the_compact_runs():
    digest = {"t": "digest", "view": [[1, 2]], "ckpts": {}, "repl": 2}
    done = {"t": "sync_done", "view": [[1, 2]]}
    queue = [_op(1), _op(2), digest, done, _op(3)]
    sent = []
    while queue:
        payload, count = CheckpointDaemon.next_payload(queue, REPLICATION_VERSION)
        sent.append((payload.startswith(b"QR"), decode_replication(payload)[0]))
        del queue[:count]
    assert sent == [(True, [_op(1), _op(2)]), (False, [digest, done]), (True, [_op(3)])]
    # With a version-1 view everything is version 1 and may share one batch.
    queue = [_op(1), digest, _op(2)]
    payload, count = CheckpointDaemon.next_payload(queue, 1)
    assert count == 3 and not payload.startswith(b"QR")


def test_a_synced_daemon_replicates_writes_as_compact_records(daemon, monkeypatch):
    sent = []
    real = LoopbackCpg.mcast

    def spy(self, payload):
        sent.append(bytes(payload))
        real(self, payload)

    monkeypatch.setattr(LoopbackCpg, "mcast", spy)
    assert daemon.store.wire_version == REPLICATION_VERSION
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("global", ATTRS)
        client.section_create(handle, "s", b"1")
        client.section_write(handle, "s", b"234", offset=1)
        assert client.section_read(handle, "s") == b"1234"
        client.close(handle)
    assert sent and all(p.startswith(b"QR") for p in sent)
    assert [m["op"] for p in sent for m in decode_replication(p)[0]] == [
        "open",
        "section_create",
        "section_write",
        "close",
    ]


def test_an_undecodable_payload_is_logged_and_skipped(daemon, caplog):
    with caplog.at_level(logging.ERROR, logger="test-ckptd"):
        daemon.on_deliver(1, 1, b"QR\x07")
        daemon.on_deliver(1, 1, b"QR\x02" + bytes((REC_MESSAGE,)) + b"\x00\x00\x00\x01\x63")
        daemon.on_deliver(1, 1, encode({"t": "batch", "m": 5}))  # used to raise out of the dispatch
    assert "replication version 7" in caplog.text and "unknown type tag" in caplog.text
    assert "a batch without a list" in caplog.text
    with CheckpointClient(daemon.socket_path) as client:
        assert client.status()["synced"]


class _ScriptedSelector:
    """Stands in for the daemon's selector: records each select() timeout, answers from a script."""

    def __init__(self, daemon, answers, rounds):
        self.daemon, self.answers, self.rounds, self.timeouts = daemon, answers, rounds, []

    def register(self, *args, **kwargs):
        pass

    def select(self, timeout):
        self.timeouts.append(timeout)
        if timeout > 0:
            self.rounds -= 1
            if self.rounds <= 0:
                self.daemon.running = False
            return []
        return self.answers.pop(0) if self.answers else []


@pytest.mark.parametrize(
    ("queued", "ready_polls", "expected"),
    [
        pytest.param(False, 9, [TICK_S, TICK_S], id="nothing-queued-no-extra-poll"),
        pytest.param(True, 0, [TICK_S, 0.0] * 2, id="queued-one-empty-poll"),
        pytest.param(True, 1, [TICK_S, 0.0, 0.0, TICK_S, 0.0], id="queued-polls-while-it-finds-work"),
        pytest.param(True, 9, ([TICK_S] + [0.0] * EXTRA_POLLS) * 2, id="queued-at-most-extra-polls"),
    ],
)
def test_before_a_multicast_the_daemon_polls_again_while_requests_keep_coming(tmp_path, queued, ready_polls, expected):
    instance = CheckpointDaemon(str(tmp_path / "s.sock"), "g", logging.getLogger("test-ckptd"), cpg_factory=LoopbackCpg)
    instance.next_reconnect = float("inf")  # stay disconnected: nothing is multicast, the queue stays
    if queued:
        instance.outgoing.append(_op(1))
    listen = selectors.SelectorKey(None, 0, selectors.EVENT_READ, ("listen", None))
    answers = [[(listen, selectors.EVENT_READ)] for _i in range(ready_polls)]
    instance.sel = _ScriptedSelector(instance, answers, rounds=2)
    assert instance.run() == 0
    assert instance.sel.timeouts == expected


def test_a_malformed_replicated_message_is_logged_and_the_service_goes_on(daemon, caplog, monkeypatch):
    def reject(*_args):
        raise MalformedMessage("malformed state message from (1, 1): KeyError('cid')")

    with caplog.at_level(logging.ERROR, logger="test-ckptd"):
        with monkeypatch.context() as patch:
            patch.setattr(daemon.store, "on_deliver", reject)
            daemon.on_deliver(1, 1, encode({"t": "state", "view": [], "ckpt": {}}))
    assert "malformed state message" in caplog.text and "ignored" in caplog.text
    with CheckpointClient(daemon.socket_path) as client:
        assert client.status()["synced"]


# -- pipelined calls (CheckpointClient.call_many) ----------------------------------------------


def test_pipelined_overwrites_share_multicasts_and_keep_their_order(daemon, monkeypatch):
    sent = []
    real = LoopbackCpg.mcast

    def spy(self, payload):
        sent.append(len(decode_replication(bytes(payload))[0]))
        real(self, payload)

    attrs = dict(ATTRS, max_sections=8, checkpoint_size=8 * 256)
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("piped", attrs)
        for index in range(8):
            client.section_create(handle, f"s{index}", b"-")
        monkeypatch.setattr(LoopbackCpg, "mcast", spy)
        writes = [(f"s{n % 8}", str(n).encode()) for n in range(400)]
        assert client.section_overwrite_many(handle, writes, window=64) == [None] * 400
        # The last write of each section wins: the service applied them in the order sent.
        for index in range(8):
            assert client.section_read(handle, f"s{index}") == str(392 + index).encode()
        # Counted before the connection closes: the daemon then multicasts the handle's close too.
        counted = list(sent)
    assert sum(counted) == 400
    assert len(counted) < 400  # writes in flight together went out in shared multicasts


def test_pipelined_results_stay_with_their_calls(daemon):
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("mixed", ATTRS)
        client.section_create(handle, "s", b"0")
        results = client.section_overwrite_many(handle, [("s", b"1"), ("absent", b"2"), ("s", b"3")], window=3)
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], AisException) and results[1].code is AisError.NOT_EXIST
        values = client.call_many([("section_read", {"handle": handle, "section": b"s"}), ("status", {})])
        assert values[0]["data"] == b"3" and "synced" in values[1]
        assert client.section_read(handle, "s") == b"3"  # the connection is in step afterwards


def test_a_pipelining_client_queues_at_most_the_limit_until_its_writes_are_delivered(daemon, monkeypatch):
    """Deliveries held back (a slow ring): the daemon stops reading the client's requests once its
    undelivered writes reach CLIENT_QUEUED_LIMIT, and reads on, in order, as they are delivered."""
    limit, value = 64 * 1024, b"v" * 1024
    monkeypatch.setattr(
        "ansible_collections.quorate.cluster.plugins.module_utils.programs.ckptd.CLIENT_QUEUED_LIMIT", limit
    )
    state, held = {"hold": False}, []
    real_mcast, real_dispatch = LoopbackCpg.mcast, LoopbackCpg.dispatch

    def release(self):  # in the daemon's thread only, so the order of multicasts is kept
        while held and not state["hold"]:
            real_mcast(self, held.pop(0))

    def mcast(self, payload):
        if state["hold"]:
            held.append(bytes(payload))
            return
        release(self)
        real_mcast(self, payload)

    def dispatch(self, all_pending=True):
        release(self)
        real_dispatch(self, all_pending)

    monkeypatch.setattr(LoopbackCpg, "mcast", mcast)
    monkeypatch.setattr(LoopbackCpg, "dispatch", dispatch)
    writer = CheckpointClient(daemon.socket_path).connect()
    handle = writer.create("slow", dict(ATTRS, checkpoint_size=4096, max_section_size=2048))
    writer.section_create(handle, "s", b"-")
    state["hold"] = True
    writes = [("s", value + str(n).encode()) for n in range(2000)]  # 2 MiB: 32 x the limit
    results = {}
    thread = threading.Thread(
        target=lambda: results.update(done=writer.section_overwrite_many(handle, writes, window=4096)), daemon=True
    )
    thread.start()
    time.sleep(1.0)  # the writer sends for as long as the daemon reads
    queued = sum(pend.size for pend in list(daemon.pending.values()) if pend.client is not None)
    # At most what one read (256 KiB) adds past the limit, not the 2 MiB sent.
    assert limit <= queued <= limit + 256 * 1024 + len(writes[0][1]) + OP_OVERHEAD
    assert thread.is_alive() and not results  # nothing delivered, nothing answered
    state["hold"] = False
    os.write(daemon.cpg.write_fd, b"x")  # wake the daemon: its next dispatch releases what is held
    thread.join(30)
    assert results["done"] == [None] * len(writes)
    assert writer.section_read(handle, "s") == writes[-1][1]  # applied in the order sent
    writer.close_connection()


def test_a_call_pipelined_after_the_close_of_its_handle_gets_bad_handle(daemon):
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.create("closing", ATTRS)
        client.section_create(handle, "s", b"0")
        results = client.call_many(
            [
                ("close", {"handle": handle}),
                ("section_overwrite", {"handle": handle, "section": b"s", "data": b"1"}),
                ("close", {"handle": handle}),
            ]
        )
        assert results[0] == {}
        assert [r.code for r in results[1:]] == [AisError.BAD_HANDLE, AisError.BAD_HANDLE]
        reader = client.open("closing", OPEN_READ)
        assert client.section_read(reader, "s") == b"0"  # the write after the close never happened


class _PipelineServer:
    """Reads requests, records how many were outstanding, answers them in reverse order per read."""

    def __init__(self, path, bad_reply=False, try_again_id=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.bad_reply = bad_reply
        self.try_again_id = try_again_id
        self.outstanding_max = 0
        self.replied = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _addr = self.sock.accept()
        reader = FrameReader()
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                ids = [body["id"] for _kind, body in reader.feed(data)]
                self.outstanding_max = max(self.outstanding_max, len(ids))
                if self.bad_reply:
                    conn.sendall(reply(0, AisError.MESSAGE_ERROR, "a request is a map with op, id and args"))
                    continue
                self.replied += len(ids)
                conn.sendall(
                    b"".join(
                        reply(i, AisError.TRY_AGAIN) if i == self.try_again_id else reply(i, AisError.OK, n=i)
                        for i in reversed(ids)
                    )
                )

    def close(self):
        self.thread.join(5)
        self.sock.close()


def test_call_many_reads_calls_lazily_and_keeps_at_most_the_window_in_flight(tmp_path):
    server = _PipelineServer(str(tmp_path / "fake.sock"))
    drawn = []

    def calls():
        for index in range(50):
            # Never more than the window ahead of the replies: the next call waits for one.
            assert index - server.replied <= 4
            drawn.append(index)
            yield "status", {}

    client = CheckpointClient(server.sock.getsockname(), timeout=5).connect()
    results = client.call_many(calls(), window=4)
    client.close_connection()
    server.close()
    assert drawn == list(range(50))
    assert [r["n"] for r in results] == list(range(1, 51))  # matched by id, answered out of order
    assert server.outstanding_max == 4  # the window was used, not one request at a time


def test_after_a_failed_call_no_further_call_is_sent(tmp_path):
    server = _PipelineServer(str(tmp_path / "fake.sock"), try_again_id=10)
    client = CheckpointClient(server.sock.getsockname(), timeout=5).connect()
    results = client.call_many([("status", {})] * 50, window=4)
    assert isinstance(results[9], AisException) and results[9].code is AisError.TRY_AGAIN
    # Only what was in flight with it came back; the caller resends from the failure on.
    assert 10 <= len(results) <= 13 and all(isinstance(r, dict) for r in results[:9] + results[10:])
    assert client.call("status")["n"] == len(results) + 1  # in step: the next call is answered
    client.close_connection()
    server.close()


@pytest.mark.parametrize("error", [KeyError("no such section"), OSError("data file unreadable")])
def test_an_error_of_the_callers_calls_is_raised_as_it_is_and_drops_the_connection(tmp_path, error):
    server = _PipelineServer(str(tmp_path / "fake.sock"))

    def calls():
        yield "status", {}
        yield "status", {}
        raise error

    client = CheckpointClient(server.sock.getsockname(), timeout=5).connect()
    with pytest.raises(type(error)) as info:
        client.call_many(calls())
    assert info.value is error  # not turned into a service error
    assert client._sock is None  # its replies are still in flight: out of step
    server.close()


def test_large_replies_and_large_requests_in_one_pipeline_do_not_stall(daemon):
    attrs = dict(ATTRS, max_sections=2, checkpoint_size=2 << 20, max_section_size=1 << 20)
    big, half = b"r" * (512 << 10), b"w" * (256 << 10)
    with CheckpointClient(daemon.socket_path, timeout=5) as client:
        handle = client.create("big", attrs)
        client.section_create(handle, "r", big)
        client.section_create(handle, "w", b"-")
        # 12 MiB of replies against 6 MiB of requests: more than the daemon buffers for one client.
        calls = []
        for _n in range(24):
            calls.append(("section_read", {"handle": handle, "section": b"r"}))
            calls.append(("section_overwrite", {"handle": handle, "section": b"w", "data": half}))
        results = client.call_many(calls, window=48)
        assert [r.get("data") == big for r in results[::2]] == [True] * 24
        assert results[1::2] == [{}] * 24
        assert client.section_read(handle, "w") == half


def test_call_many_gives_up_the_connection_on_a_reply_it_cannot_place(tmp_path):
    server = _PipelineServer(str(tmp_path / "fake.sock"), bad_reply=True)
    client = CheckpointClient(server.sock.getsockname(), timeout=5).connect()
    with pytest.raises(AisException) as info:
        client.call_many([("status", {})] * 3)
    assert info.value.code is AisError.MESSAGE_ERROR
    assert client._sock is None  # out of step: closed, the next call reconnects
    server.close()


def test_call_many_times_out_and_checks_its_window(tmp_path):
    path = str(tmp_path / "silent.sock")
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(path)
    silent.listen(1)
    client = CheckpointClient(path, timeout=0.2).connect()
    with pytest.raises(ValueError, match="window"):
        client.call_many([("status", {})], window=0)
    with pytest.raises(AisException) as info:
        client.call_many([("status", {})] * 2)
    assert info.value.code is AisError.TIMEOUT and "2 replies missing" in str(info.value)
    assert client.call_many([]) == []  # nothing to send, nothing to wait for
    client.close_connection()
    silent.close()


def test_the_daemon_feeds_quorum_and_a_node_without_it_refuses_writes_but_reads(tmp_path, monkeypatch):
    from ansible_collections.quorate.cluster.plugins.module_utils.programs import ckptd

    monkeypatch.setattr(ckptd, "QUORUM_POLL_S", 0.02)
    facts = [(True, 1, 1)]
    path = str(tmp_path / "q.sock")
    instance = CheckpointDaemon(path, "g", logging.getLogger("test-ckptd"), cpg_factory=LoopbackCpg,
                                quorum_reader=lambda: facts[0])  # fmt: skip
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()

    def wait_quorate(want):
        deadline = time.monotonic() + 5
        while not os.path.exists(path) or CheckpointClient(path).status().get("quorate") is not want:
            assert time.monotonic() < deadline, f"quorate never became {want}"
            time.sleep(0.01)

    try:
        wait_quorate(True)
        with CheckpointClient(path) as client:
            handle = client.create("global", ATTRS)
            client.section_create(handle, "s", b"before")
            facts[0] = (False, 1, 2)  # corosync lost quorum: the next poll tells the group
            wait_quorate(False)
            with pytest.raises(AisException) as info:
                client.section_overwrite(handle, "s", b"after")
            assert info.value.code is AisError.TRY_AGAIN and info.value.detail.startswith("not quorate")
            assert info.value.verdict.case.value == "not_quorate"
            assert client.section_read(handle, "s") == b"before"  # reads stay local
            facts[0] = (True, 1, 1)
            wait_quorate(True)
            client.section_overwrite(handle, "s", b"after")
            assert client.section_read(handle, "s") == b"after"
    finally:
        instance.running = False
        thread.join(5)

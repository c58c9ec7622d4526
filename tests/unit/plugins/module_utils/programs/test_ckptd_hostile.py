"""Issue 17: the daemon survives anything a local client or a peer sends (real sockets, simulated CPG)."""

from __future__ import annotations

import errno
import logging
import os
import random
import shutil
import socket
import struct
import tempfile
import time

import pytest
from harness.ckptd_thread import start_daemon, stop_daemon, wait_synced
from harness.sim_cpg import CpgBus

from ansible_collections.quorate.cluster.plugins.module_utils.programs import ckptd as ckptd_module
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import (
    HEADER,
    KIND_REQUEST,
    MAGIC,
    OPEN_CREATE,
    OPEN_READ,
    OPEN_WRITE,
    decode,
    encode,
    encode_record,
    replication_payload,
    request,
)

RW_CREATE = OPEN_READ | OPEN_WRITE | OPEN_CREATE
ATTRS = {
    "creation_flags": 0,
    "checkpoint_size": 1024 * 1024,
    "retention_duration": 10_000_000_000,
    "max_sections": 16,
    "max_section_size": 64 * 1024,
    "max_section_id_size": 64,
}
INF = float("inf")


@pytest.fixture
def served(tmp_path):
    path = str(tmp_path / "ckptd.sock")
    daemon, thread = start_daemon(path)
    wait_synced(path)
    yield daemon, thread
    stop_daemon(daemon, thread)


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(path)
    return sock


def read_reply(sock: socket.socket) -> tuple[dict, int]:
    head = b""
    while len(head) < HEADER.size:
        chunk = sock.recv(HEADER.size - len(head))
        assert chunk, "the daemon hung up"
        head += chunk
    length = struct.unpack(">I", head[4:8])[0]
    body = b""
    while len(body) < length:
        chunk = sock.recv(min(1 << 20, length - len(body)))
        assert chunk
        body += chunk
    return decode(body), HEADER.size + length


def call(sock: socket.socket, op: str, req_id: int = 7, **args) -> tuple[dict, int]:
    sock.sendall(request(op, req_id, **args))
    return read_reply(sock)


def assert_still_serving(path: str) -> None:
    with CheckpointClient(path) as client:
        handle = client.open("sanity", RW_CREATE, ATTRS)
        client.section_put(handle, b"s", b"fine")
        assert client.section_read(handle, b"s") == b"fine"
        client.close(handle)


def spy_multicasts(daemon) -> list:
    sizes: list = []
    cpg = daemon.cpg
    real = cpg.mcast

    def mcast(payload):
        sizes.append(len(payload))
        real(payload)

    cpg.mcast = mcast
    return sizes


# -- every quoted client input ------------------------------------------------------------------


HOSTILE_REQUESTS = [
    pytest.param("open", {"name": "x", "flags": INF, "attrs": None}, id="open-flags-inf"),
    pytest.param("open", {"name": "x", "flags": 1e30, "attrs": None}, id="open-flags-1e30"),
    pytest.param("open", {"name": "x", "flags": RW_CREATE, "attrs": {"checkpoint_size": INF}}, id="open-attrs-inf"),
    pytest.param("close", {"handle": INF}, id="close-handle-inf"),
    pytest.param("section_read", {"handle": INF, "section": b"s"}, id="read-handle-inf"),
    pytest.param("section_read", {"section": b"s", "size": INF}, id="read-size-inf"),
    pytest.param("section_read", {"section": b"s", "offset": -1, "size": -1}, id="read-offset-minus-1"),
    pytest.param("section_read", {"section": b"s" * (1 << 20)}, id="read-1MiB-section-id"),
    pytest.param("section_write", {"section": 2**40, "data": b"1"}, id="write-section-2**40"),
    pytest.param("section_write", {"section": b"s", "data": 67108864}, id="write-data-64MiB-int"),
    pytest.param("section_overwrite", {"section": b"s", "data": 4 * 1024 * 1024}, id="overwrite-data-4MiB-int"),
    pytest.param("section_create", {"section": b"t", "data": "text"}, id="create-data-str"),
    pytest.param("section_write", {"section": b"s", "data": b"1", "offset": 2**62}, id="write-offset-2**62"),
]


@pytest.mark.parametrize("op, args", HOSTILE_REQUESTS)
def test_a_hostile_request_gets_an_error_and_the_connection_goes_on(served, op, args):
    daemon, thread = served
    sock = connect(daemon.socket_path)
    opened, _size = call(sock, "open", name="h", flags=RW_CREATE, attrs=ATTRS)
    assert opened["rc"] == AisError.OK
    assert call(sock, "section_create", handle=opened["values"]["handle"], section=b"s", data=b"0")[0]["rc"] == 1
    sizes = spy_multicasts(daemon)
    args = {"handle": opened["values"]["handle"], **args}
    answer, size = call(sock, op, **args)
    assert answer["rc"] in (AisError.INVALID_PARAM, AisError.TOO_BIG, AisError.BAD_HANDLE), answer
    assert answer["id"] == 7 and size < 4096  # no echo of a megabyte id
    assert all(s < 64 * 1024 for s in sizes)  # nothing large was multicast
    assert call(sock, "status")[0]["rc"] == AisError.OK  # the same connection goes on
    time.sleep(TICK_WAIT)
    assert thread.is_alive()
    assert_still_serving(daemon.socket_path)


TICK_WAIT = 0.1


@pytest.mark.parametrize("token", ["x", [1]])
def test_an_op_with_a_bad_token_from_our_own_node_is_rejected(served, token, caplog):
    daemon, thread = served
    msg = {"t": "op", "op": "open", "token": token, "args": {"name": "n", "flags": 1, "attrs": None, "handle": 1}}
    daemon.cpg.mcast(encode(msg))
    time.sleep(TICK_WAIT)
    assert thread.is_alive()
    assert "malformed op message" in caplog.text
    assert_still_serving(daemon.socket_path)


def test_accept_failing_with_emfile_pauses_and_goes_on(served, caplog):
    daemon, thread = served
    real = daemon.listener

    class Listener:
        failures = 3

        def fileno(self):
            return real.fileno()

        def accept(self):
            if Listener.failures:
                Listener.failures -= 1
                raise OSError(errno.EMFILE, "Too many open files")
            return real.accept()

        def close(self):
            real.close()

    daemon.listener = Listener()
    assert_still_serving(daemon.socket_path)
    assert thread.is_alive() and Listener.failures == 0
    assert "accept failed" in caplog.text


def test_the_number_of_clients_is_bounded(tmp_path, caplog):
    path = str(tmp_path / "s.sock")
    daemon, thread = start_daemon(path, max_clients=4)
    try:
        wait_synced(path)
        idle = [connect(path) for _index in range(4)]
        time.sleep(TICK_WAIT)
        refused = connect(path)
        answer, _size = read_reply(refused)
        assert answer["rc"] == AisError.NO_RESOURCES
        assert refused.recv(10) == b""
        assert "--max-clients" in caplog.text
        idle.pop().close()
        time.sleep(TICK_WAIT)
        assert_still_serving(path)
    finally:
        stop_daemon(daemon, thread)


def test_a_client_holding_a_partial_frame_is_dropped_after_the_idle_timeout(tmp_path, caplog):
    path = str(tmp_path / "s.sock")
    daemon, thread = start_daemon(path, idle_timeout=0.3)
    try:
        wait_synced(path)
        slow = connect(path)
        slow.sendall(HEADER.pack(MAGIC, 1, KIND_REQUEST, 1000) + b"\x07" * 10)
        slow.settimeout(3)
        assert slow.recv(10) == b""  # hung up on
        assert "--client-idle-timeout" in caplog.text
        assert_still_serving(path)
        assert daemon.buffered == 0
    finally:
        stop_daemon(daemon, thread)


def test_the_memory_held_for_all_clients_is_bounded(tmp_path, caplog):
    path = str(tmp_path / "s.sock")
    bound = 2 * 1024 * 1024
    daemon, thread = start_daemon(path, max_buffered=bound)
    try:
        wait_synced(path)
        hogs = []
        for _index in range(8):
            sock = connect(path)
            sock.sendall(HEADER.pack(MAGIC, 1, KIND_REQUEST, 2 * 1024 * 1024) + b"\x05" * (700 * 1024))
            hogs.append(sock)
        time.sleep(0.3)
        assert daemon.buffered <= bound + ckptd_module.READ_CHUNK
        assert len(daemon.clients) < 8
        assert "--max-buffered" in caplog.text
        assert_still_serving(path)
    finally:
        stop_daemon(daemon, thread)


def test_pipelined_reads_stop_at_the_reply_limit(served):
    daemon, thread = served
    with CheckpointClient(daemon.socket_path) as client:
        handle = client.open("big", RW_CREATE, dict(ATTRS, max_section_size=32 * 1024))
        client.section_create(handle, b"s", b"r" * 32 * 1024)
        sock = client._sock if hasattr(client, "_sock") else None
        assert sock is None or sock  # the raw connection below shares nothing with it
    raw = connect(daemon.socket_path)
    opened, _size = call(raw, "open", name="big", flags=OPEN_READ)
    frame = request("section_read", 1, handle=opened["values"]["handle"], section=b"s", size=32 * 1024)
    burst = frame * (214 * 1024 // len(frame))
    raw.setblocking(False)
    sent, deadline = 0, time.monotonic() + 2
    while sent < len(burst) and time.monotonic() < deadline:
        try:
            sent += raw.send(burst[sent : sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(0.3)
    held = [c for c in list(daemon.clients) if c.out]
    assert held and max(len(c.out) for c in held) <= ckptd_module.CLIENT_OUT_LIMIT + 64 * 1024
    raw.close()
    time.sleep(TICK_WAIT)
    assert thread.is_alive()
    assert_still_serving(daemon.socket_path)


# -- socket mode and credentials ------------------------------------------------------------------


@pytest.mark.parametrize("mode, gid", [(0o666, -1), (0o644, -1), (0o660, -1), (0o700, -1), (0o400, -1), (0o600, 5)])
def test_the_socket_mode_is_validated(mode, gid, tmp_path):
    with pytest.raises(ValueError):
        ckptd_module.check_socket_mode(mode, gid)
    with pytest.raises(SystemExit):
        ckptd_module.main(["--socket", str(tmp_path / "s"), "--socket-mode", f"{mode:o}", "--socket-group", str(gid)])


def test_the_allowed_socket_modes():
    ckptd_module.check_socket_mode(0o600, -1)
    ckptd_module.check_socket_mode(0o660, 1234)


def _as_user(path: str, uid: int, gid: int) -> dict:
    """What a client of another user may do: run in a forked child that drops to uid/gid."""
    from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisException

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            client = CheckpointClient(path)
            lines = []
            for name, flags in (("status", None), ("open-read", OPEN_READ), ("open-write", 3), ("unlink", 0)):
                try:
                    if flags is None:
                        client.status()
                    elif name == "unlink":
                        client.unlink("shared")
                    else:
                        client.open("shared", flags)
                    lines.append(f"{name} OK")
                except AisException as exc:
                    lines.append(f"{name} {exc.code.name}")
            os.write(write_fd, "\n".join(lines).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    out = b""
    while chunk := os.read(read_fd, 4096):
        out += chunk
    os.close(read_fd)
    os.waitpid(pid, 0)
    return dict(line.split() for line in out.decode().splitlines())


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run clients as other users")
@pytest.mark.parametrize(
    "gid, access, expected",
    [
        (4242, "read-only", {"status": "OK", "open-read": "OK", "open-write": "ACCESS", "unlink": "ACCESS"}),
        (4242, "read-write", {"status": "OK", "open-read": "OK", "open-write": "OK", "unlink": "OK"}),
        (4343, "read-write", {"status": "ACCESS", "open-read": "ACCESS", "open-write": "ACCESS", "unlink": "ACCESS"}),
    ],
)
def test_peer_credentials_decide_what_a_client_may_do(gid, access, expected, caplog):
    run = tempfile.mkdtemp(prefix="quorate-peercred-")  # pytest's own tmp dirs are root's only
    os.chmod(run, 0o755)
    path = os.path.join(run, "s.sock")
    daemon, thread = start_daemon(path, socket_mode=0o660, socket_gid=4242, group_access=access)
    try:
        wait_synced(path)
        with CheckpointClient(path) as client:
            client.close(client.open("shared", RW_CREATE, ATTRS))
        os.chmod(path, 0o666)  # as if the mode were wrong: the credentials still decide
        assert _as_user(path, 65534, gid) == expected
        # Other users cannot take the slots kept for root.
        daemon.max_clients = 8  # 2 of them kept for root
        idle = [connect(path) for _index in range(6)]
        time.sleep(TICK_WAIT)
        # Answered NO_RESOURCES and closed at once: the client may see the hang-up first.
        assert _as_user(path, 65534, gid)["status"] in ("NO_RESOURCES", "LIBRARY")
        assert "--max-clients" in caplog.text
        assert_still_serving(path)  # root still gets in
        for sock in idle:
            sock.close()
    finally:
        stop_daemon(daemon, thread)
        shutil.rmtree(run, ignore_errors=True)


# -- the fuzz test: three daemons over the simulated CPG -------------------------------------------

FUZZ_SEED = 17
FUZZ_CLIENT_FRAMES = 6000
FUZZ_PEER_MESSAGES = 3000
FUZZ_SECONDS = 15.0

_VALUES = [
    INF,
    -INF,
    float("nan"),
    1e30,
    2**40,
    2**62,
    2**63 - 1,
    -(2**63),
    -1,
    0,
    1,
    67108864,
    4 * 1024 * 1024,
    b"",
    b"s",
    b"x" * 300,
    "text",
    "",
    [1],
    [],
    {},
    {"a": [1]},
    None,
    True,
    False,
]
_OPS = [
    "hello",
    "status",
    "list",
    "open",
    "close",
    "unlink",
    "section_create",
    "section_delete",
    "section_write",
    "section_overwrite",
    "section_read",
    "section_iterate",
    "frobnicate",
    7,
    None,
]
_ARG_KEYS = ["name", "flags", "attrs", "handle", "section", "data", "offset", "size", "cid"]


def _random_value(rng: random.Random):
    if rng.random() < 0.1:
        return b"z" * rng.choice([1, 1000, 70000])
    return rng.choice(_VALUES)


def _client_frame(rng: random.Random, handles: list) -> bytes:
    op = rng.choice(_OPS)
    args = {key: _random_value(rng) for key in rng.sample(_ARG_KEYS, rng.randint(0, 5))}
    if handles and rng.random() < 0.6:
        args["handle"] = rng.choice(handles)
    if rng.random() < 0.3:
        args.update(name=rng.choice(["fz1", "fz2"]), flags=rng.choice([1, 3, 7, 15, 0, 16]))
        args["attrs"] = dict(ATTRS) if args["flags"] & 4 else None
    req_id = rng.choice([1, 2, -1, 2**63 - 1, "id", None])
    body = encode({"op": op, "id": req_id, "args": args})
    raw = HEADER.pack(MAGIC, 1, KIND_REQUEST, len(body)) + body
    mutation = rng.random()
    if mutation < 0.1:  # a flipped byte
        pos = rng.randrange(len(raw))
        raw = raw[:pos] + bytes([raw[pos] ^ (1 << rng.randrange(8))]) + raw[pos + 1 :]
    elif mutation < 0.13:  # garbage
        raw = bytes(rng.randrange(256) for _index in range(rng.randint(1, 64)))
    elif mutation < 0.15:  # an oversized or wrong header
        raw = HEADER.pack(MAGIC, rng.choice([1, 2]), rng.choice([1, 2, 9]), rng.choice([1 << 30, 2**32 - 1, 3]))
    return raw


_QUOTED_PEER = [
    {"t": "expire", "cid": [1], "zero_epoch": {}},
    {"t": "op", "op": "open", "token": "x", "args": {"name": "n", "flags": 1, "attrs": None, "handle": 1}},
    {"t": "op", "op": "open", "token": [1], "args": {"name": "n", "flags": 1, "attrs": None, "handle": 1}},
    {"t": "op", "op": "open", "token": 2**41, "args": {"name": "n", "flags": INF, "attrs": None, "handle": 1}},
    {"t": "op", "op": "section_create", "token": 2**41 + 1, "args": {"cid": "9.9.9", "section": 2**62, "data": b""}},
    {
        "t": "op",
        "op": "section_overwrite",
        "token": 2**41 + 2,
        "args": {"cid": "9.9.9", "section": b"s", "data": 2**62},
    },
]


def _quoted_sync(view: list) -> list:
    ckpt = {
        "cid": "9.9.9",
        "name": "bogus",
        "attrs": {},
        "sections": [],
        "generation": 1,
        "unlinked": False,
        "zero_epoch": 0,
    }
    return [
        {"t": "state", "view": view, "ckpt": ckpt},
        {"t": "state", "view": view, "ckpt": dict(ckpt, attrs=dict(ATTRS), name=[1])},
        {"t": "digest", "view": view, "ckpts": {"9.9.9": ["bogus", "g", "h", False, []]}, "repl": 2},
    ]


def _peer_payload(rng: random.Random, view: list, serial: int) -> bytes:
    kind = rng.choice(["expire", "digest", "state", "state_part", "sync_done", "op", "op", "op", "junk"])
    token = 2**42 + serial
    if kind == "op":
        op = rng.choice(["open", "close", "unlink", "section_create", "section_delete", "section_write", "nope"])
        args = {key: _random_value(rng) for key in rng.sample(_ARG_KEYS, rng.randint(0, 6))}
        if rng.random() < 0.5:
            args["cid"] = rng.choice(["9.9.9", "fz", ""])
        msg = {"t": "op", "op": op, "token": rng.choice([token, token, "x", None, 1.5]), "args": args}
    elif kind == "expire":
        msg = {"t": "expire", "cid": _random_value(rng), "zero_epoch": _random_value(rng)}
    elif kind == "digest":
        entry = [_random_value(rng) for _index in range(rng.choice([4, 5]))]
        msg = {"t": "digest", "view": rng.choice([view, [[1, 2]], 5]), "ckpts": {"9.9.9": entry}}
    elif kind == "state":
        ckpt = {k: _random_value(rng) for k in ("cid", "name", "attrs", "sections", "generation")}
        msg = {"t": "state", "view": rng.choice([view, []]), "ckpt": ckpt}
    elif kind == "state_part":
        msg = {"t": "state_part", "view": view, "cid": "9.9.9", "sections": [[_random_value(rng), _random_value(rng)]]}
    elif kind == "sync_done":
        msg = {"t": "sync_done", "view": _random_value(rng)}
    else:
        return bytes(rng.randrange(256) for _index in range(rng.randint(0, 40)))
    if rng.random() < 0.3:
        try:
            return replication_payload([encode_record(msg)])
        except Exception:  # what the encoder refuses is never sent
            pass
    raw = encode(msg)
    if rng.random() < 0.1:
        pos = rng.randrange(len(raw))
        raw = raw[:pos] + bytes([raw[pos] ^ 0xFF]) + raw[pos + 1 :]
    return raw


def _fingerprints(daemon) -> dict:
    store = daemon.store
    return {
        cid: (c.name, c.generation, c.content_hash(), c.unlinked, sorted(c.openers))
        for cid, c in list(store.checkpoints.items())
    }


def test_fuzz_three_daemons_over_the_simulated_cpg(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="test-ckptd")
    rng = random.Random(FUZZ_SEED)
    bus = CpgBus()
    paths = [str(tmp_path / f"n{n}.sock") for n in (1, 2, 3)]
    nodes = [start_daemon(p, cpg_factory=bus.factory(n), idle_timeout=2.0) for n, p in zip((1, 2, 3), paths)]
    for path in paths:
        wait_synced(path, timeout=10)
    good = [CheckpointClient(p).connect() for p in paths]
    good_handle = good[0].open("good", RW_CREATE, ATTRS)
    good[0].section_create(good_handle, b"g", b"0")
    readers = [c.open("good", OPEN_READ) for c in good[1:]]
    hostile: list = [None, None, None]
    handles = [1, 2, 3]
    sent_frames = sent_peer = good_ops = 0
    started = time.monotonic()
    quoted = list(_QUOTED_PEER) + _quoted_sync([[n, os.getpid()] for n in (1, 2, 3)])
    for msg in quoted:
        bus.mcast(3, os.getpid(), encode(msg))
        sent_peer += 1
    for quoted_args in HOSTILE_REQUESTS:
        op, args = quoted_args.values
        hostile[0] = hostile[0] or connect(paths[0])
        hostile[0].sendall(request(op, 1, **dict({"handle": 1}, **args)))
        sent_frames += 1
    while (sent_frames < FUZZ_CLIENT_FRAMES or sent_peer < FUZZ_PEER_MESSAGES) and (
        time.monotonic() - started < FUZZ_SECONDS
    ):
        for _burst in range(20):
            if sent_frames < FUZZ_CLIENT_FRAMES:
                index = rng.randrange(3)
                if hostile[index] is None:
                    hostile[index] = connect(paths[index])
                    hostile[index].setblocking(False)
                try:
                    hostile[index].send(_client_frame(rng, handles))
                    hostile[index].recv(1 << 20)  # drain replies; what is unread counts against it
                except BlockingIOError:
                    pass
                except OSError:  # hung up on (a malformed frame): a new connection
                    hostile[index].close()
                    hostile[index] = None
                sent_frames += 1
            if sent_peer < FUZZ_PEER_MESSAGES:
                bus.mcast(
                    rng.choice((1, 2, 3)),
                    os.getpid(),
                    _peer_payload(rng, [[n, os.getpid()] for n in (1, 2, 3)], sent_peer),
                )
                sent_peer += 1
        # Other clients are not disturbed.
        good[0].section_overwrite(good_handle, b"g", str(good_ops).encode())
        for client, reader in zip(good[1:], readers):
            # Delivered in the same order everywhere, but each daemon applies it in its own time.
            until = time.monotonic() + 2
            while client.section_read(reader, b"g") != str(good_ops).encode():
                assert time.monotonic() < until, "another node never saw the write"
                time.sleep(0.001)
        good_ops += 1
    elapsed = time.monotonic() - started
    for sock in hostile:
        if sock is not None:
            sock.close()
    deadline = time.monotonic() + 5
    while True:
        prints = [_fingerprints(d) for d, _t in nodes]
        if prints[0] == prints[1] == prints[2]:
            break
        assert time.monotonic() < deadline, "replicas differ"
        time.sleep(0.05)
    assert all(not d.store.syncing for d, _t in nodes)
    for client in good:
        client.close_connection()
    for daemon, thread in nodes:
        stop_daemon(daemon, thread)
    rejected = sum("malformed" in r.getMessage() for r in caplog.records)
    with capsys.disabled():
        print(
            f"\nfuzz: seed {FUZZ_SEED}, {sent_frames} client frames, {sent_peer} peer messages "
            f"({len(HOSTILE_REQUESTS)} + {len(quoted)} quoted), {rejected} peer rejections logged "
            f"(each member logs its own), {good_ops} checked writes, {elapsed:.1f}s"
        )
    assert sent_frames >= 1000 and sent_peer >= 500
    assert rejected >= 3 * len(quoted)  # every member rejected at least the quoted ones

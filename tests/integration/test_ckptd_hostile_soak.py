"""Issue 17 soak: 1000 hostile local clients against a real quorate-ckptd on a 3-node corosync (netns).

The daemons run with their default bounds (docs/operator-guide.md#limits-and-access). Hostile
clients hold partial 2 MiB frames, trickle headers, send garbage, pipeline reads without taking
the replies, or send requests with floats and integers where bytes belong. The daemon must keep
serving (on its node and the others), and its resident memory must stay under the documented
bound. The RSS figures are printed.
"""

from __future__ import annotations

import errno
import random
import resource
import socket
import threading
import time

import pytest
from harness.node_daemons import ckptd_everywhere

from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import (
    HEADER,
    KIND_REQUEST,
    MAGIC,
    OPEN_CREATE,
    OPEN_READ,
    OPEN_WRITE,
    decode,
    request,
)

NODES = [1, 2, 3]
HOSTILE = 1000
RSS_BOUND_MIB = 200  # docs/operator-guide.md#limits-and-access, with the default bounds
SEED = 17
ATTRS = {
    "creation_flags": 0,
    "checkpoint_size": 1024 * 1024,
    "retention_duration": 60_000_000_000,
    "max_sections": 4,
    "max_section_size": 64 * 1024,
    "max_section_id_size": 32,
}


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


class Sampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0.0, True

    def run(self) -> None:
        while self.running:
            try:
                self.peak = max(self.peak, rss_mib(self.pid))
            except (OSError, AssertionError):
                return
            time.sleep(0.02)


@pytest.fixture
def service(netns_cluster_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Before the daemons start: they inherit it.
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    try:
        cluster = netns_cluster_factory(nodes=3)
        cluster.start_all()
        cluster.wait_quorate(timeout=60)
        with ckptd_everywhere(cluster) as daemons:
            yield cluster, daemons
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def hostile_bytes(rng: random.Random, kind: int, handle_hint: int) -> bytes:
    if kind == 0:  # a partial 2 MiB frame: header and 1 MiB of it, then nothing
        return HEADER.pack(MAGIC, 1, KIND_REQUEST, 2 * 1024 * 1024) + b"\0" * (1024 * 1024)
    if kind == 1:  # a header only, claiming a large body
        return HEADER.pack(MAGIC, 1, KIND_REQUEST, 1024 * 1024)
    if kind == 2:  # garbage
        return bytes(rng.randrange(256) for _byte in range(rng.randint(1, 512)))
    if kind == 3:  # pipelined reads whose replies are never taken
        return request("section_read", 1, handle=handle_hint, section=b"big", size=64 * 1024) * 2000
    # requests with floats and integers where bytes belong
    return b"".join(
        (
            request("open", 1, name="x", flags=float("inf"), attrs=None),
            request("section_write", 2, handle=handle_hint, section=2**40, data=b"1"),
            request("section_write", 3, handle=handle_hint, section=b"big", data=67108864),
            request("section_read", 4, handle=float("inf"), section=b"big", size=float("inf")),
            request("section_read", 5, handle=handle_hint, section=b"big", offset=-1, size=-1),
        )
    )


def open_handle(sock: socket.socket) -> int:
    """Open "soak" for reading on a raw connection; 1 (no such handle) if the daemon refused it."""
    try:
        sock.sendall(request("open", 1, name="soak", flags=OPEN_READ))
        head = b""
        while len(head) < HEADER.size:
            chunk = sock.recv(HEADER.size - len(head))
            if not chunk:
                return 1
            head += chunk
        _kind, length = HEADER.unpack(head)[2:]
        body = b""
        while len(body) < length:
            chunk = sock.recv(length - len(body))
            if not chunk:
                return 1
            body += chunk
    except OSError:
        return 1
    answer = decode(body)
    return answer.get("values", {}).get("handle", 1) if answer.get("rc") == 1 else 1


def test_a_thousand_hostile_clients_leave_the_daemon_bounded_and_serving(service, capsys):
    cluster, daemons = service
    node = 1
    path = daemons.socket(node)
    pid = daemons.procs[("ckptd", node)].pid
    with CheckpointClient(path) as client:
        handle = client.open("soak", OPEN_READ | OPEN_WRITE | OPEN_CREATE, ATTRS)
        client.section_create(handle, b"big", b"b" * 64 * 1024)
    before = rss_mib(pid)
    sampler = Sampler(pid)
    sampler.start()
    rng = random.Random(SEED)
    socks: list = []
    pending: dict = {}
    refused = connected = 0
    started = time.monotonic()
    for index in range(HOSTILE):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        try:
            sock.connect(path)
        except OSError:
            refused += 1
            sock.close()
            continue
        connected += 1
        handle = 1
        if index % 5 == 3:  # pipelined reads need a handle of their own connection
            handle = open_handle(sock)
        sock.setblocking(False)
        socks.append(sock)
        pending[sock] = memoryview(hostile_bytes(rng, index % 5, handle))
    # Push what the daemon takes for a while, as a slow or stuck client would.
    closed_by_daemon = 0
    deadline = time.monotonic() + 15
    while pending and time.monotonic() < deadline:
        for sock, data in list(pending.items()):
            try:
                sent = sock.send(data[:65536])
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.ECONNRESET):
                    closed_by_daemon += 1
                del pending[sock]
                continue
            if sent == len(data):
                del pending[sock]
            else:
                pending[sock] = data[sent:]
        time.sleep(0.05)
    during = rss_mib(pid)
    # The service goes on, on this node and on the others, while the hostile clients stay connected.
    with CheckpointClient(path) as client:
        assert client.status()["synced"]
        handle = client.open("soak", OPEN_READ | OPEN_WRITE)
        client.section_overwrite(handle, b"big", b"c" * 1000)
        assert client.section_read(handle, b"big") == b"c" * 1000
    for other in NODES[1:]:
        with CheckpointClient(daemons.socket(other)) as client:
            reader = client.open("soak", OPEN_READ)
            deadline = time.monotonic() + 10
            while client.section_read(reader, b"big") != b"c" * 1000:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    for sock in socks:
        sock.close()
    time.sleep(2)
    after = rss_mib(pid)
    sampler.running = False
    sampler.join(2)
    assert daemons.running("ckptd", node), daemons.tails("ckptd", [node])
    assert all(daemons.status(n).get("synced") for n in NODES)
    log = daemons.log("ckptd", node).read_text(errors="replace")
    with capsys.disabled():
        print(
            f"\nsoak: {HOSTILE} hostile clients ({connected} connected, {refused} refused at connect, "
            f"{closed_by_daemon} hung up on while sending) in {time.monotonic() - started:.1f}s; "
            f"ckptd RSS before {before:.1f} MiB, peak {sampler.peak:.1f} MiB, with the clients {during:.1f} MiB, "
            f"after {after:.1f} MiB (bound {RSS_BOUND_MIB} MiB); log lines: "
            f"{log.count('--max-clients')} max-clients, {log.count('--max-buffered')} max-buffered, "
            f"{log.count('--client-idle-timeout')} idle"
        )
    assert sampler.peak < RSS_BOUND_MIB
    assert "--max-clients" in log  # 1000 > 256: refusals were logged
    assert "Traceback" not in log

"""quorate-ckpt as installed on a node, against a real quorate-ckptd on a real 3-node corosync (netns).

The command is installed the way roles/ckptd does it: the node_bundle zip and the rendered
quorate-ckpt.j2 wrapper (`PYTHONPATH=<zip> python3 -m quorate_node.programs.ckpt_cli`), run inside a node's
namespace. One cluster, one set of daemons and one installed copy serve every case here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import jinja2
import pytest
from harness.node_daemons import REPO, NodeDaemons

from ansible_collections.quorate.cluster.plugins.lookup.node_bundle import bundle_bytes
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient

NODES = [1, 2, 3]
GLOBAL = "quorate:controld"
NAME = "cli:test"
GREETING = b"hello operator"
BLOB = b"\x01\x02\xff\xfe"  # not UTF-8: shown as hex
RETENTION_NS = 60 * 10**9
ATTRS = {
    "creation_flags": 0,
    "checkpoint_size": 4096,
    "retention_duration": RETENTION_NS,
    "max_sections": 8,
    "max_section_size": 256,
    "max_section_id_size": 32,
}


def local_name(node: int) -> str:
    return f"{GLOBAL}:{node:08x}"


class InstalledCli:
    """The quorate-ckpt command as the ckptd role installs it, under a private root."""

    def __init__(self, cluster, daemons: NodeDaemons):
        self.cluster, self.daemons = cluster, daemons
        # World-readable, so the command also runs as an unprivileged user (the permission case).
        self.root = Path(tempfile.mkdtemp(prefix="quorate-cli-"))
        self.root.chmod(0o755)
        lib = self.root / "lib"
        lib.mkdir(mode=0o755)
        (lib / "quorate_node.zip").write_bytes(bundle_bytes())
        template = (REPO / "roles" / "ckptd" / "templates" / "quorate-ckpt.j2").read_text()
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        script = env.from_string(template).render(ansible_managed="test copy", quorate_ckptd_lib_dir=str(lib))
        self.command = self.root / "quorate-ckpt"
        self.command.write_text(script)
        self.command.chmod(0o755)

    def run(self, node: int, *argv: str, sock: str | None = None, user: int | None = None, stdout=subprocess.PIPE):
        prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user is not None else []
        cmd = [*self.cluster.node_env_prefix(node), *prefix, str(self.command), "--socket"]
        cmd += [sock or self.daemons.socket(node), *argv]
        # A node's environment: nothing of this test's venv or PYTHONPATH.
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        return subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, timeout=30, check=False)

    def ok(self, node: int, *argv: str) -> str:
        proc = self.run(node, *argv)
        assert proc.returncode == 0 and proc.stderr == "", (argv, proc)
        return proc.stdout

    def json(self, node: int, *argv: str):
        return json.loads(self.ok(node, "--json", *argv))

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def node_cli(netns_cluster):
    daemons = NodeDaemons(netns_cluster)
    cli = InstalledCli(netns_cluster, daemons)
    writer = None
    try:
        daemons.start_synced_ckptds()
        # controld on every node, started together as the bring-up does: its checkpoints are what
        # an operator finds on a real node.
        threads = [threading.Thread(target=daemons.start_controld, args=(n,)) for n in NODES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        daemons.wait_ready(NODES)
        # A checkpoint of our own, held open for the module, so the values below are known.
        writer = CheckpointClient(daemons.socket(1), timeout=10).connect()
        handle = writer.create(NAME, ATTRS)
        writer.section_create(handle, b"greeting", GREETING)
        writer.section_create(handle, b"blob", BLOB)
        yield cli
    finally:
        if writer is not None:
            writer.close_connection()
        daemons.stop_all()
        cli.remove()


def one_error_line(proc: subprocess.CompletedProcess, code: int) -> str:
    assert proc.returncode == code, proc
    assert proc.stdout == "" and "Traceback" not in proc.stderr, proc
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("quorate-ckpt: "), proc.stderr
    return proc.stderr.rstrip("\n")


# -- every verb -----------------------------------------------------------------------------------


@pytest.mark.parametrize("node", NODES)
def test_status_on_every_node(node_cli, node):
    status = node_cli.json(node, "status")
    assert status["synced"] is True and status["connected"] is True and status["nodeid"] == node
    assert sorted(m[0] for m in status["members"]) == NODES
    assert status["checkpoints"] == len(node_cli.json(node, "list"))
    text = node_cli.ok(node, "status").splitlines()
    assert status["quorate"] is True
    assert text[:4] == ["synced:      yes", "quorate:     yes", "corosync:    connected", f"this node:   {node}"]
    members = text[4].split()
    assert members[0] == "members:" and [m.split("/")[0] for m in members[1:4]] == ["1", "2", "3"]
    assert text[6] == f"checkpoints: {status['checkpoints']}"


@pytest.mark.parametrize("node", [1, 3])  # the writer's node and another: replicated
def test_list_shows_what_was_written_and_what_controld_created(node_cli, node):
    listing = {c["name"]: c for c in node_cli.json(node, "list")}
    assert set(listing) == {NAME, GLOBAL, *(local_name(n) for n in NODES)}
    mine = listing[NAME]
    assert mine["sections"] == 2 and mine["bytes"] == len(GREETING) + len(BLOB)
    assert mine["open_handles"] == 1 and mine["retention_duration"] == RETENTION_NS and not mine["unlinked"]
    assert listing[GLOBAL]["sections"] == 2 and listing[GLOBAL]["open_handles"] == 3
    rows = {line.split()[0]: line.split() for line in node_cli.ok(node, "list").splitlines()}
    assert rows["NAME"] == ["NAME", "SECTIONS", "BYTES", "HANDLES", "RETENTION"]
    assert rows[NAME] == [NAME, "2", str(len(GREETING) + len(BLOB)), "1", "60s"]
    assert rows[GLOBAL] == [GLOBAL, "2", str(listing[GLOBAL]["bytes"]), "3", "0s"]
    assert rows[local_name(node)][1:] == ["2", str(listing[local_name(node)]["bytes"]), "1", "3s"]


def test_json_may_follow_the_verb(node_cli):
    assert json.loads(node_cli.ok(2, "list", "--json")) == node_cli.json(2, "list")


@pytest.mark.parametrize("node", [1, 2])
def test_show_gives_sections_and_data(node_cli, node):
    assert node_cli.json(node, "show", NAME) == {"greeting": "hello operator", "blob": "\x01\x02\\xff\\xfe"}
    assert node_cli.json(node, "show", GLOBAL) == {"daemon_protocol": "01 00", "ocfs2_protocol": "01 00"}
    lines = node_cli.ok(node, "show", NAME).splitlines()
    assert lines[0] == f"{NAME}: 2 sections, {len(GREETING) + len(BLOB)} bytes, retention 60s"
    assert [line.split() for line in lines[1:]] == [
        ["SECTION", "SIZE", "EXPIRES", "DATA"],
        ["blob", "4", "never", "hex", "01", "02", "ff", "fe"],
        ["greeting", "14", "never", "hello", "operator"],
    ]


def test_read_text_hex_and_json(node_cli):
    assert node_cli.ok(2, "read", NAME, "greeting") == "hello operator\n"
    assert node_cli.ok(2, "read", NAME, "blob", "--hex") == "01 02 ff fe\n"
    assert node_cli.ok(3, "read", local_name(3), "daemon_max_protocol") == "01 00\n"
    assert node_cli.json(3, "read", NAME, "blob") == {
        "name": NAME,
        "section": "blob",
        "size": 4,
        "text": "\x01\x02\\xff\\xfe",
        "hex": BLOB.hex(),
    }


# -- errors: one line on stderr, non-zero, never a traceback -----------------------------------------


def test_an_unknown_checkpoint(node_cli):
    for argv in (["show", "nope"], ["--json", "read", "nope", "greeting"]):
        line = one_error_line(node_cli.run(1, *argv), 3)
        assert line == "quorate-ckpt: no checkpoint named 'nope' (`quorate-ckpt list` shows them)"


def test_an_unknown_section(node_cli):
    line = one_error_line(node_cli.run(1, "read", NAME, "nope"), 3)
    assert line == f"quorate-ckpt: checkpoint {NAME!r} has no section 'nope' (`quorate-ckpt show {NAME}` lists them)"


@pytest.mark.parametrize(
    "argv, says",
    [
        ([], "a verb is needed"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["show"], "the following arguments are required: name"),
        (["read", NAME], "the following arguments are required: section"),
        (["list", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments(node_cli, argv, says):
    assert says in one_error_line(node_cli.run(1, *argv), 2)


def test_no_service_at_the_socket(node_cli, netns_cluster):
    missing = str(netns_cluster.node_dir(2) / "no-such.sock")
    line = one_error_line(node_cli.run(2, "list", sock=missing), 3)
    assert line == (
        f"quorate-ckpt: checkpoint service not reachable at {missing} (No such file or directory) "
        "(SA_AIS_ERR_LIBRARY); is quorate-ckptd running on this node? (systemctl status quorate-ckptd)"
    )


def test_a_stale_socket_of_a_dead_daemon(node_cli, netns_cluster):
    # What a daemon killed with -9 leaves: the socket file, nobody listening.
    stale = netns_cluster.node_dir(2) / "stale.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(stale))
    try:
        line = one_error_line(node_cli.run(2, "--json", "status", sock=str(stale)), 3)
        assert "(Connection refused) (SA_AIS_ERR_LIBRARY); is quorate-ckptd running" in line
    finally:
        stale.unlink()


def test_a_user_without_access_to_the_socket(node_cli):
    line = one_error_line(node_cli.run(1, "list", user=65534), 3)  # nobody
    assert "(Permission denied) (SA_AIS_ERR_LIBRARY); run it as root, or as a member of" in line


def test_a_reader_that_goes_away_is_not_a_traceback(node_cli):
    # `quorate-ckpt list | head -0`: the pipe is closed before the command writes.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = node_cli.run(1, "list", stdout=write_end)
    finally:
        os.close(write_end)
    assert proc.returncode != 0 and proc.stderr == "", proc.stderr

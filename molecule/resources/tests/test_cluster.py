"""Checks from inside each node after the bring-up (testinfra, over the molecule inventory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

testinfra_hosts = ["ansible://quorate_cluster"]


def hostvars(host) -> dict:
    return host.ansible.get_variables()


ROLE_DEFAULTS = Path(__file__).resolve().parents[3] / "roles" / "corosync" / "defaults" / "main.yml"


def setting(host, name: str):
    """A corosync role variable as the bring-up saw it: the inventory's value, else the role's default
    (a scenario that starts where a user starts sets none)."""
    return hostvars(host).get(name, yaml.safe_load(ROLE_DEFAULTS.read_text())[name])


def nodes(host) -> list:
    return sorted(hostvars(host)["groups"]["quorate_cluster"])


def journal_on_failure(host, unit: str) -> str:
    return host.run(f"journalctl -u {unit} --no-pager -n 40").stdout


@pytest.mark.parametrize("unit", ["corosync", "quorate-ckptd", "quorate-controld"])
def test_units_active_and_enabled(host, unit):
    service = host.service(unit)
    assert service.is_running, journal_on_failure(host, unit)
    assert service.is_enabled


def test_corosync_conf_content(host):
    conf = host.file("/etc/corosync/corosync.conf")
    assert conf.exists and conf.mode == 0o644
    text = conf.content_string
    totem = setting(host, "quorate_corosync_totem")
    assert f"token: {totem['token']}" in text
    assert "transport: knet" in text and "crypto_cipher: aes256" in text
    for name in nodes(host):
        assert f"name: {name}" in text


def test_authkey_private_and_same_everywhere(host):
    key = host.file("/etc/corosync/authkey")
    assert key.mode == 0o400 and key.user == "root" and key.size >= 128
    assert host.run("sha256sum /etc/corosync/authkey").rc == 0


def test_runtime_token_is_the_configured_one_plus_the_coefficient(host):
    totem = setting(host, "quorate_corosync_totem")
    expected = totem["token"] + max(0, len(nodes(host)) - 2) * totem.get("token_coefficient", 650)
    out = host.check_output("corosync-cmapctl -g runtime.config.totem.token")
    assert out.split("=")[-1].strip() == str(expected)


def test_all_members_and_quorate(host):
    result = host.run("corosync-quorumtool -s")
    assert result.rc == 0, result.stdout  # rc 0 = quorate
    assert f"Nodes:            {len(nodes(host))}" in result.stdout
    assert "Quorate:          Yes" in result.stdout


def test_checkpoint_service_synced_with_every_node(host):
    status = json.loads(host.check_output("quorate-ckpt --json status"))
    assert status["synced"] and len(status["members"]) == len(nodes(host))


def test_global_checkpoint_holds_the_negotiated_protocol(host):
    sections = json.loads(host.check_output("quorate-ckpt --json show quorate:controld"))
    assert sections == {"daemon_protocol": "01 00", "ocfs2_protocol": "01 00"}


def test_local_checkpoint_holds_this_nodes_max_protocol(host):
    nodeid = hostvars(host)["quorate_corosync_nodeid"]
    sections = json.loads(host.check_output(f"quorate-ckpt --json show quorate:controld:{nodeid:08x}"))
    assert sections == {"daemon_max_protocol": "01 00", "ocfs2_max_protocol": "01 00"}


def test_client_socket_is_root_only(host):
    sock = host.file("/run/quorate/ckptd.sock")
    assert sock.is_socket and sock.mode == 0o600 and sock.user == "root"


def test_run_dir_is_searchable_so_the_socket_mode_decides(host):
    # RuntimeDirectoryMode= and node_service.RUN_DIR_MODE agree: quorate_ckptd_socket_group reaches its socket.
    run_dir = host.file("/run/quorate")
    assert run_dir.is_directory and run_dir.mode == 0o755 and run_dir.user == "root"


@pytest.mark.parametrize("unit", ["quorate-ckptd", "quorate-controld"])
def test_units_run_hardened(host, unit):
    pid = host.check_output(f"systemctl show -p MainPID --value {unit}")
    status = host.file(f"/proc/{pid}/status").content_string
    assert "NoNewPrivs:\t1" in status and "Seccomp:\t2" in status, status
    bounding = "0000000000000001" if unit == "quorate-ckptd" else "0000000000000000"  # CAP_CHOWN / none
    assert f"CapBnd:\t{bounding}" in status, status


def controld_prefix(host) -> str:
    return hostvars(host).get("quorate_controld_checkpoint_prefix", "quorate:controld")


def controld_checkpoints(host) -> set:
    """The names the bring-up's controlds create: the global one and one per member node."""
    prefix = controld_prefix(host)
    status = json.loads(host.check_output("quorate-ckpt --json status"))
    assert len(status["members"]) == len(nodes(host)), status
    return {prefix} | {f"{prefix}:{nodeid:08x}" for nodeid, _pid in status["members"]}


def test_quorate_ckpt_list_shows_the_controld_checkpoints(host):
    # The command `make cluster` tells the operator to run (issue 13: it crashed).
    result = host.run("quorate-ckpt list")
    assert result.rc == 0 and result.stderr == "", result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SECTIONS", "BYTES", "HANDLES", "RETENTION"], result.stdout
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    for name in controld_checkpoints(host):
        assert name in rows and rows[name][1] == "2", result.stdout


def test_quorate_ckpt_json_list_and_read_show_the_controld_checkpoints(host):
    result = host.run("quorate-ckpt --json list")
    assert result.rc == 0 and result.stderr == "", result.stderr
    listing = {c["name"]: c for c in json.loads(result.stdout)}
    expected = controld_checkpoints(host)
    assert expected <= set(listing), sorted(listing)
    for name in expected:
        assert listing[name]["sections"] == 2 and not listing[name]["unlinked"], listing[name]
        assert listing[name]["open_handles"] >= 1, listing[name]  # held by a running controld
    result = host.run(f"quorate-ckpt --json read {controld_prefix(host)} daemon_protocol")
    assert result.rc == 0 and result.stderr == "", result.stderr
    assert json.loads(result.stdout)["text"] == "01 00"

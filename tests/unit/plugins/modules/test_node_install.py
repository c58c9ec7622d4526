from __future__ import annotations

import base64
import os
import stat

import pytest
from ansible.module_utils import basic
from unit.fake_systemctl import FakeSystemctl

from ansible_collections.quorate.cluster.plugins.modules import node_install

UNIT = "[Unit]\nDescription=example\n"


@pytest.fixture
def systemd(monkeypatch):
    """A scripted systemctl (unit.fake_systemctl): ``units`` maps a unit to its state; every call is recorded."""
    fake = FakeSystemctl(
        {"example.service": {"LoadState": "loaded", "ActiveState": "inactive", "UnitFileState": "disabled"}}
    )
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kwargs: fake(argv))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/bin/{name}")
    return {"units": fake.units, "calls": fake.calls, "fail": fake.fail}


def entry(path, **kwargs):
    return dict({"path": str(path), "mode": "0644"}, **kwargs)


def test_first_run_writes_every_file_then_a_second_run_changes_nothing(run_module, tmp_path, systemd):
    blob = bytes(range(256))
    files = [
        entry(tmp_path / "lib", state="directory", mode="0755"),
        entry(tmp_path / "lib" / "bundle.zip", content_b64=base64.b64encode(blob).decode()),
        entry(tmp_path / "tool", content="#!/bin/sh\n", mode="0755"),
    ]
    failed, result = run_module(node_install.main, {"files": files})
    assert not failed and result["changed"]
    assert result["changed_paths"] == [f["path"] for f in files]
    assert (tmp_path / "lib" / "bundle.zip").read_bytes() == blob
    assert stat.S_IMODE(os.stat(tmp_path / "tool").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "lib").st_mode) == 0o755
    failed, again = run_module(node_install.main, {"files": files})
    assert not failed and not again["changed"] and again["changed_paths"] == []
    assert not any(f["changed"] for f in again["files"])
    assert systemd["calls"] == []  # no services listed: systemd is not asked


def test_only_the_mode_differs_so_it_is_fixed_in_place(run_module, tmp_path, systemd):
    target = tmp_path / "key"
    target.write_text("k")
    target.chmod(0o644)
    inode = os.stat(target).st_ino
    failed, result = run_module(node_install.main, {"files": [entry(target, content="k", mode="0400")]})
    assert not failed and result["changed"]
    assert result["files"][0]["attributes_changed"] and not result["files"][0]["content_changed"]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o400 and os.stat(target).st_ino == inode


def test_check_mode_reports_and_touches_nothing(run_module, tmp_path, systemd):
    files = [entry(tmp_path / "d", state="directory"), entry(tmp_path / "d" / "f", content="x")]
    failed, result = run_module(node_install.main, {"files": files, "_ansible_check_mode": True})
    assert (
        not failed and result["changed"] and result["changed_paths"] == [str(tmp_path / "d"), str(tmp_path / "d" / "f")]
    )
    assert list(tmp_path.iterdir()) == []


def test_diff_shows_text_but_never_a_secret(run_module, tmp_path, systemd):
    (tmp_path / "conf").write_text("old\n")
    files = [
        entry(tmp_path / "conf", content="new\n"),
        entry(tmp_path / "authkey", content_b64=base64.b64encode(b"\x01secret").decode(), mode="0400", secret=True),
    ]
    failed, result = run_module(node_install.main, {"files": files, "_ansible_diff": True})
    assert not failed
    assert result["diff"] == [
        {
            "before_header": str(tmp_path / "conf"),
            "after_header": str(tmp_path / "conf"),
            "before": "old\n",
            "after": "new\n",
        }
    ]
    assert "sha256" not in result["files"][1] and "secret" not in repr(result)
    assert (tmp_path / "authkey").read_bytes() == b"\x01secret"
    assert stat.S_IMODE(os.stat(tmp_path / "authkey").st_mode) == 0o400


def test_content_b64_is_never_in_the_output_even_without_task_no_log(monkeypatch, capsys, tmp_path, systemd):
    # The real exit_json (not run_module's stand-in): what Ansible would print with -v and --diff.
    import json

    from ansible.module_utils.common.text.converters import to_bytes

    key = bytes(range(7, 135))  # a 128-byte authkey
    key_b64 = base64.b64encode(key).decode()
    files = [entry(tmp_path / "authkey", content_b64=key_b64, mode="0400", secret=True)]
    payload = {"ANSIBLE_MODULE_ARGS": {"files": files, "_ansible_diff": True, "_ansible_verbosity": 3}}
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps(payload)))
    if hasattr(basic, "_ANSIBLE_PROFILE"):
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    with pytest.raises(SystemExit):
        node_install.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    assert (tmp_path / "authkey").read_bytes() == key and result["changed"]
    assert key_b64 not in out and key.hex() not in out
    assert result["invocation"]["module_args"]["files"][0]["content_b64"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


@pytest.mark.parametrize(
    "spec, fragment",
    [
        pytest.param({"path": "relative/file", "mode": "0644", "content": "x"}, "path must be absolute", id="relative"),
        pytest.param(
            {"path": "/x", "mode": "rw-r--r--", "content": "x"}, "mode must be an octal string", id="mode-text"
        ),
        pytest.param({"path": "/x", "mode": "99999", "content": "x"}, "mode must be an octal string", id="mode-big"),
        pytest.param({"path": "/x", "mode": "0644"}, "give exactly one of content and content_b64", id="no-content"),
        pytest.param({"path": "/x", "mode": "0644", "content_b64": "%%%"}, "content_b64 is not valid base64", id="b64"),
        pytest.param({"path": "/x", "mode": "0644", "content": "x", "owner": "nobody-here"}, "no user", id="owner"),
        pytest.param({"path": "/x", "mode": "0644", "content": "x", "group": "no-such-group"}, "no group", id="group"),
        pytest.param(
            {"path": "/x", "mode": "0755", "state": "directory", "content": "x"}, "takes no content", id="dir"
        ),
    ],
)
def test_bad_entries_fail_naming_the_entry_before_anything_is_written(run_module, tmp_path, systemd, spec, fragment):
    good = entry(tmp_path / "first", content="written only if every entry is valid")
    failed, result = run_module(node_install.main, {"files": [good, spec], "services": ["example"]})
    assert failed and fragment in result["msg"] and "files[1]" in result["msg"]
    assert not (tmp_path / "first").exists() and systemd["calls"] == []


def test_a_missing_parent_directory_is_named(run_module, tmp_path, systemd):
    failed, result = run_module(node_install.main, {"files": [entry(tmp_path / "no" / "f", content="x")]})
    assert failed and "does not exist; list it first with state=directory" in result["msg"]


def test_services_are_enabled_and_started_in_order_once(run_module, tmp_path, systemd):
    systemd["units"]["second.service"] = {"LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled"}
    failed, result = run_module(node_install.main, {"services": ["example", "second"]})
    assert not failed and result["changed"] and result["started"] == ["example"]
    assert systemd["calls"] == [
        "show --property=LoadState,ActiveState,UnitFileState,NRestarts -- example",
        "enable -- example",
        "start -- example",
        "show --property=LoadState,ActiveState,UnitFileState,NRestarts -- second",
    ]
    failed, again = run_module(node_install.main, {"services": ["example", "second"]})
    assert not failed and not again["changed"] and again["started"] == []


@pytest.mark.parametrize("active", ["failed", "activating"])
def test_a_unit_in_a_crash_loop_is_stopped_and_reset_before_its_start(run_module, systemd, active):
    # Failed at its start limit, or an attempt in flight with programs since replaced.
    systemd["units"]["example.service"].update(ActiveState=active, UnitFileState="enabled", NRestarts="4")
    failed, result = run_module(node_install.main, {"services": ["example"]})
    assert not failed and result["started"] == ["example"]
    assert systemd["calls"][1:] == ["stop -- example", "reset-failed -- example", "start -- example"]


def test_a_unit_activating_for_the_first_time_is_only_waited_for(run_module, systemd):
    # Started at boot and waiting (for quorum, say): the start joins that job.
    systemd["units"]["example.service"].update(ActiveState="activating", UnitFileState="enabled", NRestarts="0")
    failed, result = run_module(node_install.main, {"services": ["example"]})
    assert not failed and systemd["calls"][1:] == ["start -- example"]


def test_a_changed_unit_file_reloads_systemd_before_the_start(run_module, tmp_path, systemd, monkeypatch):
    unit_dir = tmp_path / "etc" / "systemd" / "system"
    unit_dir.mkdir(parents=True)
    monkeypatch.setattr(node_install, "UNIT_DIRS", (f"{unit_dir}/",))
    files = [entry(unit_dir / "example.service", content=UNIT)]
    failed, result = run_module(node_install.main, {"files": files, "services": ["example"]})
    assert not failed and result["daemon_reloaded"]
    assert systemd["calls"].index("daemon-reload") < systemd["calls"].index("start -- example")
    systemd["calls"].clear()
    failed, again = run_module(node_install.main, {"files": files, "services": ["example"]})
    assert not failed and not again["daemon_reloaded"] and "daemon-reload" not in systemd["calls"]


def test_check_mode_with_a_unit_not_yet_installed_predicts_the_start(run_module, tmp_path, systemd, monkeypatch):
    unit_dir = tmp_path / "system"
    unit_dir.mkdir()
    monkeypatch.setattr(node_install, "UNIT_DIRS", (f"{unit_dir}/",))
    files = [entry(unit_dir / "fresh.service", content=UNIT)]
    args = {"files": files, "services": ["fresh"], "_ansible_check_mode": True}
    failed, result = run_module(node_install.main, args)
    assert not failed and result["started"] == ["fresh"] and systemd["calls"] == []


def test_a_failing_start_names_the_unit_and_what_already_changed(run_module, tmp_path, systemd):
    systemd["fail"].add("start")
    failed, result = run_module(
        node_install.main, {"files": [entry(tmp_path / "f", content="x")], "services": ["example"]}
    )
    assert failed
    assert "systemctl start -- example failed (rc=1)" in result["msg"] and "journalctl -u example" in result["msg"]
    assert str(tmp_path / "f") in result["msg"] and result["changed"]


def test_an_unknown_service_is_named(run_module, systemd):
    failed, result = run_module(node_install.main, {"services": ["nosuch"]})
    assert failed and "unit nosuch.service not found" in result["msg"]

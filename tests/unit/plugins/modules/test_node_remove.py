"""node_remove: stop and disable services top-down, then remove paths, against a scripted systemctl and
real temporary directories."""

from __future__ import annotations

import os

import pytest
from ansible.module_utils import basic
from unit.fake_systemctl import FakeSystemctl

from ansible_collections.quorate.cluster.plugins.module_utils._modules.systemd_units import unit_name
from ansible_collections.quorate.cluster.plugins.modules import node_remove

SHOW = "show --property=LoadState,ActiveState,UnitFileState -- "
TOP_DOWN = ["quorate-controld", "dlm_controld", "quorate-ckptd", "corosync"]
RUNNING = {"LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled"}


class NodeSystemctl(FakeSystemctl):
    """FakeSystemctl that also stops and disables, several units per call as systemctl does, and whose
    daemon-reload forgets the units whose file is gone (a unit still running stays, as not-found).

    Like systemctl it refuses to stop a unit that is not loaded and to disable a unit without a unit file,
    so a test sees the module skip them. A stop leaves the units in ``stuck`` running and fails."""

    def __init__(self, units: dict, unit_files: dict):
        super().__init__(units)
        self.unit_files = dict(unit_files)
        self.stuck: set = set()  # units a stop leaves running (the stop then fails)

    def __call__(self, argv: list) -> tuple:
        args = list(argv[1:])
        verb = args[0]
        if verb not in ("stop", "disable", "daemon-reload") or verb in self.fail:
            return super().__call__(argv)
        self.argvs.append(list(argv))
        self.calls.append(" ".join(args))
        names = [unit_name(arg) for arg in args[1:] if arg != "--"]
        if verb == "stop":
            for name in names:
                if name not in self.units:
                    return 5, "", f"Failed to stop {name}: Unit {name} not loaded.\n"
            for name in names:
                if name not in self.stuck:
                    self.units[name]["ActiveState"] = "inactive"
            for name in names:
                if name in self.stuck:
                    return 1, "", self.fail_text.format(unit=name)
        elif verb == "disable":
            for name in names:
                if not self.units.get(name, {}).get("UnitFileState"):
                    return 1, "", f"Failed to disable unit: Unit file {name} does not exist.\n"
            for name in names:
                self.units[name]["UnitFileState"] = "disabled"
        else:
            for name, path in self.unit_files.items():
                if name in self.units and not os.path.exists(path):
                    if self.units[name]["ActiveState"] == "inactive":
                        del self.units[name]
                    else:
                        self.units[name].update(LoadState="not-found", UnitFileState="")
        return 0, "", ""


@pytest.fixture(autouse=True)
def only_under_tmp_path(monkeypatch, tmp_path):
    """Every removal the module makes in these tests must be under tmp_path: a validation that let a
    real path through would fail the test here instead of deleting it from the machine that runs it."""
    real_rmtree, real_unlink = node_remove.shutil.rmtree, node_remove.os.unlink
    root = str(tmp_path) + os.sep

    def guarded(real):
        def remove(path, *args, **kwargs):
            # shutil.rmtree unlinks the entries of a tree it holds open by name relative to dir_fd.
            if kwargs.get("dir_fd") is None and not os.path.abspath(str(path)).startswith(root):
                raise AssertionError(f"the module tried to remove {path!r}, outside the test's directory")
            return real(path, *args, **kwargs)

        return remove

    monkeypatch.setattr(node_remove.shutil, "rmtree", guarded(real_rmtree))
    monkeypatch.setattr(node_remove.os, "unlink", guarded(real_unlink))


@pytest.fixture
def node(monkeypatch, tmp_path):
    """A node with the collection installed: unit files in a unit directory, a program directory, a config
    directory; quorate-controld, quorate-ckptd and corosync running and enabled, dlm_controld not installed."""
    unit_dir = tmp_path / "etc" / "systemd" / "system"
    unit_dir.mkdir(parents=True)
    monkeypatch.setattr(node_remove, "UNIT_DIRS", (str(unit_dir),))
    unit_files = {}
    for name in ("quorate-controld", "quorate-ckptd", "corosync"):
        path = unit_dir / f"{name}.service"
        path.write_text(f"[Unit]\nDescription={name}\n")
        unit_files[f"{name}.service"] = str(path)
    lib = tmp_path / "usr" / "lib" / "quorate"
    (lib / "programs").mkdir(parents=True)
    (lib / "programs" / "node.zip").write_bytes(b"PK\x03\x04")
    (lib / "README").write_text("x\n")
    conf = tmp_path / "etc" / "corosync"
    conf.mkdir()
    (conf / "corosync.conf").write_text("totem {}\n")
    (conf / "authkey").write_bytes(b"\x01" * 128)
    fake = NodeSystemctl({unit: dict(RUNNING) for unit in unit_files}, unit_files)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kwargs: fake(argv))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/bin/{name}")
    paths = [*unit_files.values(), str(lib), str(conf / "corosync.conf"), str(conf / "authkey")]
    return {"fake": fake, "root": tmp_path, "unit_dir": unit_dir, "lib": lib, "conf": conf, "paths": paths}


def test_services_stop_top_down_in_one_call_then_are_disabled(run_module, node):
    failed, result = run_module(node_remove.main, {"services": TOP_DOWN})
    assert not failed and result["changed"]
    running = ["quorate-controld", "quorate-ckptd", "corosync"]
    assert node["fake"].calls == [SHOW + name for name in TOP_DOWN] + [
        "stop -- " + " ".join(running),
        "disable -- " + " ".join(running),
    ]
    assert result["stopped"] == running and result["disabled"] == running
    assert result["services"][0] == {
        "name": "quorate-controld",
        "was_active": True,
        "was_enabled": True,
        "stopped": True,
        "disabled": True,
    }
    # dlm_controld is not installed on this node: skipped, no error
    assert result["services"][1] == {
        "name": "dlm_controld",
        "was_active": False,
        "was_enabled": False,
        "stopped": False,
        "disabled": False,
    }
    assert result["removed"] == [] and not result["daemon_reloaded"]
    for unit in ("quorate-controld.service", "quorate-ckptd.service", "corosync.service"):
        assert node["fake"].units[unit]["ActiveState"] == "inactive"
        assert node["fake"].units[unit]["UnitFileState"] == "disabled"


def test_a_full_clean_removes_after_the_stop_and_reloads_then_a_rerun_changes_nothing(run_module, node):
    args = {"services": TOP_DOWN, "paths": node["paths"]}
    failed, result = run_module(node_remove.main, args)
    assert not failed and result["changed"]
    assert result["removed"] == node["paths"] and result["daemon_reloaded"]
    calls = node["fake"].calls
    assert calls[-1] == "daemon-reload" and calls[-2].startswith("disable -- ")
    assert sorted(os.listdir(node["unit_dir"])) == [] and not node["lib"].exists()
    assert list(node["conf"].iterdir()) == []
    assert node["fake"].units == {}  # the reload forgot the stopped units whose files are gone

    calls.clear()
    failed, again = run_module(node_remove.main, args)
    assert not failed and not again["changed"]
    assert again["removed"] == [] and again["stopped"] == [] and again["disabled"] == []
    assert not again["daemon_reloaded"]
    assert not any(s["was_active"] or s["was_enabled"] or s["stopped"] or s["disabled"] for s in again["services"])
    assert calls == [SHOW + name for name in TOP_DOWN]


def test_check_mode_changes_nothing_and_reports_what_a_real_run_does(run_module, node):
    args = {"services": TOP_DOWN, "paths": node["paths"]}
    units_before = {unit: dict(props) for unit, props in node["fake"].units.items()}
    failed, predicted = run_module(node_remove.main, dict(args, _ansible_check_mode=True))
    assert not failed and predicted["changed"]
    assert node["fake"].calls == [SHOW + name for name in TOP_DOWN]  # read only
    assert node["fake"].units == units_before
    assert all(os.path.lexists(path) for path in node["paths"])
    assert (node["lib"] / "programs" / "node.zip").exists()

    failed, done = run_module(node_remove.main, args)
    assert not failed
    for key in ("changed", "services", "stopped", "disabled", "removed", "daemon_reloaded"):
        assert predicted[key] == done[key], key


def test_check_mode_on_a_clean_node_reports_no_change(run_module, node):
    run_module(node_remove.main, {"services": TOP_DOWN, "paths": node["paths"]})
    failed, result = run_module(
        node_remove.main, {"services": TOP_DOWN, "paths": node["paths"], "_ansible_check_mode": True}
    )
    assert not failed and not result["changed"] and result["removed"] == []


def test_diff_shows_each_removed_path_and_each_changed_service(run_module, node, tmp_path):
    link = tmp_path / "etc" / "corosync-link"
    link.symlink_to(node["conf"])
    conf = str(node["conf"] / "corosync.conf")
    args = {
        "services": ["corosync", "dlm_controld"],
        "paths": [str(node["lib"]), conf, str(link), str(tmp_path / "never-there")],
        "_ansible_diff": True,
    }
    for check in (True, False):
        failed, result = run_module(node_remove.main, dict(args, _ansible_check_mode=check))
        assert not failed
        assert result["diff"] == [
            {
                "before_header": "service corosync.service",
                "after_header": "service corosync.service",
                "before": "corosync.service: active, enabled\n",
                "after": "corosync.service: inactive, disabled\n",
            },
            {
                "before_header": str(node["lib"]),
                "after_header": str(node["lib"]),
                "before": f"{node['lib']} (directory)\n",
                "after": "absent\n",
            },
            {"before_header": conf, "after_header": conf, "before": f"{conf} (file)\n", "after": "absent\n"},
            {"before_header": str(link), "after_header": str(link), "before": f"{link} (link)\n", "after": "absent\n"},
        ]
    failed, again = run_module(node_remove.main, args)
    assert not failed and not again["changed"] and "diff" not in again


def test_a_static_unit_is_stopped_but_not_disabled(run_module, node):
    node["fake"].units["corosync.service"]["UnitFileState"] = "static"
    failed, result = run_module(node_remove.main, {"services": ["corosync"], "_ansible_diff": True})
    assert not failed and result["changed"] and result["stopped"] == ["corosync"] and result["disabled"] == []
    assert result["services"][0]["was_enabled"] is False
    assert node["fake"].calls[-1] == "stop -- corosync"
    assert result["diff"][0]["after"] == "corosync.service: inactive, static\n"


def test_an_inactive_enabled_unit_is_only_disabled(run_module, node):
    node["fake"].units["corosync.service"]["ActiveState"] = "inactive"
    failed, result = run_module(node_remove.main, {"services": ["corosync"]})
    assert not failed and result["changed"] and result["stopped"] == [] and result["disabled"] == ["corosync"]
    assert node["fake"].calls == [SHOW + "corosync", "disable -- corosync"]


def test_a_unit_whose_file_is_gone_but_still_runs_is_stopped(run_module, node):
    node["fake"].units["corosync.service"].update(LoadState="not-found", UnitFileState="")
    failed, result = run_module(node_remove.main, {"services": ["corosync"]})
    assert not failed and result["stopped"] == ["corosync"] and result["disabled"] == []
    assert node["fake"].calls == [SHOW + "corosync", "stop -- corosync"]


def test_a_directory_is_removed_with_everything_in_it_but_never_what_its_links_point_to(run_module, node, tmp_path):
    outside = tmp_path / "keep"
    outside.mkdir()
    (outside / "precious").write_text("stays\n")
    lib = node["lib"]
    (lib / "programs" / "deep" / "deeper").mkdir(parents=True)
    (lib / "programs" / "deep" / "deeper" / "f").write_text("x")
    (lib / "to-keep").symlink_to(outside)
    (lib / "to-precious").symlink_to(outside / "precious")
    failed, result = run_module(node_remove.main, {"paths": [str(lib)]})
    assert not failed and result["changed"] and result["removed"] == [str(lib)]
    assert not lib.exists() and (lib.parent).is_dir()
    assert (outside / "precious").read_text() == "stays\n"
    assert not result["daemon_reloaded"] and node["fake"].calls == []  # nothing under a unit directory


def test_a_symlink_is_removed_not_followed_even_with_a_trailing_slash(run_module, node, tmp_path):
    target = node["conf"]
    link = tmp_path / "etc" / "cluster"
    link.symlink_to(target)
    file_link = tmp_path / "etc" / "key-link"
    file_link.symlink_to(target / "authkey")
    dangling = tmp_path / "etc" / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    failed, result = run_module(node_remove.main, {"paths": [f"{link}/", str(file_link), str(dangling)]})
    assert not failed and result["removed"] == [str(link), str(file_link), str(dangling)]
    assert not os.path.lexists(link) and not os.path.lexists(file_link) and not os.path.lexists(dangling)
    assert sorted(p.name for p in target.iterdir()) == ["authkey", "corosync.conf"]


def test_a_path_below_a_removed_directory_is_not_reported_twice_in_check_mode_either(run_module, node):
    paths = [str(node["lib"]), str(node["lib"] / "README"), str(node["lib"])]
    failed, predicted = run_module(node_remove.main, {"paths": paths, "_ansible_check_mode": True})
    assert not failed and predicted["removed"] == [str(node["lib"])] and node["lib"].exists()
    failed, done = run_module(node_remove.main, {"paths": paths})
    assert not failed and done["removed"] == predicted["removed"]


def test_paths_are_normalised(run_module, node):
    lib = node["lib"]
    failed, result = run_module(node_remove.main, {"paths": [f"{lib.parent}//./quorate/"]})
    assert not failed and result["removed"] == [str(lib)] and not lib.exists()


def test_no_reload_without_a_removed_unit_file_or_when_it_is_off(run_module, node):
    unit = str(node["unit_dir"] / "corosync.service")
    failed, result = run_module(node_remove.main, {"paths": [unit], "daemon_reload": False})
    assert not failed and result["removed"] == [unit] and not result["daemon_reloaded"]
    assert node["fake"].calls == []
    failed, result = run_module(node_remove.main, {"paths": [str(node["lib"])]})
    assert not failed and not result["daemon_reloaded"] and node["fake"].calls == []


def test_removing_a_directory_that_holds_the_unit_directory_reloads(run_module, node, tmp_path):
    failed, result = run_module(node_remove.main, {"paths": [str(tmp_path / "etc" / "systemd")]})
    assert not failed and result["daemon_reloaded"] and node["fake"].calls == ["daemon-reload"]


@pytest.mark.parametrize(
    "bad, fragment",
    [
        pytest.param("etc/corosync/authkey", "is not an absolute path", id="relative"),
        pytest.param("", "is not an absolute path", id="empty"),
        pytest.param("/", "refusing to remove /", id="root"),
        pytest.param("//./", "refusing to remove /", id="root-spelled-otherwise"),
        pytest.param("/etc", "refusing to remove a top-level directory", id="etc"),
        pytest.param("/usr/", "refusing to remove a top-level directory", id="usr-slash"),
        pytest.param("//etc/.", "refusing to remove a top-level directory", id="etc-spelled-otherwise"),
        pytest.param("/opt/quorate/../../etc", "contains '..'", id="dotdot"),
        pytest.param("/opt/..", "contains '..'", id="dotdot-end"),
    ],
)
def test_a_refused_path_fails_naming_it_before_anything_is_stopped_or_removed(run_module, node, bad, fragment):
    good = node["paths"]
    failed, result = run_module(node_remove.main, {"services": TOP_DOWN, "paths": [*good, bad]})
    assert failed and not result["changed"]
    assert fragment in result["msg"] and f"paths[{len(good)}] ({bad!r})" in result["msg"]
    assert all(os.path.lexists(path) for path in good)
    assert node["fake"].calls == []


def test_a_unit_listed_twice_is_refused(run_module, node):
    failed, result = run_module(node_remove.main, {"services": ["corosync", "corosync.service"]})
    assert failed and "services[1] (corosync.service) names corosync.service again (services[0])" in result["msg"]
    assert node["fake"].calls == []


def test_a_failing_stop_names_the_command_and_the_units_and_removes_nothing(run_module, node):
    node["fake"].fail.add("stop")
    failed, result = run_module(node_remove.main, {"services": TOP_DOWN, "paths": node["paths"]})
    assert failed
    assert "systemctl stop -- quorate-controld quorate-ckptd corosync failed (rc=1)" in result["msg"]
    assert "still running: quorate-controld, quorate-ckptd, corosync" in result["msg"]
    assert "journalctl -u quorate-controld -u quorate-ckptd -u corosync" in result["msg"]
    assert "already changed: nothing" in result["msg"] and not result["changed"]
    assert all(os.path.lexists(path) for path in node["paths"])
    assert not any(call.startswith(("disable", "daemon-reload")) for call in node["fake"].calls)


def test_a_failing_stop_of_one_unit_names_only_that_unit(run_module, node):
    node["fake"].stuck.add("corosync.service")
    failed, result = run_module(node_remove.main, {"services": TOP_DOWN, "paths": node["paths"]})
    assert failed and "Job for corosync.service failed" in result["msg"]
    assert "still running: corosync;" in result["msg"] and "journalctl -u corosync" in result["msg"]
    assert "already changed: quorate-controld, quorate-ckptd" in result["msg"]
    assert result["changed"] and result["stopped"] == ["quorate-controld", "quorate-ckptd"]
    assert all(os.path.lexists(path) for path in node["paths"])


def test_a_failing_disable_names_the_command_and_removes_nothing(run_module, node):
    node["fake"].fail.add("disable")
    failed, result = run_module(node_remove.main, {"services": ["corosync"], "paths": node["paths"]})
    assert failed and "systemctl disable -- corosync failed (rc=1)" in result["msg"]
    assert "already changed: corosync" in result["msg"] and result["stopped"] == ["corosync"]
    assert all(os.path.lexists(path) for path in node["paths"])


def test_a_failing_show_names_the_unit(run_module, node):
    node["fake"].fail.add("show")
    failed, result = run_module(node_remove.main, {"services": ["corosync"]})
    assert failed and "systemctl show" in result["msg"] and "systemctl status corosync" in result["msg"]
    assert not result["changed"]


def test_nothing_listed_changes_nothing(run_module, node):
    failed, result = run_module(node_remove.main, {})
    assert not failed and not result["changed"] and node["fake"].calls == []
    assert result["services"] == [] and result["removed"] == [] and not result["daemon_reloaded"]


def test_a_path_that_cannot_be_removed_is_named_with_what_was_already_done(run_module, node, monkeypatch):
    unit = str(node["unit_dir"] / "corosync.service")
    authkey = str(node["conf"] / "authkey")
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if str(path) == authkey:
            raise PermissionError(13, "Permission denied", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(node_remove.os, "unlink", unlink)
    failed, result = run_module(node_remove.main, {"paths": [unit, authkey, str(node["lib"])]})
    assert failed and f"cannot remove {authkey} (file): Permission denied" in result["msg"]
    assert f"already changed: {unit}" in result["msg"] and result["changed"] and result["removed"] == [unit]
    # the unit file that did go is forgotten by systemd all the same, and nothing after the failure is touched
    assert result["daemon_reloaded"] and node["fake"].calls == ["daemon-reload"] and node["lib"].exists()

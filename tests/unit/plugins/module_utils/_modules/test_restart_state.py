"""The "changed only" rule of the rolling restart: what makes a running service stale."""

from __future__ import annotations

import os

import pytest
from unit.fake_systemctl import FakeSystemctl

from ansible_collections.quorate.cluster.plugins.module_utils._modules.restart_state import (
    ServiceInspector,
    ServiceState,
    deleted_program_files,
    file_mtime,
    file_text,
    judge,
    restart_plan,
    start_walltime,
)
from ansible_collections.quorate.cluster.plugins.module_utils._modules.systemd_units import parse_show

STARTED = 1_000.0


def running(name: str = "quorate-ckptd") -> ServiceState:
    return ServiceState(name=name, running=True, pid=42, started=STARTED)


def judged(mtimes: dict, marker_text: str = "", replaced: list | None = None, paths=("/p/a", "/p/b")):
    return judge(running(), list(paths), "/m/quorate-ckptd", mtimes.get, lambda _p: marker_text, replaced or [])


def test_nothing_changed_since_start_is_current():
    state = judged({"/p/a": STARTED - 60, "/p/b": STARTED - 1})
    assert state.stale is False and state.reasons == []


def test_a_file_rewritten_after_start_makes_it_stale_and_says_which():
    state = judged({"/p/a": STARTED - 60, "/p/b": STARTED + 30})
    assert state.stale is True
    assert state.reasons == ["/p/b changed after the service started"]


def test_a_file_written_just_before_the_start_stamp_is_not_a_change():
    # The playbooks write, then start: stamps of different granularity must not flag that.
    assert judged({"/p/a": STARTED + 0.01}).stale is False


def test_missing_files_are_ignored():
    assert judged({}).stale is False


def test_a_marker_newer_than_the_start_is_pending_with_its_reason():
    state = judged({"/m/quorate-ckptd": STARTED + 5}, marker_text="corosync.conf transport changed\n")
    assert state.stale is True
    assert state.reasons == ["pending: corosync.conf transport changed"]


def test_a_marker_older_than_the_start_is_spent():
    # Whatever restarted the service (this playbook, a reboot, an operator) applied the change.
    assert judged({"/m/quorate-ckptd": STARTED - 5}, marker_text="x").stale is False


def test_an_empty_marker_still_counts():
    assert judged({"/m/quorate-ckptd": STARTED + 5}).reasons == ["pending: a change is waiting for a restart"]


def test_replaced_programs_make_it_stale():
    state = judged({}, replaced=["/usr/sbin/corosync"])
    assert state.reasons == ["/usr/sbin/corosync was replaced (upgraded) after the service started"]


def test_a_stopped_service_is_not_judged():
    state = judge(ServiceState(name="corosync"), ["/p/a"], "/m/x", {"/p/a": 9e9}.get, lambda _p: "", [])
    assert state.stale is False and state.running is False


MAPS = """\
55d0c0a00000-55d0c0a2b000 r--p 00000000 00:2e 1234   /usr/sbin/corosync (deleted)
7f0000000000-7f0000100000 rw-s 00000000 00:1a 99     /dev/shm/qb-1234-5678-cmap-data (deleted)
7f0000200000-7f0000300000 r-xp 00000000 00:2e 77     /usr/lib/x86_64-linux-gnu/libqb.so.100.4.0 (deleted)
7f0000400000-7f0000500000 r-xp 00000000 00:2e 78     /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000600000-7f0000700000 rw-p 00000000 00:00 0
7f0000800000-7f0000900000 rw-s 00000000 00:01 5      /memfd:pool (deleted)
"""


def test_deleted_program_files_are_found_shared_memory_is_not():
    found = deleted_program_files(MAPS, "/usr/sbin/corosync (deleted)")
    assert found == ["/usr/sbin/corosync", "/usr/lib/x86_64-linux-gnu/libqb.so.100.4.0"]


def test_a_current_process_has_no_replaced_files():
    assert deleted_program_files("7f00-7f01 r-xp 0 00:2e 78 /usr/lib/libc.so.6\n", "/usr/bin/python3.11") == []


STACK = ["corosync", "quorate-ckptd", "quorate-controld"]


def states(**stale: bool) -> dict:
    result = {}
    for name in STACK:
        state = running(name)
        state.stale = stale.get(name.replace("-", "_"), False)
        result[name] = state
    return result


@pytest.mark.parametrize(
    "stale, plan",
    [
        pytest.param({}, [], id="nothing-changed"),
        pytest.param({"quorate_controld": True}, ["quorate-controld"], id="top-only"),
        pytest.param({"quorate_ckptd": True}, ["quorate-ckptd", "quorate-controld"], id="middle-takes-the-top"),
        pytest.param({"corosync": True, "quorate_controld": True}, STACK, id="bottom-takes-all"),
    ],
)
def test_the_plan_starts_at_the_lowest_stale_layer(stale, plan):
    assert restart_plan(STACK, states(**stale)) == plan


def test_a_stopped_layer_is_started_with_everything_above_it():
    current = states()
    current["quorate-ckptd"] = ServiceState(name="quorate-ckptd")
    assert restart_plan(STACK, current) == ["quorate-ckptd", "quorate-controld"]


def test_force_restarts_the_whole_stack():
    assert restart_plan(STACK, states(), force=True) == STACK


def test_systemctl_show_and_the_monotonic_start_stamp():
    values = parse_show("ActiveState=active\nMainPID=812\nExecMainStartTimestampMonotonic=5000000\n")
    assert values == {"ActiveState": "active", "MainPID": "812", "ExecMainStartTimestampMonotonic": "5000000"}
    # Started at monotonic 5 s; now it is monotonic 65 s and wall 2000 s: it started at wall 1940 s.
    assert start_walltime(5_000_000, now_wall=2000.0, now_monotonic=65.0) == pytest.approx(1940.0)


def fake_systemctl(unit: str, props: dict, rc: int = 0):
    fake = FakeSystemctl({unit: props})
    if rc:
        fake.fail.add("show")
        fake.fail_text = "boom"
    return fake, fake.argvs


def test_inspector_reads_a_running_unit():
    run, calls = fake_systemctl(
        "corosync.service",
        {
            "ActiveState": "active",
            "MainPID": "812",
            "ExecMainStartTimestampMonotonic": "5000000",
            "FragmentPath": "/etc/systemd/system/corosync.service",
            "DropInPaths": "/etc/systemd/system/corosync.service.d/a.conf",
            "Description": "Corosync Cluster Engine",
        },
    )
    state = ServiceInspector(run, clock=lambda: 2000.0, monotonic=lambda: 65.0).state("corosync")
    assert (state.running, state.pid, state.started) == (True, 812, pytest.approx(1940.0))
    assert state.unit_files == ["/etc/systemd/system/corosync.service", "/etc/systemd/system/corosync.service.d/a.conf"]
    assert calls[0][-1] == "corosync"


def test_inspector_reads_a_stopped_unit():
    run, _calls = fake_systemctl(
        "quorate-ckptd.service", {"ActiveState": "inactive", "MainPID": "0", "ExecMainStartTimestampMonotonic": "0"}
    )
    state = ServiceInspector(run).state("quorate-ckptd")
    assert (state.running, state.pid, state.started) == (False, 0, None)


def test_inspector_counts_a_reloading_unit_as_running():
    run, _calls = fake_systemctl(
        "corosync.service", {"ActiveState": "reloading", "MainPID": "7", "ExecMainStartTimestampMonotonic": "1"}
    )
    assert ServiceInspector(run).state("corosync").running


def test_inspector_fails_clearly_when_systemctl_fails():
    run, _calls = fake_systemctl("corosync.service", {}, rc=1)
    with pytest.raises(RuntimeError, match="systemctl show corosync failed"):
        ServiceInspector(run).state("corosync")


def test_inspector_reads_proc_of_a_live_process(tmp_path):
    proc = tmp_path / "proc" / "42"
    proc.mkdir(parents=True)
    (proc / "maps").write_text(MAPS)
    os.symlink("/usr/sbin/corosync (deleted)", proc / "exe")
    inspector = ServiceInspector(lambda argv: (0, "", ""), proc=str(tmp_path / "proc"))
    assert inspector.replaced_programs(42)[0] == "/usr/sbin/corosync"
    assert inspector.replaced_programs(43) == []  # gone meanwhile


def test_file_helpers(tmp_path):
    path = tmp_path / "marker"
    assert file_mtime(str(path)) is None and file_text(str(path)) is None
    path.write_text("why")
    assert file_mtime(str(path)) == os.stat(path).st_mtime
    assert file_text(str(path)) == "why"

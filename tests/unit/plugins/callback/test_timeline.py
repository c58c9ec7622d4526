from __future__ import annotations

import json
import time

import pytest

from ansible_collections.quorate.cluster.plugins.callback import timeline

PNG = b"\x89PNG\r\n\x1a\n"


class _Named:
    def __init__(self, name):
        self.name = name

    def get_name(self, include_role_fqcn=True):
        return self.name


class _Task:
    def __init__(self, name, action, role):
        self._uuid, self.action, self._role, self.name = name, action, _Named(role), name

    def get_name(self):
        return self.name


class _Result:
    def __init__(self, host, task, payload):
        self._host, self._task, self._result = _Named(host), task, payload


def recorded_run(tmp_path, background):
    callback = timeline.CallbackModule()
    # Options as the plugin loader would resolve them (the loader needs a configured collection path).
    callback._plugin_options = {"output_dir": str(tmp_path), "plot_in_background": background}
    for host in ("n1", "n2"):
        for name, action, role in (("conf", "corosync_conf", "corosync"), ("wait", "ckpt_wait", "controld")):
            task = _Task(name, f"quorate.cluster.{action}", role)
            callback.v2_runner_on_start(_Named(host), task)
            callback.v2_runner_on_ok(_Result(host, task, {"changed": False, "attempts": 3, "case": "none"}))
    callback.v2_playbook_on_stats(None)
    return callback


def wait_for(path, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.exists()


@pytest.mark.parametrize("background", [True, False], ids=["background", "inline"])
def test_the_run_writes_its_phases_and_barriers_and_a_complete_plot(tmp_path, background):
    pytest.importorskip("matplotlib")  # the PNG: skip cleanly on a controller without it
    recorded_run(tmp_path, background)
    data = json.loads((tmp_path / "timeline.json").read_text())
    assert [(p["host"], p["phase"]) for p in data["phases"]] == [
        ("n1", "corosync"),
        ("n1", "controld"),
        ("n2", "corosync"),
        ("n2", "controld"),
    ]
    barriers = [e["barrier"] for e in data["events"] if "barrier" in e]
    assert barriers == [{"attempts": 3, "case": "none"}] * 2
    png = tmp_path / "timeline.png"
    if not background:
        assert png.exists()  # drawn before the run ended
    assert wait_for(png), "the plot never appeared"
    assert png.read_bytes()[:8] == PNG
    assert not (tmp_path / "timeline.png.partial").exists()


def test_a_barrier_on_several_checkpoints_records_each_and_marks_when_each_passed(tmp_path):
    callback = timeline.CallbackModule()
    callback._plugin_options = {"output_dir": str(tmp_path), "plot_in_background": False}
    task = _Task("barrier", "quorate.cluster.ckpt_wait", "controld")
    payload = {
        "changed": False,
        "attempts": 4,
        "elapsed": 0.3,
        "case": "not_exist_read",
        "checkpoints": [
            {"name": "quorate:controld:00000001", "status": "ok", "attempts": 1, "elapsed": 0.1, "case": "none"},
            {"name": "quorate:controld", "status": "ok", "attempts": 3, "elapsed": 0.2, "case": "not_exist_read"},
        ],
    }
    callback.v2_runner_on_start(_Named("n1"), task)
    callback.v2_runner_on_ok(_Result("n1", task, payload))
    failed = dict(payload, checkpoints=payload["checkpoints"][:1], attempts=1, elapsed=0.1, case="none")
    callback.v2_runner_on_start(_Named("n2"), task)
    callback.v2_runner_on_failed(_Result("n2", task, failed))
    callback.v2_playbook_on_stats(None)
    data = json.loads((tmp_path / "timeline.json").read_text())
    first, second = (e for e in data["events"] if e["action"] == "ckpt_wait")
    assert first["barrier"] == {
        "attempts": 4,
        "elapsed": 0.3,
        "case": "not_exist_read",
        "checkpoints": [
            {"name": "quorate:controld:00000001", "attempts": 1, "elapsed": 0.1, "case": "none", "status": "ok"},
            {"name": "quorate:controld", "attempts": 3, "elapsed": 0.2, "case": "not_exist_read", "status": "ok"},
        ],
    }
    assert second["status"] == "failed" and len(second["barrier"]["checkpoints"]) == 1
    pytest.importorskip("matplotlib")  # the PNG: skip cleanly on a controller without it
    assert (tmp_path / "timeline.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    "barrier, marks",
    [
        pytest.param({"attempts": 1}, [10.0], id="one-checkpoint"),
        pytest.param(
            {"checkpoints": [{"elapsed": 0.5}, {"elapsed": 0.25}, {"elapsed": 0.25}]}, [9.5, 9.75, 10.0], id="three"
        ),
        pytest.param({"checkpoints": [{"elapsed": 5.0}, {"elapsed": 5.0}]}, [9.0, 10.0], id="not-before-the-start"),
        pytest.param({"checkpoints": [{"elapsed": None}, {"elapsed": 0.1}]}, [10.0], id="no-elapsed"),
        pytest.param(
            {"checkpoints": [{"elapsed": 0.5, "status": "ok"}, {"elapsed": 0.5, "status": "failed", "error": None}]},
            [9.5],
            id="the-failed-one-unmarked",
        ),
    ],
)
def test_barrier_marks_fall_where_each_checkpoint_passed(barrier, marks):
    assert timeline.barrier_marks({"start": 9.0, "end": 10.0, "barrier": barrier}) == marks


def test_a_failed_barrier_gets_no_mark():
    event = {"start": 9.0, "end": 10.0, "status": "failed", "barrier": {"attempts": 117, "case": "try_again"}}
    assert timeline.barrier_marks(event) == []


class _Block:
    """A task's parent block as a role compiles it: the chain of roles it runs under, outermost first."""

    def __init__(self, chain):
        self.chain = chain

    def get_dep_chain(self):
        return self.chain


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _role_task(name, action, *chain):
    """A task of the last role in ``chain``, run under the first (``chain`` empty: a task of the play)."""
    task = _Task(name, f"quorate.cluster.{action}", chain[-1] if chain else None)
    if not chain:
        task._role = None
    task._parent = _Block([_Named(role) for role in chain])
    return task


def _linear_run(tmp_path, monkeypatch, tasks, gap=0.05):
    """Drive the callback as the linear strategy does, on a fake clock: each task starts on every host,
    each host's result comes ``seconds[host]`` later (None: skipped), the next task starts ``gap``
    after the last result. Returns timeline.json and the clock's reading at the end."""
    clock = _Clock()
    monkeypatch.setattr(timeline.time, "time", clock)
    callback = timeline.CallbackModule()
    callback._plugin_options = {"output_dir": str(tmp_path), "plot_in_background": False}
    clock.now += 0.3  # the play's start before its first task: outside any phase
    for task, seconds in tasks:
        callback.v2_playbook_on_task_start(task, False)
        begin = clock.now
        for host in sorted(seconds):
            callback.v2_runner_on_start(_Named(host), task)
        for host, took in sorted(seconds.items(), key=lambda item: abs(item[1] or 0.0)):
            clock.now = begin + abs(took or 0.01)
            if took is None:
                callback.v2_runner_on_skipped(_Result(host, task, {"skipped": True}))
            else:
                callback.v2_runner_on_ok(_Result(host, task, {"changed": True, "attempts": 1, "case": "none"}))
        clock.now += gap
    clock.now += 0.2  # the recap
    callback.v2_playbook_on_stats(None)
    return json.loads((tmp_path / "timeline.json").read_text()), clock.now - 1000.0


# The bring-up as bringup.yml runs it: the preflight role imports the controld checks, so they run
# (0.1 s) before corosync starts; n2's corosync barrier takes longer than n1's.
BRINGUP = [
    (_role_task("Gathering Facts", "gather_facts"), {"n1": 0.4, "n2": 0.4}),
    (_role_task("Check the variables", "validate_argument_spec", "preflight"), {"n1": 0.2, "n2": 0.2}),
    (_role_task("Preflight | Check the controld settings", "assert", "preflight", "controld"), {"n1": 0.1, "n2": 0.1}),
    (_role_task("Write corosync.conf", "corosync_conf", "corosync"), {"n1": 1.0, "n2": 1.0}),
    (_role_task("Corosync barrier", "corosync_wait", "corosync"), {"n1": 2.0, "n2": 3.0}),
    (_role_task("Install the checkpoint service", "node_install", "ckptd"), {"n1": 1.0, "n2": 1.0}),
    (_role_task("Validate the settings", "include_tasks", "controld"), {"n1": None, "n2": None}),
    (_role_task("Start the controld daemons", "node_install", "controld"), {"n1": 0.5, "n2": 0.5}),
    (_role_task("Checkpoint barriers", "ckpt_wait", "controld"), {"n1": 1.0, "n2": 0.8}),
]

BRINGUP_CONTROLD_START = 0.3 + 0.4 + 0.2 + 0.1 + 1.0 + 3.0 + 1.0 + 6 * 0.05


def _intervals(data, host, phase):
    return [(r["start"], r["end"]) for r in data["phases"] if r["host"] == host and r["phase"] == phase]


def test_an_early_task_of_a_later_role_does_not_stretch_that_roles_phase(tmp_path, monkeypatch):
    data, _total = _linear_run(tmp_path, monkeypatch, BRINGUP)
    for host in ("n1", "n2"):
        rows = [r for r in data["phases"] if r["host"] == host]
        assert [r["phase"] for r in rows] == ["play", "preflight", "corosync", "ckptd", "controld"]
        (controld,) = _intervals(data, host, "controld")
        (ckptd,) = _intervals(data, host, "ckptd")
        (corosync,) = _intervals(data, host, "corosync")
        # controld starts after the checkpoint service, which starts after corosync: not at 0.7 s.
        assert corosync[1] <= ckptd[0] and ckptd[1] <= controld[0]
        (preflight,) = _intervals(data, host, "preflight")
        assert preflight == pytest.approx((0.75, 1.1), abs=0.002)  # its own check and the imported one
        for before, after in zip(rows, rows[1:]):
            assert before["end"] <= after["start"], "two phases of one host overlap"
    # The controld bar begins where controld's first task (skipped here) began, after everything before it.
    assert _intervals(data, "n1", "controld")[0][0] == pytest.approx(BRINGUP_CONTROLD_START, abs=0.002)
    imported = next(e for e in data["events"] if e["action"] == "assert")
    assert imported["phase"] == "preflight"


def test_the_phases_and_the_outside_add_up_to_the_recorded_time(tmp_path, monkeypatch):
    # A role can run more than once (as the rolling restart includes the corosync barrier).
    again = (_role_task("Corosync barrier", "corosync_wait", "corosync"), {"n1": 0.5, "n2": 0.6})
    data, total = _linear_run(tmp_path, monkeypatch, [*BRINGUP, again])
    play = data["play"]
    assert data["total_seconds"] == pytest.approx(total, abs=0.002)
    assert sum(play["phase_seconds"].values()) + play["outside_seconds"] == pytest.approx(data["total_seconds"])
    assert list(play["phase_seconds"]) == ["preflight", "corosync", "ckptd", "controld"]
    # Each phase: its tasks (the slowest host) and the gaps between them, not the gaps around it.
    expected = {"preflight": 0.35, "corosync": 1.0 + 0.05 + 3.0 + 0.6, "ckptd": 1.0, "controld": 0.01 + 0.5 + 1.0 + 0.1}
    assert play["phase_seconds"] == pytest.approx(expected, abs=0.005)
    # Outside: the start, the gathering, the gaps between phases and the recap.
    assert play["play_tasks_seconds"] == pytest.approx(0.4, abs=0.002)
    assert play["outside_seconds"] == pytest.approx(0.3 + 0.4 + 5 * 0.05 + 0.05 + 0.2, abs=0.005)
    assert len(_intervals(data, "n2", "corosync")) == 2
    assert [r["phase"] for r in play["phases"]][-2:] == ["controld", "corosync"]


def test_intervals_merge_a_run_of_one_phase_and_never_overlap():
    spans = [
        {"phase": "a", "start": 0.0, "end": 1.0},
        {"phase": "a", "start": 1.5, "end": 2.0},  # a wait inside phase a is a's time
        {"phase": "b", "start": 1.8, "end": 3.0},  # began before a ended: starts where a ended
        {"phase": "c", "start": 2.0, "end": 2.5},  # wholly inside b: nothing left of it
        {"phase": "a", "start": 4.0, "end": 5.0},  # a second interval of a
    ]
    assert [(r["phase"], r["start"], r["end"], r["seconds"]) for r in timeline.intervals(spans)] == [
        ("a", 0.0, 2.0, 2.0),
        ("b", 2.0, 3.0, 1.0),
        ("a", 4.0, 5.0, 1.0),
    ]


class _Play:
    def __init__(self, hosts):
        self.hosts = hosts


def test_a_play_on_the_controller_alone_is_not_drawn_and_its_time_is_outside(tmp_path):
    # The playbooks' first play checks the inventory on localhost: not a node, not a phase.
    callback = timeline.CallbackModule()
    callback._plugin_options = {"output_dir": str(tmp_path), "plot_in_background": False}
    for hosts, host, role in ((["localhost"], "localhost", None), (["{{ quorate_hosts }}"], "n1", "corosync")):
        callback.v2_playbook_on_play_start(_Play(hosts))
        task = _Task(f"task on {host}", "ansible.builtin.assert", role)
        callback.v2_playbook_on_task_start(task, False)
        callback.v2_runner_on_start(_Named(host), task)
        callback.v2_runner_on_ok(_Result(host, task, {"changed": False}))
    callback.v2_playbook_on_stats(None)
    data = json.loads((tmp_path / "timeline.json").read_text())
    assert {p["host"] for p in data["phases"]} == {"n1"}
    assert {e["host"] for e in data["events"]} == {"n1"}
    assert set(data["play"]["phase_seconds"]) == {"corosync"}

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

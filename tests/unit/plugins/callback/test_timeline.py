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

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: timeline
type: aggregate
short_description: Record when each bring-up phase started and ended on each node
version_added: 0.1.0
description:
  - Records, per host, the start and end of every task, grouped into phases by role
    (corosync, ckptd, controld) and marks the barriers (corosync_wait, ckptd_wait, ckpt_wait) with
    their attempts and case; a ckpt_wait on several checkpoints (its C(checkpoints) option) also with
    each checkpoint's name, attempts, elapsed time and case, and the plot marks when each passed.
  - At the end of the run writes C(timeline.json) and, when matplotlib is available on the
    controller, a Gantt-style C(timeline.png) into the output directory, and prints where they are.
  - The PNG is drawn by a separate process started as the run ends (matplotlib alone takes about a
    second to load), so the plot never delays the playbook; it appears, complete, moments later.
    Set O(plot_in_background=false) to draw it before the run ends.
author:
  - quorate.cluster developers (@quorate)
requirements:
  - matplotlib on the controller for the PNG (optional)
options:
  output_dir:
    description: Directory for timeline.json and timeline.png.
    type: path
    default: ./quorate-timeline
    env:
      - name: QUORATE_TIMELINE_DIR
    ini:
      - section: quorate_timeline
        key: output_dir
  plot_in_background:
    description: Draw timeline.png in a separate process after the run instead of before it ends.
    type: bool
    default: true
    version_added: 0.2.0
    env:
      - name: QUORATE_TIMELINE_PLOT_IN_BACKGROUND
    ini:
      - section: quorate_timeline
        key: plot_in_background
"""

import importlib.util
import json
import os
import subprocess
import sys
import time

from ansible.plugins.callback import CallbackBase

BARRIERS = ("corosync_wait", "ckptd_wait", "ckpt_wait")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "quorate.cluster.timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.started = time.time()
        self.task_start: dict = {}
        self.events: list = []

    def _phase(self, task) -> str:
        role = getattr(task, "_role", None)
        return role.get_name(include_role_fqcn=False) if role else "play"

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self.task_start[task._uuid] = time.time()

    def v2_runner_on_start(self, host, task) -> None:
        self.task_start[(task._uuid, host.get_name())] = time.time()

    def _record(self, result, status: str) -> None:
        task = result._task
        host = result._host.get_name()
        now = time.time()
        begin = self.task_start.get((task._uuid, host), self.task_start.get(task._uuid, now))
        action = task.action.rsplit(".", 1)[-1]
        event = {
            "host": host,
            "phase": self._phase(task),
            "task": task.get_name(),
            "action": action,
            "start": round(begin - self.started, 3),
            "end": round(now - self.started, 3),
            "status": status,
        }
        if action in BARRIERS:
            payload = result._result
            event["barrier"] = _barrier(payload)
            if isinstance(payload.get("checkpoints"), list):
                # ckpt_wait on several checkpoints in one call: each one's wait, in order.
                event["barrier"]["checkpoints"] = [
                    {"name": entry.get("name"), **_barrier(entry)} for entry in payload["checkpoints"]
                ]
        self.events.append(event)

    def v2_runner_on_ok(self, result) -> None:
        self._record(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result) -> None:
        return None

    def v2_playbook_on_stats(self, stats) -> None:
        out_dir = self.get_option("output_dir")
        os.makedirs(out_dir, exist_ok=True)
        phases: dict = {}
        for event in self.events:
            key = (event["host"], event["phase"])
            span = phases.setdefault(key, [event["start"], event["end"]])
            span[0], span[1] = min(span[0], event["start"]), max(span[1], event["end"])
        summary = [
            {"host": host, "phase": phase, "start": span[0], "end": span[1], "seconds": round(span[1] - span[0], 3)}
            for (host, phase), span in sorted(phases.items(), key=lambda item: (item[0][0], item[1][0]))
        ]
        data = {"total_seconds": round(time.time() - self.started, 3), "phases": summary, "events": self.events}
        json_path = os.path.join(out_dir, "timeline.json")
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        png_path = os.path.join(out_dir, "timeline.png")
        if importlib.util.find_spec("matplotlib") is None:
            self._display.display(f"quorate timeline: {json_path} (no matplotlib on the controller: no plot)")
        elif self.get_option("plot_in_background"):
            # This file is also the plotting script (see the end): the run does not wait for it.
            subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, os.path.abspath(__file__), json_path, png_path],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self._display.display(f"quorate timeline: {json_path} and {png_path} (drawn in the background)")
        else:
            plot(data, png_path)
            self._display.display(f"quorate timeline: {json_path} and {png_path}")


def _barrier(payload: dict) -> dict:
    return {key: payload[key] for key in ("attempts", "elapsed", "case", "status", "error") if key in payload}


def barrier_marks(event: dict) -> list:
    """When the barrier of ``event`` passed: its end, or, for several checkpoints waited for in one
    call, when each of them passed (the task's end minus the waits that came after it). A wait that
    failed passed nothing: no mark."""
    checkpoints = event["barrier"].get("checkpoints") or []
    if not checkpoints or any(not isinstance(c.get("elapsed"), (int, float)) for c in checkpoints):
        return [] if event.get("status") == "failed" else [event["end"]]
    marks, later = [], 0.0
    for checkpoint in reversed(checkpoints):
        if checkpoint.get("status") != "failed":
            marks.append(round(max(event["start"], event["end"] - later), 3))
        later += checkpoint["elapsed"]
    return marks[::-1]


def plot(data: dict, path: str) -> str:
    """Draw the Gantt chart of ``data`` (the timeline.json content) into ``path``, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = data["phases"]
    hosts = sorted({row["host"] for row in summary})
    colors = {"corosync": "#4c72b0", "ckptd": "#55a868", "controld": "#c44e52"}
    fig, axis = plt.subplots(figsize=(10, 1 + 0.6 * len(hosts)))
    for index, host in enumerate(hosts):
        for row in (r for r in summary if r["host"] == host):
            axis.barh(index, row["end"] - row["start"], left=row["start"], color=colors.get(row["phase"], "#999999"))
    for event in data["events"]:
        if "barrier" in event and event["host"] in hosts:
            marks = barrier_marks(event)
            axis.plot(marks, [hosts.index(event["host"])] * len(marks), "|", color="black", markersize=14)
    axis.set_yticks(range(len(hosts)), hosts)
    axis.set_xlabel("seconds since the play started")
    axis.set_title("bring-up phases per node (| = barrier passed)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=color) for color in colors.values()]
    axis.legend(handles, list(colors), loc="lower right")
    fig.tight_layout()
    # A reader never sees half a PNG: drawn next to it, then renamed into place.
    partial = f"{path}.partial"
    fig.savefig(partial, dpi=100, format="png")
    plt.close(fig)
    os.replace(partial, path)
    return path


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as source:
        plot(json.load(source), sys.argv[2])

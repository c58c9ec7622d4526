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
    (preflight, corosync, ckptd, controld) and marks the barriers (corosync_wait, ckpt_service_wait, ckpt_wait) with
    their attempts and case; a ckpt_wait on several checkpoints (its C(checkpoints) option) also with
    each checkpoint's name, attempts, elapsed time and case, and the plot marks when each passed.
  - A task belongs to the role the play was running when it ran (the outermost one), so the checks the
    preflight role imports from the other roles are preflight time. A phase is the intervals its tasks
    ran in, one per run of consecutive tasks of that role, so a phase can have several and the phases
    of one host never overlap. Tasks of the play itself (no role) are the phase C(play).
  - C(phases) in C(timeline.json) lists those intervals per host (host, phase, start, end, seconds);
    C(play) the same for the play as a whole (from a task's start to its last host's result, with
    consecutive tasks of one role merged), with C(phase_seconds) per role and C(outside_seconds), the
    rest of C(total_seconds) (the play's own tasks such as fact gathering, and the controller between
    phases), so the role phases plus the outside add up to the recorded time.
  - A play that runs on the controller alone (its hosts are C(localhost) only, such as the playbooks'
    check that the inventory has the cluster's hosts) is not a node's work. Its tasks are not recorded,
    and its time is outside any phase.
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
import io
import json
import os
import subprocess
import sys
import time

from ansible.plugins.callback import CallbackBase

try:
    from ansible_collections.quorate.cluster.plugins.module_utils.shared.files import write_atomic
except ImportError:  # run as the plotting script (see the end): no collection loader, find the collection here
    sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), *[os.pardir] * 5)))
    from ansible_collections.quorate.cluster.plugins.module_utils.shared.files import write_atomic

BARRIERS = ("corosync_wait", "ckpt_service_wait", "ckptd_wait", "ckpt_wait")


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
        # What the phases are computed from, skipped tasks included (a skip takes time too); the
        # events keep their meaning (tasks that ran: ok, changed, failed) for their readers.
        self.spans: list = []  # per host: {host, phase, start, end}
        self.steps: list = []  # per task of the play: {phase, start, end}
        self.open_steps: dict = {}
        self.recording = True

    def v2_playbook_on_play_start(self, play) -> None:
        hosts = play.hosts
        self.recording = (hosts if isinstance(hosts, list) else [hosts]) != ["localhost"]

    def _open_step(self, task) -> None:
        now = time.time()
        self.task_start[task._uuid] = now
        step = {"phase": task_phase(task), "start": now - self.started, "end": now - self.started}
        self.steps.append(step)
        self.open_steps[task._uuid] = step

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        if self.recording:
            self._open_step(task)

    def v2_playbook_on_handler_task_start(self, task) -> None:
        # A handler is its role's work: it counts for that role, where (when) it ran.
        if self.recording:
            self._open_step(task)

    def v2_runner_on_start(self, host, task) -> None:
        if self.recording:
            self.task_start[(task._uuid, host.get_name())] = time.time()

    def _span(self, result) -> dict | None:
        if not self.recording:
            return None
        task = result._task
        host = result._host.get_name()
        now = time.time()
        begin = self.task_start.get((task._uuid, host), self.task_start.get(task._uuid, now))
        span = {"host": host, "phase": task_phase(task), "start": begin - self.started, "end": now - self.started}
        self.spans.append(span)
        step = self.open_steps.get(task._uuid)
        if step is not None:
            step["end"] = max(step["end"], span["end"])
        return span

    def _record(self, result, status: str) -> None:
        task = result._task
        span = self._span(result)
        if span is None:
            return
        action = task.action.rsplit(".", 1)[-1]
        event = {
            "host": span["host"],
            "phase": span["phase"],
            "task": task.get_name(),
            "action": action,
            "start": round(span["start"], 3),
            "end": round(span["end"], 3),
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
        self._span(result)

    def v2_runner_on_unreachable(self, result) -> None:
        self._span(result)

    def v2_playbook_on_stats(self, stats) -> None:
        out_dir = self.get_option("output_dir")
        os.makedirs(out_dir, exist_ok=True)
        data = timeline_data(self.spans, self.steps, time.time() - self.started, self.events)
        json_path = os.path.join(out_dir, "timeline.json")
        write_atomic(json_path, json.dumps(data, indent=1))
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


def task_phase(task) -> str:
    """The role the play was running when ``task`` ran: the outermost of the roles it is nested in.
    A role's own blocks carry their chain of roles, outermost first (dependencies, import_role and
    include_role add to it), so the controld checks the preflight role imports count as preflight,
    not as an early controld that would stretch controld over corosync's time."""
    parent = getattr(task, "_parent", None)
    chain = (parent.get_dep_chain() if hasattr(parent, "get_dep_chain") else None) or []
    role = chain[0] if chain else getattr(task, "_role", None)
    return role.get_name(include_role_fqcn=False) if role else "play"


def intervals(spans: list) -> list:
    """Spans of one timeline (one host's tasks, or the play's) -> the phases' intervals: a run of
    consecutive spans of one phase is one interval from its first start to its last end (waits for
    the other hosts inside a phase are that phase's time); an interval starts no earlier than the one
    before it ended, so no two overlap."""
    out: list = []
    for span in sorted(spans, key=lambda s: (s["start"], s["end"])):
        if out and out[-1]["phase"] == span["phase"]:
            out[-1]["end"] = max(out[-1]["end"], span["end"])
            continue
        begin = max(span["start"], out[-1]["end"]) if out else span["start"]
        if out and span["end"] <= begin:
            continue  # wholly inside the interval before (not one host's sequence of tasks): nothing left
        out.append({"phase": span["phase"], "start": begin, "end": max(begin, span["end"])})
    for row in out:
        row["seconds"] = round(row["end"] - row["start"], 3)
        row["start"], row["end"] = round(row["start"], 3), round(row["end"], 3)
    return out


def timeline_data(spans: list, steps: list, total: float, events: list) -> dict:
    """The content of timeline.json: per host and for the whole play, the phases' intervals, and
    the play's time per role phase; whatever is not in a role phase is C(outside_seconds), so that
    the phases plus the outside are the recorded time."""
    rows = []
    for host in sorted({span["host"] for span in spans}):
        rows += [{"host": host, **row} for row in intervals([s for s in spans if s["host"] == host])]
    play = intervals(steps)
    phase_seconds: dict = {}
    for row in play:
        if row["phase"] != "play":
            phase_seconds[row["phase"]] = round(phase_seconds.get(row["phase"], 0.0) + row["seconds"], 3)
    total = round(max(total, play[-1]["end"] if play else 0.0), 3)
    return {
        "total_seconds": total,
        "phases": rows,
        "play": {
            "phases": play,
            "phase_seconds": phase_seconds,
            "outside_seconds": round(total - sum(phase_seconds.values()), 3),
            # The part of the outside spent in the play's own tasks (fact gathering and the like).
            "play_tasks_seconds": round(sum(r["seconds"] for r in play if r["phase"] == "play"), 3),
        },
        "events": events,
    }


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


COLORS = {"preflight": "#8172b2", "corosync": "#4c72b0", "ckptd": "#55a868", "controld": "#c44e52", "play": "#999999"}
OTHER_COLORS = ("#dd8452", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")


def plot(data: dict, path: str) -> str:
    """Draw the Gantt chart of ``data`` (the timeline.json content) into ``path``, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = data["phases"]
    hosts = sorted({row["host"] for row in summary})
    shown = list(dict.fromkeys(row["phase"] for row in sorted(summary, key=lambda r: r["start"])))
    # Roles of other playbooks (include_role in a play of their own) get colours of their own too.
    others = iter(OTHER_COLORS * len(shown))
    colors = {phase: COLORS.get(phase) or next(others) for phase in shown}
    fig, axis = plt.subplots(figsize=(10, 1 + 0.6 * len(hosts)))
    for index, host in enumerate(hosts):
        for row in (r for r in summary if r["host"] == host):
            # White edges: where one interval ends and the next (of the same host) begins stays visible.
            axis.barh(index, row["seconds"], left=row["start"], color=colors[row["phase"]], edgecolor="white")
    for event in data["events"]:
        if "barrier" in event and event["host"] in hosts:
            marks = barrier_marks(event)
            axis.plot(marks, [hosts.index(event["host"])] * len(marks), "|", color="black", markersize=14)
    axis.set_yticks(range(len(hosts)), hosts)
    axis.invert_yaxis()  # the first node on top
    axis.set_xlabel("seconds since the play started")
    play = data.get("play") or {}
    outside = play.get("outside_seconds")
    axis.set_title(
        "bring-up phases per node (| = barrier passed)"
        + (f"; outside any phase: {outside:.1f} s of {data['total_seconds']:.1f} s" if outside is not None else "")
    )
    # The legend says what each phase took in the play: with the outside they add up to the total.
    seconds = play.get("phase_seconds") or {}
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[phase]) for phase in shown]
    labels = [f"{phase} {seconds[phase]:.1f} s" if phase in seconds else phase for phase in shown]
    axis.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    # A reader never sees half a PNG: drawn in memory, written next to it, then renamed into place.
    png = io.BytesIO()
    fig.savefig(png, dpi=100, format="png", bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, png.getvalue())
    return path


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as source:
        plot(json.load(source), sys.argv[2])

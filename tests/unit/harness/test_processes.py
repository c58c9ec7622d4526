"""Stopping a helper process driven over stdin: close it, wait, kill by PID."""

from __future__ import annotations

import subprocess
import sys

from harness.processes import close_and_reap, json_events


def start(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True)


def test_a_helper_that_leaves_on_eof_exits_with_its_own_status():
    proc = start("import sys; sys.stdin.read(); sys.exit(3)")
    assert close_and_reap(proc, timeout=10) == 3
    assert proc.stdin.closed


def test_a_helper_that_stays_is_killed():
    proc = start("import sys, time; sys.stdin.read(); time.sleep(60)")
    assert close_and_reap(proc, timeout=0.2, kill_timeout=10) == -9


def test_an_already_closed_stdin_or_none_is_fine():
    proc = start("pass")
    proc.stdin.close()
    assert close_and_reap(proc, timeout=10) == 0
    quiet = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.DEVNULL)
    assert close_and_reap(quiet, timeout=10) == 0


def test_json_events_keeps_going_past_a_line_that_is_not_json():
    lines = ['{"ev": "joined", "n": 1}\n', "Traceback (most recent call last):\n", '{"ev": "left"}\n']
    assert list(json_events(lines)) == [
        {"ev": "joined", "n": 1},
        {"ev": "garbage", "line": "Traceback (most recent call last):"},
        {"ev": "left"},
    ]

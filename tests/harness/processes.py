"""Stopping the helper processes the tests and the benchmarks drive over stdin."""

from __future__ import annotations

import subprocess


def close_and_reap(proc: subprocess.Popen, timeout: float, kill_timeout: float | None = None) -> int | None:
    """Close ``proc``'s stdin (the helper cleans up and exits), wait ``timeout`` seconds for it, then
    make sure it is gone: killed by PID, waited for ``kill_timeout`` seconds (None: as long as it
    takes). Returns its exit status."""
    try:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
    except BrokenPipeError:
        pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(kill_timeout)
    return proc.returncode

"""The helper processes the tests and the benchmarks drive over stdin and read as JSON lines."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Iterator
from typing import Any


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


def json_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Each line a helper printed as the event it holds; a line that is not JSON as a ``garbage``
    event with the line (stripped), so a reader sees it and goes on."""
    for line in lines:
        try:
            yield json.loads(line)
        except ValueError:
            yield {"ev": "garbage", "line": line.rstrip()}

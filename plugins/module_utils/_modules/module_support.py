# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules share: the ``timeout`` and ``socket`` options, the command runner, the corosync handle.

The option specs here match the ``quorate.cluster.wait`` and ``quorate.cluster.ckpt_socket`` doc
fragments; keep them together (a unit test compares them).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from ..shared.ckpt_client import DEFAULT_SOCKET
from ..shared.corosync_runtime import CMAPCTL, QUORUMTOOL, CorosyncRuntime, CorosyncSnapshot
from ..shared.retry_policy import RetryClient, RetryPolicy, ServiceTimeout

_C_LOCALE = {"LC_ALL": "C", "LANG": "C"}
# The least time a tool gets, so that the last attempt at the deadline still asks (a healthy
# corosync-cmapctl answers in milliseconds); a call ends at most this long after the deadline.
LAST_CALL_GRACE = 0.1


class CommandTimeout(ServiceTimeout):
    """A tool did not answer within the time left and was killed (by its PID)."""

    def __init__(self, argv: list, limit: float):
        tool = os.path.basename(str(argv[0])) if argv else "the command"
        super().__init__(f"{tool} did not answer within {max(limit, 0.0):.2f}s (killed; is corosync wedged?)")
        self.argv, self.limit = list(argv), limit


def wait_argument_spec() -> dict[str, Any]:
    """Options of every module that waits (see the ``wait`` doc fragment)."""
    return {"timeout": {"type": "float"}}


def socket_argument_spec() -> dict[str, Any]:
    """The ``socket`` option of every module that talks to the checkpoint service (see the
    ``ckpt_socket`` doc fragment)."""
    return {"socket": {"type": "path", "default": DEFAULT_SOCKET}}


def policy_from_params(module: Any, **overrides: Any) -> RetryPolicy:
    """Build the retry policy from the module's options, failing with the option's name."""
    timeout = module.params.get("timeout")
    if timeout is not None and timeout <= 0:
        module.fail_json(
            msg=f"timeout must be greater than 0 seconds (got {timeout}); "
            "omit it to use the deadline derived from the live totem timing"
        )
    try:
        return RetryPolicy(timeout=timeout, **overrides)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
        raise  # fail_json exits; this keeps type checkers and tests honest


def command_runner(module: Any, time_left: Callable[[], float | None] | None = None):
    """The one path to subprocesses: a C locale so the tools' output parses the same everywhere.

    With ``time_left`` (seconds, None for no limit; e.g. :meth:`RetryClient.time_left`) a tool
    still running when that time (at least :data:`LAST_CALL_GRACE`) is up is killed by its PID and
    the call raises :class:`CommandTimeout`: ``run_command`` has no timeout of its own, and a wedged
    corosync-cmapctl must not hold a barrier past its deadline."""

    def run(argv: list) -> tuple:
        limit = time_left() if time_left is not None else None
        if limit is None:
            return module.run_command(argv, environ_update=_C_LOCALE)
        limit = max(limit, LAST_CALL_GRACE)
        expired = threading.Event()
        timers: list = []

        def arm(proc: Any) -> None:
            def expire() -> None:
                if proc.poll() is None:  # still running: kill exactly this process
                    expired.set()
                    proc.kill()

            timer = threading.Timer(limit, expire)
            timer.daemon = True
            timers.append(timer)
            timer.start()

        try:
            result = module.run_command(argv, environ_update=_C_LOCALE, before_communicate_callback=arm)
        finally:
            for timer in timers:
                timer.cancel()
        if expired.is_set():
            raise CommandTimeout(argv, limit)
        return result

    return run


def corosync_runtime(
    module: Any, snapshot: bool = False, time_left: Callable[[], float | None] | None = None
) -> CorosyncRuntime:
    """A :class:`CorosyncRuntime` on this node, failing clearly when corosync is not installed.

    ``snapshot=True`` reads the whole cmap once (:class:`CorosyncSnapshot`): for one-shot reads,
    never for a loop that waits for the values to change. ``time_left`` bounds every tool call
    (see :func:`command_runner`)."""
    paths = {}
    for tool in (CMAPCTL, QUORUMTOOL):
        path = module.get_bin_path(tool)
        if path is None:
            module.fail_json(
                msg=f"{tool} was not found: corosync is not installed on this node "
                "(install it, e.g. with the quorate.cluster.corosync role)"
            )
        paths[tool] = path
    kind = CorosyncSnapshot if snapshot else CorosyncRuntime
    return kind(command_runner(module, time_left), cmapctl=paths[CMAPCTL], quorumtool=paths[QUORUMTOOL])


def waiting_runtime(module: Any, policy: RetryPolicy) -> tuple[CorosyncRuntime, RetryClient]:
    """The corosync handle and the retry client of a module that waits, wired so that no tool
    call outlives the client's deadline (the tools are killed when it passes)."""
    client = RetryClient(policy)
    runtime = corosync_runtime(module, time_left=client.time_left)
    client.timing_source = runtime.totem_timing
    return runtime, client

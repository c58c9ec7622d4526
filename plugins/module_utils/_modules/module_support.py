# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules share: the ``timeout`` and ``socket`` options, the command runner, the corosync handle.

The option specs here match the ``quorate.cluster.wait`` and ``quorate.cluster.ckpt_socket`` doc
fragments; keep them together (a unit test compares them).
"""

from __future__ import annotations

from typing import Any

from ..shared.ckpt_client import DEFAULT_SOCKET
from ..shared.corosync_runtime import CMAPCTL, QUORUMTOOL, CorosyncRuntime, CorosyncSnapshot
from ..shared.retry_policy import RetryPolicy


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


def command_runner(module: Any):
    """The one path to subprocesses: a C locale so the tools' output parses the same everywhere."""

    def run(argv: list) -> tuple:
        return module.run_command(argv, environ_update={"LC_ALL": "C", "LANG": "C"})

    return run


def corosync_runtime(module: Any, snapshot: bool = False) -> CorosyncRuntime:
    """A :class:`CorosyncRuntime` on this node, failing clearly when corosync is not installed.

    ``snapshot=True`` reads the whole cmap once (:class:`CorosyncSnapshot`): for one-shot reads,
    never for a loop that waits for the values to change."""
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
    return kind(command_runner(module), cmapctl=paths[CMAPCTL], quorumtool=paths[QUORUMTOOL])

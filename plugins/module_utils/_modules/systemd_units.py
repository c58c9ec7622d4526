# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way the modules talk to systemctl: one argv, one parser, one notion of active and enabled.

node_install (enable, start, daemon-reload), corosync_info (is corosync running and enabled) and
restart_needed (restart_state: since when does a service run) all go through :class:`Systemctl`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

# ActiveState values of a unit that is up: what `systemctl is-active` counts as active (a unit
# that is reloading keeps running; `systemctl start` has nothing to do for it).
ACTIVE_STATES = ("active", "reloading")
# UnitFileState values for which `systemctl enable` has nothing to do (the unit starts at boot or
# is pulled in by another one).
ENABLED_STATES = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient")
# What node_install and corosync_info read of a unit.
UNIT_PROPERTIES = ("LoadState", "ActiveState", "UnitFileState")


def parse_show(text: str) -> dict[str, str]:
    """``Key=value`` lines of ``systemctl show`` as a dict."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def is_active(props: dict) -> bool:
    """The unit is up (ActiveState active or reloading)."""
    return props.get("ActiveState") in ACTIVE_STATES


def is_enabled(props: dict) -> bool:
    """`systemctl enable` has nothing to do: the unit is enabled, static or pulled in by another."""
    return props.get("UnitFileState") in ENABLED_STATES


def unit_name(name: str) -> str:
    """``corosync`` -> ``corosync.service``, as systemctl reads a name without a suffix."""
    return name if "." in name else f"{name}.service"


class SystemctlError(Exception):
    """A systemctl call that exited non-zero; ``args`` are its arguments after ``systemctl``."""

    def __init__(self, args: list, rc: int, out: str, err: str):
        self.argv = list(args)
        self.rc = rc
        self.out = out
        self.err = err
        self.detail = (err or out).strip()
        super().__init__(f"systemctl {' '.join(args)} failed (rc={rc}): {self.detail}")


class Systemctl:
    """systemctl through a command runner (``run(argv) -> (rc, out, err)``, see module_support)."""

    def __init__(self, run: Callable[[list], tuple], path: str = "systemctl"):
        self.run = run
        self.path = path

    @staticmethod
    def show_args(unit: str, properties: Iterable[str]) -> list:
        """``show --property=A,B -- unit``: only the properties asked for are printed."""
        properties = list(properties)
        if not properties:
            raise ValueError("systemctl show without properties prints every property; name the ones needed")
        return ["show", f"--property={','.join(properties)}", "--", unit]

    def call(self, *args: str) -> str:
        """Run ``systemctl args``; its stdout, or :class:`SystemctlError`."""
        rc, out, err = self.run([self.path, *args])
        if rc != 0:
            raise SystemctlError(list(args), rc, out, err)
        return out

    def show(self, unit: str, properties: Iterable[str] = UNIT_PROPERTIES) -> dict[str, str]:
        """The given properties of ``unit`` (a property systemd does not know is absent)."""
        return parse_show(self.call(*self.show_args(unit, properties)))

    def daemon_reload(self) -> None:
        self.call("daemon-reload")

    def enable(self, unit: str) -> None:
        self.call("enable", "--", unit)

    def start(self, unit: str) -> None:
        self.call("start", "--", unit)

    def stop(self, unit: str) -> None:
        self.call("stop", "--", unit)

    def reset_failed(self, unit: str) -> None:
        """Clear a failed unit's state and its start-rate counter (a crash loop that hit
        StartLimitBurst refuses every start until this)."""
        self.call("reset-failed", "--", unit)

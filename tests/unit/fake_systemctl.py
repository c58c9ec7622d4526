"""A scripted systemctl for unit tests: it answers only what it is asked.

``units`` maps a unit (``corosync.service``) to every property it has; ``show`` prints only the
properties named with ``-p``/``--property`` (as systemctl does), so code that reads a property it
did not ask for sees it missing, as on a real node. ``calls`` records each call's arguments (after
``systemctl``) as one string; a verb in ``fail`` exits 1.
"""

from __future__ import annotations

NOT_FOUND = {"LoadState": "not-found", "ActiveState": "inactive", "UnitFileState": ""}


def _unit(name: str) -> str:
    return name if "." in name else f"{name}.service"


def asked_properties(args: list) -> tuple[list, list]:
    """The properties named in ``show`` arguments, and the remaining (unit) arguments."""
    properties, rest, index = [], [], 0
    while index < len(args):
        arg = args[index]
        if arg in ("-p", "--property"):
            properties += args[index + 1].split(",")
            index += 1
        elif arg.startswith("--property="):
            properties += arg.split("=", 1)[1].split(",")
        elif arg != "--":
            rest.append(arg)
        index += 1
    return properties, rest


class FakeSystemctl:
    def __init__(self, units: dict | None = None):
        self.units = {name: dict(props) for name, props in (units or {}).items()}
        self.calls: list[str] = []
        self.argvs: list[list] = []
        self.fail: set = set()
        self.fail_text = "Job for {unit} failed.\n"

    def __call__(self, argv: list) -> tuple:
        args = list(argv[1:])
        self.argvs.append(list(argv))
        self.calls.append(" ".join(args))
        verb, name = args[0], args[-1]
        unit = _unit(name)
        if verb in self.fail:
            return 1, "", self.fail_text.format(unit=unit)
        if verb == "show":
            properties, units = asked_properties(args[1:])
            assert properties, f"systemctl {' '.join(args)}: show without -p prints every property"
            assert len(units) == 1, f"systemctl {' '.join(args)}: one unit per show"
            props = self.units.get(_unit(units[0]), NOT_FOUND)
            return 0, "".join(f"{key}={props[key]}\n" for key in properties if key in props), ""
        if verb == "start":
            self.units[unit]["ActiveState"] = "active"
        if verb == "reset-failed":
            self.units[unit]["ActiveState"] = "inactive"
        if verb == "enable":
            self.units[unit]["UnitFileState"] = "enabled"
        return 0, "", ""

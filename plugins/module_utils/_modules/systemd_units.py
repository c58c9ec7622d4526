# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules read from ``systemctl show``: one parser, one notion of "enabled"."""

from __future__ import annotations

# UnitFileState values for which `systemctl enable` has nothing to do (the unit starts at boot or
# is pulled in by another one).
ENABLED_STATES = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient")
SHOW_PROPERTIES = "--property=LoadState,ActiveState,UnitFileState"


def parse_show(text: str) -> dict:
    """``Key=value`` lines of ``systemctl show`` as a dict."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def is_active(props: dict) -> bool:
    return props.get("ActiveState") == "active"


def is_enabled(props: dict) -> bool:
    return props.get("UnitFileState") in ENABLED_STATES

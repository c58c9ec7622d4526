# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The upgrade playbook's plan: which packages each node gets, checked before any node changes.

Input per host: what ``dpkg-query`` says is installed and what ``apt-cache madison`` says the node's
package sources offer (:func:`parse_package_state`). :func:`upgrade_plan` refuses a version lower than
the installed one (unless downgrades are allowed), a version no source offers, and a package that is
not installed (an upgrade installs nothing new), each naming ``quorate_upgrade_packages``.

Versions compare as dpkg compares them (deb-version(7)): epoch, then upstream version, then Debian
revision, each part by :func:`_compare_part` (``~`` sorts before everything, even the end).
"""

from __future__ import annotations

import re
from typing import Any

PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
VERSION = re.compile(r"^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$")


def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isdigit():
        return 0
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(left: str, right: str) -> int:
    """dpkg's verrevcmp: alternating non-digit and digit runs."""
    i = j = 0
    while i < len(left) or j < len(right):
        first_diff = 0
        while (i < len(left) and not left[i].isdigit()) or (j < len(right) and not right[j].isdigit()):
            lc = _order(left[i]) if i < len(left) else 0
            rc = _order(right[j]) if j < len(right) else 0
            if lc != rc:
                return -1 if lc < rc else 1
            i += 1
            j += 1
        while i < len(left) and left[i] == "0":
            i += 1
        while j < len(right) and right[j] == "0":
            j += 1
        while i < len(left) and left[i].isdigit() and j < len(right) and right[j].isdigit():
            if not first_diff:
                first_diff = (left[i] > right[j]) - (left[i] < right[j])
            i += 1
            j += 1
        if i < len(left) and left[i].isdigit():
            return 1
        if j < len(right) and right[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _split(version: str) -> tuple[int, str, str]:
    epoch, _colon, rest = version.partition(":") if ":" in version else ("0", "", version)
    upstream, _dash, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch), upstream, revision


def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1 as ``dpkg --compare-versions left lt/eq/gt right``."""
    le, lu, lr = _split(left)
    re_, ru, rr = _split(right)
    if le != re_:
        return -1 if le < re_ else 1
    return _compare_part(lu, ru) or _compare_part(lr, rr)


def package_errors(packages: Any) -> list[str]:
    """The shape of ``quorate_upgrade_packages``: a mapping of Debian package name to version."""
    if packages is None or packages == "":
        return []
    if not isinstance(packages, dict):
        return [f"quorate_upgrade_packages must be a mapping of package name to version, got {packages!r}"]
    errors = []
    for name, version in packages.items():
        if not isinstance(name, str) or not PACKAGE_NAME.match(name):
            errors.append(f"quorate_upgrade_packages: {name!r} is not a Debian package name")
        if not isinstance(version, str) or not VERSION.match(version):
            errors.append(
                f"quorate_upgrade_packages: {name}: {version!r} is not a Debian version (quote it in YAML, e.g. '3.1.8-1')"
            )
    return errors


def parse_package_state(text: str) -> dict:
    """Lines ``installed<TAB>name<TAB>version`` and ``available<TAB>name<TAB>version`` (the role's
    query) -> ``{"installed": {name: version}, "available": {name: [versions]}}``."""
    state: dict = {"installed": {}, "available": {}}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) != 3 or not parts[2]:
            continue
        kind, name, version = parts
        if kind == "installed":
            state["installed"][name] = version
        elif kind == "available":
            state["available"].setdefault(name, [])
            if version not in state["available"][name]:
                state["available"][name].append(version)
    return state


def upgrade_plan(hosts: dict, packages: dict | None, allow_downgrade: bool = False) -> dict:
    """``hosts``: ``{host: parse_package_state(...)}`` in roll order.

    Returns ``{"errors": [...], "hosts": {host: {"install": {name: version}, "changes": [text]}},
    "summary": text}``; ``install`` holds only what differs from what is installed."""
    packages = packages or {}
    errors: list[str] = []
    plan: dict = {}
    for host, state in hosts.items():
        install, changes = {}, []
        for name, wanted in sorted(packages.items()):
            have = state.get("installed", {}).get(name)
            if not have:
                errors.append(
                    f"quorate_upgrade_packages: {name} is not installed on {host}; an upgrade installs nothing new"
                )
                continue
            order = compare_versions(wanted, have)
            if order == 0:
                continue
            if order < 0 and not allow_downgrade:
                errors.append(
                    f"quorate_upgrade_packages: {name} {wanted} is lower than {have} installed on {host}; "
                    "set quorate_upgrade_allow_downgrade: true to downgrade"
                )
                continue
            offered = state.get("available", {}).get(name, [])
            if wanted not in offered:
                errors.append(
                    f"quorate_upgrade_packages: {name} {wanted} is not offered by the package sources of {host} "
                    f"(apt-cache madison offers {', '.join(offered) or 'nothing'}); "
                    "add the source (quorate_corosync_apt_repository) or name an offered version"
                )
                continue
            install[name] = wanted
            changes.append(f"{name} {have} -> {wanted}" + (" (downgrade)" if order < 0 else ""))
        plan[host] = {"install": install, "changes": changes}
    todo = [f"{host}: {', '.join(p['changes'])}" for host, p in plan.items() if p["changes"]]
    summary = "; ".join(todo) if todo else "every node already has the packages named"
    return {"errors": errors, "hosts": plan, "summary": summary}

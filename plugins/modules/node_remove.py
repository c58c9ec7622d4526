#!/usr/bin/python
# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: node_remove
short_description: Stop and disable services top-down, then remove installed paths, in one round trip
version_added: 0.3.0
description:
  - The counterpart of M(quorate.cluster.node_install). Cleans a node that leaves the cluster (or every node
    of a cluster that is destroyed) in one module call. It stops the listed services, disables them, removes
    the listed paths, and lets systemd re-read its units, in that order.
  - Every entry of O(services) and O(paths) is checked before anything is stopped or removed; a refused
    entry fails the task with nothing changed.
  - The services are stopped with one C(systemctl stop) call naming them in the order given, then disabled
    with one C(systemctl disable) call. List them top-down (the reverse of the order they were started in),
    for example C(quorate-controld), C(dlm_controld), C(quorate-ckptd), C(corosync). systemd orders the stop
    jobs by the units' ordering dependencies (a unit started after another is stopped before it), and
    C(systemctl stop) returns once every unit is down.
  - A unit that is not loaded and not running on the node (its unit file is gone, or it was never installed)
    is skipped without error, so a re-run after the unit files were removed reports no change. A unit whose
    file was removed while it still runs is stopped.
  - Services are disabled before the paths are removed, as C(systemctl disable) reads the unit file's
    C([Install]) section to find the links it removes.
  - Paths are removed after the services are stopped, in list order. A file, socket or symbolic link is
    unlinked (a link is never followed, only the link goes), a directory is removed with all its content.
    A path that is not there is skipped.
  - systemd re-reads its units (C(systemctl daemon-reload)) after the removal when a removed path was in a
    systemd unit directory (C(/etc/systemd/system), C(/lib/systemd/system), C(/usr/lib/systemd/system),
    C(/run/systemd/system)) and O(daemon_reload) is true, so the removed units are forgotten.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
options:
  services:
    description:
      - systemd units to stop, then disable, listed top-down (the unit started last first). A name without a
        suffix means a C(.service) unit.
      - Only the units that are running (or starting or stopping) are stopped, and only the units that are
        enabled (UnitFileState C(enabled) or C(enabled-runtime)) are disabled; a static unit stays static.
      - Each unit may be listed once.
    type: list
    elements: str
    default: []
  paths:
    description:
      - Files, symbolic links and directories to remove when present, in this order, after the services are
        stopped and disabled. Directories are removed recursively.
      - Each entry must be absolute, must not contain C(..), and must have at least two components below
        C(/) (V(/etc/corosync) is accepted, V(/), V(/etc) and V(/usr) are refused). Duplicate slashes, C(.)
        components and a trailing slash are dropped before the check, and the path is used and returned in
        that form.
    type: list
    elements: path
    default: []
  daemon_reload:
    description:
      - Run C(systemctl daemon-reload) after the removal when a removed path was in (or contained) a systemd
        unit directory.
      - With V(false) systemd is not asked to re-read its units; a later C(daemon-reload) or reboot forgets
        them.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details:
      - The services are read (C(systemctl show)) but nothing is stopped, disabled, removed or reloaded; the
        return says what would be.
  diff_mode:
    support: full
    details:
      - A path that is (or would be) removed shows the path and its type (C(file), C(directory) or C(link), in
        parentheses) before, and C(absent) after.
      - A service that is (or would be) stopped or disabled shows its active and unit file state before and
        after, for example C(active, enabled) and C(inactive, disabled).
  idempotent:
    support: full
notes:
  - Only remove what the collection installed. The path checks refuse the obvious mistakes (a relative path,
    a top-level directory, C(..)), not every path whose removal breaks the node.
  - A directory's content is removed even when it is on another file system mounted below it.
requirements:
  - systemd on the node (for O(services), and for the reload after a unit file was removed)
seealso:
  - module: quorate.cluster.node_install
    description: Installs the files and starts the services this module removes.
  - module: ansible.builtin.systemd_service
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Clean a node that leaves the cluster, in one round trip
  quorate.cluster.node_remove:
    services:
      - quorate-controld
      - dlm_controld
      - quorate-ckptd
      - corosync
    paths:
      - /etc/systemd/system/quorate-controld.service
      - /etc/systemd/system/quorate-ckptd.service
      - /usr/lib/quorate
      - /etc/corosync/corosync.conf
      - /etc/corosync/authkey
  register: cleaned

- name: Say what was removed
  ansible.builtin.debug:
    msg: "stopped {{ cleaned.stopped | join(', ') }}; removed {{ cleaned.removed | join(', ') }}"

- name: Only stop and disable a service, keep its files
  quorate.cluster.node_remove:
    services:
      - quorate-ckptd
"""

RETURN = r"""
services:
  description: One entry per listed service, in list order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The unit, as listed.
      type: str
    was_active:
      description:
        - Whether it was running, starting or stopping before this call (its ActiveState was neither
          C(inactive) nor C(failed)).
      type: bool
    was_enabled:
      description: Whether it was enabled before this call (UnitFileState C(enabled) or C(enabled-runtime)).
      type: bool
    stopped:
      description: Whether this call stopped it (in check mode, would stop it).
      type: bool
    disabled:
      description: Whether this call disabled it (in check mode, would disable it).
      type: bool
  sample:
    - {name: quorate-ckptd, was_active: true, was_enabled: true, stopped: true, disabled: true}
    - {name: dlm_controld, was_active: false, was_enabled: false, stopped: false, disabled: false}
stopped:
  description: The services that were (or in check mode would be) stopped, in list order.
  returned: always
  type: list
  elements: str
  sample: ["quorate-ckptd", "corosync"]
disabled:
  description: The services that were (or in check mode would be) disabled, in list order.
  returned: always
  type: list
  elements: str
  sample: ["quorate-ckptd", "corosync"]
removed:
  description:
    - The paths that were (or in check mode would be) removed, in list order, in the normalised form (see O(paths)).
    - A path below a directory removed before it is not listed again.
  returned: always
  type: list
  elements: str
  sample: ["/etc/systemd/system/quorate-ckptd.service", "/usr/lib/quorate"]
daemon_reloaded:
  description: Whether systemd re-read its units (in check mode, would re-read them).
  returned: always
  type: bool
  sample: true
"""

import os
import shutil
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils._modules.module_support import command_runner
from ansible_collections.quorate.cluster.plugins.module_utils._modules.systemd_units import (
    UNIT_PROPERTIES,
    Systemctl,
    SystemctlError,
    unit_name,
)

UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system", "/run/systemd/system")
# ActiveState values with nothing left to stop.
STOPPED_STATES = ("inactive", "failed")
# UnitFileState values for which `systemctl disable` removes something (static, alias, indirect and
# generated units have no links of their own to remove).
DISABLE_STATES = ("enabled", "enabled-runtime")
# The fewest components below / a removed path may have: /etc/corosync, never /etc.
MIN_COMPONENTS = 2


class SpecError(Exception):
    """An entry of O(services) or O(paths) that cannot be applied, or a step that failed; the message names it."""


def normalise_path(raw: str, index: int) -> str:
    """The path with duplicate slashes, ``.`` components and a trailing slash dropped, or SpecError."""
    where = f"paths[{index}] ({raw!r})"
    if not raw or not raw.startswith("/"):
        raise SpecError(f"{where} is not an absolute path; give it from /, such as /etc/corosync/authkey")
    if ".." in raw:
        raise SpecError(f"{where} contains '..'; give the path without it")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if not parts:
        raise SpecError(f"{where}: refusing to remove /; list the files and directories the collection installed")
    if len(parts) < MIN_COMPONENTS:
        raise SpecError(
            f"{where}: refusing to remove a top-level directory (a path needs at least {MIN_COMPONENTS} "
            "components, such as /etc/corosync); list the files and directories below it instead"
        )
    return "/" + "/".join(parts)


def plan(services: list, paths: list) -> tuple:
    """Check every entry before anything is touched; returns (services, normalised paths)."""
    seen = {}
    for index, name in enumerate(services):
        if not name or not name.strip():
            raise SpecError(f"services[{index}] is empty; give a systemd unit name such as corosync")
        unit = unit_name(name)
        if unit in seen:
            raise SpecError(
                f"services[{index}] ({name}) names {unit} again (services[{seen[unit]}]); list each unit once"
            )
        seen[unit] = index
    return list(services), [normalise_path(raw, index) for index, raw in enumerate(paths)]


def unit_state(props: dict) -> dict:
    """A listed unit's state as read by ``systemctl show``, and what this call has to do to it."""
    active = props.get("ActiveState", "") or "inactive"
    file_state = props.get("UnitFileState", "")
    was_active = active not in STOPPED_STATES
    was_enabled = file_state in DISABLE_STATES
    return {
        "active": active,
        "file_state": file_state,
        "was_active": was_active,
        "was_enabled": was_enabled,
    }


def state_line(unit: str, active: str, file_state: str) -> str:
    return f"{unit}: {active}, {file_state or 'no unit file'}\n"


def service_diff(name: str, state: dict, report: dict) -> dict:
    unit = unit_name(name)
    after_active = "inactive" if report["stopped"] else state["active"]
    after_file = "disabled" if report["disabled"] else state["file_state"]
    return {
        "before_header": f"service {unit}",
        "after_header": f"service {unit}",
        "before": state_line(unit, state["active"], state["file_state"]),
        "after": state_line(unit, after_active, after_file),
    }


def still_running(systemctl: Systemctl, names: list) -> list:
    """The units of ``names`` that are not down after a failed stop (a unit that cannot be read counts)."""
    running = []
    for name in names:
        try:
            up = systemctl.show(name).get("ActiveState", "") not in STOPPED_STATES
        except SystemctlError:
            up = True
        if up:
            running.append(name)
    return running


def stop_and_disable(systemctl: Systemctl, names: list, check: bool, outcome: dict) -> list:
    """Read every unit, stop the running ones with one call, disable the enabled ones with one call.

    ``outcome["services"]`` holds the per-service reports as they are known (also when a step fails).
    Returns the diffs of the services that change."""
    states, reports = [], outcome["services"]
    for name in names:
        state = unit_state(systemctl.show(name, UNIT_PROPERTIES))
        states.append(state)
        reports.append(
            {
                "name": name,
                "was_active": state["was_active"],
                "was_enabled": state["was_enabled"],
                "stopped": False,
                "disabled": False,
            }
        )
    to_stop = [r["name"] for r in reports if r["was_active"]]
    to_disable = [r["name"] for r in reports if r["was_enabled"]]
    if to_stop and not check:
        try:
            systemctl.call("stop", "--", *to_stop)
        except SystemctlError as exc:
            running = still_running(systemctl, to_stop)
            for report in reports:
                report["stopped"] = report["name"] in to_stop and report["name"] not in running
            units = " ".join(running or to_stop)
            raise SpecError(
                f"{exc}; still running: {', '.join(running) or 'none'}; nothing was disabled or removed; "
                f"see systemctl status {units} and journalctl -u {' -u '.join(running or to_stop)}"
            ) from None
    for report in reports:
        report["stopped"] = report["name"] in to_stop
    if to_disable and not check:
        try:
            systemctl.call("disable", "--", *to_disable)
        except SystemctlError as exc:
            raise SpecError(
                f"{exc}; the services are stopped, nothing was removed; "
                f"check the units' [Install] sections with systemctl cat {' '.join(to_disable)}"
            ) from None
    for report in reports:
        report["disabled"] = report["name"] in to_disable
    return [service_diff(r["name"], s, r) for r, s in zip(reports, states) if r["stopped"] or r["disabled"]]


def kind_of(st) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "link"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    return "file"


def covered(path: str, gone: list) -> bool:
    """``path`` is, or is below, a path already removed by this call (check mode cannot see that on disk)."""
    return any(path == done or path.startswith(done + "/") for done in gone)


def in_unit_dir(path: str) -> bool:
    """``path`` is in a systemd unit directory, is one, or contains one."""
    return any(path == d or path.startswith(d + "/") or d.startswith(path + "/") for d in UNIT_DIRS)


def remove_paths(paths: list, check: bool, outcome: dict) -> list:
    """Remove each present path in order; ``outcome["removed"]`` grows as they go. Returns the diffs."""
    diffs, removed = [], outcome["removed"]
    for path in paths:
        if covered(path, removed):
            continue
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        kind = kind_of(st)
        if not check:
            try:
                if kind == "directory":
                    shutil.rmtree(path)
                else:
                    os.unlink(path)  # a link goes, never what it points to
            except OSError as exc:
                where = f" at {exc.filename}" if exc.filename and exc.filename != path else ""
                raise SpecError(
                    f"cannot remove {path} ({kind}): {exc.strerror or exc}{where}; correct that on the node "
                    "(permissions, become, an immutable attribute, a file system mounted read-only) and run again"
                ) from None
        removed.append(path)
        diffs.append({"before_header": path, "after_header": path, "before": f"{path} ({kind})\n", "after": "absent\n"})
    return diffs


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "services": {"type": "list", "elements": "str", "default": []},
            "paths": {"type": "list", "elements": "path", "default": []},
            "daemon_reload": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    check = module.check_mode
    try:
        services, paths = plan(module.params["services"], module.params["paths"])
    except SpecError as exc:
        module.fail_json(msg=str(exc), changed=False)

    outcome = {"services": [], "removed": [], "daemon_reloaded": False}
    diffs = []
    systemctl = None

    def systemd() -> Systemctl:
        nonlocal systemctl
        if systemctl is None:
            systemctl = Systemctl(command_runner(module), module.get_bin_path("systemctl", required=True))
        return systemctl

    def reload_units() -> None:
        if module.params["daemon_reload"] and any(in_unit_dir(path) for path in outcome["removed"]):
            outcome["daemon_reloaded"] = True
            if not check:
                systemd().daemon_reload()

    try:
        if services:
            try:
                diffs += stop_and_disable(systemd(), services, check, outcome)
            except SystemctlError as exc:
                raise SpecError(f"{exc}; see systemctl status {exc.argv[-1]}") from None
        try:
            diffs += remove_paths(paths, check, outcome)
        except SpecError as exc:
            try:
                reload_units()  # systemd must not keep units whose files this call already removed
            except SystemctlError as reload_exc:
                raise SpecError(f"{exc}; then {reload_exc}") from None
            raise
        try:
            reload_units()
        except SystemctlError as exc:
            raise SpecError(f"{exc}; the paths are removed; run systemctl daemon-reload on the node") from None
    except SpecError as exc:
        done = [s["name"] for s in outcome["services"] if s["stopped"] or s["disabled"]] + outcome["removed"]
        module.fail_json(
            msg=f"{exc} (already changed: {', '.join(done) or 'nothing'})",
            changed=bool(done),
            **result_of(outcome),
        )

    result = result_of(outcome)
    changed = bool(result["stopped"] or result["disabled"] or result["removed"])
    extra = {"diff": diffs} if diffs and module._diff else {}
    module.exit_json(changed=changed, **result, **extra)


def result_of(outcome: dict) -> dict:
    services = outcome["services"]
    return {
        "services": services,
        "stopped": [s["name"] for s in services if s["stopped"]],
        "disabled": [s["name"] for s in services if s["disabled"]],
        "removed": list(outcome["removed"]),
        "daemon_reloaded": outcome["daemon_reloaded"],
    }


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: node_install
short_description: Install files on a node and start the services that use them, in one round trip
version_added: 0.2.0
description:
  - Brings every listed directory and file to the given content, mode and ownership, in list order,
    then makes sure every listed systemd service is enabled and running, in list order, in one module
    call. The roles install and start their units, programs and keys with it, so a re-run that changes
    nothing costs one round trip per role instead of one or two per file and one per service.
  - A file is rewritten only when its content differs; it is written to a temporary file in the same
    directory, synced and renamed into place, so a reader never sees a half-written file.
  - Mode and ownership are corrected in place when only they differ.
  - Services are started, never restarted; a changed program or unit takes effect with the next
    restart (the C(quorate.cluster.rolling_restart) playbook). C(systemctl start) returns once the
    unit is up, so with C(Type=notify) units each service is ready before the next one starts.
  - systemd re-reads its units first when a listed file under a systemd unit directory changed, or when
    O(daemon_reload) is set.
  - Render templates on the controller (P(ansible.builtin.template#lookup)) and pass the text as
    O(files[].content); pass binary content base64-encoded as O(files[].content_b64).
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
options:
  files:
    description:
      - The directories and files, handled in this order (list a directory before the files in it).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path on the node.
        type: path
        required: true
      state:
        description: C(file) for a regular file, C(directory) for a directory (created when missing, never removed).
        type: str
        choices: [file, directory]
        default: file
      content:
        description: The file's text content. Exactly one of O(files[].content) and O(files[].content_b64) for a file.
        type: str
      content_b64:
        description:
          - The file's content, base64-encoded (for binary files).
          - Never logged (C(no_log) in the argument spec), since it carries keys such as corosync's authkey; the
            invocation shows it masked even when the task forgets C(no_log).
        type: str
      mode:
        description:
          - Permissions as an octal string such as V('0644'); an integer is taken as the mode itself
            (what YAML makes of an unquoted C(0644)).
        type: raw
        required: true
      owner:
        description: Owning user name.
        type: str
        default: root
      group:
        description: Owning group name.
        type: str
        default: root
      secret:
        description:
          - The content is a secret (a key), so no diff and no checksum of it is returned. Use C(no_log) on the
            task as well, so nothing of the task is logged (O(files[].content) is not masked by itself).
        type: bool
        default: false
  services:
    description:
      - systemd services to enable and start after the files are in place, in this order. Each start
        waits until systemd reports the unit started.
    type: list
    elements: str
    default: []
  daemon_reload:
    description:
      - Run C(systemctl daemon-reload) before starting the services even when no listed unit file changed
        (for unit files written by something else, such as a package or an earlier run).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Text files up to 64 KiB show their content; binary and larger files show a checksum line.
      - Secret files show nothing.
  idempotent:
    support: full
notes:
  - The parent directory of every file must exist or be listed before it.
requirements:
  - systemd on the node (for O(services))
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.template
  - module: ansible.builtin.systemd_service
"""

EXAMPLES = r"""
- name: Install a unit and its program, then start it, in one round trip
  quorate.cluster.node_install:
    files:
      - path: /usr/lib/example
        state: directory
        mode: "0755"
      - path: /usr/lib/example/program.zip
        content_b64: "{{ lookup('ansible.builtin.file', 'program.zip.b64') }}"
        mode: "0644"
      - path: /etc/systemd/system/example.service
        content: "{{ lookup('ansible.builtin.template', 'example.service.j2') }}"
        mode: "0644"
    services:
      - example
  register: installed

- name: Say when a running service still runs the old program
  ansible.builtin.debug:
    msg: example runs the older program until its next restart
  when: installed.changed_paths and 'example' not in installed.started

- name: Start two services in order, nothing to install
  quorate.cluster.node_install:
    services:
      - corosync
      - example
"""

RETURN = r"""
started:
  description: The services that were (or in check mode would be) started by this call, in order.
  returned: always
  type: list
  elements: str
  sample: ["quorate-ckptd"]
services:
  description: One entry per listed service.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The unit.
      type: str
    was_active:
      description: Whether it was running before this call.
      type: bool
    was_enabled:
      description: Whether it was enabled (or static) before this call.
      type: bool
    started:
      description: Whether this call started it.
      type: bool
    enabled:
      description: Whether this call enabled it.
      type: bool
  sample:
    - {name: quorate-ckptd, was_active: true, was_enabled: true, started: false, enabled: false}
daemon_reloaded:
  description: Whether systemd re-read its units.
  returned: always
  type: bool
  sample: false
changed_paths:
  description: The paths that were (or in check mode would be) created or changed, in list order.
  returned: always
  type: list
  elements: str
  sample: ["/etc/systemd/system/quorate-ckptd.service"]
files:
  description: One entry per listed path.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path.
      type: str
    state:
      description: C(file) or C(directory).
      type: str
    changed:
      description: Whether anything about this path changed.
      type: bool
    content_changed:
      description: Whether the file was created or its content rewritten, or the directory was created.
      type: bool
    attributes_changed:
      description: Whether only mode or ownership had to be corrected.
      type: bool
    sha256:
      description: SHA-256 of the file's content; absent for directories and secret files.
      type: str
  sample:
    - {path: /usr/lib/quorate, state: directory, changed: false, content_changed: false, attributes_changed: false}
"""

import base64
import binascii
import grp
import hashlib
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils._modules.module_support import command_runner
from ansible_collections.quorate.cluster.plugins.module_utils._modules.systemd_units import (
    Systemctl,
    SystemctlError,
    is_active,
    is_enabled,
    unit_name,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.files import write_atomic

DIFF_LIMIT = 64 * 1024
UNIT_DIRS = ("/etc/systemd/system/", "/run/systemd/system/", "/lib/systemd/system/", "/usr/lib/systemd/system/")


class SpecError(Exception):
    """An entry of O(files) that cannot be applied; the message names it."""


def parse_mode(value, where: str) -> int:
    if isinstance(value, bool):
        raise SpecError(f"{where}.mode must be an octal string such as '0644', not {value!r}")
    if isinstance(value, int):
        mode = value
    else:
        text = str(value).strip()
        if not text or any(ch not in "01234567" for ch in text) or len(text) > 4:
            raise SpecError(f"{where}.mode must be an octal string such as '0644' (got {value!r})")
        mode = int(text, 8)
    if not 0 <= mode <= 0o7777:
        raise SpecError(f"{where}.mode {value!r} is out of range")
    return mode


def resolve_ids(entry: dict, where: str) -> tuple:
    try:
        uid = pwd.getpwnam(entry["owner"]).pw_uid
    except KeyError:
        raise SpecError(f"{where}.owner: no user {entry['owner']!r} on this node") from None
    try:
        gid = grp.getgrnam(entry["group"]).gr_gid
    except KeyError:
        raise SpecError(f"{where}.group: no group {entry['group']!r} on this node") from None
    return uid, gid


def desired_bytes(entry: dict, where: str) -> bytes:
    if (entry.get("content") is None) == (entry.get("content_b64") is None):
        raise SpecError(f"{where}: give exactly one of content and content_b64 for a file")
    if entry.get("content") is not None:
        return entry["content"].encode("utf-8")
    try:
        return base64.b64decode(entry["content_b64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SpecError(f"{where}.content_b64 is not valid base64: {exc}") from None


def describe(st) -> dict:
    return {"mode": f"{stat.S_IMODE(st.st_mode):04o}", "owner": st.st_uid, "group": st.st_gid}


def fix_attributes(result: dict, st, mode: int, uid: int, gid: int, check: bool) -> None:
    """Correct mode and ownership in place when only they differ from what was asked."""
    if (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, uid, gid):
        return
    path = result["path"]
    result["attributes_changed"] = True
    after = {"path": path, "mode": f"{mode:04o}", "owner": uid, "group": gid}
    result["diff"] = {"before": dict(describe(st), path=path), "after": after}
    if not check:
        os.chown(path, uid, gid)
        os.chmod(path, mode)


def text_for_diff(data: bytes):
    if len(data) > DIFF_LIMIT:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def apply_directory(entry: dict, mode: int, uid: int, gid: int, check: bool) -> dict:
    path = entry["path"]
    result = {"path": path, "state": "directory", "content_changed": False, "attributes_changed": False}
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise SpecError(f"{path} exists and is not a directory; remove it or correct files[].path")
    if st is None:
        result["content_changed"] = True
        result["diff"] = {"before": {"path": path, "state": "absent"}, "after": {"path": path, "state": "directory"}}
        if not check:
            os.mkdir(path, mode)
            os.chown(path, uid, gid)
            os.chmod(path, mode)  # mkdir's mode passes through the umask
    else:
        fix_attributes(result, st, mode, uid, gid, check)
    return result


def apply_file(entry: dict, data: bytes, mode: int, uid: int, gid: int, check: bool) -> dict:
    path = entry["path"]
    secret = entry["secret"]
    result = {"path": path, "state": "file", "content_changed": False, "attributes_changed": False}
    if not secret:
        result["sha256"] = hashlib.sha256(data).hexdigest()
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise SpecError(f"{path} is a directory; remove it or correct files[].path")
    if st is None and not os.path.isdir(os.path.dirname(path)):
        if check:  # an earlier entry of this call would have created it
            result["content_changed"] = True
            return result
        raise SpecError(
            f"{path}: the directory {os.path.dirname(path)} does not exist; list it first with state=directory"
        )
    current = None
    if st is not None and stat.S_ISREG(st.st_mode):
        with open(path, "rb") as handle:
            current = handle.read()
    if current != data:
        result["content_changed"] = True
        if not secret:
            before = "" if current is None else text_for_diff(current)
            after = text_for_diff(data)
            if before is None or after is None:
                old = "absent" if current is None else f"sha256 {hashlib.sha256(current).hexdigest()}"
                before, after = f"{old}\n", f"sha256 {result['sha256']}\n"
            result["diff"] = {"before_header": path, "after_header": path, "before": before, "after": after}
        if not check:
            write_atomic(path, data, mode=mode, owner=(uid, gid))
    else:
        fix_attributes(result, st, mode, uid, gid, check)
    return result


def systemctl_failure(exc: SystemctlError) -> SpecError:
    name = exc.argv[-1]
    return SpecError(f"{exc}; see systemctl status {name} and journalctl -u {name}")


# What a start needs to know: the unit, and whether it is in a crash loop (restarted by systemd).
SERVICE_PROPERTIES = ("LoadState", "ActiveState", "UnitFileState", "NRestarts")


def crash_looping(state: dict) -> bool:
    """Not up, and systemd has restarted it at least once since its last clean start: failed, or
    between attempts (auto-restart), or in an attempt that runs whatever programs it loaded."""
    try:
        restarts = int(state.get("NRestarts") or 0)
    except ValueError:
        restarts = 0
    return state.get("ActiveState") in ("failed", "activating") and restarts > 0


def ensure_services(systemctl: Systemctl, names: list, check: bool, pending_units: set) -> list:
    """Enable and start each service in order; ``pending_units`` are unit files check mode did not write."""
    results = []
    for name in names:
        unit = unit_name(name)
        if check and unit in pending_units:
            # Not on disk yet (only "would be installed"): it would be enabled and started.
            results.append({"name": name, "was_active": False, "was_enabled": False, "started": True, "enabled": True})
            continue
        state = systemctl.show(name, SERVICE_PROPERTIES)
        if state.get("LoadState") == "not-found":
            raise SpecError(f"services: unit {unit} not found on this node; install it (list its unit file in files)")
        result = {
            "name": name,
            "was_active": is_active(state),
            "was_enabled": is_enabled(state),
        }
        result["enabled"] = not result["was_enabled"]
        result["started"] = not result["was_active"]
        if not check:
            if result["enabled"]:
                systemctl.enable(name)
            if result["started"]:
                if crash_looping(state):
                    # An earlier run left programs that fail (since replaced): an attempt already in
                    # flight runs the old code and would fail this start, and a loop that hit its start
                    # limit refuses it. Stop the loop, clear its count, then start the new programs.
                    systemctl.stop(name)
                    systemctl.reset_failed(name)
                systemctl.start(name)
        results.append(result)
    return results


def plan(files: list) -> list:
    """Validate every entry before anything is touched; returns (entry, mode, uid, gid, data)."""
    steps = []
    for index, entry in enumerate(files):
        where = f"files[{index}] ({entry.get('path')})"
        if not os.path.isabs(entry["path"]):
            raise SpecError(f"{where}.path must be absolute")
        mode = parse_mode(entry["mode"], where)
        uid, gid = resolve_ids(entry, where)
        if entry["state"] == "directory":
            if entry.get("content") is not None or entry.get("content_b64") is not None:
                raise SpecError(f"{where}: a directory takes no content")
            data = None
        else:
            data = desired_bytes(entry, where)
        steps.append((entry, mode, uid, gid, data))
    return steps


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": {"type": "path", "required": True},
                    "state": {"type": "str", "choices": ["file", "directory"], "default": "file"},
                    "content": {"type": "str"},
                    "content_b64": {"type": "str", "no_log": True},
                    "mode": {"type": "raw", "required": True},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "secret": {"type": "bool", "default": False},
                },
                "mutually_exclusive": [["content", "content_b64"]],
            },
            "services": {"type": "list", "elements": "str", "default": []},
            "daemon_reload": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        steps = plan(module.params["files"])
    except SpecError as exc:
        module.fail_json(msg=str(exc), changed=False)
    results, diffs, services, reloaded = [], [], [], False
    try:
        for entry, mode, uid, gid, data in steps:
            if data is None:
                result = apply_directory(entry, mode, uid, gid, module.check_mode)
            else:
                result = apply_file(entry, data, mode, uid, gid, module.check_mode)
            result["changed"] = result["content_changed"] or result["attributes_changed"]
            diff = result.pop("diff", None)
            if diff is not None and module._diff:
                diffs.append(diff)
            results.append(result)
        if module.params["services"]:
            systemctl = Systemctl(command_runner(module), module.get_bin_path("systemctl", required=True))
            changed_units = {r["path"] for r in results if r["content_changed"] and r["path"].startswith(UNIT_DIRS)}
            pending = {
                os.path.basename(path) for path in changed_units if module.check_mode and not os.path.exists(path)
            }
            try:
                if changed_units or module.params["daemon_reload"]:
                    reloaded = True
                    if not module.check_mode:
                        systemctl.daemon_reload()
                services = ensure_services(systemctl, module.params["services"], module.check_mode, pending)
            except SystemctlError as exc:
                raise systemctl_failure(exc) from None
    except (SpecError, OSError) as exc:
        done = [r["path"] for r in results if r["changed"]] + [
            s["name"] for s in services if s["started"] or s["enabled"]
        ]
        module.fail_json(
            msg=f"{exc} (already changed: {done or 'nothing'})", changed=bool(done), files=results, services=services
        )
    changed_paths = [r["path"] for r in results if r["changed"]]
    started = [s["name"] for s in services if s["started"]]
    changed = bool(changed_paths) or any(s["started"] or s["enabled"] for s in services)
    extra = {"diff": diffs} if diffs else {}
    module.exit_json(
        changed=changed,
        changed_paths=changed_paths,
        files=results,
        services=services,
        started=started,
        daemon_reloaded=reloaded,
        **extra,
    )


if __name__ == "__main__":
    main()

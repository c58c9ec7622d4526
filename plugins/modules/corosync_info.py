#!/usr/bin/python
# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: corosync_info
short_description: Read the runtime state of the local corosync
version_added: 0.1.0
description:
  - Reads what the running corosync on the node computed and sees, through C(corosync-cmapctl) and
    C(corosync-quorumtool) - the effective totem timing, the members, quorum, ring id and the
    configuration version.
  - The token reported is the runtime (effective) one, which includes the per-node
    C(token_coefficient); with 3 nodes and the default token 3000 it reads 3650.
  - Also tells whether corosync is installed, whether its systemd service is running and enabled, and,
    without reading the key out, whether the node holds
    an authkey, its SHA-256, mode and owner, so a play can see that every node holds the same key
    without copying it around.
  - Reads the marker the node removal leaves on a removed node (O(removed_marker)), so a re-run can
    tell a node already removed from this cluster from one that never was a member.
  - Never changes anything.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
  - quorate.cluster.attributes.no_diff
options:
  require_running:
    description:
      - When true, fail if corosync is not running on the node.
      - When false, return RV(running=false) and no runtime values instead, so a play can decide
        whether to start or reload corosync; a node without corosync installed then returns
        RV(installed=false) instead of failing.
    type: bool
    default: true
  authkey_path:
    description: Where corosync's authkey is looked for (RV(authkey)).
    type: path
    default: /etc/corosync/authkey
  config_path:
    description: Where corosync.conf is looked for (RV(config_managed)).
    type: path
    default: /etc/corosync/corosync.conf
  removed_marker:
    description:
      - The marker file the node removal leaves on a removed node, a JSON object with the
        C(cluster_name) it was removed from, its C(nodeid) and C(name); returned as RV(removed).
    type: path
    default: /var/lib/quorate/removed
    version_added: 0.3.0
requirements:
  - corosync 3 (C(corosync-cmapctl) and C(corosync-quorumtool)) on the node
seealso:
  - module: quorate.cluster.corosync_wait
"""

EXAMPLES = r"""
- name: Read the live totem timing and membership
  quorate.cluster.corosync_info:
  register: corosync

- name: Show the effective token
  ansible.builtin.debug:
    msg: "token {{ corosync.token }} ms, consensus {{ corosync.consensus }} ms, quorate {{ corosync.quorate }}"

- name: Find out whether corosync runs at all
  quorate.cluster.corosync_info:
    require_running: false
  register: corosync_state

- name: Tell a node already removed from this cluster from one that never was a member
  ansible.builtin.debug:
    msg: "removed as node {{ corosync_state.removed.nodeid }} from {{ corosync_state.removed.cluster_name }}"
  when: corosync_state.removed is not none
"""

RETURN = r"""
installed:
  description: Whether the corosync tools were found on the node.
  returned: always
  type: bool
  sample: true
service:
  description: The C(corosync.service) unit as systemd sees it; both false where there is no systemd.
  returned: always
  type: dict
  contains:
    active:
      description: Whether the unit is active (running).
      type: bool
    enabled:
      description: Whether it starts at boot (enabled or static).
      type: bool
    main_pid:
      description: Its main process id, 0 when it is not running.
      type: int
      version_added: 0.3.0
  sample: {active: true, enabled: true, main_pid: 1234}
version:
  description:
    - The version the installed corosync binary reports (C(corosync -v)); null when corosync is not installed.
    - A running corosync started before a package upgrade still runs its old version, see RV(version_replaced).
  returned: always
  type: str
  sample: 3.1.7
  version_added: 0.3.0
version_replaced:
  description:
    - The running corosync maps a program file (its executable or a library) replaced since it started, so it
      runs another version than RV(version) until it is restarted.
  returned: always
  type: bool
  sample: false
  version_added: 0.3.0
authkey:
  description:
    - The authkey's fingerprint, never its content; RV(authkey.sha256) is null when there is no key.
  returned: always
  type: dict
  contains:
    sha256:
      description: SHA-256 of the key, or null when the file does not exist.
      type: str
    mode:
      description: Permissions as an octal string.
      type: str
    owner:
      description: Owning user name (or uid when it has no name).
      type: str
    group:
      description: Owning group name (or gid when it has no name).
      type: str
  sample: {sha256: 5f0c9a..., mode: "0400", owner: root, group: root}
removed:
  description:
    - The JSON object in O(removed_marker), left there when this node was removed from a cluster;
      null when there is no such file.
    - An unreadable file or one that does not hold a JSON object also gives null, with a warning that
      names the file.
  returned: always
  type: dict
  version_added: 0.3.0
  sample: {"cluster_name": "quorate", "nodeid": 4, "name": "n4"}
config_managed:
  description:
    - Whether O(config_path) was written by this collection (its first line is the marker the
      C(quorate.cluster.corosync) role writes); null when there is no such file.
    - False with RV(running=true) means corosync runs with a configuration this collection did not
      write, such as the one the Debian package starts with or another tool's cluster.
  returned: always
  type: bool
  sample: true
running:
  description: Whether corosync answered on this node.
  returned: always
  type: bool
  sample: true
token:
  description: Effective totem token timeout in ms (C(runtime.config.totem.token)).
  returned: when running
  type: int
  sample: 3650
consensus:
  description: Effective consensus timeout in ms (C(runtime.config.totem.consensus)).
  returned: when running
  type: int
  sample: 4380
join:
  description: Join timeout in ms (C(runtime.config.totem.join)).
  returned: when running
  type: int
  sample: 50
token_retransmits_before_loss_const:
  description: Token retransmits before a loss is declared.
  returned: when running
  type: int
  sample: 4
membership_window:
  description: Seconds one membership change can take, token plus consensus.
  returned: when running
  type: float
  sample: 8.03
totem:
  description: Every C(runtime.config.totem.*) value, keyed by its short name.
  returned: when running
  type: dict
  sample: {"token": 3650, "consensus": 4380, "join": 50, "window_size": 50}
members:
  description: Node ids currently in the membership (the ring this node is in).
  returned: when running
  type: list
  elements: int
  sample: [1, 2, 3]
member_details:
  description: Every node corosync has seen (C(runtime.members)), with its addresses and status.
  returned: when running
  type: list
  elements: dict
  sample: [{"nodeid": 1, "addrs": ["10.89.0.11"], "status": "joined", "join_count": 1}]
nodelist:
  description: Node ids of the configured nodelist.
  returned: when running
  type: list
  elements: int
  sample: [1, 2, 3]
quorate:
  description: Whether the partition this node is in has quorum.
  returned: when running
  type: bool
  sample: true
node_id:
  description: This node's id.
  returned: when running
  type: int
  sample: 1
ring_id:
  description: The current ring id as corosync prints it (C(<representative nodeid>.<seq>), hex).
  returned: when running
  type: str
  sample: "1.9"
expected_votes:
  description: Expected votes.
  returned: when running
  type: int
  sample: 3
total_votes:
  description: Votes present.
  returned: when running
  type: int
  sample: 3
quorum_votes:
  description: Votes the cluster needs to be quorate.
  returned: when running
  type: int
  sample: 2
node_votes:
  description: Votes of this node (what the cluster loses while it is down).
  returned: when running
  type: int
  sample: 1
quorum_flags:
  description: Votequorum flags as printed by C(corosync-quorumtool).
  returned: when running
  type: list
  elements: str
  sample: ["Quorate"]
config_version:
  description: C(totem.config_version), or null when the configuration sets none.
  returned: when running
  type: int
  sample: null
cluster_name:
  description: C(totem.cluster_name).
  returned: when running
  type: str
  sample: quorate
nodelist_addrs:
  description: Every address in the running nodelist (all links), sorted.
  returned: when running
  type: list
  elements: str
  sample: ["10.89.81.11", "10.89.81.12", "10.89.81.13"]
nodelist_nodes:
  description: The running nodelist, one entry per node with its id, name and addresses (link 0 first).
  returned: when running
  type: list
  elements: dict
  sample: [{"nodeid": 1, "name": "n1", "addrs": ["10.89.81.11"]}]
"""

import grp
import hashlib
import json
import os
import pwd
import re
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils._modules.corosync_conf import is_managed
from ansible_collections.quorate.cluster.plugins.module_utils._modules.module_support import (
    command_runner,
    corosync_runtime,
)
from ansible_collections.quorate.cluster.plugins.module_utils._modules.restart_state import deleted_program_files
from ansible_collections.quorate.cluster.plugins.module_utils._modules.systemd_units import (
    UNIT_PROPERTIES,
    Systemctl,
    SystemctlError,
    is_active,
    is_enabled,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.corosync_runtime import (
    CMAPCTL,
    QUORUMTOOL,
    CorosyncNotRunning,
    CorosyncQueryError,
    CorosyncRuntime,
)


def service_state(module) -> dict:
    """corosync.service's ActiveState, UnitFileState and MainPID, in one systemctl call."""
    path = module.get_bin_path("systemctl")
    if path is None:
        return {"active": False, "enabled": False, "main_pid": 0}
    try:
        props = Systemctl(command_runner(module), path).show("corosync.service", (*UNIT_PROPERTIES, "MainPID"))
    except SystemctlError:
        props = {}
    try:
        main_pid = int(props.get("MainPID") or 0)
    except ValueError:
        main_pid = 0
    return {"active": is_active(props), "enabled": is_enabled(props), "main_pid": main_pid}


_VERSION = re.compile(r"version '([^']+)'")


def installed_version(module) -> str | None:
    """The version the installed corosync binary reports (``corosync -v``); None without one."""
    corosync = module.get_bin_path("corosync")
    if corosync is None:
        return None
    rc, out, err = command_runner(module)([corosync, "-v"])
    match = _VERSION.search(out or "")
    return match[1] if rc == 0 and match else None


def running_replaced(pid: int, proc: str = "/proc") -> bool:
    """The running corosync maps a program file that was replaced since it started (a package
    upgrade without a restart): it still runs the old version, whatever ``corosync -v`` says now."""
    if pid <= 0:
        return False
    try:
        exe = os.readlink(f"{proc}/{pid}/exe")
        with open(f"{proc}/{pid}/maps", encoding="utf-8", errors="replace") as maps:
            return bool(deleted_program_files(maps.read(), exe))
    except OSError:
        return False


def authkey_fingerprint(path: str) -> dict:
    """SHA-256, mode and owner of the key file; never the key."""
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            digest = hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return {"sha256": None, "mode": None, "owner": None, "group": None}
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return {"sha256": digest, "mode": f"{stat.S_IMODE(st.st_mode):04o}", "owner": owner, "group": group}


def gather(runtime: CorosyncRuntime) -> dict:
    """Everything the module returns, read from a running corosync."""
    totem = runtime.totem()
    timing = runtime.totem_timing()
    quorum = runtime.quorum()
    return {
        "running": True,
        "token": timing.token_ms,
        "consensus": timing.consensus_ms,
        "join": timing.join_ms,
        "token_retransmits_before_loss_const": totem.get("token_retransmits_before_loss_const"),
        "membership_window": round(timing.window_s, 3),
        "totem": totem,
        "members": quorum.members,
        "member_details": [m.as_dict() for m in runtime.members()],
        "nodelist": runtime.nodelist_ids(),
        "quorate": quorum.quorate,
        "node_id": quorum.node_id,
        "ring_id": quorum.ring_id,
        "expected_votes": quorum.expected_votes,
        "total_votes": quorum.total_votes,
        "quorum_votes": quorum.quorum,
        "node_votes": quorum.member_votes.get(quorum.node_id, 1),
        "quorum_flags": quorum.flags,
        "config_version": runtime.config_version(),
        "cluster_name": runtime.cluster_name(),
        "nodelist_addrs": runtime.nodelist_addrs(),
        "nodelist_nodes": runtime.nodelist_nodes(),
    }


def config_managed(path: str):
    """True/False: whether the file carries this collection's marker; None when there is no file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return is_managed(handle.readline())
    except FileNotFoundError:
        return None


# What json.loads gives for each kind of JSON value, in words, for the warning.
_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def removed_marker(path: str) -> tuple[dict | None, str | None]:
    """The JSON object in the removal marker and a warning: ``(None, None)`` when there is no
    file, ``(None, warning)`` when it cannot be read or holds no JSON object."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot read the removal marker {path} (removed_marker): {exc}"
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, f"the removal marker {path} (removed_marker) is not valid JSON: {exc}"
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), "a JSON value")
        return None, f"the removal marker {path} (removed_marker) holds {kind}, not a JSON object"
    return value, None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "require_running": {"type": "bool", "default": True},
            "authkey_path": {"type": "path", "default": "/etc/corosync/authkey"},
            "config_path": {"type": "path", "default": "/etc/corosync/corosync.conf"},
            "removed_marker": {"type": "path", "default": "/var/lib/quorate/removed"},
        },
        supports_check_mode=True,
    )
    try:
        node = {"authkey": authkey_fingerprint(module.params["authkey_path"])}
    except OSError as exc:
        module.fail_json(msg=f"cannot read {module.params['authkey_path']} (authkey_path): {exc}")
    try:
        node["config_managed"] = config_managed(module.params["config_path"])
    except OSError as exc:
        module.fail_json(msg=f"cannot read {module.params['config_path']} (config_path): {exc}")
    node["removed"], warning = removed_marker(module.params["removed_marker"])
    if warning:
        module.warn(warning)
    node["installed"] = all(module.get_bin_path(tool) for tool in (CMAPCTL, QUORUMTOOL))
    node["service"] = service_state(module)
    node["version"] = installed_version(module)
    node["version_replaced"] = running_replaced(node["service"]["main_pid"])
    if not node["installed"] and not module.params["require_running"]:
        module.exit_json(changed=False, running=False, msg="corosync is not installed", **node)
    runtime = corosync_runtime(module, snapshot=True)  # one cmap read for all the keys below
    try:
        facts = gather(runtime)
    except CorosyncNotRunning as exc:
        if module.params["require_running"]:
            module.fail_json(msg=f"{exc}; start corosync (systemctl start corosync) or set require_running=false")
        module.exit_json(changed=False, running=False, msg=str(exc), **node)
    except CorosyncQueryError as exc:
        module.fail_json(msg=str(exc), rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)
    module.exit_json(changed=False, **facts, **node)


if __name__ == "__main__":
    main()

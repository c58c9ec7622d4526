#!/usr/bin/python
# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: restart_needed
short_description: Tell which services of a node's cluster stack run stale files and need a restart
version_added: 0.1.0
description:
  - For each service of the node's stack, given bottom-up (corosync first), finds out whether its
    running main process predates a change that only a restart applies. A service is stale when,
    since its main process started, one of its O(paths) was rewritten, a restart-pending
    marker was written for it in O(marker_dir), or its executable or a shared library it maps was
    replaced (a package upgrade).
  - Returns the restart plan for the node. Restarting a layer takes down the layers above it, so the
    plan begins at the lowest stale (or stopped) service and includes every service above it.
  - Markers exist because a file alone cannot tell a change that C(corosync-cfgtool -R) applied
    from one that waits for a restart; the M(quorate.cluster.corosync_conf) caller writes them. A
    marker older than the service's start is spent.
  - Never changes anything.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
  - quorate.cluster.attributes.no_diff
options:
  services:
    description: The node's systemd units, bottom-up in start order.
    type: list
    elements: str
    required: true
  paths:
    description:
      - Per unit, absolute paths of files whose change after the unit started means it runs stale
        content (program files, keys). Units not in O(services) are ignored.
      - The unit's own unit file and drop-ins always count; they need not be listed.
    type: dict
    default: {}
  marker_dir:
    description: Directory of the restart-pending markers, one file per unit name.
    type: path
    default: /var/lib/quorate/restart-pending
  force:
    description: Plan a restart of the whole stack whatever changed.
    type: bool
    default: false
notes:
  - Uses C(systemctl show) and C(/proc/<pid>/maps); run it as root.
"""

EXAMPLES = r"""
- name: Find out what this node must restart
  quorate.cluster.restart_needed:
    services: [corosync, quorate-ckptd, quorate-controld]
    paths:
      corosync: [/etc/corosync/authkey]
      quorate-ckptd: [/usr/lib/quorate/quorate_node.zip]
      quorate-controld: [/usr/lib/quorate/quorate_node.zip]
  register: node_plan

- name: Restart only when something changed
  ansible.builtin.debug:
    msg: "restart {{ node_plan.restart | join(', ') }}"
  when: node_plan.restart | length > 0
"""

RETURN = r"""
restart:
  description: The services to restart on this node, bottom-up; empty when everything runs current files.
  returned: always
  type: list
  elements: str
  sample: [quorate-ckptd, quorate-controld]
stale:
  description: The services that run stale files (a subset of RV(restart)).
  returned: always
  type: list
  elements: str
  sample: [quorate-ckptd]
services:
  description: Per service, its live state and why it is stale.
  returned: always
  type: dict
  sample:
    quorate-ckptd:
      name: quorate-ckptd
      running: true
      pid: 812
      started: 1795620000.12
      stale: true
      reasons: ["/usr/lib/quorate/quorate_node.zip changed after the service started"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils._modules.module_support import command_runner
from ansible_collections.quorate.cluster.plugins.module_utils._modules.restart_state import (
    DEFAULT_MARKER_DIR,
    ServiceInspector,
    file_mtime,
    file_text,
    judge,
    restart_plan,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "services": {"type": "list", "elements": "str", "required": True},
            "paths": {"type": "dict", "default": {}},
            "marker_dir": {"type": "path", "default": DEFAULT_MARKER_DIR},
            "force": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    names = module.params["services"]
    if not names:
        module.fail_json(msg="services must name at least one systemd unit")
    if len(set(names)) != len(names):
        module.fail_json(msg=f"services: each unit may appear once, got {names}")
    paths = module.params["paths"]
    for unit, files in paths.items():
        if not isinstance(files, list) or not all(isinstance(path, str) for path in files):
            module.fail_json(msg=f"paths.{unit} must be a list of file paths, got {files!r}")
    inspector = ServiceInspector(command_runner(module), systemctl=module.get_bin_path("systemctl", required=True))
    states = {}
    for name in names:
        try:
            state = inspector.state(name)
        except RuntimeError as exc:
            module.fail_json(msg=f"services: cannot read the state of {name}: {exc}")
        replaced = inspector.replaced_programs(state.pid) if state.running else []
        watched = list(paths.get(name, [])) + state.unit_files
        marker = os.path.join(module.params["marker_dir"], name)
        states[name] = judge(state, watched, marker, file_mtime, file_text, replaced)
    module.exit_json(
        changed=False,
        restart=restart_plan(names, states, force=module.params["force"]),
        stale=[name for name in names if states[name].stale],
        services={name: state.as_dict() for name, state in states.items()},
    )


if __name__ == "__main__":
    main()

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: corosync_node
short_description: Turn a host's variables into its corosync nodelist entry
version_added: 0.1.0
description:
  - Builds C({nodeid, name, addrs}) from C(quorate_corosync_nodeid), C(quorate_corosync_addrs) and the
    inventory name, the shape the M(quorate.cluster.corosync_conf) module takes.
author:
  - quorate.cluster developers (@quorate)
options:
  _input:
    description: One host's hostvars.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Nodelist of the play
  ansible.builtin.debug:
    msg: "{{ ansible_play_hosts_all | map('extract', hostvars) | map('quorate.cluster.corosync_node') | list }}"
"""

RETURN = r"""
_value:
  description: The nodelist entry.
  type: dict
"""

from ansible.errors import AnsibleFilterError


def corosync_node(hostvars: dict) -> dict:
    try:
        return {
            "nodeid": int(hostvars["quorate_corosync_nodeid"]),
            "name": str(hostvars.get("quorate_corosync_name", hostvars["inventory_hostname"])),
            "addrs": [str(addr) for addr in hostvars["quorate_corosync_addrs"]],
        }
    except (KeyError, TypeError, ValueError) as exc:
        host = hostvars.get("inventory_hostname", "?")
        raise AnsibleFilterError(f"{host}: quorate_corosync_nodeid / quorate_corosync_addrs: {exc}") from exc


class FilterModule:
    def filters(self) -> dict:
        return {"corosync_node": corosync_node}

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: corosync_nodelist_conflicts
short_description: Find hosts new to the running cluster whose node id or address a live member has
version_added: 0.2.0
description:
  - Reads, on every host of the play, C(quorate_corosync_nodeid), C(quorate_corosync_addrs) and what the
    corosync role registered from M(quorate.cluster.corosync_info) (C(__quorate_corosync_before), whose
    C(nodelist_nodes) is the running nodelist).
  - A host whose corosync does not run this collection's configuration (a node the play adds, or a member
    whose corosync is stopped) must match its own entry of the running nodelist exactly, or use a node id and
    addresses no entry has. Returns one message per conflict, naming the host and the variable.
  - Internal to the corosync role, which stops the play on any conflict before a node is changed.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.play_hosts
"""

EXAMPLES = r"""
- name: Refuse a new node that collides with a live member
  ansible.builtin.fail:
    msg: "{{ conflicts | join('; ') }}"
  when: conflicts | length > 0
  vars:
    conflicts: "{{ ansible_play_hosts_all | map('extract', hostvars) | quorate.cluster.corosync_nodelist_conflicts }}"
"""

RETURN = r"""
_value:
  description: One message per conflict; empty when there is none.
  type: list
  elements: str
"""

from ansible_collections.quorate.cluster.plugins.module_utils._modules.cluster_preflight import (
    nodelist_conflicts as decide,
)
from ansible_collections.quorate.cluster.plugins.plugin_utils.play_hosts import play_hosts_vars


def corosync_nodelist_conflicts(hosts) -> list:
    hosts = play_hosts_vars(hosts, "corosync_nodelist_conflicts")
    return decide(hosts)


class FilterModule:
    def filters(self) -> dict:
        return {"corosync_nodelist_conflicts": corosync_nodelist_conflicts}

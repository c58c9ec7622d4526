# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: preflight_errors
short_description: List what is wrong with the cluster's inventory, by variable name
version_added: 0.1.0
description:
  - Checks the corosync or controld settings of every host of the play before any node is touched.
  - Returns a list of messages, each naming the variable (and host) to fix; empty when all is well.
author:
  - quorate.cluster developers (@quorate)
positional: kind
options:
  _input:
    description: The play's hostvars restricted to its hosts (C(dict(ansible_play_hosts_all | zip(...))))
    type: dict
    required: true
  kind:
    description:
      - V(corosync), V(two_node) or V(controld).
      - V(two_node) is the bring-up's rule for a cluster of two nodes (a quorum device or C(two_node) set
        either way in C(quorum)); its O(settings) holds C(quorum).
    type: str
    required: true
  settings:
    description:
      - The cluster-wide settings of that role.
      - For V(corosync), C(per_host) may map each host to its own C(totem), C(quorum) and C(cluster_name);
        each must then be the same on every host. C(qnetd_hosts), the hosts of group C(quorate_qnetd), are
        checked against the quorum device.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Validate the inventory
  ansible.builtin.assert:
    that: errors | length == 0
    fail_msg: "{{ errors | join('; ') }}"
  vars:
    errors: "{{ hosts_vars | quorate.cluster.preflight_errors('corosync', settings) }}"
"""

RETURN = r"""
_value:
  description: One message per problem.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.cluster_preflight import (
    controld_errors,
    corosync_errors,
    two_node_errors,
)


def preflight_errors(hosts: dict, kind: str, settings: dict) -> list:
    if kind == "corosync":
        return corosync_errors(
            hosts,
            settings.get("totem"),
            settings.get("quorum", {}),
            settings.get("cluster_name"),
            settings.get("per_host"),
            settings.get("qnetd_hosts"),
        )
    if kind == "two_node":
        return two_node_errors(sorted(hosts), settings.get("quorum", {}))
    if kind == "controld":
        return controld_errors(
            settings.get("daemons"),
            settings.get("prefix"),
            settings.get("fs_name"),
            settings.get("local_retention"),
            settings.get("daemon_max_protocol", ""),
            settings.get("fs_max_protocol", ""),
        )
    raise AnsibleFilterError(f"preflight_errors: unknown kind {kind!r} (corosync, two_node or controld)")


class FilterModule:
    def filters(self) -> dict:
        return {"preflight_errors": preflight_errors}

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: corosync_missing
short_description: List the nodes without corosync at the start of the corosync role
version_added: 0.2.0
description:
  - Reads C(__quorate_corosync_before) (registered from M(quorate.cluster.corosync_info)) on every host of the
    play and lists, in play order, the hosts where corosync was not installed. A host without that result
    counts as missing.
  - Internal to the corosync role.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.play_hosts
"""

EXAMPLES = r"""
- name: Check that corosync can be installed where it is missing
  ansible.builtin.fail:
    msg: "corosync is not installed on {{ missing | join(', ') }}"
  when: missing | length > 0
  vars:
    missing: "{{ ansible_play_hosts_all | map('extract', hostvars) | quorate.cluster.corosync_missing }}"
"""

RETURN = r"""
_value:
  description: The inventory names of the hosts without corosync, in play order.
  type: list
  elements: str
"""

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import corosync_missing as decide
from ansible_collections.quorate.cluster.plugins.plugin_utils.play_hosts import play_hosts_vars


def corosync_missing(hosts) -> list:
    hosts = play_hosts_vars(hosts, "corosync_missing")
    return decide(hosts)


class FilterModule:
    def filters(self) -> dict:
        return {"corosync_missing": corosync_missing}

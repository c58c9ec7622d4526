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
options:
  _input:
    description: The vars of every host of the play (the play hosts extracted from C(hostvars), see the example).
    type: list
    elements: dict
    required: true
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

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import corosync_missing as decide


def corosync_missing(hosts) -> list:
    hosts = list(hosts) if hosts is not None and not isinstance(hosts, (str, bytes, dict)) else None
    if hosts is None or not all(hasattr(host, "get") for host in hosts):
        raise AnsibleFilterError("corosync_missing: expects the list of the play hosts' vars")
    return decide(hosts)


class FilterModule:
    def filters(self) -> dict:
        return {"corosync_missing": corosync_missing}

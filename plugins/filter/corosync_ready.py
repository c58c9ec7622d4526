# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: corosync_ready
short_description: Tell whether a corosync_info result already shows what the membership barrier waits for
version_added: 0.2.0
description:
  - True when the M(quorate.cluster.corosync_info) result shows corosync running and quorate, every given node
    id a member, and the live token equal to the expected one (see the P(quorate.cluster.effective_token#filter)
    filter). The corosync role then skips its barrier when the run changed nothing.
author:
  - quorate.cluster developers (@quorate)
options:
  _input:
    description: A M(quorate.cluster.corosync_info) result.
    type: dict
    required: true
  nodeids:
    description: The node ids that must be members.
    type: list
    elements: int
    required: true
  expected_token:
    description: The runtime token the configuration gives, in ms.
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Wait for the membership only when the state read at the start does not show it
  ansible.builtin.include_tasks: barrier.yml
  when: not (corosync_state | quorate.cluster.corosync_ready(nodeids, expected_token))
  vars:
    nodeids: "{{ ansible_play_hosts_all | map('extract', hostvars, 'quorate_corosync_nodeid') | list }}"
    expected_token: "{{ quorate_corosync_totem | quorate.cluster.effective_token(ansible_play_hosts_all | length) }}"
"""

RETURN = r"""
_value:
  description: Whether the barrier would pass on what was read.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import (
    corosync_ready as decide,
)


def corosync_ready(before, nodeids, expected_token) -> bool:
    if not isinstance(before, dict):
        raise AnsibleFilterError("corosync_ready: expects a corosync_info result")
    if isinstance(nodeids, (str, bytes)) or not hasattr(nodeids, "__iter__"):
        raise AnsibleFilterError("corosync_ready: nodeids must be a list of node ids")
    return decide(before, list(nodeids), expected_token)


class FilterModule:
    def filters(self) -> dict:
        return {"corosync_ready": corosync_ready}

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: shrink_plan
short_description: Plan the removal of the hosts marked quorate_corosync_remove, or say why it is refused
version_added: 0.2.0
description:
  - Reads, on every host of the play, C(quorate_corosync_remove) (true on a host that leaves the cluster),
    C(quorate_corosync_nodeid) and what M(quorate.cluster.corosync_info) read at the start of the play
    (C(__quorate_corosync_before), whose running, quorate, members and nodelist_nodes it reads).
  - Every node has one vote. After the change the cluster expects one per remaining node and needs a majority,
    or one with C(two_node), which the plan sets when two nodes remain unless C(quorate_corosync_quorum) sets
    C(two_node) either way.
  - Refuses, naming the variable, a removal of every host, the removal of a host the running cluster does not
    have (it would be added and removed at once), and a removal after which the live votes of the remaining
    nodes do not reach quorum (unless O(force)).
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.play_hosts
options:
  quorum:
    description: The quorum settings, C(quorate_corosync_quorum).
    type: dict
    required: true
  force:
    description: C(quorate_force_remove); go ahead even when the remaining nodes would not be quorate.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Refuse a removal that would go wrong, before any node changes
  ansible.builtin.fail:
    msg: "{{ plan.errors | join('; ') }}"
  when: plan.errors | length > 0
  vars:
    plan: >-
      {{ ansible_play_hosts_all | map('extract', hostvars)
         | quorate.cluster.shrink_plan(quorate_corosync_quorum, quorate_force_remove | default(false)) }}
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    remove:
      description: The hosts that leave, in play order.
      type: list
      elements: str
    keep:
      description: The hosts that remain, in play order.
      type: list
      elements: str
    expected_votes:
      description: The expected votes after the change.
      type: int
    votes_left:
      description: Live members among the remaining hosts (null when nothing is removed).
      type: int
    quorum_votes:
      description: The votes the remaining nodes need (null when nothing is removed).
      type: int
    quorum:
      description: The quorum section to write on the remaining nodes.
      type: dict
    errors:
      description: Why the removal is refused; empty when it may go ahead.
      type: list
      elements: str
    forced:
      description: With O(force), the quorum refusal that was overridden.
      type: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.shrink_plan import shrink_plan as decide
from ansible_collections.quorate.cluster.plugins.plugin_utils.play_hosts import play_hosts_vars


def shrink_plan(hosts, quorum, force=False) -> dict:
    hosts = play_hosts_vars(hosts, "shrink_plan")
    if not isinstance(quorum, Mapping):
        raise AnsibleFilterError("shrink_plan: quorum must be the quorum settings, a dict")
    return decide(hosts, quorum, force)


class FilterModule:
    def filters(self) -> dict:
        return {"shrink_plan": shrink_plan}

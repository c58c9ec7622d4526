# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: shrink_plan
short_description: Plan the removal of the hosts marked quorate_corosync_remove, or say why it is refused
version_added: 0.2.0
description:
  - Reads, on every host of the cluster's group, C(quorate_corosync_remove) (true on a host that leaves),
    C(quorate_corosync_dead) (true on a host gone for good, never contacted), C(quorate_corosync_nodeid) and,
    on the reachable hosts, what M(quorate.cluster.corosync_info) read at the start of the play
    (C(__quorate_corosync_before), whose running, quorate, members, nodelist_nodes and removed it reads).
  - Plans one step per leaving node still in the running nodelist, the dead ones first; each step stops the
    node (when reachable), drops it from the nodelist of the nodes that stay, and reloads once.
  - Every node has one vote. A nodelist of n nodes expects n votes and needs a majority, or one with
    C(two_node) at two nodes (written there unless C(quorate_corosync_quorum) sets C(two_node) either way).
  - Refuses, naming the variable, a removal of every host; a host marked for removal that the running cluster
    does not have and did not remove before; a dead host that is a member; a host of the group that is not in
    the running nodelist (this plan only removes); a running nodelist entry with no host in the group; and a
    removal after which, or during which, the live votes do not reach quorum (unless O(force)).
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
  cluster_name:
    description: C(quorate_corosync_cluster_name), to recognise the marker an earlier removal left on a node.
    type: str
    version_added: 0.3.0
"""

EXAMPLES = r"""
- name: Refuse a removal that would go wrong, before any node changes
  ansible.builtin.fail:
    msg: "{{ plan.errors | join('; ') }}"
  when: plan.errors | length > 0
  vars:
    plan: >-
      {{ groups['quorate_cluster'] | map('extract', hostvars)
         | quorate.cluster.shrink_plan(quorate_corosync_quorum, quorate_force_remove | default(false),
                                       quorate_corosync_cluster_name) }}
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
    dead:
      description: The hosts declared dead (never contacted).
      type: list
      elements: str
      version_added: 0.3.0
    steps:
      description:
        - One per leaving node still in the running nodelist, in the order they run.
        - Each holds C(host), C(nodeid), C(contact) (reachable, stopped in its step), C(nodes_after) (the
          hosts in the nodelist after the step), C(members_after) (the node ids that should then be members)
          and C(expected_votes) (after the step).
      type: list
      elements: dict
      version_added: 0.3.0
    done:
      description: Hosts marked for removal that are already out of the running nodelist.
      type: list
      elements: str
      version_added: 0.3.0
    expected_votes_before:
      description: The expected votes of the running nodelist.
      type: int
      version_added: 0.3.0
    expected_votes:
      description: The expected votes after the change.
      type: int
    votes_left:
      description: Live members among the remaining hosts (null when nothing is removed).
      type: int
    quorum_votes:
      description: The votes the remaining nodes need (null when nothing is removed).
      type: int
    summary:
      description: One line for the operator, once the plan is sound (which nodes, in which order, the votes).
      type: str
      version_added: 0.3.0
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


def shrink_plan(hosts, quorum, force=False, cluster_name=None) -> dict:
    hosts = play_hosts_vars(hosts, "shrink_plan")
    if not isinstance(quorum, Mapping):
        raise AnsibleFilterError("shrink_plan: quorum must be the quorum settings, a dict")
    return decide(hosts, quorum, force, cluster_name)


class FilterModule:
    def filters(self) -> dict:
        return {"shrink_plan": shrink_plan}

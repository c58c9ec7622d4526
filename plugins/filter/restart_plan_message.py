# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: restart_plan_message
short_description: Say in one line what a node restarts and why
version_added: 0.2.0
description:
  - Takes a M(quorate.cluster.restart_needed) result and tells what the node restarts, in order (or that it has
    nothing to restart), then, for each stale unit, the reasons.
  - Internal to the C(quorate.cluster.rolling_restart) playbook.
author:
  - quorate.cluster developers (@quorate)
options:
  _input:
    description: The node's inventory name.
    type: str
    required: true
  plan:
    description: The node's M(quorate.cluster.restart_needed) result.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Show the plan
  ansible.builtin.debug:
    msg: "{{ inventory_hostname | quorate.cluster.restart_plan_message(quorate_restart_plan) }}"
"""

RETURN = r"""
_value:
  description: "For example C(n1: restart corosync -> quorate-ckptd; corosync: authkey changed)."
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import (
    restart_plan_message as decide,
)


def restart_plan_message(host, plan) -> str:
    if not hasattr(plan, "get"):
        raise AnsibleFilterError("restart_plan_message: expects a restart_needed result")
    return decide(str(host), plan)


class FilterModule:
    def filters(self) -> dict:
        return {"restart_plan_message": restart_plan_message}

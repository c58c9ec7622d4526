# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: rolling_ckptd_members
short_description: Count the checkpoint services the rolling restart expects in the group
version_added: 0.2.0
description:
  - Every host of the play, less the hosts whose checkpoint service was down at the plan
    (P(quorate.cluster.rolling_ckptd_down#filter)) and whose turn has not come.
  - With O(host) (the node about to restart), that node and those after it in play order have not had their
    turn; the nodes before it run the service again. Without, no node has (before the roll).
  - Internal to the C(quorate.cluster.rolling_restart) playbook.
author:
  - quorate.cluster developers (@quorate)
options:
  _input:
    description: The inventory names of the hosts of the play, in play order (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  down:
    description: The hosts whose checkpoint service was down at the plan.
    type: list
    elements: str
    required: true
  host:
    description: The node about to restart; omitted before the roll.
    type: str
"""

EXAMPLES = r"""
- name: Before this node | the checkpoint service is whole and synchronised
  quorate.cluster.ckpt_service_wait:
    members: "{{ ansible_play_hosts_all | quorate.cluster.rolling_ckptd_members(ckptd_down, inventory_hostname) }}"
"""

RETURN = r"""
_value:
  description: The number of checkpoint services to wait for.
  type: int
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import (
    rolling_ckptd_members as decide,
)


def rolling_ckptd_members(hosts, down, host=None) -> int:
    for name, value in (("hosts", hosts), ("down", down)):
        if not isinstance(value, (list, tuple)):
            raise AnsibleFilterError(f"rolling_ckptd_members: {name} must be a list of host names")
    try:
        return decide(list(hosts), down, host)
    except ValueError as exc:
        raise AnsibleFilterError(f"rolling_ckptd_members: {exc}") from exc


class FilterModule:
    def filters(self) -> dict:
        return {"rolling_ckptd_members": rolling_ckptd_members}

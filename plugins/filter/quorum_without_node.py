# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: quorum_without_node
short_description: Tell whether the other nodes keep quorum when this one stops
version_added: 0.2.0
description:
  - Takes a M(quorate.cluster.corosync_wait) result read on this node. True when the votes present less this
    node's votes still reach the quorum.
  - Internal to the C(quorate.cluster.rolling_restart) playbook.
author:
  - quorate.cluster developers (@quorate)
options:
  _input:
    description: The M(quorate.cluster.corosync_wait) result (C(total_votes), C(node_votes), C(quorum_votes)).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: The others keep quorum without this node
  ansible.builtin.assert:
    that: membership | quorate.cluster.quorum_without_node
"""

RETURN = r"""
_value:
  description: Whether stopping this node keeps the cluster quorate.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import (
    quorum_without_node as decide,
)


def quorum_without_node(votes) -> bool:
    try:
        return decide(votes)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"quorum_without_node: expects a corosync_wait result with its votes ({exc})") from exc


class FilterModule:
    def filters(self) -> dict:
        return {"quorum_without_node": quorum_without_node}

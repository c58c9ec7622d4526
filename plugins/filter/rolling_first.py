# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: rolling_first
short_description: Tell whether no node before this one restarted anything in the rolling restart
version_added: 0.2.0
description:
  - Reads C(quorate_restart_plan) (registered from M(quorate.cluster.restart_needed)) of every host before the
    given one, in play order. True when none of them has anything to restart; the health checks of the
    rolling restart's first play then still stand for this node.
  - Internal to the C(quorate.cluster.rolling_restart) playbook.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.play_hosts
options:
  host:
    description: This host's inventory name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Wait for the membership again unless no node restarted before this one
  quorate.cluster.corosync_wait:
    members: 3
  when: not (ansible_play_hosts_all | map('extract', hostvars) | quorate.cluster.rolling_first(inventory_hostname))
"""

RETURN = r"""
_value:
  description: Whether no host before this one restarts anything.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import rolling_first as decide
from ansible_collections.quorate.cluster.plugins.plugin_utils.play_hosts import play_hosts_vars


def rolling_first(hosts, host) -> bool:
    hosts = play_hosts_vars(hosts, "rolling_first")
    try:
        return decide(hosts, host)
    except ValueError as exc:
        raise AnsibleFilterError(f"rolling_first: {exc}") from exc


class FilterModule:
    def filters(self) -> dict:
        return {"rolling_first": rolling_first}

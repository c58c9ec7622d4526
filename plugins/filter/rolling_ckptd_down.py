# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: rolling_ckptd_down
short_description: List the nodes whose checkpoint service was down when the rolling restart's plan was read
version_added: 0.2.0
description:
  - Reads C(quorate_restart_plan) (registered from M(quorate.cluster.restart_needed)) on every host of the play
    and lists, in play order, the hosts where C(quorate-ckptd) was not running. Hosts without a plan are left out.
  - The plan starts their service in their turn; the rolling restart does not wait for them before that (see
    P(quorate.cluster.rolling_ckptd_members#filter)).
  - Internal to the C(quorate.cluster.rolling_restart) playbook.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.play_hosts
"""

EXAMPLES = r"""
- name: Wait for the checkpoint service where it runs
  quorate.cluster.ckpt_service_wait:
    members: 3
  when: inventory_hostname not in ckptd_down
  vars:
    ckptd_down: "{{ ansible_play_hosts_all | map('extract', hostvars) | quorate.cluster.rolling_ckptd_down }}"
"""

RETURN = r"""
_value:
  description: The inventory names of the hosts whose checkpoint service was down, in play order.
  type: list
  elements: str
"""

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import (
    rolling_ckptd_down as decide,
)
from ansible_collections.quorate.cluster.plugins.plugin_utils.play_hosts import play_hosts_vars


def rolling_ckptd_down(hosts) -> list:
    hosts = play_hosts_vars(hosts, "rolling_ckptd_down")
    return decide(hosts)


class FilterModule:
    def filters(self) -> dict:
        return {"rolling_ckptd_down": rolling_ckptd_down}

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: corosync_reload_needed
short_description: Tell whether corosync-cfgtool -R has a change to apply in the corosync role
version_added: 0.2.0
description:
  - Reads, on every host of the play, what the corosync role registered (C(__quorate_corosync_before) from
    M(quorate.cluster.corosync_info), C(__quorate_corosync_conf) from M(quorate.cluster.corosync_conf),
    C(__quorate_corosync_replaced) from the restart of a foreign corosync).
  - Only nodes whose corosync ran at the start and was not restarted count (a restarted one read the new file).
    True when one of them got a live-reloadable change, or its runtime token differs from the expected one (an
    earlier run wrote the file but did not reload).
  - Internal to the corosync role.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.play_hosts
options:
  expected_token:
    description: The runtime token the configuration gives, in ms.
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Apply a live-reloadable change once
  ansible.builtin.command: corosync-cfgtool -R
  run_once: true
  changed_when: true
  when: >-
    ansible_play_hosts_all | map('extract', hostvars)
    | quorate.cluster.corosync_reload_needed(quorate_corosync_totem | quorate.cluster.effective_token(3))
"""

RETURN = r"""
_value:
  description: Whether to run C(corosync-cfgtool -R).
  type: bool
"""

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import (
    corosync_reload_needed as decide,
)
from ansible_collections.quorate.cluster.plugins.plugin_utils.play_hosts import play_hosts_vars


def corosync_reload_needed(hosts, expected_token) -> bool:
    hosts = play_hosts_vars(hosts, "corosync_reload_needed")
    return decide(hosts, expected_token)


class FilterModule:
    def filters(self) -> dict:
        return {"corosync_reload_needed": corosync_reload_needed}

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: corosync_reload_host
short_description: Pick the member of the running cluster that runs corosync-cfgtool -R
version_added: 0.2.0
description:
  - Reads, on every host of the play, what the corosync role registered (C(__quorate_corosync_before) from
    M(quorate.cluster.corosync_info), C(__quorate_corosync_replaced) from the restart of a foreign corosync).
  - Returns the first host, in play order, whose corosync ran at the start of the play and was not restarted
    since, so that the one reload runs on a member of the running cluster, never on a node the play adds
    (whose corosync is not running yet). Null when there is none (then there is nothing to reload).
  - Internal to the corosync role.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.play_hosts
"""

EXAMPLES = r"""
- name: Apply a live-reloadable change once, on a member of the running cluster
  ansible.builtin.command: corosync-cfgtool -R
  run_once: true
  delegate_to: "{{ ansible_play_hosts_all | map('extract', hostvars) | quorate.cluster.corosync_reload_host }}"
  changed_when: true
"""

RETURN = r"""
_value:
  description: The inventory name of the host, or null.
  type: str
"""

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import (
    corosync_reload_host as decide,
)
from ansible_collections.quorate.cluster.plugins.plugin_utils.play_hosts import play_hosts_vars


def corosync_reload_host(hosts) -> str | None:
    hosts = play_hosts_vars(hosts, "corosync_reload_host")
    return decide(hosts)


class FilterModule:
    def filters(self) -> dict:
        return {"corosync_reload_host": corosync_reload_host}

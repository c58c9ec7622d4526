# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: corosync_takeover
short_description: Tell which nodes run a corosync this collection did not configure
version_added: 0.2.0
description:
  - Takes the M(quorate.cluster.corosync_info) result of every host of the play (run with
    C(require_running=false)) and sorts the nodes whose corosync runs with a configuration this
    collection did not write.
  - C(standalone) nodes run a one-node cluster on loopback only (what the Debian package starts with
    when it is installed); nothing else can be in that cluster, and the corosync role replaces it.
  - C(members) nodes belong to a cluster that reaches other addresses (another tool's cluster, a node
    taken over); the corosync role replaces their configuration only with C(quorate_corosync_takeover=true).
author:
  - quorate.cluster developers (@quorate)
options:
  _input:
    description: Host name to its M(quorate.cluster.corosync_info) result.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse to take nodes out of another cluster
  ansible.builtin.fail:
    msg: "corosync on {{ takeover.described | join('; ') }} belongs to another cluster"
  when: takeover.members | length > 0
  vars:
    takeover: >-
      {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'corosync_state')))
         | quorate.cluster.corosync_takeover }}
"""

RETURN = r"""
_value:
  description:
    - C(standalone) and C(members), lists of host names.
    - C(described), one phrase per member with its cluster name and nodelist.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.cluster_preflight import foreign_corosync


def corosync_takeover(states) -> dict:
    if not isinstance(states, dict):
        raise AnsibleFilterError("corosync_takeover: expects a dict of host name to corosync_info result")
    return foreign_corosync(states)


class FilterModule:
    def filters(self) -> dict:
        return {"corosync_takeover": corosync_takeover}

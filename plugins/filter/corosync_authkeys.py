# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: corosync_authkeys
short_description: Tell which nodes hold a corosync authkey and whether all hold the same one
version_added: 0.2.0
description:
  - Takes the C(authkey) fingerprint that M(quorate.cluster.corosync_info) returns for every host of the play
    (SHA-256, mode, owner, group; never the key) and tells whether the corosync role has a key to copy.
author:
  - quorate.cluster developers (@quorate)
options:
  _input:
    description: Host name to its C(authkey) fingerprint, in play order.
    type: dict
    required: true
  states:
    description:
      - Host name to its M(quorate.cluster.corosync_info) result. Hosts whose corosync runs this collection's
        configuration (C(running) and C(config_managed)) hold the running cluster's key and come first among
        the holders, so a node being added never hands its own key to the members.
    type: dict
"""

EXAMPLES = r"""
- name: Copy the key only where it is missing or different
  ansible.builtin.include_tasks: authkey.yml
  when: not keys.in_sync
  vars:
    keys: >-
      {{ dict(ansible_play_hosts_all
              | zip(ansible_play_hosts_all | map('extract', hostvars, ['corosync_state', 'authkey'])))
         | quorate.cluster.corosync_authkeys }}
"""

RETURN = r"""
_value:
  description:
    - C(holders), the hosts that have a key, those of the running cluster (O(states)) first, then in play order.
    - C(in_sync), true when every host holds one and the same key, mode C(0400), owner and group C(root).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import authkeys


def corosync_authkeys(fingerprints, states=None) -> dict:
    if not isinstance(fingerprints, dict) or not isinstance(states, (dict, type(None))):
        raise AnsibleFilterError(
            "corosync_authkeys: expects a dict of host name to corosync_info's authkey (states: to its result)"
        )
    return authkeys(fingerprints, states)


class FilterModule:
    def filters(self) -> dict:
        return {"corosync_authkeys": corosync_authkeys}

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: hosts_flagged
short_description: The hosts whose boolean variable is true
version_added: 0.3.0
description:
  - Takes the vars of some hosts (C(groups[...] | map('extract', hostvars))) and returns the names of those
    whose O(var) is true, reading true and false as Ansible does (C(-e name=true) gives the string V(true)).
  - A value that is not a boolean fails, naming the host and the variable.
  - The playbooks read C(quorate_corosync_remove) and C(quorate_corosync_dead) with it before any node is touched.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.play_hosts
options:
  var:
    description: The variable's name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The hosts declared dead
  ansible.builtin.debug:
    msg: >-
      {{ groups['quorate_cluster'] | map('extract', hostvars)
         | quorate.cluster.hosts_flagged('quorate_corosync_dead') }}
"""

RETURN = r"""
_value:
  description: The names of the hosts whose O(var) is true, in the order given.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import hosts_flagged as decide
from ansible_collections.quorate.cluster.plugins.plugin_utils.play_hosts import play_hosts_vars


def hosts_flagged(hosts, var) -> list:
    hosts = play_hosts_vars(hosts, "hosts_flagged")
    try:
        return decide(hosts, var)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self) -> dict:
        return {"hosts_flagged": hosts_flagged}

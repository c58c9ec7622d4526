# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: effective_token
short_description: The runtime totem token corosync computes for a cluster of a given size
version_added: 0.2.0
description:
  - Returns C(token) + (nodes - 2) x C(token_coefficient) for 3 or more nodes, and C(token) for 1 or 2, which is
    what corosync reads as C(runtime.config.totem.token) once it runs with that C(totem) section.
  - An unset or null C(token_coefficient) means corosync's default, 650 ms; 0 is a real value (no coefficient).
  - The same computation the preflight check uses for its consensus rule.
author:
  - quorate.cluster developers (@quorate)
options:
  _input:
    description: The C(totem) settings (C(quorate_corosync_totem)); C(token) is required.
    type: dict
    required: true
  nodes:
    description: The number of nodes in the cluster.
    type: int
    required: true
"""

EXAMPLES = r"""
- name: The live token corosync will run with
  ansible.builtin.debug:
    msg: "{{ quorate_corosync_totem | quorate.cluster.effective_token(ansible_play_hosts_all | length) }}"
  # token 3000, token_coefficient 650, 3 nodes: 3650
"""

RETURN = r"""
_value:
  description: The runtime token in milliseconds.
  type: int
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.corosync_conf import effective_token as compute


def effective_token(totem, nodes) -> int:
    if not isinstance(totem, dict) or totem.get("token") is None:
        raise AnsibleFilterError("effective_token: expects the totem settings, a dict with token")
    try:
        return compute(totem["token"], totem.get("token_coefficient"), nodes)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"effective_token: token, token_coefficient and nodes must be integers: {exc}"
        ) from exc


class FilterModule:
    def filters(self) -> dict:
        return {"effective_token": effective_token}

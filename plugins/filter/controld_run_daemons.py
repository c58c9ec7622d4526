# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: controld_run_daemons
short_description: List the controld daemons this node runs, in start order
version_added: 0.2.0
description:
  - Takes C(quorate_controld_daemons) and drops C(dlm_controld) where the controld preflight found no kernel DLM
    (C(/sys/kernel/config/dlm) missing; only reachable with C(quorate_controld_dlm_unsupported=skip)), or did not
    look for it.
  - Internal to the controld role.
author:
  - quorate.cluster developers (@quorate)
options:
  _input:
    description: The daemons to start, in order.
    type: list
    elements: str
    required: true
  dlm:
    description: The registered M(ansible.builtin.stat) result for C(/sys/kernel/config/dlm); null when it was not read.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Start the controld daemons
  quorate.cluster.node_install:
    services: "{{ quorate_controld_daemons | quorate.cluster.controld_run_daemons(dlm_stat | default(none)) }}"
"""

RETURN = r"""
_value:
  description: The daemons to run, in start order.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import (
    controld_run_daemons as decide,
)


def controld_run_daemons(daemons, dlm) -> list:
    if not isinstance(daemons, (list, tuple)):
        raise AnsibleFilterError("controld_run_daemons: expects the list of daemons")
    if dlm is not None and not hasattr(dlm, "get"):
        raise AnsibleFilterError("controld_run_daemons: dlm must be a stat result or null")
    return decide(daemons, dlm)


class FilterModule:
    def filters(self) -> dict:
        return {"controld_run_daemons": controld_run_daemons}

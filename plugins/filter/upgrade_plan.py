# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: upgrade_plan
short_description: Which packages each node of a rolling upgrade gets, or why the upgrade is refused
version_added: 0.3.0
description:
  - Takes, per host, the output of the upgrade role's package query (lines
    C(installed<TAB>name<TAB>version) and C(available<TAB>name<TAB>version), from C(dpkg-query) and
    C(apt-cache madison)) and the packages named in C(quorate_upgrade_packages).
  - Versions compare as C(dpkg --compare-versions) does. A version below the installed one is refused
    unless O(allow_downgrade); so is a version the node's package sources do not offer, and a package
    that is not installed. Every refusal names C(quorate_upgrade_packages) and the host.
author:
  - quorate.cluster developers (@quorate)
options:
  _input:
    description: Host name to the query's output, in the order the roll takes them.
    type: dict
    required: true
  packages:
    description: Package name to version (C(quorate_upgrade_packages)).
    type: dict
    required: true
  allow_downgrade:
    description: Accept versions below the installed ones (C(quorate_upgrade_allow_downgrade)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Plan the upgrade
  ansible.builtin.set_fact:
    plan: >-
      {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, ['query', 'stdout'])))
         | quorate.cluster.upgrade_plan({'corosync': '3.1.7-1+deb12u2+quorate1'}) }}
"""

RETURN = r"""
_value:
  description:
    - C(errors) (list of refusals, empty when the upgrade may go ahead), C(hosts) (per host, C(install),
      name to version of what differs from what is installed, and C(changes), one text per package) and
      C(summary) (one line for the operator).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.module_utils._modules.upgrade_plan import (
    package_errors,
    parse_package_state,
)
from ansible_collections.quorate.cluster.plugins.module_utils._modules.upgrade_plan import (
    upgrade_plan as plan,
)


def upgrade_plan(outputs, packages, allow_downgrade=False) -> dict:
    if not isinstance(outputs, dict):
        raise AnsibleFilterError(f"upgrade_plan: expects host name -> query output, got {type(outputs).__name__}")
    errors = package_errors(packages)
    if errors:
        return {"errors": errors, "hosts": {}, "summary": ""}
    states = {host: parse_package_state(str(text or "")) for host, text in outputs.items()}
    return plan(states, packages, bool(allow_downgrade))


class FilterModule:
    def filters(self) -> dict:
        return {"upgrade_plan": upgrade_plan}

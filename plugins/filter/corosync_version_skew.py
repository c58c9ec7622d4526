# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: corosync_version_skew
short_description: Say why corosync-cfgtool -R must not run while the cluster runs mixed corosync versions
version_added: 0.3.0
description:
  - Reads, on every host of the play, what M(quorate.cluster.corosync_info) registered at the start of the play
    (C(__quorate_corosync_before), whose C(running), C(version) and C(version_replaced) it reads).
  - corosync-cfgtool(8) calls a reload across versions, minor ones included, unsupported. Returns one message
    when the running nodes' installed versions differ or a running corosync still maps a replaced binary (an
    upgrade not yet restarted), otherwise an empty string.
  - The corosync and remove_nodes roles refuse a live-reload change with this message.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.play_hosts
"""

EXAMPLES = r"""
- name: Refuse a reload across corosync versions
  ansible.builtin.fail:
    msg: "{{ skew }}"
  when: skew | length > 0
  vars:
    skew: "{{ ansible_play_hosts_all | map('extract', hostvars) | quorate.cluster.corosync_version_skew }}"
"""

RETURN = r"""
_value:
  description: Why the reload is refused, naming the versions and the hosts; empty when the versions agree.
  type: str
"""

from ansible_collections.quorate.cluster.plugins.module_utils._modules.play_decisions import (
    corosync_version_skew as decide,
)
from ansible_collections.quorate.cluster.plugins.plugin_utils.play_hosts import play_hosts_vars


def corosync_version_skew(hosts) -> str:
    return decide(play_hosts_vars(hosts, "corosync_version_skew"))


class FilterModule:
    def filters(self) -> dict:
        return {"corosync_version_skew": corosync_version_skew}

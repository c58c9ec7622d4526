# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the filters that read every host of the play take: the play hosts extracted from hostvars."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def play_hosts_vars(hosts, filter_name: str) -> list:
    """``hosts`` as a list of the play hosts' vars (each read with ``.get``), or the filter's error."""
    hosts = list(hosts) if hosts is not None and not isinstance(hosts, (str, bytes, dict)) else None
    if hosts is None or not all(hasattr(host, "get") for host in hosts):
        raise AnsibleFilterError(f"{filter_name}: expects the list of the play hosts' vars")
    return hosts

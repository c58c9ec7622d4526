#!/usr/bin/python
# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: corosync_info
short_description: Read the runtime state of the local corosync
version_added: 0.1.0
description:
  - Reads what the running corosync on the node computed and sees, through C(corosync-cmapctl) and
    C(corosync-quorumtool) - the effective totem timing, the members, quorum, ring id and the
    configuration version.
  - The token reported is the runtime (effective) one, which includes the per-node
    C(token_coefficient); with 3 nodes and the default token 3000 it reads 3650.
  - Never changes anything.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
options:
  require_running:
    description:
      - When true, fail if corosync is not running on the node.
      - When false, return RV(running=false) and no runtime values instead, so a play can decide
        whether to start or reload corosync.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
requirements:
  - corosync 3 (C(corosync-cmapctl) and C(corosync-quorumtool)) on the node
seealso:
  - module: quorate.cluster.corosync_wait
"""

EXAMPLES = r"""
- name: Read the live totem timing and membership
  quorate.cluster.corosync_info:
  register: corosync

- name: Show the effective token
  ansible.builtin.debug:
    msg: "token {{ corosync.token }} ms, consensus {{ corosync.consensus }} ms, quorate {{ corosync.quorate }}"

- name: Find out whether corosync runs at all
  quorate.cluster.corosync_info:
    require_running: false
  register: corosync_state
"""

RETURN = r"""
running:
  description: Whether corosync answered on this node.
  returned: always
  type: bool
  sample: true
token:
  description: Effective totem token timeout in ms (C(runtime.config.totem.token)).
  returned: when running
  type: int
  sample: 3650
consensus:
  description: Effective consensus timeout in ms (C(runtime.config.totem.consensus)).
  returned: when running
  type: int
  sample: 4380
join:
  description: Join timeout in ms (C(runtime.config.totem.join)).
  returned: when running
  type: int
  sample: 50
token_retransmits_before_loss_const:
  description: Token retransmits before a loss is declared.
  returned: when running
  type: int
  sample: 4
membership_window:
  description: Seconds one membership change can take, token plus consensus.
  returned: when running
  type: float
  sample: 8.03
totem:
  description: Every C(runtime.config.totem.*) value, keyed by its short name.
  returned: when running
  type: dict
  sample: {"token": 3650, "consensus": 4380, "join": 50, "window_size": 50}
members:
  description: Node ids currently in the membership (the ring this node is in).
  returned: when running
  type: list
  elements: int
  sample: [1, 2, 3]
member_details:
  description: Every node corosync has seen (C(runtime.members)), with its addresses and status.
  returned: when running
  type: list
  elements: dict
  sample: [{"nodeid": 1, "addrs": ["10.89.0.11"], "status": "joined", "join_count": 1}]
nodelist:
  description: Node ids of the configured nodelist.
  returned: when running
  type: list
  elements: int
  sample: [1, 2, 3]
quorate:
  description: Whether the partition this node is in has quorum.
  returned: when running
  type: bool
  sample: true
node_id:
  description: This node's id.
  returned: when running
  type: int
  sample: 1
ring_id:
  description: The current ring id as corosync prints it (C(<representative nodeid>.<seq>), hex).
  returned: when running
  type: str
  sample: "1.9"
expected_votes:
  description: Expected votes.
  returned: when running
  type: int
  sample: 3
total_votes:
  description: Votes present.
  returned: when running
  type: int
  sample: 3
quorum_votes:
  description: Votes the cluster needs to be quorate.
  returned: when running
  type: int
  sample: 2
node_votes:
  description: Votes of this node (what the cluster loses while it is down).
  returned: when running
  type: int
  sample: 1
quorum_flags:
  description: Votequorum flags as printed by C(corosync-quorumtool).
  returned: when running
  type: list
  elements: str
  sample: ["Quorate"]
config_version:
  description: C(totem.config_version), or null when the configuration sets none.
  returned: when running
  type: int
  sample: null
cluster_name:
  description: C(totem.cluster_name).
  returned: when running
  type: str
  sample: quorate
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils.corosync_runtime import (
    CorosyncNotRunning,
    CorosyncQueryError,
    CorosyncRuntime,
)
from ansible_collections.quorate.cluster.plugins.module_utils.module_support import corosync_runtime


def gather(runtime: CorosyncRuntime) -> dict:
    """Everything the module returns, read from a running corosync."""
    totem = runtime.totem()
    timing = runtime.totem_timing()
    quorum = runtime.quorum()
    return {
        "running": True,
        "token": timing.token_ms,
        "consensus": timing.consensus_ms,
        "join": timing.join_ms,
        "token_retransmits_before_loss_const": totem.get("token_retransmits_before_loss_const"),
        "membership_window": round(timing.window_s, 3),
        "totem": totem,
        "members": quorum.members,
        "member_details": [m.as_dict() for m in runtime.members()],
        "nodelist": runtime.nodelist_ids(),
        "quorate": quorum.quorate,
        "node_id": quorum.node_id,
        "ring_id": quorum.ring_id,
        "expected_votes": quorum.expected_votes,
        "total_votes": quorum.total_votes,
        "quorum_votes": quorum.quorum,
        "node_votes": quorum.member_votes.get(quorum.node_id, 1),
        "quorum_flags": quorum.flags,
        "config_version": runtime.config_version(),
        "cluster_name": runtime.cluster_name(),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={"require_running": {"type": "bool", "default": True}},
        supports_check_mode=True,
    )
    runtime = corosync_runtime(module)
    try:
        facts = gather(runtime)
    except CorosyncNotRunning as exc:
        if module.params["require_running"]:
            module.fail_json(msg=f"{exc}; start corosync (systemctl start corosync) or set require_running=false")
        module.exit_json(changed=False, running=False, msg=str(exc))
    except CorosyncQueryError as exc:
        module.fail_json(msg=str(exc), rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)
    module.exit_json(changed=False, **facts)


if __name__ == "__main__":
    main()

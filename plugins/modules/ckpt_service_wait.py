#!/usr/bin/python
# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: ckpt_service_wait
short_description: Wait until the local checkpoint service is synchronised with its group
version_added: 0.1.0
description:
  - Asks the local C(quorate-ckptd) for its status until it reports that the state of every checkpoint
    has been synchronised after the last membership change and its group has at least O(members)
    members. This is the barrier after starting the checkpoint service.
  - Never changes anything.
  - Called C(quorate.cluster.ckptd_wait) before version 0.2.0; that name still works, deprecated,
    and is removed in 2.0.0.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
  - quorate.cluster.attributes.no_diff
  - quorate.cluster.wait
  - quorate.cluster.ckpt_socket
  - quorate.cluster.retry_report
options:
  members:
    description: How many checkpoint daemons must be in the group.
    type: int
    default: 1
"""

EXAMPLES = r"""
- name: Wait until every node's checkpoint service is in the group and synced
  quorate.cluster.ckpt_service_wait:
    members: "{{ ansible_play_hosts_all | length }}"
    timeout: 60
"""

RETURN = r"""
synced:
  description: Whether the service was synchronised when the wait ended.
  returned: always
  type: bool
  sample: true
members:
  description: The group members as [nodeid, pid] pairs.
  returned: always
  type: list
  elements: list
  sample: [[1, 812], [2, 790], [3, 801]]
checkpoints:
  description: How many checkpoints the service holds.
  returned: always
  type: int
  sample: 4
attempts:
  description: Attempts made; part of the retry report, see the notes.
  returned: always
  type: int
  sample: 5
elapsed:
  description: Seconds spent; part of the retry report, see the notes.
  returned: always
  type: float
  sample: 0.21
deadline:
  description: The deadline in seconds that applied; part of the retry report, see the notes.
  returned: always
  type: float
  version_added: 0.2.0
  sample: 9.33
errors:
  description: Count of each error seen, by name; part of the retry report, see the notes.
  returned: always
  type: dict
  version_added: 0.2.0
  sample: {}
case:
  description: >-
    The transient case that stood in the way most often; part of the retry report, see the
    notes.
  returned: always
  type: str
  version_added: 0.2.0
  sample: none
cases:
  description: Count of each transient case; part of the retry report, see the notes.
  returned: always
  type: dict
  version_added: 0.2.0
  sample: {}
token_ms:
  description: >-
    The effective totem token the deadline was derived from; part of the retry report, see the
    notes.
  returned: always
  type: int
  version_added: 0.2.0
  sample: 3650
timing_source:
  description: V(cmap) or V(assumed); part of the retry report, see the notes.
  returned: always
  type: str
  version_added: 0.2.0
  sample: cmap
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils._modules.module_support import (
    policy_from_params,
    socket_argument_spec,
    wait_argument_spec,
    waiting_runtime,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisException
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient
from ansible_collections.quorate.cluster.plugins.module_utils.shared.retry_policy import (
    RetryFailed,
    returned_report,
)


def main() -> None:
    spec = wait_argument_spec()
    spec.update(members={"type": "int", "default": 1}, **socket_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if module.params["members"] < 1:
        module.fail_json(msg=f"members must be at least 1 (got {module.params['members']})")
    policy = policy_from_params(module)
    _runtime, retry = waiting_runtime(module, policy)
    # Every call ends by the wait's deadline, however slowly a reply trickles in.
    client = CheckpointClient(module.params["socket"], time_left=retry.time_left)
    wanted = module.params["members"]

    def check() -> tuple:
        try:
            status = client.status()
        except AisException as exc:
            client.close_connection()
            return False, {"synced": False, "members": [], "checkpoints": 0, "error": str(exc)}
        return bool(status.get("synced")) and len(status.get("members", [])) >= wanted, status

    try:
        status, report = retry.wait_for(check, what="checkpoint service sync")
    except RetryFailed as failed:
        state = failed.state or {}
        module.fail_json(
            msg=f"{failed}: synced={state.get('synced')}, {len(state.get('members', []))} of {wanted} members"
            + (f", {state['error']}" if state.get("error") else ""),
            synced=bool(state.get("synced")),
            members=state.get("members", []),
            checkpoints=state.get("checkpoints", 0),
            **returned_report(failed.report),
        )
    finally:
        client.close_connection()
    module.exit_json(
        changed=False,
        synced=True,
        members=status.get("members", []),
        checkpoints=status.get("checkpoints", 0),
        **returned_report(report),
    )


if __name__ == "__main__":
    main()

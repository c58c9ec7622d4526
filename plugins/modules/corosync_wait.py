#!/usr/bin/python
# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: corosync_wait
short_description: Wait until the expected corosync members are present and the cluster is quorate
version_added: 0.1.0
description:
  - Blocks until every expected node is in this node's current membership and, unless
    O(quorate=false), the partition is quorate. This is the barrier after starting corosync.
  - Polls C(corosync-quorumtool) with the collection's retry policy; see O(timeout) for how long.
  - On timeout it fails and says what was missing, which nodes and whether quorum.
  - Never changes anything.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
  - quorate.cluster.attributes.no_diff
  - quorate.cluster.wait
  - quorate.cluster.retry_report
options:
  members:
    description:
      - The members to wait for, either a list of node ids or a count of members.
      - A list must hold unique positive node ids; a count must be a positive integer.
      - When omitted, every node of the configured nodelist (C(nodelist.node.*.nodeid)) is expected.
    type: raw
  quorate:
    description:
      - Also wait until the partition is quorate.
    type: bool
    default: true
requirements:
  - corosync 3 (C(corosync-cmapctl) and C(corosync-quorumtool)) on the node
seealso:
  - module: quorate.cluster.corosync_info
"""

EXAMPLES = r"""
- name: Wait until nodes 1, 2 and 3 are members and the cluster is quorate
  quorate.cluster.corosync_wait:
    members: [1, 2, 3]
    timeout: 120

- name: Wait for any two members, quorum or not
  quorate.cluster.corosync_wait:
    members: 2
    quorate: false

- name: Wait for the whole configured nodelist with the deadline derived from the live token
  quorate.cluster.corosync_wait:
  register: membership
"""

RETURN = r"""
members:
  description: Node ids in this node's membership when the wait ended.
  returned: always
  type: list
  elements: int
  sample: [1, 2, 3]
expected:
  description: The node ids (or the count) that were waited for.
  returned: always
  type: raw
  sample: [1, 2, 3]
missing:
  description: Expected node ids not in the membership (empty on success, and always empty when O(members) is a count).
  returned: always
  type: list
  elements: int
  sample: []
quorate:
  description: Whether the partition was quorate when the wait ended.
  returned: always
  type: bool
  sample: true
ring_id:
  description: The ring id when the wait ended.
  returned: always
  type: str
  sample: "1.9"
total_votes:
  description: Votes present when the wait ended.
  returned: success
  type: int
  sample: 3
quorum_votes:
  description: Votes the cluster needs to be quorate.
  returned: success
  type: int
  sample: 2
node_votes:
  description: Votes of this node (what the cluster loses while it is down).
  returned: success
  type: int
  sample: 1
token:
  description:
    - The effective totem token in ms (C(runtime.config.totem.token)), read once the wait succeeded, so
      it shows a live change such as C(corosync-cfgtool -R) that took effect meanwhile.
  returned: success
  type: int
  sample: 3650
consensus:
  description: The effective consensus timeout in ms, read with RV(token).
  returned: success
  type: int
  sample: 4380
attempts:
  description: Attempts made; part of the retry report, see the notes.
  returned: always
  type: int
  sample: 31
elapsed:
  description: Seconds spent; part of the retry report, see the notes.
  returned: always
  type: float
  sample: 2.71
deadline:
  description: The deadline in seconds that applied; part of the retry report, see the notes.
  returned: always
  type: float
  sample: 9.33
errors:
  description: Count of each error seen, by name; part of the retry report, see the notes.
  returned: always
  type: dict
  sample: {"COROSYNC_NOT_RUNNING": 3}
case:
  description: >-
    The transient case that stood in the way most often; part of the retry report, see the
    notes.
  returned: always
  type: str
  version_added: 0.2.0
  sample: reconnect
cases:
  description: Count of each transient case; part of the retry report, see the notes.
  returned: always
  type: dict
  version_added: 0.2.0
  sample: {"reconnect": 3}
token_ms:
  description: >-
    The effective totem token the deadline was derived from; part of the retry report, see the
    notes.
  returned: always
  type: int
  sample: 3650
timing_source:
  description: V(cmap) or V(assumed); part of the retry report, see the notes.
  returned: always
  type: str
  sample: cmap
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils._modules.module_support import (
    policy_from_params,
    wait_argument_spec,
    waiting_runtime,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.corosync_runtime import (
    CorosyncQueryError,
    CorosyncRuntime,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.retry_policy import (
    RetryClient,
    RetryFailed,
    ServiceUnavailable,
    returned_report,
)


def parse_members(value: object) -> int | list[int] | None:
    """Validate the ``members`` option: a positive count or a list of unique positive node ids."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"members must be a list of node ids or a count, not a boolean ({value!r})")
    if isinstance(value, (int, str)) and str(value).strip().isdigit():
        count = int(str(value).strip())
        if count < 1:
            raise ValueError("members as a count must be at least 1 (got 0)")
        return count
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError("members must not be an empty list")
        ids: list[int] = []
        for item in value:
            text = str(item).strip()
            if isinstance(item, bool) or not text.isdigit() or int(text) < 1:
                raise ValueError(f"members: {item!r} is not a node id (node ids are positive integers)")
            ids.append(int(text))
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"members: duplicate node ids {dupes}")
        return sorted(ids)
    raise ValueError(f"members must be a list of node ids or a count, got {value!r}")


def missing_members(expected: int | list[int], present: list[int]) -> list[int]:
    """Expected node ids that are absent (a count names no ids: always empty)."""
    if isinstance(expected, int):
        return []
    return [nodeid for nodeid in expected if nodeid not in present]


def members_satisfied(expected: int | list[int], present: list[int]) -> bool:
    if isinstance(expected, int):
        return len(present) >= expected
    return not missing_members(expected, present)


def wait_for_members(
    runtime: CorosyncRuntime, client: RetryClient, expected: int | list[int] | None, want_quorate: bool
):
    """Poll the membership until ``expected`` is present (and quorate).

    ``expected=None`` means the configured nodelist, read once corosync answers (inside the
    same deadline). Returns ``(expected, state, report)``; on timeout the raised
    :class:`RetryFailed` carries ``state`` and ``expected``.
    """
    wanted = {"ids": expected}

    def check():
        if wanted["ids"] is None:
            wanted["ids"] = runtime.nodelist_ids() or None
        state = runtime.quorum()
        done = (
            wanted["ids"] is not None
            and members_satisfied(wanted["ids"], state.members)
            and (state.quorate or not want_quorate)
        )
        return done, state

    try:
        state, report = client.wait_for(check, what="corosync membership")
    except RetryFailed as failed:
        failed.expected = wanted["ids"]
        raise
    return wanted["ids"], state, report


def describe_shortfall(expected, state, want_quorate: bool) -> str:
    if state is None:
        return "corosync never answered"
    if expected is None:
        return "the nodelist could not be read"
    parts = []
    missing = missing_members(expected, state.members)
    if isinstance(expected, int) and not members_satisfied(expected, state.members):
        parts.append(f"{len(state.members)} of {expected} members present {state.members}")
    elif missing:
        parts.append(f"nodes {missing} not in the membership (present: {state.members})")
    if want_quorate and not state.quorate:
        parts.append(f"the partition is not quorate ({state.total_votes} of {state.expected_votes} votes)")
    return "; ".join(parts) or "the condition did not hold"


def main() -> None:
    spec = wait_argument_spec()
    spec.update(members={"type": "raw"}, quorate={"type": "bool", "default": True})
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        expected = parse_members(module.params["members"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    policy = policy_from_params(module)
    runtime, client = waiting_runtime(module, policy)  # no tool call outlives the deadline
    want_quorate = module.params["quorate"]

    try:
        expected, state, report = wait_for_members(runtime, client, expected, want_quorate)
        try:
            live = runtime.totem_timing()  # read after the wait: the timing now in force
        except ServiceUnavailable:
            live = report.timing  # no time left (or corosync went away): the timing the wait used
    except RetryFailed as failed:
        state, expected = getattr(failed, "state", None), failed.expected
        present = state.members if state else []
        module.fail_json(
            msg=f"{failed}: {describe_shortfall(expected, state, want_quorate)}",
            members=present,
            expected=expected,
            missing=missing_members(expected, present) if expected is not None else [],
            quorate=bool(state and state.quorate),
            ring_id=state.ring_id if state else None,
            **returned_report(failed.report),
        )
    except CorosyncQueryError as exc:
        module.fail_json(msg=str(exc), rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)

    module.exit_json(
        token=live.token_ms,
        consensus=live.consensus_ms,
        changed=False,
        members=state.members,
        expected=expected,
        missing=[],
        quorate=state.quorate,
        ring_id=state.ring_id,
        total_votes=state.total_votes,
        quorum_votes=state.quorum,
        node_votes=state.member_votes.get(state.node_id, 1),
        **returned_report(report),
    )


if __name__ == "__main__":
    main()

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
  - After nodes were removed from a live cluster (the leaving node stopped, dropped from every
    nodelist, then one C(corosync-cfgtool -R)), O(absent) and O(expected_votes) also wait until the
    cluster has really taken the change.
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
      - When omitted, every node of the configured nodelist (C(nodelist.node.*.nodeid)) is expected,
        except the node ids in O(absent).
      - A node id must not be in both O(members) and O(absent).
    type: raw
  absent:
    description:
      - Also wait until none of these node ids is in this node's membership, such as a node that was
        stopped to remove it from the cluster.
      - Unique positive node ids.
    type: list
    elements: int
    default: []
    version_added: 0.3.0
  expected_votes:
    description:
      - Also wait until votequorum's expected votes (C(Expected votes) of C(corosync-quorumtool))
        equal this.
      - After a C(corosync-cfgtool -R) that changed the nodelist, corosync recomputes the expected
        votes from the new nodelist; this waits until it has.
      - Must be a positive integer.
    type: int
    version_added: 0.3.0
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

- name: After removing node 4 and reloading (corosync-cfgtool -R), wait until it has left and 3 votes are expected
  quorate.cluster.corosync_wait:
    members: [1, 2, 3]
    absent: [4]
    expected_votes: 3
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
expected_votes:
  description:
    - Votequorum's expected votes when the wait ended (null when corosync never answered).
    - Compare with O(expected_votes) after a failure to see whether a reload took effect.
  returned: always
  type: int
  version_added: 0.3.0
  sample: 3
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

from collections.abc import Sequence

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


def parse_node_ids(option: str, value: list | tuple) -> list[int]:
    """Validate a list of unique positive node ids (``members`` as a list, ``absent``); sorted."""
    ids: list[int] = []
    for item in value:
        text = str(item).strip()
        if isinstance(item, bool) or not text.isdigit() or int(text) < 1:
            raise ValueError(f"{option}: {item!r} is not a node id (node ids are positive integers)")
        ids.append(int(text))
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"{option}: duplicate node ids {dupes}")
    return sorted(ids)


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
        return parse_node_ids("members", value)
    raise ValueError(f"members must be a list of node ids or a count, got {value!r}")


def parse_absent(value: object, members: int | list[int] | None = None) -> list[int]:
    """Validate the ``absent`` option against the parsed ``members``: unique positive node ids,
    none of them also in ``members`` (as a list)."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"absent must be a list of node ids, got {value!r}")
    ids = parse_node_ids("absent", value)
    both = sorted(set(ids) & set(members)) if isinstance(members, list) else []
    if both:
        raise ValueError(f"node ids {both} are in both members and absent (a node cannot be both present and gone)")
    return ids


def parse_expected_votes(value: object) -> int | None:
    """Validate the ``expected_votes`` option: a positive integer, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected_votes must be a positive integer (got {value!r})")
    return value


def missing_members(expected: int | list[int], present: list[int]) -> list[int]:
    """Expected node ids that are absent (a count names no ids: always empty)."""
    if isinstance(expected, int):
        return []
    return [nodeid for nodeid in expected if nodeid not in present]


def members_satisfied(expected: int | list[int], present: list[int]) -> bool:
    if isinstance(expected, int):
        return len(present) >= expected
    return not missing_members(expected, present)


def lingering_members(absent: Sequence[int], present: list[int]) -> list[int]:
    """Node ids that should have left but are still in the membership."""
    return [nodeid for nodeid in absent if nodeid in present]


def expected_votes_satisfied(want: int | None, state) -> bool:
    return want is None or state.expected_votes == want


def wait_for_members(
    runtime: CorosyncRuntime,
    client: RetryClient,
    expected: int | list[int] | None,
    want_quorate: bool,
    absent: Sequence[int] = (),
    expected_votes: int | None = None,
):
    """Poll the membership until ``expected`` is present (and quorate), none of ``absent`` is,
    and votequorum expects ``expected_votes`` (when given).

    ``expected=None`` means the configured nodelist less ``absent``, read once corosync answers
    (inside the same deadline): a node still listed there because the reload has not reached this
    node yet is not waited for. Returns ``(expected, state, report)``; on timeout the raised
    :class:`RetryFailed` carries ``state`` and ``expected``.
    """
    wanted = {"ids": expected}

    def check():
        if wanted["ids"] is None:
            wanted["ids"] = [nodeid for nodeid in runtime.nodelist_ids() if nodeid not in absent] or None
        state = runtime.quorum()
        done = (
            wanted["ids"] is not None
            and members_satisfied(wanted["ids"], state.members)
            and not lingering_members(absent, state.members)
            and expected_votes_satisfied(expected_votes, state)
            and (state.quorate or not want_quorate)
        )
        return done, state

    try:
        state, report = client.wait_for(check, what="corosync membership")
    except RetryFailed as failed:
        failed.expected = wanted["ids"]
        raise
    return wanted["ids"], state, report


def describe_shortfall(
    expected, state, want_quorate: bool, absent: Sequence[int] = (), expected_votes: int | None = None
) -> str:
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
    lingering = lingering_members(absent, state.members)
    if lingering:
        which = f"node {lingering[0]}" if len(lingering) == 1 else f"nodes {lingering}"
        here = " (this node)" if state.node_id in lingering else ""
        parts.append(f"{which} still in the membership{here}")
    if not expected_votes_satisfied(expected_votes, state):
        have = "unknown" if state.expected_votes is None else state.expected_votes
        parts.append(f"expected votes {have}, waiting for {expected_votes}")
    if want_quorate and not state.quorate:
        parts.append(f"the partition is not quorate ({state.total_votes} of {state.expected_votes} votes)")
    return "; ".join(parts) or "the condition did not hold"


def main() -> None:
    spec = wait_argument_spec()
    spec.update(
        members={"type": "raw"},
        quorate={"type": "bool", "default": True},
        absent={"type": "list", "elements": "int", "default": []},
        expected_votes={"type": "int"},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        expected = parse_members(module.params["members"])
        absent = parse_absent(module.params["absent"], expected)
        want_votes = parse_expected_votes(module.params["expected_votes"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    policy = policy_from_params(module)
    runtime, client = waiting_runtime(module, policy)  # no tool call outlives the deadline
    want_quorate = module.params["quorate"]

    try:
        expected, state, report = wait_for_members(runtime, client, expected, want_quorate, absent, want_votes)
        try:
            live = runtime.totem_timing()  # read after the wait: the timing now in force
        except ServiceUnavailable:
            live = report.timing  # no time left (or corosync went away): the timing the wait used
    except RetryFailed as failed:
        state, expected = getattr(failed, "state", None), failed.expected
        present = state.members if state else []
        module.fail_json(
            msg=f"{failed}: {describe_shortfall(expected, state, want_quorate, absent, want_votes)}",
            members=present,
            expected=expected,
            missing=missing_members(expected, present) if expected is not None else [],
            quorate=bool(state and state.quorate),
            ring_id=state.ring_id if state else None,
            expected_votes=state.expected_votes if state else None,
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
        expected_votes=state.expected_votes,
        total_votes=state.total_votes,
        quorum_votes=state.quorum,
        node_votes=state.member_votes.get(state.node_id, 1),
        **returned_report(report),
    )


if __name__ == "__main__":
    main()

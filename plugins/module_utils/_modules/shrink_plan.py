# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Removing nodes from a running cluster: which hosts leave, what the rest keeps, and what is refused.

A host leaves when its ``quorate_corosync_remove`` is true. Everything here is decided before any
node changes, from the play hosts' vars and what corosync_info read on them at the start of the
play (``__quorate_corosync_before``), and every refusal names the variable to fix. Exposed as the
``quorate.cluster.shrink_plan`` filter.

Votes: every node has one (votequorum's default, which this collection never changes). After the
change the cluster expects one vote per remaining node and needs a majority of them, or one vote
with ``two_node`` (which the plan sets when two nodes remain, unless the user set ``two_node``
in ``quorate_corosync_quorum`` either way).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

REMOVE_VAR = "quorate_corosync_remove"
FORCE_VAR = "quorate_force_remove"


def _live_nodes(hosts: list) -> dict[str, dict]:
    """Name -> entry of the running nodelist, read on the hosts whose corosync runs it."""
    nodes: dict[str, dict] = {}
    for host in hosts:
        before = host.get("__quorate_corosync_before") or {}
        if before.get("running") and before.get("config_managed") is True:
            for node in before.get("nodelist_nodes") or []:
                nodes.setdefault(str(node.get("name")), node)
    return nodes


def _live_members(hosts: list) -> set:
    """Node ids in the membership of a quorate partition, as read on the hosts at the start."""
    members: set = set()
    for host in hosts:
        before = host.get("__quorate_corosync_before") or {}
        if before.get("running") and before.get("quorate"):
            members.update(int(member) for member in before.get("members") or [])
    return members


def shrink_plan(hosts: Iterable[Mapping], quorum: Mapping | None = None, force: Any = False) -> dict:
    """What removing the hosts marked ``quorate_corosync_remove`` does, or why it is refused.

    ``hosts``: every play host's vars in play order. ``quorum``: ``quorate_corosync_quorum``.
    Returns ``remove`` and ``keep`` (names, play order), ``expected_votes``, ``votes_left`` (live
    members among the kept hosts), ``quorum_votes`` (what they need after the change),
    ``quorum`` (the quorum section to write on the kept nodes) and ``errors`` (empty: go ahead).
    """
    hosts = list(hosts)
    quorum = dict(quorum or {})
    errors: list[str] = []
    remove, keep = [], []
    for host in hosts:
        name = str(host.get("inventory_hostname"))
        flag = host.get(REMOVE_VAR, False)
        if not isinstance(flag, bool):
            errors.append(f"{name}: {REMOVE_VAR} must be true or false, got {flag!r}")
            continue
        (remove if flag else keep).append(name)
    if not isinstance(force, bool):
        errors.append(f"{FORCE_VAR} must be true or false, got {force!r}")
        force = False
    plan: dict[str, Any] = {"remove": remove, "keep": keep, "errors": errors}
    if not remove:
        plan.update(expected_votes=len(keep), votes_left=None, quorum_votes=None, quorum=quorum)
        return plan
    if not keep:
        errors.append(
            f"{REMOVE_VAR} is set on every host of the play ({', '.join(remove)}): at least one node must "
            "remain; to take the whole cluster down, stop its services instead"
        )
    live = _live_nodes(hosts)
    for name in remove:
        if name not in live:
            errors.append(
                f"{name}: {REMOVE_VAR} is set but {name} is not a node of the running cluster, so this run "
                f"would add it and remove it at once; unset {REMOVE_VAR} or leave {name} out of the group"
            )
    by_name = {str(host.get("inventory_hostname")): host for host in hosts}
    members = _live_members(hosts)
    left = [name for name in keep if _int(by_name[name].get("quorate_corosync_nodeid")) in members]
    expected = len(keep)
    if expected == 2 and "two_node" not in quorum:
        quorum["two_node"] = True
    two_node = expected == 2 and bool(quorum.get("two_node"))
    needed = 1 if two_node else expected // 2 + 1
    plan.update(expected_votes=expected, votes_left=len(left), quorum_votes=needed, quorum=quorum)
    if keep and len(left) < needed:
        message = (
            f"removing {', '.join(remove)} leaves {len(left)} live vote(s) ({', '.join(left) or 'none'}) with "
            f"{expected} expected after the change, and quorum needs {needed}: the remaining nodes would not be "
            f"quorate; start corosync on the remaining nodes first, or set {FORCE_VAR}: true"
        )
        if not force:
            errors.append(message)
        else:
            plan["forced"] = message
    return plan


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

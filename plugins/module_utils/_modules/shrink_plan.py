# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Removing nodes from a running cluster: which hosts leave, in which steps, and what is refused.

A host leaves when its ``quorate_corosync_remove`` is true; one whose ``quorate_corosync_dead`` is
true is gone for good and is never contacted (its entry is dropped from the others' nodelists).
Everything here is decided before any node changes, from the hosts' vars and what corosync_info read
on the reachable ones at the start of the play (``__quorate_corosync_before``), and every refusal
names the variable to fix. Exposed as the ``quorate.cluster.shrink_plan`` filter and carried out by
the remove_nodes role.

Steps: one per leaving node still in the running nodelist, the dead ones first (dropping a node
that is not a member costs no vote), then the reachable ones in play order. Each step stops the
leaving node (if reachable), writes the nodelist without it on the nodes that stay, and reloads
once (corosync.conf(5): stop the node, remove it from every nodelist, reload). One node per step:
between a stop and its reload the cluster still expects the old number of votes, so stopping
several at once could drop below quorum where stopping them in turn does not.

Votes: every node has one (votequorum's default, which this collection never changes). A nodelist
of n nodes expects n votes and needs a majority, or one vote with ``two_node`` at n = 2
(corosync_conf.quorum_section: set there unless the user set ``two_node`` either way).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

from .corosync_conf import quorum_section, quorum_votes

REMOVE_VAR = "quorate_corosync_remove"
DEAD_VAR = "quorate_corosync_dead"
FORCE_VAR = "quorate_force_remove"
NODEID_VAR = "quorate_corosync_nodeid"


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _flag(host: Mapping, var: str, errors: list) -> bool:
    value = host.get(var, False)
    try:
        return boolean(value, strict=True)  # what Ansible takes for true and false ("-e var=true" is a string)
    except TypeError:
        errors.append(f"{host.get('inventory_hostname')}: {var} must be true or false, got {value!r}")
        return False


def _running_nodelist(hosts: list) -> dict[int, dict]:
    """Node id -> entry of the running nodelist, read on the reachable hosts whose corosync runs
    this collection's configuration."""
    nodes: dict[int, dict] = {}
    for host in hosts:
        before = host.get("__quorate_corosync_before") or {}
        if before.get("running") and before.get("config_managed") is True:
            for node in before.get("nodelist_nodes") or []:
                nodeid = _int(node.get("nodeid"))
                if nodeid is not None:
                    nodes.setdefault(nodeid, node)
    return nodes


def _members(hosts: list) -> set[int]:
    """Node ids in the membership of a quorate partition, as read on the hosts at the start."""
    members: set[int] = set()
    for host in hosts:
        before = host.get("__quorate_corosync_before") or {}
        if before.get("running") and before.get("quorate"):
            members.update(nodeid for nodeid in map(_int, before.get("members") or []) if nodeid is not None)
    return members


def _needed(quorum: Mapping, nodes: int) -> int:
    return quorum_votes(nodes, bool(quorum_section(dict(quorum), nodes).get("two_node")))


def _removed_here(host: Mapping, cluster_name: Any) -> bool:
    """The host carries the marker the removal leaves (corosync_info's ``removed``) for this cluster
    and its node id: an earlier run removed it."""
    marker = (host.get("__quorate_corosync_before") or {}).get("removed") or {}
    return (
        bool(marker)
        and marker.get("cluster_name") == cluster_name
        and _int(marker.get("nodeid")) == _int(host.get(NODEID_VAR))
    )


def shrink_plan(
    hosts: Iterable[Mapping], quorum: Mapping | None = None, force: Any = False, cluster_name: Any = None
) -> dict:
    """What removing the hosts marked ``quorate_corosync_remove`` does, or why it is refused.

    ``hosts``: the vars of every host of the cluster's group in play order, the dead ones included
    (they have no ``__quorate_corosync_before``). ``quorum``: ``quorate_corosync_quorum``.
    ``cluster_name``: ``quorate_corosync_cluster_name`` (to recognise an earlier run's marker).

    Returns ``remove``, ``keep`` and ``dead`` (names, play order); ``steps``, each ``{host, nodeid,
    contact, nodes_after, members_after, expected_votes}`` (``nodes_after``: the names the nodelist
    holds after the step; ``members_after``: the node ids that should then be members; ``contact``:
    the host is reachable and is stopped in its step); ``done`` (hosts already out of the running
    nodelist); ``summary`` (one line for the operator, once the plan is sound);
    ``expected_votes_before``, ``expected_votes``, ``votes_left`` (live members left at the end),
    ``quorum_votes`` (what they need then); ``errors`` (empty: go ahead) and, with ``force``,
    ``forced`` (the quorum refusal overridden).
    """
    hosts = list(hosts)
    quorum = dict(quorum or {})
    errors: list[str] = []
    remove, keep, dead = [], [], []
    for host in hosts:
        name = str(host.get("inventory_hostname"))
        (remove if _flag(host, REMOVE_VAR, errors) else keep).append(name)
        if _flag(host, DEAD_VAR, errors):
            dead.append(name)
    try:
        force = boolean(force, strict=True)
    except TypeError:
        errors.append(f"{FORCE_VAR} must be true or false, got {force!r}")
        force = False
    plan: dict[str, Any] = {
        "remove": remove,
        "keep": keep,
        "dead": dead,
        "steps": [],
        "done": [],
        "errors": errors,
    }
    by_name = {str(host.get("inventory_hostname")): host for host in hosts}
    nodeid = {name: _int(host.get(NODEID_VAR)) for name, host in by_name.items()}
    reachable = [host for host in hosts if str(host.get("inventory_hostname")) not in dead]
    running = _running_nodelist(reachable)
    members = _members(reachable)
    plan.update(expected_votes_before=len(running), expected_votes=len(running), votes_left=None, quorum_votes=None)
    # Whatever else is asked: a node that answers in the membership is not dead.
    for name in dead:
        if nodeid[name] in members:
            errors.append(
                f"{name}: {DEAD_VAR} is set but node {nodeid[name]} is a member of the running cluster, so it is "
                f"not dead; unset {DEAD_VAR} (then {name} is stopped and cleaned as it leaves)"
            )
    if not remove:
        plan["summary"] = f"no host of the group has {REMOVE_VAR}: true, nothing to remove"
        return plan
    if not keep:
        errors.append(
            f"{REMOVE_VAR} is set on every host of the group ({', '.join(remove)}): at least one node must "
            "remain; to take the whole cluster down, stop its services instead"
        )
        return plan
    if not running:
        errors.append(
            "no reachable host of the group runs this cluster's corosync, so there is no running nodelist to "
            "remove nodes from; start the cluster first (quorate.cluster.bringup on the nodes that stay)"
        )
        return plan

    hosts_by_id = {value: name for name, value in nodeid.items() if value is not None}
    for entry_id, entry in sorted(running.items()):
        if entry_id not in hosts_by_id:
            errors.append(
                f"node {entry.get('name')} (id {entry_id}) of the running nodelist is not a host of the group: "
                f"put it back in the inventory, with {REMOVE_VAR}: true to remove it"
            )
    for name in keep:
        if nodeid[name] not in running:
            errors.append(
                f"{name} is not a node of the running cluster: this playbook only removes nodes; unset its "
                "host from the group now and add it with quorate.cluster.bringup once the removal is done"
            )
    leaving = []
    for name in remove:
        if nodeid[name] in running:
            leaving.append(name)
        elif name in dead or _removed_here(by_name[name], cluster_name):
            plan["done"].append(name)
        else:
            errors.append(
                f"{name}: {REMOVE_VAR} is set but {name} (node id {nodeid[name]}) is not a node of the running "
                f"cluster and was not removed from it; unset {REMOVE_VAR} or take {name} out of the group"
            )
    if errors:
        return plan

    # Walk the steps: the votes present and the votes needed after each stop and each reload.
    order = [name for name in leaving if name in dead] + [name for name in leaving if name not in dead]
    in_nodelist = set(running)
    present = members & in_nodelist
    short: list[str] = []
    for name in order:
        contact = name not in dead
        if contact and nodeid[name] in present:
            present = present - {nodeid[name]}
            needed = _needed(quorum, len(in_nodelist))
            if len(present) < needed:
                short.append(
                    f"stopping {name} leaves {len(present)} live vote(s) while {len(in_nodelist)} are expected, "
                    f"and quorum needs {needed}"
                )
        in_nodelist = in_nodelist - {nodeid[name]}
        plan["steps"].append(
            {
                "host": name,
                "nodeid": nodeid[name],
                "contact": contact,
                "nodes_after": [other for other in by_name if nodeid[other] in in_nodelist],
                "members_after": sorted(present),
                "expected_votes": len(in_nodelist),
            }
        )
    needed = _needed(quorum, len(in_nodelist))
    left = [name for name in keep if nodeid[name] in present]
    plan.update(expected_votes=len(in_nodelist), votes_left=len(left), quorum_votes=needed)
    if len(left) < needed:
        short.append(
            f"removing {', '.join(remove)} leaves {len(left)} live vote(s) ({', '.join(left) or 'none'}) with "
            f"{len(in_nodelist)} expected after the change, and quorum needs {needed}"
        )
    plan["summary"] = _summary(plan, order, len(members & set(running)), _needed(quorum, len(running)), quorum)
    if short:
        message = (
            "; ".join(short) + ": the remaining nodes would not be quorate; start corosync on the nodes that stay "
            f"first, remove fewer nodes, or set {FORCE_VAR}: true"
        )
        if force:
            plan["forced"] = message
        else:
            errors.append(message)
    return plan


def _summary(plan: dict, order: list, live_before: int, needed_before: int, quorum: Mapping | None = None) -> str:
    """What the removal does, in one line: which nodes, in which order, the votes before and after,
    and that the nodes that stay restart nothing. Two nodes left without ``two_node`` or a quorum
    device in the inventory: the removal sets two_node itself (a shrink must not lose quorum), and
    the line says to make that choice in the inventory, which the bring-up requires."""
    parts = []
    if order:
        steps = " then ".join(
            f"{name} ({'declared dead, not contacted' if name in plan['dead'] else 'stopped, cleaned'})"
            for name in order
        )
        parts.append(
            f"remove {steps}, one corosync-cfgtool -R each: expected votes {plan['expected_votes_before']} -> "
            f"{plan['expected_votes']}, live votes {live_before} -> {plan['votes_left']}, quorum needs "
            f"{needed_before} -> {plan['quorum_votes']}; {', '.join(plan['keep'])} restart nothing"
        )
    if plan["done"]:
        parts.append(f"already removed: {', '.join(plan['done'])}")
    quorum = quorum or {}
    if order and len(plan["keep"]) == 2 and "two_node" not in quorum and "device" not in quorum:
        parts.append(
            "two nodes remain and get two_node: 1 now; set quorate_corosync_quorum.two_node (or a quorum device, "
            "quorate_corosync_quorum.device) in the inventory, which the bring-up requires for two nodes"
        )
    return "; ".join(parts) or "nothing to remove"

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side checks of the cluster's inventory, before any node is touched.

Every problem is reported with the name of the variable (and host) to fix. Used by the
``quorate.cluster.preflight_errors`` filter in the roles' preflight tasks.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..shared.ckpt_protocol import MAX_NAME_LENGTH
from .corosync_conf import DEFAULT_TOKEN_COEFFICIENT, device_settings, effective_token

KNOWN_DAEMONS = ("quorate-controld", "dlm_controld")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# The settings that make one cluster: every node must hold the same.
CLUSTER_WIDE = ("totem", "quorum", "cluster_name")


QDEVICE_ALGORITHMS = ("ffsplit", "lms")
# votequorum(5): either one disables a quorum device.
QDEVICE_INCOMPATIBLE = ("last_man_standing", "auto_tie_breaker")


def quorum_device_errors(members: list, quorum: Any, qnetd_hosts: list | None) -> list[str]:
    """What is wrong with the quorum device of ``quorum`` (quorate_corosync_quorum) for a cluster of
    ``members`` (inventory names) whose qnetd hosts are ``qnetd_hosts`` (group quorate_qnetd).

    Checked only when the quorum section has a ``device``: model net, a host, algorithm ffsplit or
    lms with the votes each needs (corosync-qdevice(8): ffsplit exactly 1 and an even number of
    nodes, lms the default), no two_node / last_man_standing / auto_tie_breaker beside it
    (votequorum(5)), exactly one host in group quorate_qnetd, and that host not a member.
    """
    errors: list[str] = []
    qnetd = [str(host) for host in qnetd_hosts or []]
    both = sorted(set(qnetd) & {str(member) for member in members})
    if both:
        errors.append(
            f"{', '.join(both)}: in group quorate_qnetd and in the cluster; the qnetd host must not be a cluster "
            "member (its vote would fail with the member it is meant to outlive): use a host outside the cluster"
        )
    if not isinstance(quorum, dict) or "device" not in quorum:
        return errors
    device = device_settings(quorum)
    name = "quorate_corosync_quorum.device"
    if device is None:
        return errors + [f"{name} must be a dict ({{model: net, net: {{host: QNETD, algorithm: ffsplit}}}})"]
    if quorum.get("two_node"):
        errors.append(
            f"quorate_corosync_quorum.two_node and {name} exclude each other (votequorum refuses two_node with a "
            "quorum device, whose vote breaks the tie instead): remove two_node"
        )
    for key in QDEVICE_INCOMPATIBLE:
        if quorum.get(key):
            errors.append(
                f"quorate_corosync_quorum.{key} disables the quorum device (votequorum(5)): remove one of them"
            )
    if device.get("model", "net") != "net":
        errors.append(f"{name}.model: {device.get('model')!r}; only net (corosync-qnetd) is supported")
    net = device.get("net")
    if not isinstance(net, dict) or not net.get("host"):
        errors.append(f"{name}.net.host is not set: the address of the qnetd host (group quorate_qnetd)")
        net = net if isinstance(net, dict) else {}
    algorithm = net.get("algorithm", "ffsplit")
    votes = device.get("votes")
    if algorithm not in QDEVICE_ALGORITHMS:
        errors.append(f"{name}.net.algorithm: {algorithm!r} must be one of {', '.join(QDEVICE_ALGORITHMS)}")
    elif algorithm == "ffsplit":
        if votes != 1:
            errors.append(f"{name}.votes: {votes!r}; the ffsplit algorithm needs votes: 1 (corosync-qdevice(8))")
        if len(members) % 2:
            errors.append(
                f"{name}.net.algorithm: ffsplit is for an even number of nodes, this cluster has {len(members)}: "
                "use lms"
            )
    elif votes is not None:
        errors.append(f"{name}.votes: the lms algorithm needs the default votes (nodes - 1): remove votes")
    if qnetd_hosts is None:
        pass  # the caller does not know the inventory's groups
    elif not qnetd:
        errors.append(f"{name} is set but group quorate_qnetd has no host: put the qnetd host in it")
    elif len(qnetd) > 1:
        errors.append(f"group quorate_qnetd has {len(qnetd)} hosts ({', '.join(qnetd)}); a cluster uses one qnetd host")
    return errors


def two_node_errors(members: list, quorum: Any) -> list[str]:
    """The bring-up's rule for two nodes: each has one vote and a majority of two is both, so a
    two-node cluster must say how it survives one node's loss, with ``two_node`` (set either way)
    or a quorum device. (The corosync role itself still adds two_node when a removal leaves two.)"""
    if len(members) != 2 or not isinstance(quorum, dict) or "two_node" in quorum or "device" in quorum:
        return []
    return [
        "quorate_corosync_quorum: a cluster of 2 nodes needs one of two choices: a quorum device "
        "(quorate_corosync_quorum.device with a qnetd host in group quorate_qnetd: either node may fail) "
        "or two_node (quorate_corosync_quorum.two_node: true: one vote is quorum, wait_for_all at start; "
        "set two_node: false to keep needing both nodes); see the operator guide, "
        "'Two-node clusters and the quorum device'"
    ]


def corosync_errors(
    hosts: dict,
    totem: dict,
    quorum: dict,
    cluster_name: Any,
    per_host: dict | None = None,
    qnetd_hosts: list | None = None,
) -> list[str]:
    """``hosts``: inventory name -> its hostvars (only the quorate_* ones are read).

    ``per_host``: inventory name -> that host's own ``totem``, ``quorum`` and ``cluster_name``
    (host_vars may differ); each must be the same on every host. The values checked are
    ``totem``, ``quorum`` and ``cluster_name``: the first host's. ``qnetd_hosts``: group
    quorate_qnetd, for the quorum device's checks (:func:`quorum_device_errors`).
    """
    errors: list[str] = []
    for key in CLUSTER_WIDE:
        groups: list[tuple[Any, list]] = []
        for host, settings in sorted((per_host or {}).items()):
            value = (settings or {}).get(key)
            for seen, owners in groups:
                if seen == value:
                    owners.append(host)
                    break
            else:
                groups.append((value, [host]))
        if len(groups) > 1:
            held = "; ".join(f"{', '.join(owners)}: {value!r}" for value, owners in groups)
            errors.append(f"quorate_corosync_{key} must be the same on every host of the cluster ({held})")
    if not isinstance(cluster_name, str) or not _NAME_RE.match(cluster_name or "") or len(cluster_name) > 32:
        errors.append(
            f"quorate_corosync_cluster_name: {cluster_name!r} must be 1..32 characters of letters, digits, _ . : -"
        )
    if not isinstance(totem, dict):
        return errors + [f"quorate_corosync_totem must be a dict, got {type(totem).__name__}"]
    token = totem.get("token")
    if not _is_int(token) or token <= 0:
        errors.append(f"quorate_corosync_totem.token: {token!r} must be a positive integer (ms)")
    coefficient = totem.get("token_coefficient", DEFAULT_TOKEN_COEFFICIENT)
    if coefficient is not None and (not _is_int(coefficient) or coefficient < 0):
        errors.append(f"quorate_corosync_totem.token_coefficient: {coefficient!r} must be a non-negative integer")
    consensus = totem.get("consensus")
    if consensus is not None:
        if not _is_int(consensus) or consensus <= 0:
            errors.append(f"quorate_corosync_totem.consensus: {consensus!r} must be a positive integer (ms)")
        elif _is_int(token) and token > 0:
            effective = effective_token(token, coefficient if _is_int(coefficient) else None, len(hosts))
            if consensus < 1.2 * effective:
                errors.append(
                    f"quorate_corosync_totem.consensus: {consensus} is below 1.2 x the effective token "
                    f"({effective} ms for {len(hosts)} nodes), corosync refuses that; use at least "
                    f"{int(1.2 * effective + 0.999)} or leave it unset"
                )
    for key in ("join", "token_retransmits_before_loss_const"):
        value = totem.get(key)
        if value is not None and (not _is_int(value) or value <= 0):
            errors.append(f"quorate_corosync_totem.{key}: {value!r} must be a positive integer")
    if not isinstance(quorum, dict):
        errors.append(f"quorate_corosync_quorum must be a dict, got {type(quorum).__name__}")
    elif quorum.get("two_node") and len(hosts) != 2:
        errors.append(f"quorate_corosync_quorum.two_node: only for 2-node clusters, this one has {len(hosts)}")
    errors.extend(quorum_device_errors(sorted(hosts), quorum, qnetd_hosts))

    ids: dict[int, list] = {}
    addrs: dict[str, list] = {}
    links = set()
    for host, hostvars in sorted(hosts.items()):
        nodeid = hostvars.get("quorate_corosync_nodeid")
        if nodeid is None:
            errors.append(f"{host}: quorate_corosync_nodeid is not set (every node needs a unique positive id)")
        elif not _is_int(nodeid) or nodeid < 1:
            errors.append(f"{host}: quorate_corosync_nodeid {nodeid!r} must be a positive integer")
        else:
            ids.setdefault(nodeid, []).append(host)
        host_addrs = hostvars.get("quorate_corosync_addrs")
        if not isinstance(host_addrs, list) or not host_addrs:
            errors.append(f"{host}: quorate_corosync_addrs must be a non-empty list (one address per knet link)")
            continue
        links.add(len(host_addrs))
        for addr in host_addrs:
            try:
                ipaddress.ip_address(str(addr))
            except ValueError:
                errors.append(f"{host}: quorate_corosync_addrs: {addr!r} is not an IP address")
            addrs.setdefault(str(addr), []).append(host)
    for nodeid, owners in sorted(ids.items()):
        if len(owners) > 1:
            errors.append(f"quorate_corosync_nodeid: {nodeid} is used by {', '.join(owners)}; node ids must be unique")
    for addr, owners in sorted(addrs.items()):
        if len(owners) > 1:
            errors.append(f"quorate_corosync_addrs: {addr} is used by {', '.join(sorted(set(owners)))}")
    if len(links) > 1:
        errors.append(f"quorate_corosync_addrs: every node needs the same number of links, found {sorted(links)}")
    return errors


def controld_errors(
    daemons: Any, prefix: Any, fs_name: Any, retention: Any, daemon_max: Any = "", fs_max: Any = ""
) -> list[str]:
    errors: list[str] = []
    if not isinstance(daemons, list) or not daemons:
        return [f"quorate_controld_daemons must be a non-empty list of daemons, got {daemons!r}"]
    for daemon in daemons:
        if daemon not in KNOWN_DAEMONS:
            errors.append(f"quorate_controld_daemons: unknown daemon {daemon!r}; known: {', '.join(KNOWN_DAEMONS)}")
    if len(set(map(str, daemons))) != len(daemons):
        errors.append("quorate_controld_daemons: a daemon is listed twice")
    # The local checkpoints add ":<8 hex digits>" to the prefix.
    if not isinstance(prefix, str) or not prefix or len(prefix.encode()) + 9 > MAX_NAME_LENGTH:
        errors.append(
            f"quorate_controld_checkpoint_prefix: {prefix!r} must be 1..{MAX_NAME_LENGTH - 9} bytes "
            "(the checkpoint service rejects longer checkpoint names)"
        )
    if not isinstance(fs_name, str) or not re.match(r"^[a-z0-9_]{1,32}$", fs_name or ""):
        errors.append(f"quorate_controld_fs_name: {fs_name!r} must be 1..32 of a-z, 0-9, _")
    if not isinstance(retention, (int, float)) or isinstance(retention, bool) or retention < 0:
        errors.append(f"quorate_controld_local_retention: {retention!r} must be a non-negative number of seconds")
    for name, value in (("daemon", daemon_max), ("fs", fs_max)):
        # Empty: the node programs' own maximum (shared/controld_protocol.NODE_*_MAX_PROTOCOL).
        text = "" if value is None else str(value)
        match = re.match(r"^(\d{1,3})(?:\.(\d{1,3}))?$", text)
        if text and (not match or int(match.group(1)) > 255 or int(match.group(2) or 0) > 255):
            errors.append(
                f"quorate_controld_{name}_max_protocol: {value!r} must be MAJOR.MINOR, each 0..255 "
                "(or empty for what the node programs support)"
            )
    return errors


def _loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False  # a name: it may well reach another host


def foreign_corosync(states: dict) -> dict:
    """Nodes whose running corosync this collection did not configure, from their corosync_info results.

    ``standalone``: its nodelist holds loopback addresses only, as the Debian package's default
    configuration does; no other node can be in its cluster, so replacing it loses nothing.
    ``members``: its nodelist reaches other hosts; replacing it takes the node out of that cluster,
    so the role does it only when told to (quorate_corosync_takeover). ``described``: one phrase per
    member for the message that says so.
    """
    standalone, members, described = [], [], []
    for host in sorted(states):
        state = states[host] or {}
        if not state.get("running") or state.get("config_managed") is True:
            continue
        addrs = [str(addr) for addr in state.get("nodelist_addrs") or []]
        if all(_loopback(addr) for addr in addrs):
            standalone.append(host)
        else:
            members.append(host)
            described.append(f"{host} (cluster {state.get('cluster_name')!r}, nodelist {', '.join(addrs)})")
    return {"standalone": standalone, "members": members, "described": described}


def nodelist_conflicts(hosts: list) -> list[str]:
    """Hosts new to the running cluster whose node id or address a live member already has.

    ``hosts``: every play host's vars (``inventory_hostname``, ``quorate_corosync_nodeid``,
    ``quorate_corosync_addrs`` and ``__quorate_corosync_before`` from corosync_info, whose
    ``nodelist_nodes`` is the running nodelist). The running nodelist is read on the hosts whose
    corosync runs this collection's configuration; a host not among them (new, or its corosync
    stopped) must either match its running nodelist entry exactly (a member coming back) or use a
    node id and addresses no entry has. Hosts that are live members themselves are not checked
    here: renumbering or readdressing one is a restart-class change of the corosync role. A node of
    the running nodelist that no host of the play has is refused too (the bring-up never removes).
    """
    live: dict[int, dict] = {}
    members: set[str] = set()
    for host in hosts:
        before = host.get("__quorate_corosync_before") or {}
        if not before.get("running") or before.get("config_managed") is not True:
            continue
        members.add(str(host.get("inventory_hostname")))
        for node in before.get("nodelist_nodes") or []:
            if _is_int(node.get("nodeid")):
                live.setdefault(node["nodeid"], node)
    by_addr = {str(addr): node for node in live.values() for addr in node.get("addrs") or []}
    errors: list[str] = []
    # A node of the running cluster left out of the play would be dropped from every nodelist by the
    # reload, while its daemons keep running: removing a node is the remove_nodes playbook's job.
    play_ids = {host.get("quorate_corosync_nodeid") for host in hosts}
    play_names = {str(host.get("quorate_corosync_name", host.get("inventory_hostname"))) for host in hosts}
    for nodeid, node in sorted(live.items()):
        if nodeid not in play_ids and str(node.get("name")) not in play_names:
            errors.append(
                f"node {node.get('name')} (id {nodeid}) of the running cluster is not a host of this play, and the "
                f"bring-up never removes nodes: put {node.get('name')} back in the group, or remove it with the "
                "quorate.cluster.remove_nodes playbook (quorate_corosync_remove: true)"
            )
    for host in hosts:
        name = str(host.get("inventory_hostname"))
        if name in members:
            continue
        nodeid = host.get("quorate_corosync_nodeid")
        addrs = [str(addr) for addr in host.get("quorate_corosync_addrs") or []]
        entry = live.get(nodeid) if _is_int(nodeid) else None
        if entry is not None and [str(addr) for addr in entry.get("addrs") or []] == addrs:
            continue  # its own entry: a member whose corosync is not running, coming back
        if entry is not None:
            errors.append(
                f"{name}: quorate_corosync_nodeid {nodeid} is node {entry.get('name')} "
                f"({', '.join(entry.get('addrs') or [])}) of the running cluster; give {name} an unused node id"
            )
        for addr in addrs:
            owner = by_addr.get(addr)
            if owner is not None and owner is not entry:
                errors.append(
                    f"{name}: quorate_corosync_addrs {addr} belongs to node {owner.get('name')} "
                    f"(id {owner.get('nodeid')}) of the running cluster"
                )
    return errors

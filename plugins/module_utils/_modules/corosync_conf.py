# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""corosync.conf: render from structured settings, parse back, and tell what a change needs.

corosync's parser is strict (one statement per line, ``{`` ends its line, ``}`` stands alone),
so the file is rendered here rather than templated. Comparing the parsed old file with the new
one tells whether corosync can take the change live (``corosync-cfgtool -R``: the totem timing,
knet crypto, logging, a nodelist that only gains or only loses nodes, and votequorum's
expected_votes and two_node, the quorum device's section) or needs a restart (transport, cluster
name, any other nodelist or quorum change). A change of the quorum device's section reaches
corosync on the reload, but the corosync-qdevice daemon reads it only when it starts: such a change
also names what corosync-qdevice must be restarted for.

Stdlib only: runs on the nodes.
"""

from __future__ import annotations

from typing import Any

# Totem keys corosync re-reads on ``corosync-cfgtool -R`` (corosync.conf(5), "reload"). The knet
# crypto settings are among them: corosync 3.1.7 logged "kronosnet crypto reconfigured ...
# nss/aes128/sha256" on a 3-node cluster that stayed quorate (measured in this project).
RELOADABLE_TOTEM = frozenset(
    {
        "crypto_cipher",
        "crypto_hash",
        "crypto_model",
        "token",
        "token_coefficient",
        "token_retransmit",
        "hold",
        "token_retransmits_before_loss_const",
        "join",
        "send_join",
        "consensus",
        "merge",
        "downcheck",
        "fail_recv_const",
        "seqno_unchanged_const",
        "max_network_delay",
        "window_size",
        "max_messages",
        "miss_count_const",
        "heartbeat_failures_allowed",
    }
)
RELOADABLE_SECTIONS = frozenset({"logging"})
# votequorum(5): "Only votes, quorum_votes, expected_votes and two_node can be changed at runtime."
# (votes and quorum_votes belong to the nodelist's node entries, which this collection never sets.)
RELOADABLE_QUORUM = frozenset({"expected_votes", "two_node"})
# The quorum device's subsection (quorum { device { model: net; votes; net { host; algorithm } } }).
# corosync keeps it in cmap (quorum.device.*) and re-reads it on corosync-cfgtool -R: votequorum takes
# a new quorum.device.votes live, and a device added live is registered once corosync-qdevice starts
# (votequorum(5), corosync-qdevice(8)). corosync-qdevice itself reads its model, host and algorithm
# once, when it starts, and cannot be reloaded: every change below "device" also needs a restart of
# corosync-qdevice (classify_change's "qdevice_restart"), which the rolling restart does node by node.
QUORUM_DEVICE = "device"
_ORDER = ("totem", "nodelist", "quorum", "logging")


class ConfError(ValueError):
    """A corosync.conf that does not parse."""


def _value(value: Any, section: str = "") -> str:
    if isinstance(value, bool):
        # corosync wants yes/no in logging and 1/0 in quorum (two_node, wait_for_all...).
        if section == "logging":
            return "yes" if value else "no"
        return "1" if value else "0"
    text = str(value)
    if "\n" in text or "{" in text or "}" in text:
        raise ConfError(f"value {text!r} cannot be written to corosync.conf")
    return text


# The first line of every file this collection writes: how the corosync role tells its own
# configuration from one it would take over (the package's default, another tool's cluster).
MANAGED_MARKER = "# Managed by the quorate.cluster.corosync role: local edits are overwritten."


def is_managed(text: str) -> bool:
    """Whether a corosync.conf was written by this collection (its first line is the marker)."""
    return text.split("\n", 1)[0].rstrip() == MANAGED_MARKER


def _render_section(lines: list, name: str, values: dict, depth: int, section: str) -> None:
    """``name { ... }`` at ``depth`` (4 spaces a level): keys in order, null ones left out, a dict
    value as a subsection after the plain keys (``quorum { device { net { ... } } }``)."""
    indent = "    " * depth
    lines.append(f"{indent}{name} {{")
    nested = []
    for key, value in sorted(values.items()):
        if isinstance(value, dict):
            nested.append((key, value))
        elif value is not None:
            lines.append(f"{indent}    {key}: {_value(value, section)}")
    for key, value in nested:
        _render_section(lines, key, value, depth + 1, section)
    lines.append(f"{indent}}}")


def render(cluster_name: str, totem: dict, nodes: list, quorum: dict, logging: dict, keyfile: str) -> str:
    """The whole file. ``nodes``: [{nodeid, name, addrs: [...]}] in any order. A dict value in
    ``quorum`` (the quorum device) is written as a nested section."""
    lines = [MANAGED_MARKER, "totem {"]
    lines.append("    version: 2")
    lines.append(f"    cluster_name: {_value(cluster_name)}")
    lines.append("    transport: knet")
    for key, value in sorted(totem.items()):
        if value is not None:
            lines.append(f"    {key}: {_value(value)}")
    lines.append(f"    keyfile: {_value(keyfile)}")
    lines.append("}")
    lines.append("nodelist {")
    for node in sorted(nodes, key=lambda n: int(n["nodeid"])):
        lines.append("    node {")
        lines.append(f"        nodeid: {int(node['nodeid'])}")
        lines.append(f"        name: {_value(node['name'])}")
        for link, addr in enumerate(node["addrs"]):
            lines.append(f"        ring{link}_addr: {_value(addr)}")
        lines.append("    }")
    lines.append("}")
    for section, values in (("quorum", quorum), ("logging", logging)):
        _render_section(lines, section, values, 0, section)
    return "\n".join(lines) + "\n"


def parse(text: str) -> dict:
    """Nested dict of a corosync.conf; repeated sections (``node``) become lists."""
    root: dict = {}
    stack = [root]
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.endswith("{"):
            name = line[:-1].strip()
            child: dict = {}
            parent = stack[-1]
            if name in parent:
                if not isinstance(parent[name], list):
                    parent[name] = [parent[name]]
                parent[name].append(child)
            else:
                parent[name] = child
            stack.append(child)
        elif line == "}":
            if len(stack) == 1:
                raise ConfError(f"line {number}: unbalanced closing brace")
            stack.pop()
        elif ":" in line:
            key, _sep, value = line.partition(":")
            stack[-1][key.strip()] = value.strip()
        else:
            raise ConfError(f"line {number}: not a key, section or brace: {line!r}")
    if len(stack) != 1:
        raise ConfError("missing closing brace")
    return root


def _nodes(nodelist: Any) -> list | None:
    """The ``node`` entries of a parsed nodelist section; None when it is not one."""
    if not isinstance(nodelist, dict) or set(nodelist) - {"node"}:
        return None
    nodes = nodelist.get("node", [])
    nodes = nodes if isinstance(nodes, list) else [nodes]
    return nodes if all(isinstance(node, dict) for node in nodes) else None


def nodes_added(before: Any, after: Any) -> list[str]:
    """The nodes (``"<name> (id <nodeid>)"``) that ``after`` adds to ``before``, two parsed nodelist
    sections, when that is all that changed: every node of ``before`` is in ``after`` unchanged.

    corosync 3 applies such a change live on ``corosync-cfgtool -R`` (measured on 3.1.7: a fourth
    node added to every node's nodelist, one reload, corosync started on the new node: 4 members,
    expected votes 4, the old corosync processes unchanged). An empty list means anything else:
    no node added, or a node removed or changed, which stays a restart here.
    """
    old, new = _nodes(before), _nodes(after)
    if old is None or new is None or len(new) <= len(old):
        return []
    remaining = list(new)
    for node in old:
        if node not in remaining:
            return []
        remaining.remove(node)
    ids = [node.get("nodeid") for node in new]
    if len(set(ids)) != len(ids):
        return []
    return [f"{node.get('name', '?')} (id {node.get('nodeid')})" for node in remaining]


def nodes_removed(before: Any, after: Any) -> list[str]:
    """The nodes (``"<name> (id <nodeid>)"``) that ``after`` drops from ``before`` when that is all
    that changed: every node of ``after`` is in ``before`` unchanged, and at least one remains.

    corosync 3 applies it live on ``corosync-cfgtool -R`` once the dropped node is stopped
    (corosync.conf(5): stop the node, remove it from every nodelist, reload); votequorum then
    recomputes the expected votes from the nodelist.
    """
    old, new = _nodes(before), _nodes(after)
    if old is None or new is None or not new or len(new) >= len(old):
        return []
    kept = list(old)
    for node in new:
        if node not in kept:
            return []
        kept.remove(node)
    return [f"{node.get('name', '?')} (id {node.get('nodeid')})" for node in kept]


def _flatten(values: Any, prefix: str) -> dict:
    """A parsed (sub)section as dotted keys: ``{"device.net.host": "10.0.0.9", ...}``."""
    if not isinstance(values, dict):
        return {prefix: values}
    flat: dict = {}
    for key, value in values.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else key))
    return flat


def _quorum_differences(before: Any, after: Any) -> list[str] | None:
    """The dotted quorum keys that differ when every one of them is reloadable (expected_votes,
    two_node, anything under the device); None when a change needs a restart."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None
    old, new = _flatten(before, ""), _flatten(after, "")
    differ = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
    if not differ:
        return None
    for key in differ:
        if key not in RELOADABLE_QUORUM and key.split(".", 1)[0] != QUORUM_DEVICE:
            return None
    return differ


def device_settings(quorum: Any) -> dict | None:
    """The quorum device's settings of a quorum section (as given or parsed), None without one."""
    if not isinstance(quorum, dict):
        return None
    device = quorum.get(QUORUM_DEVICE)
    return device if isinstance(device, dict) and device else None


def quorum_section(quorum: dict, nodes: int) -> dict:
    """The quorum section written for a nodelist of ``nodes`` nodes.

    Two nodes with one vote each need both for a majority, so a two-node cluster gets
    ``two_node: 1`` (quorum is then one vote; votequorum turns wait_for_all on with it) unless the
    user's ``quorum`` sets ``two_node`` either way or configures a quorum device (whose vote breaks
    the tie instead; votequorum refuses two_node with a device). Any other size: ``quorum`` as
    given (the preflight refuses two_node there).
    """
    section = dict(quorum or {})
    if nodes == 2 and "two_node" not in section and device_settings(section) is None:
        section["two_node"] = True
    return section


def quorum_votes(expected_votes: int, two_node: bool = False) -> int:
    """Votes votequorum needs for quorum: a majority of the expected votes, or 1 with two_node on
    a two-vote cluster."""
    if two_node and expected_votes == 2:
        return 1
    return expected_votes // 2 + 1


def classify_change(old_text: str | None, new_text: str) -> dict:
    """What applying ``new_text`` over ``old_text`` needs.

    Returns ``{"changed": bool, "reloadable": [...keys], "restart": [...keys],
    "qdevice_restart": [...keys]}`` where the key lists name what differs (``totem.token``,
    ``nodelist``...). A nodelist that only gains nodes is reloadable, named ``nodelist (adds n4
    (id 4), ...)``, as is one that only loses nodes (``nodelist (removes ...)``); any other nodelist
    change is ``nodelist``. A quorum section whose only differences are expected_votes, two_node or
    keys of the quorum device is reloadable (``quorum.two_node``, ``quorum.device.net.algorithm``);
    ``qdevice_restart`` lists the device keys among them (or the whole quorum section's device keys
    when the quorum change needs a corosync restart anyway): corosync-qdevice must restart to use them.
    """
    if old_text is None:
        return {"changed": True, "reloadable": [], "restart": ["(new file)"], "qdevice_restart": []}
    try:
        old = parse(old_text)
    except ConfError:
        return {
            "changed": old_text != new_text,
            "reloadable": [],
            "restart": ["(unparsable old file)"],
            "qdevice_restart": [],
        }
    new = parse(new_text)
    reloadable, restart = [], []
    for section in sorted(set(old) | set(new)):
        before, after = old.get(section), new.get(section)
        if before == after:
            continue
        if section == "totem" and isinstance(before, dict) and isinstance(after, dict):
            for key in sorted(set(before) | set(after)):
                if before.get(key) != after.get(key):
                    (reloadable if key in RELOADABLE_TOTEM else restart).append(f"totem.{key}")
        elif section in RELOADABLE_SECTIONS:
            reloadable.append(section)
        elif section == "nodelist" and (added := nodes_added(before, after)):
            reloadable.append(f"nodelist (adds {', '.join(added)})")
        elif section == "nodelist" and (dropped := nodes_removed(before, after)):
            reloadable.append(f"nodelist (removes {', '.join(dropped)})")
        elif section == "quorum" and (differ := _quorum_differences(before, after)):
            reloadable.extend(f"quorum.{key}" for key in differ)
        else:
            restart.append(section)
    qdevice_restart = _device_differences(old.get("quorum"), new.get("quorum"))
    return {
        "changed": bool(reloadable or restart) or old_text != new_text,
        "reloadable": reloadable,
        "restart": restart,
        "qdevice_restart": qdevice_restart,
    }


def _device_differences(before: Any, after: Any) -> list[str]:
    """The ``quorum.device.*`` keys that differ between two parsed quorum sections."""
    old = _flatten(before.get(QUORUM_DEVICE), QUORUM_DEVICE) if isinstance(before, dict) else {}
    new = _flatten(after.get(QUORUM_DEVICE), QUORUM_DEVICE) if isinstance(after, dict) else {}
    old = {} if old == {QUORUM_DEVICE: None} else old
    new = {} if new == {QUORUM_DEVICE: None} else new
    return sorted(f"quorum.{key}" for key in set(old) | set(new) if old.get(key) != new.get(key))


# corosync's token_coefficient when the configuration sets none.
DEFAULT_TOKEN_COEFFICIENT = 650


def effective_token(token: int, coefficient: int | None, nodes: int) -> int:
    """The runtime token corosync computes from ``totem.token``: token + (nodes - 2) x coefficient.

    Only a cluster of 3 or more nodes adds the coefficient. ``coefficient=None`` (not set) means
    corosync's default, 650 ms; 0 is a real value (no coefficient).
    """
    if coefficient is None:
        coefficient = DEFAULT_TOKEN_COEFFICIENT
    return int(token) + max(0, int(nodes) - 2) * int(coefficient)

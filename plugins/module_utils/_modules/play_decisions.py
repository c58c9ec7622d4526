# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the corosync role and the rolling restart decide from the play's registered results.

Each function answers one question a task asks with one boolean (or the lists that go with it),
so the roles and playbooks hold no logic in Jinja. Exposed as filters (plugins/filter/); the
inputs are the results of quorate.cluster.corosync_info and quorate.cluster.restart_needed as
registered on each host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

# What the corosync role gives /etc/corosync/authkey (tasks/authkey.yml).
AUTHKEY_MODE, AUTHKEY_OWNER, AUTHKEY_GROUP = "0400", "root", "root"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def authkeys(fingerprints: Mapping[str, Mapping | None], states: Mapping[str, Mapping | None] | None = None) -> dict:
    """Host -> its authkey fingerprint (corosync_info's ``authkey``), in play order.

    ``holders``: the hosts that have a key; first those whose corosync runs this collection's
    configuration by ``states`` (host -> corosync_info result: ``running``, ``config_managed``),
    whose key is the one the running cluster uses (a node being added must never hand its own
    key to the members), then the others, each in play order.
    ``in_sync``: every host holds one and the same key with the mode and owner the role gives
    it, so there is nothing to copy.
    """
    prints = {host: dict(fp or {}) for host, fp in fingerprints.items()}
    live = {
        host for host, state in (states or {}).items() if state and state.get("running") and state.get("config_managed")
    }
    holders = sorted((host for host, fp in prints.items() if fp.get("sha256")), key=lambda host: host not in live)
    values = list(prints.values())
    in_sync = (
        bool(values)
        and len(holders) == len(values)
        and len({fp.get("sha256") for fp in values}) == 1
        and {fp.get("mode") for fp in values} == {AUTHKEY_MODE}
        and {fp.get("owner") for fp in values} == {AUTHKEY_OWNER}
        and {fp.get("group") for fp in values} == {AUTHKEY_GROUP}
    )
    return {"holders": holders, "in_sync": in_sync}


def corosync_ready(before: Mapping, nodeids: Iterable, expected_token: Any) -> bool:
    """What the membership barrier waits for, as ``before`` (corosync_info) read it on this node:
    running, quorate, every node of the play a member, the live token as configured."""
    if not before.get("running") or not before.get("quorate"):
        return False
    members = {_int(member) for member in before.get("members") or []}
    if any(_int(nodeid) not in members for nodeid in nodeids):
        return False
    return _int(before.get("token")) == _int(expected_token)


def _skipped(result: Any) -> bool:
    return isinstance(result, Mapping) and bool(result.get("skipped", False))


def _runs_this_configuration(host: Mapping) -> bool:
    """The host's corosync ran at the start of the play and was not restarted by the role since."""
    before = host.get("__quorate_corosync_before") or {}
    return bool(before.get("running")) and _skipped(host.get("__quorate_corosync_replaced"))


def corosync_reload_host(hosts: Iterable[Mapping]) -> str | None:
    """Where ``corosync-cfgtool -R`` runs: the first host (play order) whose corosync ran at the start
    and was not restarted, i.e. a member of the running cluster. A host new to the cluster (corosync
    not running yet) is never chosen; None when there is no such host (nothing to reload)."""
    for host in hosts:
        if _runs_this_configuration(host):
            return host.get("inventory_hostname")
    return None


def corosync_reload_needed(hosts: Iterable[Mapping], expected_token: Any) -> bool:
    """Whether ``corosync-cfgtool -R`` has work to do, from every host's registered results.

    Only nodes whose corosync ran this collection's configuration at the start and was not
    restarted (``__quorate_corosync_replaced`` skipped) count: a restarted one already read the
    file. Reload when one of them got a live-reloadable change (also when a restart-only change
    comes with it), or when its runtime token drifted from the file (an earlier run wrote but
    did not reload).
    """
    expected = _int(expected_token)
    for host in hosts:
        if not _runs_this_configuration(host):
            continue
        before = host.get("__quorate_corosync_before") or {}
        conf = host.get("__quorate_corosync_conf") or {}
        if conf.get("reloadable") or _int(before.get("token")) != expected:
            return True
    return False


def rolling_first(hosts: Iterable[Mapping], host: str) -> bool:
    """In the rolling restart, no node before ``host`` (play order) restarted anything.

    Then the first play's health checks, made just before the roll, still stand for ``host``.
    ``hosts``: every host's vars in play order (``quorate_restart_plan`` as registered).
    """
    for other in hosts:
        if other.get("inventory_hostname") == host:
            return True
        if (other.get("quorate_restart_plan") or {}).get("restart"):
            return False
    raise ValueError(f"{host} is not one of the play's hosts")


def corosync_missing(hosts: Iterable[Mapping]) -> list:
    """The hosts (play order) without corosync at the start of the corosync role's play.

    ``hosts``: every host's vars in play order (``__quorate_corosync_before`` as registered from
    corosync_info); a host without that result counts as missing.
    """
    return [
        host.get("inventory_hostname")
        for host in hosts
        if not (host.get("__quorate_corosync_before") or {}).get("installed")
    ]


def rolling_ckptd_down(hosts: Iterable[Mapping]) -> list:
    """The hosts (play order) whose checkpoint service was not running when the rolling restart's plan
    was read (``quorate_restart_plan`` from restart_needed; hosts without a plan are left out).

    The plan starts their service in their turn; until then nothing waits for them.
    """
    down = []
    for host in hosts:
        plan = host.get("quorate_restart_plan")
        if plan is None:
            continue
        service = (plan.get("services") or {}).get("quorate-ckptd") or {}
        if not service.get("running"):
            down.append(host.get("inventory_hostname"))
    return down


def rolling_ckptd_members(hosts: list, down: Iterable, host: str | None = None) -> int:
    """How many checkpoint services the rolling restart expects in the group.

    Every host of the play (``hosts``, names in play order), less those in ``down``
    (rolling_ckptd_down) whose turn has not come: with ``host`` (the node about to restart), it and
    the hosts after it; without, all of them (before the roll). Hosts done so far run it again.
    """
    waiting = hosts if host is None else hosts[_position(hosts, host) :]
    down = set(down)
    return len(hosts) - len({name for name in waiting if name in down})


def _position(hosts: list, host: str) -> int:
    try:
        return hosts.index(host)
    except ValueError:
        raise ValueError(f"{host} is not one of the play's hosts") from None


def controld_run_daemons(daemons: Iterable[str], dlm: Mapping | None) -> list:
    """The controld daemons this node runs, in start order.

    ``dlm``: the registered stat of /sys/kernel/config/dlm (the controld preflight; None when it
    was not read). dlm_controld drops out where that path does not exist (only reachable with
    quorate_controld_dlm_unsupported: skip).
    """
    daemons = list(daemons)
    if "dlm_controld" not in daemons or ((dlm or {}).get("stat") or {}).get("exists", False):
        return daemons
    return [daemon for daemon in daemons if daemon != "dlm_controld"]


def restart_plan_message(host: str, plan: Mapping) -> str:
    """One line for the rolling restart to show: what ``host`` restarts, in order, and why each stale
    unit is (``plan``: restart_needed's result)."""
    restart = plan.get("restart") or []
    message = f"{host}: " + (f"restart {' -> '.join(restart)}" if restart else "nothing to restart")
    services = plan.get("services") or {}
    for name in plan.get("stale") or []:
        message += f"; {name}: {', '.join((services.get(name) or {}).get('reasons') or [])}"
    return message


def quorum_without_node(votes: Mapping) -> bool:
    """The other nodes keep quorum when this one stops: the votes present (``total_votes``) less
    this node's (``node_votes``) still reach ``quorum_votes`` (corosync_wait's result)."""
    return int(votes["total_votes"]) - int(votes["node_votes"]) >= int(votes["quorum_votes"])


def hosts_flagged(hosts: Iterable[Mapping], var: str) -> list:
    """The hosts (in order) whose ``var`` is true, as Ansible reads true and false (an extra var
    ``-e name=true`` is the string "true"); ValueError naming the host and ``var`` for anything else."""
    names = []
    for host in hosts:
        value = host.get(var, False)
        try:
            on = boolean(value, strict=True)
        except TypeError:
            raise ValueError(f"{host.get('inventory_hostname')}: {var} must be true or false, got {value!r}") from None
        if on:
            names.append(host.get("inventory_hostname"))
    return names


def corosync_version_skew(hosts: Iterable[Mapping]) -> str:
    """Why ``corosync-cfgtool -R`` must not run now, or "" when it may.

    corosync-cfgtool(8): running -R "where nodes are running different versions of corosync
    (including minor versions) is unsupported and may result in undefined behaviour". Read from
    corosync_info as registered at the start of the play (``__quorate_corosync_before``) on every
    host whose corosync runs: the installed versions differ, or a running corosync maps a binary
    replaced since it started (it still runs its old version, unknown here).
    """
    versions: dict[str, list[str]] = {}
    replaced = []
    for host in hosts:
        before = host.get("__quorate_corosync_before") or {}
        if not before.get("running"):
            continue
        name = str(host.get("inventory_hostname"))
        versions.setdefault(str(before.get("version")), []).append(name)
        if before.get("version_replaced"):
            replaced.append(name)
    if len(versions) <= 1 and not replaced:
        return ""
    parts = []
    if len(versions) > 1:
        parts.append(
            "installed " + "; ".join(f"{version} on {', '.join(names)}" for version, names in sorted(versions.items()))
        )
    if replaced:
        parts.append(f"{', '.join(replaced)} still run(s) the corosync binary replaced since it started")
    return (
        f"corosync versions differ across the running cluster ({'; '.join(parts)}), and corosync-cfgtool -R across "
        "versions is unsupported (corosync-cfgtool(8)): finish the upgrade first (quorate.cluster.rolling_restart "
        "restarts each node on its installed version), then run this again"
    )

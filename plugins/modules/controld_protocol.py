#!/usr/bin/python
# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: controld_protocol
short_description: Read the running controld protocol, raise it live, or wait until this node runs it
version_added: 0.3.0
description:
  - The controld protocol is negotiated once, by the first controld of a fresh cluster, as the lowest
    maximum every member announces in its local checkpoint (C(<prefix>:<nodeid as 8 hex>)); it is kept in
    the global checkpoint (C(<prefix>)). After a rolling upgrade every node may announce more than the
    cluster runs. This module lifts the running protocol without stopping anything.
  - O(state=raised) (run on one node) reads every corosync member's announced maxima and raises the
    running protocol to the highest that all of them support, never to another major. It refuses, and
    changes nothing, while a member has no local checkpoint (its controld is not running) or announces
    another major. A cluster already at that level is left alone (C(changed=false)).
  - O(state=adopted) (run on every node) waits until this node reads the running protocol from its
    replica of the global checkpoint and its controld's ready file shows that same protocol; a running
    controld reads the global checkpoint again every 2 seconds and adopts a raise it supports.
  - O(state=read) returns the running protocol and the maxima, and changes nothing.
  - Every checkpoint call is retried with the collection's retry policy (TRY_AGAIN during a membership
    change, a service not synchronised yet), under O(timeout) or the deadline derived from the live
    totem timing.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
  - quorate.cluster.wait
  - quorate.cluster.ckpt_socket
  - quorate.cluster.retry_report
attributes:
  check_mode:
    support: full
    details: With O(state=raised) it reports the raise it would make and writes nothing.
  diff_mode:
    support: full
    details: With O(state=raised) the diff shows the running protocol sections before and after.
  idempotent:
    support: full
options:
  state:
    description:
      - V(read) returns the running protocol; V(raised) raises it to the highest every member supports;
        V(adopted) waits until this node's controld runs the protocol the global checkpoint holds.
    type: str
    choices: [read, raised, adopted]
    default: read
  prefix:
    description: Name of the global checkpoint; the local ones add C(:<nodeid as 8 hex digits>).
    type: str
    default: "quorate:controld"
  fs_name:
    description: Name of the second protocol (sections C(<fs_name>_protocol) and C(<fs_name>_max_protocol)).
    type: str
    default: ocfs2
  ready_file:
    description: The controld's ready file, read with O(state=adopted).
    type: path
    default: /run/quorate/controld.json
requirements:
  - quorate-ckptd and quorate-controld running on the node (roles quorate.cluster.ckptd and quorate.cluster.controld)
seealso:
  - module: quorate.cluster.ckpt_wait
"""

EXAMPLES = r"""
- name: Raise the running protocol once every node runs the upgraded programs
  quorate.cluster.controld_protocol:
    state: raised
  run_once: true
  register: raised

- name: Wait until every node's controld runs it
  quorate.cluster.controld_protocol:
    state: adopted
  register: adopted
  failed_when: adopted.protocol != raised.protocol
"""

RETURN = r"""
protocol:
  description: The running protocol (after the raise with O(state=raised)), MAJOR.MINOR.
  returned: success
  type: dict
  sample: {"daemon": "1.1", "fs": "1.1"}
before:
  description: The running protocol when the call began.
  returned: success
  type: dict
  sample: {"daemon": "1.0", "fs": "1.0"}
maxima:
  description: What each corosync member announces, by node id (with O(state=read) and O(state=raised)).
  returned: success
  type: dict
  sample: {"1": {"daemon": "1.1", "fs": "1.1"}, "2": {"daemon": "1.1", "fs": "1.1"}}
controld:
  description: This node's controld's protocol, from its ready file (with O(state=adopted)).
  returned: success
  type: dict
  sample: {"daemon": "1.1", "fs": "1.1"}
attempts:
  description: Attempts made; part of the retry report, see the notes.
  returned: always
  type: int
  sample: 1
elapsed:
  description: Seconds spent; part of the retry report, see the notes.
  returned: always
  type: float
  sample: 0.02
deadline:
  description: The deadline in seconds that applied; part of the retry report, see the notes.
  returned: always
  type: float
  sample: 9.33
errors:
  description: Count of each error seen, by name; part of the retry report, see the notes.
  returned: always
  type: dict
  sample: {}
case:
  description: The transient case that stood in the way most often; part of the retry report, see the notes.
  returned: always
  type: str
  sample: none
cases:
  description: Count of each transient case; part of the retry report, see the notes.
  returned: always
  type: dict
  sample: {}
token_ms:
  description: The effective totem token the deadline was derived from; part of the retry report, see the notes.
  returned: always
  type: int
  sample: 3650
timing_source:
  description: V(cmap) or V(assumed); part of the retry report, see the notes.
  returned: always
  type: str
  sample: cmap
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils._modules.module_support import (
    policy_from_params,
    socket_argument_spec,
    wait_argument_spec,
    waiting_runtime,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisException, Operation
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient
from ansible_collections.quorate.cluster.plugins.module_utils.shared.controld_protocol import (
    RaiseRefused,
    raise_running,
    read_maxima,
    read_running,
    version_text,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.retry_policy import (
    RetryFailed,
    returned_report,
)


def pair(versions: tuple) -> dict:
    return {"daemon": version_text(versions[0]), "fs": version_text(versions[1])}


def sections_text(fs_name: str, versions: tuple) -> str:
    return f"daemon_protocol: {version_text(versions[0])}\n{fs_name}_protocol: {version_text(versions[1])}\n"


def read_ready(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def main() -> None:
    spec = wait_argument_spec()
    spec.update(
        state={"type": "str", "choices": ["read", "raised", "adopted"], "default": "read"},
        prefix={"type": "str", "default": "quorate:controld"},
        fs_name={"type": "str", "default": "ocfs2"},
        ready_file={"type": "path", "default": "/run/quorate/controld.json"},
        **socket_argument_spec(),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    policy = policy_from_params(module)
    runtime, retry = waiting_runtime(module, policy)
    client = CheckpointClient(params["socket"], time_left=retry.time_left)
    prefix, fs_name, state = params["prefix"], params["fs_name"], params["state"]

    try:
        if state == "adopted":

            def check() -> tuple:
                try:
                    running = read_running(client, prefix, fs_name)
                except AisException as exc:
                    client.close_connection()
                    return False, {"error": str(exc)}
                ready = read_ready(params["ready_file"])
                if ready is None:
                    return False, {
                        "running": running,
                        "error": f"no ready file {params['ready_file']} (controld not ready)",
                    }
                mine = (tuple(ready.get("daemon_protocol", ())), tuple(ready.get("fs_protocol", ())))
                return mine == running, {"running": running, "controld": mine}

            found, report = retry.wait_for(check, what="this node's controld running the cluster's protocol")
            module.exit_json(
                changed=False,
                protocol=pair(found["running"]),
                before=pair(found["running"]),
                controld=pair(found["controld"]),
                **returned_report(report),
            )

        members = runtime.quorum().members

        def act() -> dict:
            if state == "read":
                running = read_running(client, prefix, fs_name)
                maxima = read_maxima(client, prefix, fs_name, members)
                return {"before": running, "after": running, "maxima": maxima, "changed": False}
            return raise_running(client, prefix, fs_name, members, check_mode=module.check_mode)

        result, report = retry.call(act, Operation.OPEN_READ, reconnect=client.reconnect, what="controld protocol")
    except RaiseRefused as exc:
        module.fail_json(msg=f"running protocol not raised: {exc}")
    except RetryFailed as failed:
        last = failed.state or {}
        detail = f"; last seen: {last['error']}" if isinstance(last, dict) and last.get("error") else ""
        module.fail_json(msg=f"{failed}{detail}", **returned_report(failed.report))
    finally:
        client.close_connection()

    out = {
        "changed": result["changed"],
        "protocol": pair(result["after"]),
        "before": pair(result["before"]),
        "maxima": {str(nodeid): pair(m) for nodeid, m in sorted(result["maxima"].items())},
        **returned_report(report),
    }
    if module._diff and result["changed"]:
        out["diff"] = {
            "before_header": f"{prefix} (running protocol)",
            "after_header": f"{prefix} (running protocol)",
            "before": sections_text(fs_name, result["before"]),
            "after": sections_text(fs_name, result["after"]),
        }
    module.exit_json(**out)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: corosync_conf
short_description: Write corosync.conf from structured settings and say how to apply the change
version_added: 0.1.0
description:
  - Renders C(corosync.conf) (totem with knet, nodelist, quorum, logging) from the options,
    validates it with C(corosync -t) on the node, and replaces the file atomically when it differs.
  - Compares the old and the new file section by section and returns RV(apply). V(reload) when only
    values corosync re-reads live on C(corosync-cfgtool -R) changed (the totem timing, knet crypto,
    logging, a nodelist that only gains or only loses nodes, every other node unchanged, and the
    quorum keys C(expected_votes) and C(two_node)), V(restart) when anything else changed (transport,
    cluster name, a node changed, other quorum keys), and V(none) when nothing changed.
  - A nodelist of two nodes gets C(two_node) set to 1 in the quorum section unless O(quorum) sets
    C(two_node) either way or configures a quorum device (with one vote each, a majority of two is
    both nodes).
  - >-
    A dict value in O(quorum) is written as a subsection: the quorum device is
    C(device: {model: net, votes: 1, net: {host: QNETD, algorithm: ffsplit}}). corosync re-reads a
    change of it on C(corosync-cfgtool -R) (V(reload)), but the C(corosync-qdevice) daemon reads it
    only when it starts; RV(qdevice_restart) names those changes.
  - It never restarts or reloads corosync itself. The role decides that, one node at a time.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
options:
  cluster_name:
    description: The C(totem.cluster_name).
    type: str
    required: true
  totem:
    description:
      - Totem settings, written as given (C(token), C(token_coefficient), C(consensus), C(join),
        C(token_retransmits_before_loss_const), C(crypto_cipher), C(crypto_hash), ...).
      - Keys whose value is null are left out, so corosync uses its default.
    type: dict
    default: {}
  nodes:
    description: Every node of the cluster.
    type: list
    elements: dict
    required: true
    suboptions:
      nodeid:
        description: The node id.
        type: int
        required: true
      name:
        description: The node name.
        type: str
        required: true
      addrs:
        description: One address per knet link, link 0 first.
        type: list
        elements: str
        required: true
  quorum:
    description: The quorum section; booleans are written as 1/0.
    type: dict
    default: {provider: corosync_votequorum}
  logging:
    description: The logging section.
    type: dict
    default: {to_syslog: true, to_stderr: false, timestamp: "on"}
  path:
    description: Where corosync reads its configuration.
    type: path
    default: /etc/corosync/corosync.conf
  keyfile:
    description: The authkey path written as C(totem.keyfile).
    type: path
    default: /etc/corosync/authkey
  validate:
    description: Check the new file with C(corosync -t) before installing it.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Configure corosync for three nodes with the cman-era token
  quorate.cluster.corosync_conf:
    cluster_name: quorate
    totem: {token: 10000, crypto_cipher: aes256, crypto_hash: sha256}
    nodes:
      - {nodeid: 1, name: n1, addrs: [10.89.77.11]}
      - {nodeid: 2, name: n2, addrs: [10.89.77.12]}
      - {nodeid: 3, name: n3, addrs: [10.89.77.13]}
  register: conf
"""

RETURN = r"""
apply:
  description: What the change needs, V(none), V(reload) or V(restart).
  returned: always
  type: str
  sample: reload
reloadable:
  description: Changed keys corosync re-reads live.
  returned: always
  type: list
  elements: str
  sample: ["totem.token", "nodelist (adds n4 (id 4))"]
restart:
  description: Changed keys or sections that need a corosync restart.
  returned: always
  type: list
  elements: str
  sample: []
qdevice_restart:
  description:
    - Changed keys of the quorum device (C(quorum.device.*)). corosync takes them on the reload, the
      C(corosync-qdevice) daemon only when it restarts; the quorate.cluster.qdevice role leaves that
      restart to the rolling restart.
  returned: always
  type: list
  elements: str
  version_added: 0.3.0
  sample: ["quorum.device.net.algorithm"]
content:
  description: The rendered file.
  returned: always
  type: str
  sample: "totem {\n    version: 2\n..."
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils._modules.corosync_conf import (
    ConfError,
    classify_change,
    quorum_section,
    render,
)
from ansible_collections.quorate.cluster.plugins.module_utils._modules.module_support import command_runner
from ansible_collections.quorate.cluster.plugins.module_utils.shared.files import write_atomic


def validate_params(module: AnsibleModule) -> None:
    nodes = module.params["nodes"]
    if not nodes:
        module.fail_json(msg="nodes must list at least one node")
    for key in ("nodeid", "name"):
        values = [n[key] for n in nodes]
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            module.fail_json(msg=f"nodes: duplicate {key} {dupes}")
    links = {len(n["addrs"]) for n in nodes}
    if 0 in links or len(links) != 1:
        module.fail_json(msg="nodes: every node needs the same number of addrs (one per knet link), at least one")
    token = module.params["totem"].get("token")
    if token is not None and (not isinstance(token, int) or token <= 0):
        module.fail_json(msg=f"totem.token must be a positive integer in ms (got {token!r})")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "cluster_name": {"type": "str", "required": True},
            "totem": {"type": "dict", "default": {}},
            "nodes": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "nodeid": {"type": "int", "required": True},
                    "name": {"type": "str", "required": True},
                    "addrs": {"type": "list", "elements": "str", "required": True},
                },
            },
            "quorum": {"type": "dict", "default": {"provider": "corosync_votequorum"}},
            "logging": {"type": "dict", "default": {"to_syslog": True, "to_stderr": False, "timestamp": "on"}},
            "path": {"type": "path", "default": "/etc/corosync/corosync.conf"},
            "keyfile": {"type": "path", "default": "/etc/corosync/authkey"},
            "validate": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    validate_params(module)
    params = module.params
    try:
        content = render(
            params["cluster_name"],
            params["totem"],
            params["nodes"],
            quorum_section(params["quorum"], len(params["nodes"])),
            params["logging"],
            params["keyfile"],
        )
    except ConfError as exc:
        module.fail_json(msg=f"cannot render corosync.conf: {exc}")
    path = params["path"]
    old = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            old = handle.read()
    change = classify_change(old, content)
    changed = old != content
    apply = "none" if not changed else ("restart" if change["restart"] else "reload")
    result = {
        "changed": changed,
        "apply": apply,
        "reloadable": change["reloadable"],
        "restart": change["restart"],
        "qdevice_restart": change["qdevice_restart"],
        "content": content,
    }
    if changed and module._diff:
        result["diff"] = {"before": old or "", "after": content, "before_header": path, "after_header": path}
    if not changed or module.check_mode:
        module.exit_json(**result)

    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o755, exist_ok=True)

    def validate(tmp: str) -> None:
        """corosync -t on the new file before it replaces the old one."""
        if not params["validate"]:
            return
        corosync = module.get_bin_path("corosync", required=True)
        rc, out, err = command_runner(module)([corosync, "-t", "-c", tmp])
        if rc != 0:
            module.fail_json(
                msg=f"corosync rejected the new configuration (rc={rc}); nothing was changed: {(err or out).strip()}",
                rc=rc,
                stdout=out,
                stderr=err,
                content=content,
            )

    write_atomic(path, content, mode=0o644, validate=validate)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

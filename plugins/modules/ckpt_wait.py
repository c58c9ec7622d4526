#!/usr/bin/python
# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: ckpt_wait
short_description: Block until a checkpoint opens on this node (the startup barrier)
version_added: 0.1.0
description:
  - Opens a checkpoint in the local quorate checkpoint service (C(quorate-ckptd)) and reads the
    sections that must exist, retrying with the collection's retry policy until it succeeds, a
    fatal error occurs, or the deadline passes.
  - Every error is classified. C(SA_AIS_ERR_TRY_AGAIN) (membership change, service not synced),
    C(SA_AIS_ERR_NOT_EXIST) on a read-only open or a missing section (another node has not created
    or written it yet), C(SA_AIS_ERR_EXIST) on a create (an old instance awaits teardown) and a
    dead connection (reconnect) are retried; everything else fails at once with its SA name and
    what to fix.
  - The handle is closed again before the module returns; the module never changes cluster state.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
  - quorate.cluster.wait
options:
  name:
    description:
      - Name of the checkpoint.
    type: str
    required: true
  mode:
    description:
      - V(read) opens the checkpoint read-only; it must exist.
      - V(create) opens it with CREATE, READ and WRITE and O(creation_attributes); an existing
        checkpoint must have the same attributes. A checkpoint created by this probe is closed at
        once and follows its retention duration.
    type: str
    choices: [read, create]
    default: read
  creation_attributes:
    description:
      - Creation attributes, with O(mode=create) only.
    type: dict
    suboptions:
      checkpoint_size:
        description: Total bytes of section data.
        type: int
        default: 4096
      retention_duration:
        description: Nanoseconds the checkpoint outlives its last close.
        type: int
        default: 0
      max_sections:
        description: Maximum number of sections.
        type: int
        default: 16
      max_section_size:
        description: Maximum bytes per section.
        type: int
        default: 256
      max_section_id_size:
        description: Maximum bytes of a section id.
        type: int
        default: 64
  sections:
    description:
      - Section ids that must exist; their values are returned in RV(sections).
    type: list
    elements: str
    default: []
  socket:
    description:
      - Path of the checkpoint service's socket.
    type: path
    default: /run/quorate/ckptd.sock
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
requirements:
  - quorate-ckptd running on the node (role quorate.cluster.ckptd)
  - corosync 3, whose live totem timing sets the default deadline
seealso:
  - module: quorate.cluster.corosync_wait
"""

EXAMPLES = r"""
- name: Wait until the global checkpoint carries the negotiated protocol
  quorate.cluster.ckpt_wait:
    name: "quorate:controld"
    sections: [daemon_protocol, ocfs2_protocol]
  register: global_ckpt

- name: Wait for this node's local checkpoint
  quorate.cluster.ckpt_wait:
    name: "quorate:controld:{{ '%08x' | format(quorate_corosync_nodeid) }}"
    sections: [daemon_max_protocol]
    timeout: 60
"""

RETURN = r"""
sections:
  description: The requested sections, text with trailing NULs removed.
  returned: success
  type: dict
  sample: {"daemon_protocol": "01 00"}
attempts:
  description: Open attempts made.
  returned: always
  type: int
  sample: 3
elapsed:
  description: Seconds spent.
  returned: always
  type: float
  sample: 0.041
deadline:
  description: The deadline in seconds that applied.
  returned: always
  type: float
  sample: 9.333
errors:
  description: Count of each error seen, by SA name.
  returned: always
  type: dict
  sample: {"SA_AIS_ERR_NOT_EXIST": 2}
case:
  description: >-
    The transient case that stood in the way most often, V(none), V(try_again), V(not_exist_read),
    V(exist_create) or V(reconnect).
  returned: always
  type: str
  sample: not_exist_read
cases:
  description: Count of each transient case.
  returned: always
  type: dict
  sample: {"not_exist_read": 2}
token_ms:
  description: The effective totem token the deadline was derived from.
  returned: always
  type: int
  sample: 3650
timing_source:
  description: V(cmap) for live values, V(assumed) when corosync did not answer.
  returned: always
  type: str
  sample: cmap
error:
  description: On failure, the SA error name that ended the wait.
  returned: failure
  type: str
  sample: SA_AIS_ERR_NAME_TOO_LONG
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils.ais_errors import AisError, AisException, Operation
from ansible_collections.quorate.cluster.plugins.module_utils.ckpt_client import DEFAULT_SOCKET, CheckpointClient
from ansible_collections.quorate.cluster.plugins.module_utils.ckpt_protocol import (
    MAX_NAME_LENGTH,
    OPEN_CREATE,
    OPEN_READ,
    OPEN_WRITE,
)
from ansible_collections.quorate.cluster.plugins.module_utils.module_support import (
    corosync_runtime,
    policy_from_params,
    wait_argument_spec,
)
from ansible_collections.quorate.cluster.plugins.module_utils.retry_policy import RetryClient, RetryFailed

ATTRIBUTE_SPEC = {
    "checkpoint_size": {"type": "int", "default": 4096},
    "retention_duration": {"type": "int", "default": 0},
    "max_sections": {"type": "int", "default": 16},
    "max_section_size": {"type": "int", "default": 256},
    "max_section_id_size": {"type": "int", "default": 64},
}


def probe(client: CheckpointClient, name: str, mode: str, attrs: dict | None, sections: list) -> dict:
    """One attempt: open, read the sections, close. Raises AisException."""
    if mode == "create":
        handle = client.open(name, OPEN_READ | OPEN_WRITE | OPEN_CREATE, dict(attrs, creation_flags=0))
        operation = Operation.OPEN_CREATE
    else:
        handle = client.open(name, OPEN_READ)
        operation = Operation.OPEN_READ
    try:
        values = {}
        for section in sections:
            try:
                values[section] = client.section_read(handle, section.encode())
            except AisException as exc:
                if exc.code is AisError.NOT_EXIST:
                    # Visible but not written yet: the writer is between its open and its write.
                    raise AisException(AisError.NOT_EXIST, f"section {section!r} not written yet", operation) from exc
                raise
        return {key: value.rstrip(b"\0").decode("utf-8", "backslashreplace") for key, value in values.items()}
    finally:
        try:
            client.close(handle)
        except AisException:
            pass  # the service closes it with the connection anyway


def validate(module: AnsibleModule) -> None:
    params = module.params
    name = params["name"]
    if not name or len(name.encode()) > MAX_NAME_LENGTH:
        module.fail_json(msg=f"name must be 1..{MAX_NAME_LENGTH} bytes long (got {len(name.encode())})")
    if params["mode"] == "read" and params["creation_attributes"] is not None:
        module.fail_json(msg="creation_attributes can only be given with mode=create")
    for section in params["sections"]:
        if not section:
            module.fail_json(msg="sections must not contain an empty section id")
    for key, value in (params["creation_attributes"] or {}).items():
        if value is not None and value < 0:
            module.fail_json(msg=f"creation_attributes.{key} must not be negative (got {value})")


def main() -> None:
    spec = wait_argument_spec()
    spec.update(
        name={"type": "str", "required": True},
        mode={"type": "str", "choices": ["read", "create"], "default": "read"},
        creation_attributes={"type": "dict", "options": ATTRIBUTE_SPEC},
        sections={"type": "list", "elements": "str", "default": []},
        socket={"type": "path", "default": DEFAULT_SOCKET},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    validate(module)
    policy = policy_from_params(module)
    params = module.params
    attrs = params["creation_attributes"]
    if params["mode"] == "create" and attrs is None:
        attrs = {key: option["default"] for key, option in ATTRIBUTE_SPEC.items()}
    runtime = corosync_runtime(module)
    client = CheckpointClient(params["socket"])
    retry = RetryClient(policy, timing_source=runtime.totem_timing)
    operation = Operation.OPEN_CREATE if params["mode"] == "create" else Operation.OPEN_READ
    try:
        values, report = retry.call(
            lambda: probe(client, params["name"], params["mode"], attrs, params["sections"]),
            operation,
            reconnect=client.reconnect,
            what=f"open of checkpoint {params['name']!r}",
        )
    except RetryFailed as failed:
        result = failed.report.as_dict()
        module.fail_json(
            msg=str(failed),
            error=failed.error.sa_name if failed.error else None,
            **{key: result[key] for key in RETURNED_REPORT_KEYS},
        )
    finally:
        client.close_connection()
    result = report.as_dict()
    module.exit_json(changed=False, sections=values, **{key: result[key] for key in RETURNED_REPORT_KEYS})


RETURNED_REPORT_KEYS = ("attempts", "elapsed", "deadline", "errors", "case", "cases", "token_ms", "timing_source")


if __name__ == "__main__":
    main()

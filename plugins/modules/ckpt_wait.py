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
  - With O(checkpoints), one call waits for several checkpoints in turn, each exactly as a call with
    O(name) would, so a barrier on several checkpoints costs one round trip to the node instead of one
    task each.
  - The handle is closed again before the module returns. Only a O(mode=create) that finds no such
    checkpoint changes cluster state (it creates it), and C(changed) and RV(created) say so.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
  - quorate.cluster.attributes.no_diff
  - quorate.cluster.wait
  - quorate.cluster.ckpt_socket
  - quorate.cluster.retry_report
options:
  name:
    description:
      - Name of the checkpoint.
      - Required unless O(checkpoints) is given; mutually exclusive with it.
    type: str
  mode:
    description:
      - V(read) opens the checkpoint read-only; it must exist.
      - V(create) opens it with CREATE, READ and WRITE and O(creation_attributes); an existing
        checkpoint must have the same attributes. A checkpoint created by this probe is closed at
        once and follows its retention duration.
      - In check mode V(create) opens read-only and creates nothing; a checkpoint that does not
        exist yet is reported as one the call would create (C(changed), RV(created)), without
        waiting for its sections.
      - Mutually exclusive with O(checkpoints), whose entries have their own O(checkpoints[].mode).
    type: str
    choices: [read, create]
    default: read
  creation_attributes:
    description:
      - Creation attributes, with O(mode=create) only.
      - Mutually exclusive with O(checkpoints).
    type: dict
    # The same suboptions as checkpoints[].creation_attributes (one ATTRIBUTE_SPEC in the code).
    suboptions: &creation_attributes
      checkpoint_size:
        description:
          - Total bytes of section data.
          - Not related to max_section_size (as openais, which accepts a
            max_section_size above checkpoint_size); the service's ceiling is 64 MiB.
          - openais also refuses a checkpoint_size above max_sections * max_section_size; this
            service accepts it (the excess can never be used), so attributes it accepted before
            stay valid.
        type: int
        default: 4096
      retention_duration:
        description: Nanoseconds the checkpoint outlives its last close.
        type: int
        default: 0
      max_sections:
        description:
          - Maximum number of sections, at least 1 (at most 65536).
          - With 1, the checkpoint has exactly one section from its creation on, the default
            section (SA_CKPT_DEFAULT_SECTION_ID, the empty id), and no section can be created.
        type: int
        default: 16
      max_section_size:
        description:
          - Maximum bytes per section (at most 1 MiB); more data answers SA_AIS_ERR_INVALID_PARAM.
        type: int
        default: 256
      max_section_id_size:
        description: Maximum bytes of a section id.
        type: int
        default: 64
  sections:
    description:
      - Section ids that must exist; their values are returned in RV(sections).
      - Mutually exclusive with O(checkpoints).
    type: list
    elements: str
    default: []
  checkpoints:
    description:
      - Several checkpoints to wait for in one call, in this order. Each is waited for as a call with
        its O(checkpoints[].name), O(checkpoints[].mode), O(checkpoints[].creation_attributes) and
        O(checkpoints[].sections) would, under its own deadline (O(timeout) or the one derived from the
        live totem timing), once the one before it has opened; the first that fails ends the call.
      - The results are in RV(checkpoints); the top-level RV(attempts), RV(errors), RV(cases),
        RV(elapsed) and RV(deadline) then add up those of every checkpoint waited for.
      - Mutually exclusive with O(name), O(mode), O(creation_attributes) and O(sections).
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      name:
        description: Name of the checkpoint.
        type: str
        required: true
      mode:
        description: V(read) or V(create), as O(mode).
        type: str
        choices: [read, create]
        default: read
      creation_attributes:
        description: Creation attributes, with O(checkpoints[].mode=create) only; as O(creation_attributes).
        type: dict
        suboptions: *creation_attributes
      sections:
        description: Section ids that must exist; their values are returned in that entry's C(sections).
        type: list
        elements: str
        default: []
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

- name: Wait for this node's local checkpoint, then the global one, in one round trip
  quorate.cluster.ckpt_wait:
    checkpoints:
      - name: "quorate:controld:{{ '%08x' | format(quorate_corosync_nodeid) }}"
        sections: [daemon_max_protocol, ocfs2_max_protocol]
      - name: "quorate:controld"
        sections: [daemon_protocol, ocfs2_protocol]
    timeout: 60  # for each of them
  register: barrier

- name: Show the negotiated protocol
  ansible.builtin.debug:
    msg: "daemon protocol {{ barrier.checkpoints[1].sections.daemon_protocol }}"
"""

RETURN = r"""
created:
  description: >-
    Whether this call created the checkpoint (in check mode, would create it); always false with
    O(mode=read).
  returned: success, with O(name)
  type: bool
  sample: false
sections:
  description: The requested sections, text with trailing NULs removed.
  returned: success, with O(name)
  type: dict
  sample: {"daemon_protocol": "01 00"}
error:
  description: On failure, the SA error name that ended the wait (null when it timed out without one).
  returned: failure
  type: str
  sample: SA_AIS_ERR_NAME_TOO_LONG
checkpoints:
  description:
    - One entry per checkpoint waited for, in the order of O(checkpoints).
    - On failure the last entry is the checkpoint that failed; those after it were not tried.
  returned: when O(checkpoints) is given
  type: list
  elements: dict
  version_added: 0.2.0
  sample:
    - {"name": "quorate:controld:00000001", "status": "ok", "sections": {"daemon_max_protocol": "01 00"},
       "attempts": 1, "elapsed": 0.004, "deadline": 9.333, "errors": {}, "case": "none", "cases": {},
       "token_ms": 3650, "timing_source": "cmap"}
    - {"name": "quorate:controld", "status": "ok", "sections": {"daemon_protocol": "01 00"},
       "attempts": 3, "elapsed": 0.061, "deadline": 9.333, "errors": {"SA_AIS_ERR_NOT_EXIST": 2},
       "case": "not_exist_read", "cases": {"not_exist_read": 2}, "token_ms": 3650, "timing_source": "cmap"}
  contains:
    name:
      description: The checkpoint's name.
      type: str
      sample: "quorate:controld"
    status:
      description: V(ok) when it opened with its sections, V(failed) when its wait ended in an error.
      type: str
      sample: ok
    created:
      description: Whether this call created it, as RV(created).
      returned: when it opened
      type: bool
      sample: false
    sections:
      description: Its requested sections, as RV(sections).
      returned: when it opened
      type: dict
      sample: {"daemon_protocol": "01 00"}
    attempts:
      description: Open attempts made for it.
      type: int
      sample: 3
    elapsed:
      description: Seconds spent on it.
      type: float
      sample: 0.061
    deadline:
      description: Its deadline in seconds.
      type: float
      sample: 9.333
    errors:
      description: Count of each error seen for it, by SA name.
      type: dict
      sample: {"SA_AIS_ERR_NOT_EXIST": 2}
    case:
      description: The transient case that stood in its way most often, as RV(case).
      type: str
      sample: not_exist_read
    cases:
      description: Count of each transient case for it.
      type: dict
      sample: {"not_exist_read": 2}
    token_ms:
      description: The effective totem token its deadline was derived from.
      type: int
      sample: 3650
    timing_source:
      description: V(cmap) or V(assumed), as RV(timing_source).
      type: str
      sample: cmap
    error:
      description: The SA error name that ended its wait (null when it timed out without one).
      returned: when it failed
      type: str
      sample: SA_AIS_ERR_NAME_TOO_LONG
    msg:
      description: Why its wait failed and what to do.
      returned: when it failed
      type: str
      sample: "open of checkpoint 'quorate:controld' did not succeed within 9.33s after 117 attempts; ..."
attempts:
  description: >-
    Attempts made (with O(checkpoints), for all of them together); part of the retry report, see
    the notes.
  returned: always
  type: int
  sample: 3
elapsed:
  description: >-
    Seconds spent (with O(checkpoints), the sum over them); part of the retry report, see the
    notes.
  returned: always
  type: float
  sample: 0.041
deadline:
  description: >-
    The deadline in seconds that applied (with O(checkpoints), the sum of the deadlines of the
    checkpoints waited for: each had its own); part of the retry report, see the notes.
  returned: always
  type: float
  sample: 9.333
errors:
  description: >-
    Count of each error seen, by name (with O(checkpoints), for all of them together); part of
    the retry report, see the notes.
  returned: always
  type: dict
  sample: {"SA_AIS_ERR_NOT_EXIST": 2}
case:
  description: >-
    The transient case that stood in the way most often (with O(checkpoints), over all of them);
    part of the retry report, see the notes.
  returned: always
  type: str
  sample: not_exist_read
cases:
  description: >-
    Count of each transient case (with O(checkpoints), for all of them together); part of the
    retry report, see the notes.
  returned: always
  type: dict
  sample: {"not_exist_read": 2}
token_ms:
  description: >-
    The effective totem token the deadline was derived from (with O(checkpoints), for the last
    checkpoint waited for); part of the retry report, see the notes.
  returned: always
  type: int
  sample: 3650
timing_source:
  description: >-
    V(cmap) or V(assumed) (with O(checkpoints), for the last checkpoint waited for); part of the
    retry report, see the notes.
  returned: always
  type: str
  sample: cmap
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils._modules.module_support import (
    policy_from_params,
    socket_argument_spec,
    wait_argument_spec,
    waiting_runtime,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_barrier import WaitFailed, summary, wait_each
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_client import CheckpointClient
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import MAX_NAME_LENGTH
from ansible_collections.quorate.cluster.plugins.module_utils.shared.retry_policy import returned_report

ATTRIBUTE_SPEC = {
    "checkpoint_size": {"type": "int", "default": 4096},
    "retention_duration": {"type": "int", "default": 0},
    "max_sections": {"type": "int", "default": 16},
    "max_section_size": {"type": "int", "default": 256},
    "max_section_id_size": {"type": "int", "default": 64},
}

# One checkpoint: the top-level options, and each entry of ``checkpoints``.
CHECKPOINT_SPEC = {
    "name": {"type": "str", "required": True},
    "mode": {"type": "str", "choices": ["read", "create"], "default": "read"},
    "creation_attributes": {"type": "dict", "options": ATTRIBUTE_SPEC},
    "sections": {"type": "list", "elements": "str", "default": []},
}


def checkpoint_errors(checkpoint: dict, where: str = "") -> list[str]:
    """What is wrong with one checkpoint's options; ``where`` prefixes the option names."""
    errors = []
    name = checkpoint["name"] or ""
    if not name or len(name.encode()) > MAX_NAME_LENGTH:
        errors.append(f"{where}name must be 1..{MAX_NAME_LENGTH} bytes long (got {len(name.encode())})")
    if checkpoint["mode"] == "read" and checkpoint["creation_attributes"] is not None:
        errors.append(f"{where}creation_attributes can only be given with {where}mode=create")
    if any(not section for section in checkpoint["sections"]):
        errors.append(f"{where}sections must not contain an empty section id")
    for key, value in (checkpoint["creation_attributes"] or {}).items():
        if value is not None and value < 0:
            errors.append(f"{where}creation_attributes.{key} must not be negative (got {value})")
    return errors


def requested(params: dict) -> tuple[list[dict], bool]:
    """The checkpoints to wait for and whether they came as ``checkpoints`` (else ``name``)."""
    if params["checkpoints"] is not None:
        return [dict(entry) for entry in params["checkpoints"]], True
    return [{key: params[key] for key in CHECKPOINT_SPEC}], False


def validate(module: AnsibleModule) -> list[dict]:
    checkpoints, several = requested(module.params)
    if several and not checkpoints:
        module.fail_json(msg="checkpoints must list at least one checkpoint")
    errors = []
    for index, checkpoint in enumerate(checkpoints):
        errors += checkpoint_errors(checkpoint, f"checkpoints[{index}]." if several else "")
    if errors:
        module.fail_json(msg="; ".join(errors))
    for checkpoint in checkpoints:
        if checkpoint["mode"] == "create" and checkpoint["creation_attributes"] is None:
            checkpoint["creation_attributes"] = {key: option["default"] for key, option in ATTRIBUTE_SPEC.items()}
    return checkpoints


def main() -> None:
    spec = wait_argument_spec()
    spec.update(
        {key: dict(option, required=False) for key, option in CHECKPOINT_SPEC.items()},
        checkpoints={"type": "list", "elements": "dict", "options": CHECKPOINT_SPEC},
        **socket_argument_spec(),
    )
    module = AnsibleModule(
        argument_spec=spec,
        mutually_exclusive=[("checkpoints", key) for key in CHECKPOINT_SPEC],
        required_one_of=[("name", "checkpoints")],
        supports_check_mode=True,
    )
    checkpoints = validate(module)
    several = module.params["checkpoints"] is not None
    policy = policy_from_params(module)
    _runtime, retry = waiting_runtime(module, policy)
    # Every call ends by the wait's deadline, however slowly a reply trickles in.
    client = CheckpointClient(module.params["socket"], time_left=retry.time_left)
    try:
        results = wait_each(retry, client, checkpoints, module.check_mode)
    except WaitFailed as failed:
        if several:
            module.fail_json(
                msg=f"checkpoint {len(failed.results)} of {len(checkpoints)}: {failed}",
                error=failed.results[-1]["error"],
                checkpoints=failed.results,
                **summary(failed.results),
            )
        single = failed.results[-1]
        module.fail_json(msg=single["msg"], error=single["error"], **returned_report(single))
    finally:
        client.close_connection()
    changed = any(entry["created"] for entry in results)  # a create that made a new checkpoint
    if several:
        module.exit_json(changed=changed, checkpoints=results, **summary(results))
    single = results[0]
    module.exit_json(changed=changed, created=single["created"], sections=single["sections"], **returned_report(single))


if __name__ == "__main__":
    main()

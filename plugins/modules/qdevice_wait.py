#!/usr/bin/python
# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: qdevice_wait
short_description: Wait until the quorum device's vote is counted on this node
version_added: 0.3.0
description:
  - The barrier after C(corosync-qdevice) starts on a cluster member. Blocks until
    C(corosync-quorumtool -s) shows the quorum device registered (flag C(Qdevice)), its vote counted
    (the C(Qdevice) row carries votes) and this node's qdevice alive and voting (C(A,V)).
  - On timeout it fails and says why it was waiting, read from C(corosync-qdevice-tool -s) and
    corosync-qdevice's log lines since the wait began; RV(reason) is one of V(not_configured),
    V(not_running), V(no_certificate), V(qnetd_unreachable), V(certificate_refused) or
    V(vote_not_cast), and the message says what to do.
  - Never changes anything.
author:
  - quorate.cluster developers (@quorate)
extends_documentation_fragment:
  - quorate.cluster.attributes
  - quorate.cluster.attributes.no_diff
  - quorate.cluster.retry_report
options:
  timeout:
    description:
      - Absolute time limit in seconds for the wait.
      - When omitted, the deadline derived from the live totem timing, but at least 30 s
        (corosync-qdevice connects within its 8 s connect timeout and casts its vote within its
        5 s vote timer once qnetd answered).
      - Must be greater than 0.
    type: float
requirements:
  - corosync 3 and corosync-qdevice (C(corosync-quorumtool), C(corosync-qdevice-tool)) on the node
seealso:
  - module: quorate.cluster.corosync_wait
"""

EXAMPLES = r"""
- name: Wait until the quorum device's vote is counted
  quorate.cluster.qdevice_wait:
    timeout: 60

- name: Read why a member does not get the device's vote, without failing the play
  quorate.cluster.qdevice_wait:
    timeout: 5
  register: qdevice
  failed_when: false
"""

RETURN = r"""
voting:
  description: Whether the device's vote was counted and this node's qdevice voted when the wait ended.
  returned: always
  type: bool
  sample: true
reason:
  description:
    - V(voting) on success; otherwise why the vote was not counted (see the description).
  returned: always
  type: str
  sample: voting
evidence:
  description: The state or log line RV(reason) rests on.
  returned: always
  type: str
  sample: "device votes 1, this node A,V,NMW"
device_votes:
  description: Votes the device contributed when the wait ended (null when corosync showed no device).
  returned: always
  type: int
  sample: 1
node_flags:
  description: This node's Qdevice column of C(corosync-quorumtool -s), e.g. V(A), V(V), V(NMW).
  returned: always
  type: list
  elements: str
  sample: ["A", "V", "NMW"]
total_votes:
  description: Votes present when the wait ended, the device's included.
  returned: always
  type: int
  sample: 3
expected_votes:
  description: Votequorum's expected votes (the device's included).
  returned: always
  type: int
  sample: 3
quorate:
  description: Whether the partition was quorate when the wait ended.
  returned: always
  type: bool
  sample: true
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
  sample: 30.0
errors:
  description: Count of each error seen, by name; part of the retry report, see the notes.
  returned: always
  type: dict
  sample: {"COROSYNC_NOT_RUNNING": 3}
case:
  description: The transient case that stood in the way most often; part of the retry report, see the notes.
  returned: always
  type: str
  sample: try_again
cases:
  description: Count of each transient case; part of the retry report, see the notes.
  returned: always
  type: dict
  sample: {"try_again": 40}
token_ms:
  description: The effective totem token the deadline was derived from; part of the retry report, see the notes.
  returned: always
  type: int
  sample: 3000
timing_source:
  description: V(cmap) or V(assumed); part of the retry report, see the notes.
  returned: always
  type: str
  sample: cmap
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorate.cluster.plugins.module_utils._modules.module_support import (
    command_runner,
    policy_from_params,
    wait_argument_spec,
    waiting_runtime,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.corosync_runtime import (
    CorosyncQueryError,
    parse_quorumtool,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.qdevice_runtime import (
    QDEVICE_TOOL,
    diagnose,
    explain,
    parse_qdevice_tool,
    parse_quorum_device,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.retry_policy import (
    RetryFailed,
    returned_report,
)

# corosync-qdevice needs its connect timeout (8 s) and vote timer (5 s) after qnetd answers.
MIN_TIMEOUT = 30.0


def qdevice_evidence(run, since: float) -> tuple[dict | None, list[str]]:
    """corosync-qdevice-tool -s (None when the daemon does not answer) and the daemon's log lines
    since ``since`` (epoch seconds), oldest first."""
    rc, out, _err = run([QDEVICE_TOOL, "-s"])
    tool = parse_qdevice_tool(out) if rc == 0 else None
    rc, out, _err = run(
        [
            "journalctl",
            "--no-pager",
            "-o",
            "cat",
            "-n",
            "20",
            f"--since=@{int(since)}",
            "SYSLOG_IDENTIFIER=corosync-qdevice",
        ]
    )
    return tool, out.splitlines() if rc == 0 else []


def main() -> None:
    module = AnsibleModule(argument_spec=wait_argument_spec(), supports_check_mode=True)
    policy = policy_from_params(module, min_timeout=MIN_TIMEOUT)
    runtime, client = waiting_runtime(module, policy)
    run = command_runner(module)
    since = time.time() - 60  # the log lines that led to this wait, too

    def check():
        text = runtime.quorum_text()
        device = parse_quorum_device(text)
        return device.voting, (device, parse_quorumtool(text))

    try:
        (device, state), report = client.wait_for(check, what="the quorum device's vote")
    except RetryFailed as failed:
        device, state = failed.state if failed.state else (None, None)
        tool, lines = qdevice_evidence(run, since)
        reason, evidence = diagnose(device, tool, lines)
        module.fail_json(
            msg=f"{failed}: {explain(reason, evidence)}",
            voting=False,
            reason=reason,
            evidence=evidence,
            device_votes=device.votes if device else None,
            node_flags=device.local_flags if device else [],
            total_votes=state.total_votes if state else None,
            expected_votes=state.expected_votes if state else None,
            quorate=bool(state and state.quorate),
            **returned_report(failed.report),
        )
    except CorosyncQueryError as exc:
        module.fail_json(msg=str(exc), rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)

    reason, evidence = diagnose(device, None, [])
    module.exit_json(
        changed=False,
        voting=True,
        reason=reason,
        evidence=evidence,
        device_votes=device.votes,
        node_flags=device.local_flags,
        total_votes=state.total_votes,
        expected_votes=state.expected_votes,
        quorate=state.quorate,
        **returned_report(report),
    )


if __name__ == "__main__":
    main()

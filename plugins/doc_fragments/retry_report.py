# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # The retry report every module that waits returns, built by
    # module_utils/shared/retry_policy.returned_report() (keys: RETURNED_REPORT_KEYS).
    #
    # ansible-core (2.17 to 2.19 at least) merges extends_documentation_fragment into DOCUMENTATION
    # only, never into RETURN, and RETURN must be a literal string. So the keys are explained once
    # here, in the notes, and each module's RETURN lists them (type, sample) and points here.
    DOCUMENTATION = r"""
options: {}
notes:
  - >-
    Retry report: on success and on failure alike the module returns the report of its wait:
    RV(attempts) (calls or polls made), RV(elapsed) (seconds spent), RV(deadline) (the limit in
    seconds that applied, O(timeout) or the one derived from the live totem timing), RV(errors)
    (count of each error seen, by name; C(COROSYNC_NOT_RUNNING) while corosync was down,
    C(SA_AIS_ERR_TIMEOUT) for a corosync tool or checkpoint call cut off at the deadline),
    RV(cases) (count of each transient case met), RV(case) (the most frequent of them, the first
    seen among equals, V(none) without any), RV(token_ms) (the effective totem token the
    deadline was derived from) and RV(timing_source) (V(cmap) for live values, V(assumed) when
    corosync did not answer).
  - >-
    The transient cases are V(try_again) (membership in flux, or the service not synchronised
    yet), V(not_exist_read) (a read-only open before the creator made the checkpoint visible),
    V(exist_create) (a create colliding with an instance awaiting teardown), V(not_quorate)
    (a change refused because this node's partition does not hold quorum) and V(reconnect)
    (corosync not running yet, or the connection to the local service lost).
"""

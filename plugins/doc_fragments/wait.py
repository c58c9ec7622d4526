# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Options of every module that waits; the spec is module_utils/_modules/module_support.wait_argument_spec().
    DOCUMENTATION = r"""
options:
  timeout:
    description:
      - Absolute time limit in seconds for the wait.
      - When omitted, the deadline is derived from the cluster's live totem timing read from cmap
        (C(runtime.config.totem.token) + C(runtime.config.totem.consensus)) times a safety factor
        of 1.1 plus 0.5 s, which covers one whole membership change. That is about 9.3 s at token
        3000 on 3 nodes and about 26.3 s at token 10000.
      - While corosync is not running yet, the module waits for it within this limit (or within the
        deadline derived from corosync's default timing) and says so if it never comes up.
      - Must be greater than 0.
    type: float
notes:
  - The poll interval does not grow with the token. It starts near 10 ms, backs off exponentially
    with full jitter, and is capped at 80 ms, so success is noticed within about 80 ms plus one probe.
"""

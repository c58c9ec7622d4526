# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # The input of the filters that read every host of the play (plugins/plugin_utils/play_hosts.py).
    DOCUMENTATION = r"""
options:
  _input:
    description:
      - The vars of every host of the play, in play order (the play hosts extracted from C(hostvars), see the example).
    type: list
    elements: dict
    required: true
"""

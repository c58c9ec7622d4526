# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # The socket option of every module that talks to the checkpoint service; the spec is
    # module_utils/_modules/module_support.socket_argument_spec().
    DOCUMENTATION = r"""
options:
  socket:
    description: Path of the checkpoint service's socket.
    type: path
    default: /run/quorate/ckptd.sock
"""

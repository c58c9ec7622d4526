# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: node_bundle
short_description: The node programs as one zip, base64-encoded
version_added: 0.2.0
description:
  - Packs the collection's C(plugins/module_utils) into one zip that the nodes import as the
    C(quorate_node) package (C(PYTHONPATH=.../quorate_node.zip python3 -m quorate_node.programs.ckptd)), and returns
    it base64-encoded, ready for the C(content_b64) of a M(quorate.cluster.node_install) entry.
  - The zip is deterministic (sorted names, fixed timestamps), so an unchanged collection gives the same
    bytes and installing it again changes nothing on the node.
  - Built in memory on the controller, with no temporary file and no extra task.
author:
  - quorate.cluster developers (@quorate)
options: {}
"""

EXAMPLES = r"""
- name: Install the node programs
  quorate.cluster.node_install:
    files:
      - path: /usr/lib/quorate/quorate_node.zip
        content_b64: "{{ lookup('quorate.cluster.node_bundle') }}"
        mode: "0644"
"""

RETURN = r"""
_raw:
  description: The zip, base64-encoded (one element).
  type: list
  elements: str
"""

import base64
import io
import zipfile
from pathlib import Path

from ansible.plugins.lookup import LookupBase

MODULE_UTILS = Path(__file__).resolve().parents[1] / "module_utils"
# What runs on the nodes: code shared with the modules, and the node programs themselves.
NODE_PACKAGES = ("shared", "programs")


def bundle_bytes(src: Path = MODULE_UTILS) -> bytes:
    """The deterministic zip of the node packages in ``src`` under ``quorate_node/``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        # zipimport knows no namespace packages: every package needs its __init__.py.
        files = [("__init__.py", b"")]
        for package in NODE_PACKAGES:
            files.append((f"{package}/__init__.py", b""))
            files += [
                (f"{package}/{path.name}", path.read_bytes())
                for path in sorted((src / package).glob("*.py"))
                if path.name != "__init__.py"
            ]
        for name, data in files:
            info = zipfile.ZipInfo(f"quorate_node/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, data)
    return buffer.getvalue()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [base64.b64encode(bundle_bytes()).decode("ascii")]

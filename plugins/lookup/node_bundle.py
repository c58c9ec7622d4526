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
  - With a term, the zip at that path on the controller instead, checked to hold the node programs
    (a staged build of other node programs, such as the upgrade scenario's second version).
author:
  - quorate.cluster developers (@quorate)
options:
  _terms:
    description: Optional path of a node programs zip on the controller; none for this collection's own.
    type: list
    elements: path
    required: false
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

from ansible.errors import AnsibleLookupError
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


# What a zip must hold to be node programs the units can start.
REQUIRED_MEMBERS = ("quorate_node/programs/ckptd.py", "quorate_node/programs/controld.py")


def staged_bundle_bytes(path: str) -> bytes:
    """The bytes of a node programs zip built elsewhere; refused unless it holds the daemons."""
    try:
        data = Path(path).read_bytes()
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise AnsibleLookupError(f"node_bundle: {path} is not a readable zip: {exc}") from exc
    missing = [name for name in REQUIRED_MEMBERS if name not in names]
    if missing:
        raise AnsibleLookupError(f"node_bundle: {path} holds no node programs (missing {', '.join(missing)})")
    return data


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if len(terms) > 1:
            raise AnsibleLookupError("node_bundle: at most one path")
        data = staged_bundle_bytes(terms[0]) if terms and terms[0] else bundle_bytes()
        return [base64.b64encode(data).decode("ascii")]

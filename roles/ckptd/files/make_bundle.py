"""Pack the collection's module_utils into one zip the nodes import as the quorate_node package.

Deterministic (sorted names, fixed timestamps), so an unchanged collection gives a byte-identical
bundle and the copy task reports no change. Runs on the controller: make_bundle.py SRC_DIR DEST.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path


def build(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        # zipimport knows no namespace packages: the package needs its __init__.py.
        files = [("__init__.py", b"")] + [(path.name, path.read_bytes()) for path in sorted(src.glob("*.py"))]
        for name, data in files:
            info = zipfile.ZipInfo(f"quorate_node/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, data)
    tmp.replace(dest)


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]))

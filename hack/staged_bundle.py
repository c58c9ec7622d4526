"""Build a second version of the node programs, as a later collection release would ship them.

    python hack/staged_bundle.py OUT.zip --daemon-max 1.1 --fs-max 1.1

Copies this checkout's node packages (plugins/module_utils), sets what the programs announce as their
highest controld protocols (shared/controld_protocol.NODE_*_MAX_PROTOCOL) and packs them the way the
node_bundle lookup does. The upgrade scenario and benchmark install the result with
quorate_ckptd_node_programs. Nothing else in the programs changes.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROTOCOL_FILE = Path("shared") / "controld_protocol.py"


def _lookup_module():
    spec = importlib.util.spec_from_file_location("quorate_node_bundle", REPO / "plugins" / "lookup" / "node_bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(out: Path, daemon_max: str, fs_max: str) -> Path:
    lookup = _lookup_module()
    with tempfile.TemporaryDirectory(prefix="quorate-staged.") as tmp:
        src = Path(tmp) / "module_utils"
        shutil.copytree(REPO / "plugins" / "module_utils", src)
        path = src / PROTOCOL_FILE
        text = path.read_text()
        for name, value in (("NODE_DAEMON_MAX_PROTOCOL", daemon_max), ("NODE_FS_MAX_PROTOCOL", fs_max)):
            major, _dot, minor = value.partition(".")
            text, count = re.subn(
                rf"^{name} = \(\d+, \d+\)$", f"{name} = ({int(major)}, {int(minor or 0)})", text, flags=re.M
            )
            if count != 1:
                raise SystemExit(f"staged_bundle: {name} not found once in {PROTOCOL_FILE}")
        path.write_text(text)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(lookup.bundle_bytes(src))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--daemon-max", required=True)
    parser.add_argument("--fs-max", required=True)
    args = parser.parse_args()
    sys.stdout.write(f"{build(args.out, args.daemon_max, args.fs_max)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

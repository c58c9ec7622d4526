"""Make the repository importable as ``ansible_collections.quorate.cluster`` for every test, and the
shared test code as one package, ``harness`` (tests/harness/).

The benchmarks (bench/) and the molecule race scripts (tests/molecule/) are scripts run by path
with their own directory on sys.path; the unit tests that check them import them as top-level
modules, put on sys.path here once rather than by each test file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
SCRIPT_DIRS = (REPO / "bench", TESTS / "molecule")
# The same tree `make` prepares for ansible: build/collections/ansible_collections/quorate/cluster -> repo.
COLLECTIONS_ROOT = REPO / "build" / "collections"


def _link_collection() -> None:
    link = COLLECTIONS_ROOT / "ansible_collections" / "quorate" / "cluster"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        try:
            link.symlink_to(REPO, target_is_directory=True)
        except FileExistsError:  # another xdist worker won the race
            pass
    if str(COLLECTIONS_ROOT) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS_ROOT))
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS_ROOT))


def _import_paths() -> None:
    for path in (TESTS, *SCRIPT_DIRS):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


_link_collection()
_import_paths()

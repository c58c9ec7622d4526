from __future__ import annotations

import base64
import io
import zipfile

from ansible_collections.quorate.cluster.plugins.lookup.node_bundle import MODULE_UTILS, LookupModule, bundle_bytes


def test_the_bundle_is_byte_identical_for_an_unchanged_tree_and_holds_every_module():
    first, second = bundle_bytes(), bundle_bytes()
    assert first == second
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    expected = ["quorate_node/__init__.py"] + [f"quorate_node/{p.name}" for p in sorted(MODULE_UTILS.glob("*.py"))]
    assert names == expected and "quorate_node/ckptd.py" in names


def test_a_changed_module_changes_the_bundle(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    before = bundle_bytes(tmp_path)
    (tmp_path / "a.py").write_text("x = 2\n")
    assert bundle_bytes(tmp_path) != before


def test_the_lookup_returns_the_bundle_base64_encoded():
    (value,) = LookupModule().run([])
    assert base64.b64decode(value) == bundle_bytes()

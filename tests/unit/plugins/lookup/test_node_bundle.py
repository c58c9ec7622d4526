from __future__ import annotations

import base64
import io
import zipfile

from ansible_collections.quorate.cluster.plugins.lookup.node_bundle import (
    MODULE_UTILS,
    NODE_PACKAGES,
    LookupModule,
    bundle_bytes,
)


def test_the_bundle_is_byte_identical_for_an_unchanged_tree_and_holds_every_node_module():
    first, second = bundle_bytes(), bundle_bytes()
    assert first == second
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    expected = ["quorate_node/__init__.py"]
    for package in NODE_PACKAGES:
        expected.append(f"quorate_node/{package}/__init__.py")
        expected += [f"quorate_node/{package}/{p.name}" for p in sorted((MODULE_UTILS / package).glob("*.py"))]
    expected = list(dict.fromkeys(expected))
    assert names == expected
    assert "quorate_node/programs/ckptd.py" in names and "quorate_node/shared/ckpt_barrier.py" in names


def test_the_modules_own_helpers_are_not_in_the_bundle():
    names = zipfile.ZipFile(io.BytesIO(bundle_bytes())).namelist()
    assert not [name for name in names if "_modules" in name]


def test_a_changed_module_changes_the_bundle(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "a.py").write_text("x = 1\n")
    before = bundle_bytes(tmp_path)
    (tmp_path / "shared" / "a.py").write_text("x = 2\n")
    assert bundle_bytes(tmp_path) != before


def test_the_lookup_returns_the_bundle_base64_encoded():
    (value,) = LookupModule().run([])
    assert base64.b64decode(value) == bundle_bytes()


def test_a_staged_bundle_is_returned_as_it_is(tmp_path):
    path = tmp_path / "staged.zip"
    path.write_bytes(bundle_bytes())
    (value,) = LookupModule().run([str(path)])
    assert base64.b64decode(value) == path.read_bytes()


def test_a_staged_file_without_the_daemons_is_refused(tmp_path):
    import pytest
    from ansible.errors import AnsibleLookupError

    not_zip = tmp_path / "x.zip"
    not_zip.write_text("hello")
    with pytest.raises(AnsibleLookupError, match="not a readable zip"):
        LookupModule().run([str(not_zip)])
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as bundle:
        bundle.writestr("quorate_node/__init__.py", "")
    with pytest.raises(AnsibleLookupError, match="holds no node programs"):
        LookupModule().run([str(empty)])

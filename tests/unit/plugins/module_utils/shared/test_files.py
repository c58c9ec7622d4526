from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils.shared.files import write_atomic


def leftovers(directory) -> list:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_creates_and_replaces_with_the_given_mode(tmp_path):
    target = tmp_path / "secret"
    write_atomic(str(target), b"one", mode=0o400)
    assert target.read_bytes() == b"one"
    assert stat.S_IMODE(target.stat().st_mode) == 0o400
    write_atomic(str(target), "twö", mode=0o640)
    assert target.read_text(encoding="utf-8") == "twö"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert leftovers(tmp_path) == []


def test_without_a_mode_the_umask_decides_as_with_open(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomic(str(tmp_path / "ready.json"), "{}")
        with open(tmp_path / "plain", "w", encoding="utf-8") as handle:
            handle.write("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ready.json").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o640


def test_owner_is_set_before_the_rename(tmp_path):
    target = tmp_path / "owned"
    write_atomic(str(target), b"x", mode=0o600, owner=(os.getuid(), os.getgid()))
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_a_failed_validation_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "corosync.conf"
    target.write_text("old\n")
    seen = []

    def validate(tmp: str) -> None:
        seen.append((os.path.dirname(tmp), open(tmp, encoding="utf-8").read()))
        raise ValueError("rejected")

    with pytest.raises(ValueError, match="rejected"):
        write_atomic(str(target), "new\n", mode=0o644, validate=validate)
    assert seen == [(str(tmp_path), "new\n")]  # validated in the target's directory, with the new content
    assert target.read_text() == "old\n"
    assert leftovers(tmp_path) == []


def test_a_validation_that_passes_lets_the_file_in(tmp_path):
    target = tmp_path / "corosync.conf"
    write_atomic(str(target), "new\n", mode=0o644, validate=lambda tmp: None)
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_missing_directory_is_an_error_not_a_partial_write(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(str(tmp_path / "absent" / "file"), b"x")

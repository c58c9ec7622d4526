# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replacing a file so that a reader sees the old content or the new one, never a part.

Used by the modules (node_install, corosync_conf), the node programs (controld's ready file) and
the timeline callback on the controller. Stdlib only.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

__all__ = ["write_atomic"]


def _create_temp(path: str, mode: int | None) -> tuple[int, str]:
    """A new file next to ``path`` (same directory, so the rename cannot cross filesystems)."""
    directory, name = os.path.split(path)
    # Without a mode the file gets what open() would give it (0666 minus the umask); with one it is
    # created private and chmod-ed to ``mode`` before any content is written.
    create_mode = 0o666 if mode is None else 0o600
    while True:
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(4)}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), create_mode), tmp
        except FileExistsError:
            continue


def write_atomic(
    path: str,
    data: bytes | str,
    mode: int | None = None,
    owner: tuple[int, int] | None = None,
    validate: Callable[[str], None] | None = None,
) -> None:
    """Write ``data`` (``str`` is written as UTF-8) to ``path`` atomically.

    The content goes to a temporary file in the same directory, which is synced and renamed over
    ``path``; the directory is synced too, so the rename survives a crash. ``mode`` and ``owner``
    (uid, gid) are set on the temporary file before the content, so a secret is never readable by
    others, not even briefly; ``mode=None`` leaves the mode to the umask as ``open()`` does.
    ``validate`` is called with the temporary file's path before the rename: if it raises (or
    exits), ``path`` is left as it was. The temporary file never outlives the call.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = _create_temp(path, mode)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, owner[0], owner[1])
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if validate is not None:
            validate(tmp)
        os.replace(tmp, path)
        tmp = None
        _sync_directory(os.path.dirname(path) or ".")
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def _sync_directory(directory: str) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some filesystems cannot sync a directory; the rename itself is done
    finally:
        os.close(dir_fd)

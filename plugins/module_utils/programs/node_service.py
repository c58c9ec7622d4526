# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the node daemons share: journal-friendly logging, systemd readiness, stop signals.

Stdlib only: this file is installed on the nodes for the daemons.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable

DEFAULT_RUN_DIR = "/run/quorate"
# The one mode of the run directory, the same as RuntimeDirectoryMode= in both units (a unit test
# compares them). World-searchable on purpose: the client socket's own mode (0600, or 0660 with
# quorate_ckptd_socket_group) decides who may connect, and a 0750 root:root directory would keep
# that group away from its socket. controld's ready file in it is readable by all.
RUN_DIR_MODE = 0o755


# sd-daemon(3) priorities: systemd reads a "<N>" prefix on a unit's stderr lines as the journal
# priority, so `journalctl -p err -u quorate-controld` finds our errors (the upgrade quotes them).
_JOURNAL_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """``LEVEL message``, with the sd-daemon priority prefix when stderr goes to the journal."""

    def __init__(self, journal: bool):
        super().__init__("%(levelname)s %(message)s")
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if not self.journal:
            return line
        return f"<{_JOURNAL_PRIORITY.get(record.levelno, 6)}>{line}"


def setup_logging(name: str, verbose: bool = False) -> logging.Logger:
    """Log lines to stderr, which systemd sends to the journal (it adds the timestamps)."""
    handler = logging.StreamHandler(sys.stderr)
    # JOURNAL_STREAM is set by systemd when stderr is connected to the journal.
    handler.setFormatter(JournalFormatter(journal=bool(os.environ.get("JOURNAL_STREAM"))))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    return logger


def sd_notify(state: str) -> bool:
    """Send ``state`` (e.g. "READY=1") to systemd when run as a Type=notify unit."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract socket namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
        return True
    except OSError:
        return False


def on_stop_signals(callback: Callable[[int], None]) -> None:
    """Run ``callback(signum)`` on SIGTERM and SIGINT (systemctl stop, ^C).

    Only the main thread may set handlers; a daemon run in a thread (unit tests) is stopped
    by its owner instead.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda num, _frame: callback(num))


def ensure_run_dir(path: str, mode: int = RUN_DIR_MODE) -> None:
    """Create ``path`` (systemd usually has, as RuntimeDirectory=) and give it ``mode``."""
    os.makedirs(path, mode=mode, exist_ok=True)
    os.chmod(path, mode)

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""quorate-ckpt: look at what the checkpoint service holds, in the spirit of corosync-cmapctl.

    quorate-ckpt status              synced?, corosync connection, members, leader, checkpoints
    quorate-ckpt list                every checkpoint: sections, bytes, open handles, retention
    quorate-ckpt show NAME           one checkpoint's retention; its sections, sizes, expiry, data
    quorate-ckpt read NAME SECTION   one section's data (text; --hex for bytes)

``--json`` (before or after the verb) prints one JSON document instead. Exit status: 0 done,
1 ``status`` found the service not synchronised, 2 bad arguments, 3 the service could not be
reached or answered an error. Every error is one line on stderr.

Read-only: it opens checkpoints with READ only. Stdlib only (runs on the nodes from the bundle).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from ..shared.ais_errors import AisError, AisException, fix_hint
from ..shared.ckpt_client import CheckpointClient, default_socket
from ..shared.ckpt_protocol import OPEN_READ, SA_TIME_END

PROG = "quorate-ckpt"
EXIT_OK = 0
EXIT_NOT_SYNCED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
# show prints a section's data up to this many characters; `read` gives all of it.
PREVIEW_CHARS = 60


class CliError(Exception):
    """A failure the operator reads as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line instead of argparse's usage block, and where the full usage is.
        self.exit(EXIT_USAGE, f"{PROG}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Inspect the quorate checkpoint service on this node (read-only).")
    parser.add_argument("--socket", default=default_socket(), help="the service's socket (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    # The same options after the verb (`quorate-ckpt list --json`); SUPPRESS keeps a value given
    # before the verb from being reset by the subparser's default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--socket", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document")
    # Not required=True: argparse would name the metavar; main() says what is missing instead.
    sub = parser.add_subparsers(dest="command", metavar="VERB", title="verbs")
    sub.add_parser("status", parents=[common], help="synced?, members, leader, number of checkpoints")
    sub.add_parser("list", parents=[common], help="every checkpoint with its sections, size, handles")
    show = sub.add_parser("show", parents=[common], help="the sections of one checkpoint")
    show.add_argument("name", help="checkpoint name (see `list`)")
    read = sub.add_parser("read", parents=[common], help="one section's data")
    read.add_argument("name", help="checkpoint name (see `list`)")
    read.add_argument("section", help="section id (see `show NAME`)")
    read.add_argument("--hex", action="store_true", help="print the bytes as hex")
    return parser


# -- formatting (pure: the unit tests call these) -----------------------------------------------


def _text(data: bytes) -> str:
    return data.rstrip(b"\0").decode("utf-8", "backslashreplace")


def _preview(data: bytes) -> str:
    """Short data as text, binary data as hex: a table cell on one line."""
    text = data.rstrip(b"\0")
    try:
        shown = text.decode("utf-8")
        if not shown.isprintable():
            raise ValueError
    except ValueError:
        shown = "hex " + data.hex(" ")
    return shown if len(shown) <= PREVIEW_CHARS else shown[: PREVIEW_CHARS - 3] + "..."


def _seconds(ns: int) -> str:
    return "never" if ns == SA_TIME_END else f"{ns / 1e9:g}s"


def _expires(ns: int | None) -> str:
    """A section's expiration time (absolute, ns since the epoch) in UTC, or "never"."""
    if ns is None or ns == SA_TIME_END:
        return "never"
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 10**9))
    except (OverflowError, OSError, ValueError):
        return f"{ns}ns"


def _section_name(sid: bytes) -> str:
    return _text(sid) if sid else "(default)"  # SA_CKPT_DEFAULT_SECTION_ID, the empty id


def _member(member) -> str:
    return f"{member[0]}/{member[1]}" if member else "-"


def _table(header: tuple, rows: list, right: set) -> list:
    """Columns padded to their widest cell; the columns in ``right`` are right-aligned (numbers)."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(parts).rstrip())
    return lines


def format_status(status: dict) -> list:
    members = " ".join(_member(m) for m in status.get("members", []))
    # "quorate: no": this partition refuses writes and creations; reads may be stale.
    quorate = (
        []
        if "quorate" not in status
        else [f"quorate:     {'yes' if status['quorate'] else 'no (writes refused, reads may be stale)'}"]
    )
    return [
        f"synced:      {'yes' if status.get('synced') else 'no'}",
        *quorate,
        f"corosync:    {'connected' if status.get('connected') else 'not connected'}",
        f"this node:   {status.get('nodeid', '-')}",
        f"members:     {members or '-'}  (nodeid/pid)",
        f"leader:      {_member(status.get('leader'))}",
        f"checkpoints: {status.get('checkpoints', 0)}",
    ]


def format_list(listing: list) -> list:
    if not listing:
        return ["no checkpoints"]
    rows = [
        (
            c["name"] + (" (unlinked)" if c.get("unlinked") else ""),
            c["sections"],
            c["bytes"],
            c["open_handles"],
            _seconds(c["retention_duration"]),
        )
        for c in listing
    ]
    return _table(("NAME", "SECTIONS", "BYTES", "HANDLES", "RETENTION"), rows, right={1, 2, 3, 4})


def format_show(name: str, sections: list, retention: int | None = None) -> list:
    """``sections``: (section id, data) pairs, or (section id, data, expiration ns or None)
    triples, which add an EXPIRES column; ``retention`` (ns) goes on the first line."""
    total = sum(len(entry[1]) for entry in sections)
    head = f"{name}: {len(sections)} section{'' if len(sections) == 1 else 's'}, {total} bytes"
    if retention is not None:
        head += f", retention {_seconds(retention)}"
    if not sections:
        return [head]
    if all(len(entry) == 3 for entry in sections):
        rows = [(_section_name(sid), len(data), _expires(when), _preview(data)) for sid, data, when in sections]
        return [head, *_table(("SECTION", "SIZE", "EXPIRES", "DATA"), rows, right={1})]
    rows = [(_section_name(entry[0]), len(entry[1]), _preview(entry[1])) for entry in sections]
    return [head, *_table(("SECTION", "SIZE", "DATA"), rows, right={1})]


def read_json(name: str, section: str, data: bytes) -> dict:
    return {"name": name, "section": section, "size": len(data), "text": _text(data), "hex": data.hex()}


# -- running ------------------------------------------------------------------------------------


def _say(out, line: str) -> None:
    out.write(line + "\n")


def _open(client: CheckpointClient, name: str) -> int:
    try:
        return client.open(name, OPEN_READ)
    except AisException as exc:
        if exc.code is AisError.NOT_EXIST:
            raise CliError(f"no checkpoint named {name!r} (`{PROG} list` shows them)") from exc
        raise


def _section(client: CheckpointClient, handle: int, name: str, section: str) -> bytes:
    try:
        return client.section_read(handle, section.encode())
    except AisException as exc:
        if exc.code is AisError.NOT_EXIST:
            raise CliError(f"checkpoint {name!r} has no section {section!r} (`{PROG} show {name}` lists them)") from exc
        raise


def run(args: argparse.Namespace, out=None, client_factory=CheckpointClient) -> int:
    out = out or sys.stdout  # looked up now, not at import: callers may have replaced it
    with client_factory(args.socket) as client:
        if args.command == "status":
            status = client.status()
            lines = [json.dumps(status, sort_keys=True)] if args.json else format_status(status)
            code = EXIT_OK if status.get("synced") else EXIT_NOT_SYNCED
        elif args.command == "list":
            listing = client.list()
            lines = [json.dumps(listing, sort_keys=True)] if args.json else format_list(listing)
            code = EXIT_OK
        elif args.command == "show":
            handle = _open(client, args.name)
            listed = client.section_iterate(handle)
            sections = [(s["id"], client.section_read(handle, s["id"]), s.get("expiration")) for s in listed]
            if args.json:  # {section: text}, what the molecule scenarios and scripts read
                lines = [json.dumps({_text(sid): _text(data) for sid, data, _when in sections}, sort_keys=True)]
            else:
                # The retention in force (set since creation, maybe): the linked one of that name.
                retention = next(
                    (c["retention_duration"] for c in client.list() if c["name"] == args.name and not c["unlinked"]),
                    None,
                )
                lines = format_show(args.name, sections, retention)
            code = EXIT_OK
        else:
            data = _section(client, _open(client, args.name), args.name, args.section)
            if args.json:
                lines = [json.dumps(read_json(args.name, args.section, data), sort_keys=True)]
            else:
                lines = [data.hex(" ") if args.hex else _text(data)]
            code = EXIT_OK
    for line in lines:
        _say(out, line)
    return code


def error_line(exc: BaseException) -> str:
    """What the operator reads on stderr, one line."""
    if isinstance(exc, CliError):
        text = str(exc)
    elif isinstance(exc, AisException):
        code = exc.code
        if code is AisError.LIBRARY and "Permission denied" in exc.detail:
            hint = "run it as root, or as a member of quorate_ckptd_socket_group"
        elif code is AisError.LIBRARY:
            hint = "is quorate-ckptd running on this node? (systemctl status quorate-ckptd)"
        elif code is AisError.TRY_AGAIN:
            hint = f"the service is synchronising or has lost corosync; try again shortly (`{PROG} status`)"
        elif code is AisError.TIMEOUT:
            hint = "the service did not answer in time; see journalctl -u quorate-ckptd"
        else:
            hint = fix_hint(code)
        text = f"{exc.detail or code.sa_name} ({code.sa_name}); {hint}"
    else:
        # A bug in this program: still one line, with what to report.
        text = f"internal error: {type(exc).__name__}: {exc} (please report it with the command line)"
    return f"{PROG}: " + " ".join(text.split())


def main(argv: list | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error("a verb is needed: status, list, show NAME or read NAME SECTION")
    try:
        code = run(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`| head`): nothing left to tell, and no error at exit either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        sys.stderr.write(error_line(exc) + "\n")
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())

# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""quorate-ckpt: look at what the checkpoint service holds, in the spirit of corosync-cmapctl.

    quorate-ckpt status              synced?, members, leader, number of checkpoints
    quorate-ckpt list                every checkpoint with its sections, size, handles
    quorate-ckpt show NAME           the sections of one checkpoint and their sizes
    quorate-ckpt read NAME SECTION   one section's data (text; --hex for bytes)

Read-only: it opens checkpoints with READ only. Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import sys

from .ais_errors import AisException
from .ckpt_client import CheckpointClient, default_socket
from .ckpt_protocol import OPEN_READ


def _say(out, line: str) -> None:
    out.write(line + "\n")


def _text(data: bytes) -> str:
    return data.rstrip(b"\0").decode("utf-8", "backslashreplace")


def run(args: argparse.Namespace, out=sys.stdout) -> int:
    with CheckpointClient(args.socket) as client:
        if args.command == "status":
            status = client.status()
            if args.json:
                _say(out, json.dumps(status, sort_keys=True))
            else:
                members = " ".join(f"{n}/{p}" for n, p in status.get("members", []))
                _say(out, f"synced: {'yes' if status.get('synced') else 'no'}")
                _say(out, f"corosync: {'connected' if status.get('connected') else 'not connected'}")
                _say(out, f"members (nodeid/pid): {members or '-'}")
                _say(out, f"checkpoints: {status.get('checkpoints', 0)}")
            return 0 if status.get("synced") else 1
        if args.command == "list":
            listing = client.list()
            if args.json:
                _say(out, json.dumps(listing, sort_keys=True))
            for ckpt in [] if args.json else listing:
                flag = " (unlinked)" if ckpt["unlinked"] else ""
                _say(
                    out,
                    f"{ckpt['name']}{flag}: {ckpt['sections']} sections, {ckpt['bytes']} bytes, "
                    f"{ckpt['open_handles']} open handles, retention {ckpt['retention_duration'] / 1e9:g}s",
                    file=out,
                )
            return 0
        handle = client.open(args.name, OPEN_READ)
        if args.command == "show":
            sections = client.section_iterate(handle)
            if args.json:
                values = {_text(s["id"]): _text(client.section_read(handle, s["id"])) for s in sections}
                _say(out, json.dumps(values, sort_keys=True))
            for section in [] if args.json else sections:
                _say(out, f"{_text(section['id'])} ({section['size']} bytes)")
            return 0
        data = client.section_read(handle, args.section.encode())
        _say(out, data.hex() if args.hex else _text(data))
        return 0


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quorate-ckpt", description="inspect the quorate checkpoint service")
    parser.add_argument("--socket", default=default_socket())
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status")
    sub.add_parser("list")
    show = sub.add_parser("show")
    show.add_argument("name")
    read = sub.add_parser("read")
    read.add_argument("name")
    read.add_argument("section")
    read.add_argument("--hex", action="store_true")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except AisException as exc:
        sys.stderr.write(f"quorate-ckpt: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

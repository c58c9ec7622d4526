"""quorate-ckpt: argument handling, output formatting and error lines, with a fake service client."""

from __future__ import annotations

import json
import socket

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils.programs import ckpt_cli
from ansible_collections.quorate.cluster.plugins.module_utils.programs.ckpt_cli import (
    EXIT_ERROR,
    EXIT_NOT_SYNCED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    build_parser,
    error_line,
    format_list,
    format_show,
    format_status,
    main,
    run,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError, AisException
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import OPEN_READ, SA_TIME_END

STATUS = {
    "synced": True,
    "connected": True,
    "nodeid": 2,
    "members": [[1, 101], [2, 202], [3, 303]],
    "leader": [1, 101],
    "checkpoints": 2,
    "sync_rounds": 1,
}
LISTING = [
    {
        "name": "quorate:controld",
        "cid": "1.101.1",
        "sections": 2,
        "bytes": 10,
        "generation": 4,
        "open_handles": 3,
        "retention_duration": 0,
        "unlinked": False,
    },
    {
        "name": "quorate:controld:00000002",
        "cid": "2.202.1",
        "sections": 2,
        "bytes": 10,
        "generation": 2,
        "open_handles": 1,
        "retention_duration": 3_000_000_000,
        "unlinked": True,
    },
]
SECTIONS = {
    "quorate:controld": {b"daemon_protocol": b"01 00", b"blob": b"\x01\xff"},
    "one": {b"": b"default data"},
}
EXPIRATIONS = {"quorate:controld": {b"blob": 1_800_000_000 * 10**9 + 5}}


class FakeClient:
    """Answers like CheckpointClient from canned data; records the opens."""

    def __init__(self, path, status=None, listing=None, sections=None):
        self.path = path
        self._status = STATUS if status is None else status
        self._listing = LISTING if listing is None else listing
        self._sections = SECTIONS if sections is None else sections
        self.handles: dict = {}
        self.opens: list = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def status(self):
        return dict(self._status)

    def list(self):
        return [dict(c) for c in self._listing]

    def open(self, name, flags):
        self.opens.append((name, flags))
        if name not in self._sections:
            raise AisException(AisError.NOT_EXIST, f"no checkpoint named {name!r}")
        self.handles[len(self.handles) + 1] = name
        return len(self.handles)

    def section_iterate(self, handle):
        name = self.handles[handle]
        data = self._sections[name]
        expiring = EXPIRATIONS.get(name, {})
        return [
            dict({"id": sid, "size": len(value)}, **({"expiration": expiring[sid]} if sid in expiring else {}))
            for sid, value in sorted(data.items())
        ]

    def section_read(self, handle, section):
        data = self._sections[self.handles[handle]]
        if section not in data:
            raise AisException(AisError.NOT_EXIST, f"no section {section!r}")
        return data[section]


def cli(argv, capsys, **fake):
    """Run the CLI's run() on parsed ``argv``; returns (exit code, stdout lines, the client)."""
    made = []

    def factory(path):
        made.append(FakeClient(path, **fake))
        return made[-1]

    args = build_parser().parse_args(argv)
    code = run(args, client_factory=factory)
    return code, capsys.readouterr().out.splitlines(), made[0]


# -- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "list"],
        ["list", "--json"],
        ["--socket", "/s", "--json", "list"],
        ["list", "--socket", "/s", "--json"],
    ],
)
def test_json_and_socket_go_before_or_after_the_verb(argv):
    args = build_parser().parse_args(argv)
    assert args.command == "list" and args.json is True


def test_an_option_before_the_verb_is_not_reset_by_the_verb():
    args = build_parser().parse_args(["--socket", "/x.sock", "--json", "show", "n"])
    assert args.socket == "/x.sock" and args.json is True and args.name == "n"


def test_the_socket_defaults_to_the_environment_then_the_installed_path(monkeypatch):
    monkeypatch.delenv("QUORATE_CKPT_SOCKET", raising=False)
    assert build_parser().parse_args(["status"]).socket == "/run/quorate/ckptd.sock"
    monkeypatch.setenv("QUORATE_CKPT_SOCKET", "/tmp/other.sock")
    assert build_parser().parse_args(["status"]).socket == "/tmp/other.sock"


def test_read_takes_name_section_and_hex():
    args = build_parser().parse_args(["read", "quorate:controld", "daemon_protocol", "--hex"])
    assert (args.name, args.section, args.hex, args.json) == ("quorate:controld", "daemon_protocol", True, False)


@pytest.mark.parametrize(
    "argv, says",
    [
        ([], "a verb is needed: status, list, show NAME or read NAME SECTION (see quorate-ckpt --help)"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["show"], "the following arguments are required: name (see quorate-ckpt show --help)"),
        (["read", "quorate:controld"], "the following arguments are required: section"),
        (["list", "--bogus"], "unrecognized arguments: --bogus"),
        (["list", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_bad_arguments_are_one_line_on_stderr_and_exit_2(argv, says, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("quorate-ckpt: ") and says in err, err


# -- formatting ---------------------------------------------------------------------------------


def test_status_names_every_field():
    assert format_status(STATUS) == [
        "synced:      yes",
        "corosync:    connected",
        "this node:   2",
        "members:     1/101 2/202 3/303  (nodeid/pid)",
        "leader:      1/101",
        "checkpoints: 2",
    ]


def test_status_of_a_service_without_corosync():
    lines = format_status({"synced": False, "members": [], "checkpoints": 0, "connected": False, "nodeid": 3})
    assert lines[:2] == ["synced:      no", "corosync:    not connected"]
    assert "members:     -  (nodeid/pid)" in lines and "leader:      -" in lines


def test_list_is_a_table_with_numbers_right_aligned():
    assert format_list(LISTING) == [
        "NAME                                  SECTIONS  BYTES  HANDLES  RETENTION",
        "quorate:controld                             2     10        3         0s",
        "quorate:controld:00000002 (unlinked)         2     10        1         3s",
    ]


def test_an_empty_list_says_so():
    assert format_list([]) == ["no checkpoints"]


def test_show_gives_text_as_text_binary_as_hex_and_cuts_long_data():
    long = b"x" * 100
    lines = format_show("c", [(b"a", b"01 00\0\0"), (b"b", b"\x01\xff"), (b"long", long)])
    assert lines[0] == "c: 3 sections, 109 bytes"
    assert lines[1].split() == ["SECTION", "SIZE", "DATA"]
    assert lines[2].split() == ["a", "7", "01", "00"]
    assert lines[3].split() == ["b", "2", "hex", "01", "ff"]
    assert lines[4].endswith("x" * 57 + "...") and len(lines[4].split()[2]) == ckpt_cli.PREVIEW_CHARS


def test_show_of_a_checkpoint_without_sections():
    assert format_show("empty", []) == ["empty: 0 sections, 0 bytes"]
    assert format_show("one", [(b"s", b"v")])[0] == "one: 1 section, 1 bytes"


# -- the verbs ----------------------------------------------------------------------------------


def test_list_prints_the_table(capsys):
    # The crash of issue 13: the text listing passed file= to _say().
    code, lines, _client = cli(["list"], capsys)
    assert code == EXIT_OK and lines == format_list(LISTING)


def test_list_json_is_what_the_service_answered(capsys):
    code, lines, _client = cli(["list", "--json"], capsys)
    assert code == EXIT_OK and len(lines) == 1 and json.loads(lines[0]) == LISTING


def test_status_exit_code_says_whether_the_service_is_synced(capsys):
    code, lines, client = cli(["--socket", "/x.sock", "status"], capsys)
    assert code == EXIT_OK and lines == format_status(STATUS) and client.path == "/x.sock"
    code, lines, _client = cli(["--json", "status"], capsys, status=dict(STATUS, synced=False))
    assert code == EXIT_NOT_SYNCED and json.loads(lines[0])["synced"] is False


def test_show_opens_read_only_and_reads_every_section(capsys):
    code, lines, client = cli(["show", "quorate:controld"], capsys)
    assert code == EXIT_OK and client.opens == [("quorate:controld", OPEN_READ)]
    sections = [(b"blob", b"\x01\xff", EXPIRATIONS["quorate:controld"][b"blob"]), (b"daemon_protocol", b"01 00", None)]
    assert lines == format_show("quorate:controld", sections, 0)


def test_show_prints_retention_and_each_sections_expiration(capsys):
    code, lines, _client = cli(["show", "quorate:controld"], capsys)
    assert code == EXIT_OK
    assert lines[0] == "quorate:controld: 2 sections, 7 bytes, retention 0s"
    assert lines[1].split() == ["SECTION", "SIZE", "EXPIRES", "DATA"]
    assert lines[2].split() == ["blob", "2", "2027-01-15T08:00:00Z", "hex", "01", "ff"]
    assert lines[3].split() == ["daemon_protocol", "5", "never", "01", "00"]


def test_show_names_the_default_section_and_a_retention_of_never(capsys):
    listing = [dict(LISTING[0], name="one", retention_duration=SA_TIME_END, unlinked=False)]
    code, lines, _client = cli(["show", "one"], capsys, listing=listing)
    assert code == EXIT_OK and lines[0] == "one: 1 section, 12 bytes, retention never"
    assert lines[2].split() == ["(default)", "12", "never", "default", "data"]
    code, lines, _client = cli(["--json", "show", "one"], capsys, listing=listing)
    assert json.loads(lines[0]) == {"": "default data"}  # the JSON shape is unchanged


def test_show_json_maps_section_to_text(capsys):
    # The shape the molecule scenarios read: {section: text}.
    code, lines, _client = cli(["--json", "show", "quorate:controld"], capsys)
    assert code == EXIT_OK and json.loads(lines[0]) == {"daemon_protocol": "01 00", "blob": "\x01\\xff"}


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["read", "quorate:controld", "daemon_protocol"], "01 00"),
        (["read", "quorate:controld", "blob", "--hex"], "01 ff"),
    ],
)
def test_read_prints_text_or_hex(argv, expected, capsys):
    code, lines, _client = cli(argv, capsys)
    assert code == EXIT_OK and lines == [expected]


def test_read_json_has_text_hex_and_size(capsys):
    code, lines, _client = cli(["read", "--json", "quorate:controld", "blob"], capsys)
    assert json.loads(lines[0]) == {
        "name": "quorate:controld",
        "section": "blob",
        "size": 2,
        "text": "\x01\\xff",
        "hex": "01ff",
    }


def test_an_unknown_checkpoint_is_named_with_where_to_look(capsys):
    with pytest.raises(CliError) as raised:
        cli(["show", "nope"], capsys)
    assert error_line(raised.value) == "quorate-ckpt: no checkpoint named 'nope' (`quorate-ckpt list` shows them)"
    assert capsys.readouterr().out == ""


def test_an_unknown_section_is_named_with_where_to_look(capsys):
    with pytest.raises(CliError) as raised:
        cli(["read", "quorate:controld", "nope"], capsys)
    assert error_line(raised.value) == (
        "quorate-ckpt: checkpoint 'quorate:controld' has no section 'nope' "
        "(`quorate-ckpt show quorate:controld` lists them)"
    )


# -- errors as the operator reads them -----------------------------------------------------------


@pytest.mark.parametrize(
    "exc, says",
    [
        (
            AisException(AisError.LIBRARY, "checkpoint service not reachable at /s (No such file or directory)"),
            "(SA_AIS_ERR_LIBRARY); is quorate-ckptd running on this node? (systemctl status quorate-ckptd)",
        ),
        (
            AisException(AisError.LIBRARY, "checkpoint service not reachable at /s (Permission denied)"),
            "run it as root, or as a member of quorate_ckptd_socket_group",
        ),
        (
            AisException(AisError.TRY_AGAIN, "membership change: synchronising"),
            "membership change: synchronising (SA_AIS_ERR_TRY_AGAIN); the service is synchronising",
        ),
        (AisException(AisError.TIMEOUT, "no answer to list within 5.0s"), "journalctl -u quorate-ckptd"),
        (AisException(AisError.ACCESS), "SA_AIS_ERR_ACCESS (SA_AIS_ERR_ACCESS); the checkpoint was opened"),
        (CliError("two\nlines"), "quorate-ckpt: two lines"),
        (TypeError("boom"), "internal error: TypeError: boom (please report it"),
    ],
)
def test_every_error_is_one_line(exc, says):
    line = error_line(exc)
    assert line.startswith("quorate-ckpt: ") and "\n" not in line and says in line, line


def test_main_without_a_service_is_one_line_and_exit_3(tmp_path, capsys):
    code = main(["--socket", str(tmp_path / "missing.sock"), "list"])
    out, err = capsys.readouterr()
    assert code == EXIT_ERROR and out == ""
    assert err == (
        f"quorate-ckpt: checkpoint service not reachable at {tmp_path / 'missing.sock'} (No such file or directory) "
        "(SA_AIS_ERR_LIBRARY); is quorate-ckptd running on this node? (systemctl status quorate-ckptd)\n"
    )


def test_main_with_a_stale_socket_says_connection_refused(tmp_path, capsys):
    # What a daemon killed with -9 leaves behind: the socket file, nobody listening.
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    assert main(["--socket", str(path), "status"]) == EXIT_ERROR
    assert "(Connection refused) (SA_AIS_ERR_LIBRARY)" in capsys.readouterr().err


def test_main_turns_a_bug_into_one_line(monkeypatch, capsys):
    def broken(args):
        raise KeyError("members")

    monkeypatch.setattr(ckpt_cli, "run", broken)
    assert main(["status"]) == EXIT_ERROR
    assert capsys.readouterr().err == (
        "quorate-ckpt: internal error: KeyError: 'members' (please report it with the command line)\n"
    )


def test_status_says_whether_this_partition_is_quorate():
    assert format_status(dict(STATUS, quorate=True))[1] == "quorate:     yes"
    assert format_status(dict(STATUS, quorate=False))[1] == "quorate:     no (writes refused, reads may be stale)"

"""The CLI's errors (issue 28 item 8): one exit status per error class, the table in docs/cli.md
the same as the code's, "is the server running at …?" when nothing answers, and with --json the
error as one JSON object on stderr. A real server for the refused calls, a closed port for the
unreachable one."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from tuneforge.cli.common import EXIT_CODES
from tuneforge.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def _run(capsys, *argv):
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def _closed_port() -> int:
    with socket.socket() as s:  # bound and closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_docs_table_is_the_codes_table():
    text = (REPO / "docs" / "cli.md").read_text()
    documented = {}
    for exit_code, codes in re.findall(r"^\| (\d+) \| [^|]+ \| ([^|]+) \|$", text, re.M):
        for name in re.findall(r"[A-Z_]{4,}", codes):
            documented[name] = int(exit_code)
    assert documented == EXIT_CODES
    assert len({v for v in EXIT_CODES.values()}) == 11  # distinct per class, none reuses 0/1/2


def test_an_unreachable_server_says_where_it_looked_and_exits_7(capsys):
    target = f"127.0.0.1:{_closed_port()}"
    rc, out, err = _run(capsys, "jobs", "list", "--target", target, "--timeout", "5")
    assert rc == 7 and out == ""
    assert f"is the server running at {target}?" in err and "Traceback" not in err
    rc, out, err = _run(capsys, "jobs", "list", "--target", target, "--timeout", "5", "--json")
    assert rc == 7 and out == ""
    error = json.loads(err)["error"]
    assert error["code"] == "UNAVAILABLE" and error["exit_code"] == 7 and error["field_violations"] == []
    assert f"is the server running at {target}?" in error["hint"]
    rc, out, err = _run(capsys, "health", "--target", target, "--timeout", "5")
    assert rc == 7 and "UNREACHABLE" in out and f"is the server running at {target}?" in err


def test_a_real_server_s_refusals_exit_by_class(server, capsys):
    rc, _, err = _run(capsys, "dataset", "show", "nope", "--target", server.target)
    assert rc == 4 and "DATASET_NOT_FOUND" in err and "hint:" not in err
    rc, out, err = _run(capsys, "dataset", "show", "nope", "--target", server.target, "--json")
    assert rc == 4 and "{" not in out  # stdout: the in-process server's log lines only
    error = json.loads(err)["error"]
    assert (error["code"], error["reason"], error["exit_code"]) == ("NOT_FOUND", "DATASET_NOT_FOUND", 4)
    assert "nope" in error["message"]

    rc, out, err = _run(capsys, "dataset", "show", "../etc", "--target", server.target, "--json")
    error = json.loads(err)["error"]
    assert rc == 3 and error["code"] == "INVALID_ARGUMENT", err
    assert error["field_violations"] and error["field_violations"][0]["field"], error

    rc, _, err = _run(capsys, "train", "start", "--no-such-option", "--target", server.target)
    assert rc == 2 and "usage:" in err


def test_a_wrong_token_exits_8_with_a_hint(server_factory, capsys):
    srv = server_factory(auth_token="s3cret-token-for-the-test")
    rc, _, err = _run(capsys, "jobs", "list", "--target", srv.target, "--token", "wrong")
    assert rc == 8 and "UNAUTHENTICATED" in err and "--token" in err

"""CLI conventions: exit codes, --json documents, one-line errors, fast --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_intoto.cli import main


def test_help_is_fast_and_lists_commands() -> None:
    # Run in a fresh interpreter: import time is what the user waits for.
    code = (
        "import time, sys; t=time.perf_counter(); from atlas_intoto.cli import build_parser; "
        "build_parser(); print(time.perf_counter()-t); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('in_toto','securesystemslib','c2pa','dcap_qvl','sigstore','cryptography','starlette')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    elapsed, heavy = proc.stdout.splitlines()
    assert heavy == "[]", f"--help imports heavy libraries: {heavy}"
    assert float(elapsed) < 1.0  # generous: the real budget (0.3 s) is a benchmark concern


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_keygen_json_and_refuses_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "alice", "--dir", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["keyid"]) == 64
    assert (tmp_path / "alice.key").stat().st_mode & 0o777 == 0o600
    assert main(["keygen", "alice", "--dir", str(tmp_path), "--json"]) == 2
    captured = capsys.readouterr()
    err = json.loads(captured.out)["error"]
    assert err["exit_code"] == 2 and "already exists" in err["message"]
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--json"],  # required arguments missing
        ["log", "get", "--url", "http://127.0.0.1:1", "--index", "1", "--uuid", "a", "--json"],
        ["log", "serve", "--port", "abc", "--json"],  # type conversion
        ["record", "foo", "--json"],  # invalid choice
        ["log", "--json"],  # a group without its subcommand
        ["tee", "--json"],
        ["c2pa", "--json"],
        ["layout", "--json"],
        ["bundle", "--json"],
        ["record", "--json"],
    ],
)
def test_usage_errors_give_one_json_document(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # argparse's own errors used to leave stdout empty under --json, and a bare group printed
    # its help on stdout (and, for `log`, {"ok": true} with exit 2).
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 2
    assert doc["error"]["type"] == "UsageError" and doc["error"]["message"]
    assert captured.err.count("\n") == 1 and "error:" in captured.err


def test_usage_error_without_json_keeps_stdout_empty(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["log"])
    captured = capsys.readouterr()
    assert captured.out == "" and "required" in captured.err


def test_run_needs_a_key_or_an_identity(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--step", "s", "--json", "--", "true"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "UsageError" and "give --key KEY" in error["message"]


def test_json_after_double_dash_belongs_to_the_wrapped_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--", "echo", "--json"])  # --step and --key missing
    assert capsys.readouterr().out == ""


def test_no_command_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["ok"] is False and "usage:" in captured.err


def test_handler_returning_failure_never_reports_ok(capsys: pytest.CaptureFixture[str]) -> None:
    from atlas_intoto.cli import _common

    out = _common.Output(json_mode=True, debug=False)
    out.flush(code=1)
    assert json.loads(capsys.readouterr().out) == {"ok": False}


def test_closed_stdout_is_one_line_not_an_internal_error(tmp_path: Path) -> None:
    for i in range(2000):
        (tmp_path / f"f{i}").write_text(str(i))
    # `atlas-intoto measure DIR | head -1`: the reader closes the pipe early.
    proc = subprocess.Popen(
        [sys.executable, "-m", "atlas_intoto", "measure", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 2
    assert "stdout closed (broken pipe)" in err
    assert "internal error" not in err and "Traceback" not in err and "Exception ignored" not in err


def test_interrupt_gives_a_full_json_error_document(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from atlas_intoto.cli import measure

    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(measure, "_measure", interrupted)
    assert main(["measure", ".", "--json"]) == 130
    error = json.loads(capsys.readouterr().out)["error"]
    assert error == {
        "type": "Interrupted",
        "check": "interrupted",
        "message": "interrupted",
        "exit_code": 130,
    }


def test_a_named_command_builds_only_its_own_group_and_the_map_is_right() -> None:
    from atlas_intoto import cli

    def commands(parser: object) -> set[str]:
        return set(parser._subparsers._group_actions[0].choices)  # type: ignore[attr-defined]

    everything = commands(cli.build_parser())
    for name, module in cli._COMMAND_MODULE.items():
        assert module in cli.COMMAND_MODULES
        own = commands(cli.build_parser([name, "--json"]))
        assert name in own and own < everything, name
        assert commands(cli.build_parser(["--json", name])) == own
    # help, --version and unknown commands see every command
    for argv in ([], ["--help"], ["--version"], ["no-such-command"]):
        assert commands(cli.build_parser(argv)) == everything

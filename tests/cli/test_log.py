"""CLI: ``log publish`` (pending links, idempotent) and ``log serve``'s entry limit option;
``run --log`` with the log down keeps everything and says how to finish (exit 2)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from helpers import free_port, log_on

from atlas_intoto.cli import build_parser, main
from atlas_intoto.keys import generate_keypair
from atlas_intoto.publishing import pending_markers


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    generate_keypair("alice", directory=tmp_path / "keys")
    return tmp_path


def _run(url: str, step: str = "s") -> list[str]:
    return [
        "run",
        "--step",
        step,
        "--key",
        "keys/alice.key",
        "--log",
        url,
        "--log-retries",
        "1",
        "--log-backoff",
        "0",
        "--json",
        "--",
        sys.executable,
        "-c",
        "print('hi')",
    ]


def test_run_with_log_down_then_log_publish(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    assert main(_run(url)) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert error["check"] == "tlog.pending"
    assert (
        f"finish with: atlas-intoto log publish --evidence .atlas --url {url}" in error["message"]
    )
    assert len(list((ws / ".atlas").glob("s.*.link"))) == 1
    assert len(pending_markers(ws / ".atlas")) == 1

    # Still down: exit 2, nothing lost.
    assert main(["log", "publish", "--url", url, "--retries", "0", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["published"] == 0 and doc["pending"] == 1

    with log_on(ws / "log", port):
        assert main(["log", "publish", "--evidence", ".atlas", "--url", url, "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["published"] == 1 and doc["pending"] == 0
        # Idempotent: nothing pending any more, nothing published twice.
        assert main(["log", "publish", "--url", url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["published"] == 0
    assert len(list((ws / ".atlas").glob("s.*.logentry.json"))) == 1


def test_log_publish_missing_directory_names_the_absolute_path(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["log", "publish", "--evidence", "nope", "--url", "http://127.0.0.1:9"]) == 2
    assert f"{ws / 'nope'}: evidence directory not found" in capsys.readouterr().err


def test_log_serve_has_an_entry_size_option() -> None:
    args = build_parser().parse_args(["log", "serve", "--max-entry-size", "4096"])
    assert args.max_body == 4096

"""CLI: ``auth token`` and ``auth check``."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "auth"))
from auth_helpers import write_config

from atlas_intoto.auth.config import hash_token, parse_auth_config
from atlas_intoto.cli import main


def test_token_prints_the_token_once_and_only_its_hash_for_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["auth", "token", "ci", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["entry"]["sha256"] == hash_token(doc["token"])
    assert doc["entry"]["scopes"] == ["write"]
    parse_auth_config({"version": 1, "tokens": [doc["entry"]]}, source="new")
    out = tmp_path / "ci.token"
    assert main(["auth", "token", "reader", "--scope", "read", "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "token" not in doc and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert doc["entry"]["sha256"] == hash_token(out.read_text().strip())


def test_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path)
    assert main(["auth", "check", str(path)]) == 0
    assert "3 token(s) (1 revoked)" in capsys.readouterr().err
    path.write_text(json.dumps({"version": 1, "tokens": [{"name": "x", "scopes": ["write"]}]}))
    assert main(["auth", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "tokens[0]" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["bad name", "ci}\n  - {name: x", "", "naïve"])
def test_token_names_the_config_would_refuse_are_usage_errors(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["auth", "token", name, "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert json.loads(captured.out)["error"]["type"] == "UsageError"
    assert len(captured.err.strip().splitlines()) == 1 and "atl_" not in captured.out


def test_token_entry_passes_auth_check(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["auth", "token", "ci.bot@org", "--scope", "read", "--scope", "read", "--json"])
    assert code == 0
    entry = json.loads(capsys.readouterr().out)["entry"]
    assert entry["scopes"] == ["read"]
    parse_auth_config({"version": 1, "tokens": [entry]}, source="pasted")

"""CLI: ``run --log-visibility digest`` and ``log publish --log-visibility digest [--key]``."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import pytest
from helpers import free_port, log_on

from atlas_intoto.cli import main
from atlas_intoto.keys import generate_keypair


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    generate_keypair("alice", directory=tmp_path / "keys")
    return tmp_path


def _run(url: str, *extra: str) -> list[str]:
    return [
        "run", "--step", "s", "--key", "keys/alice.key", "--log", url, "--log-version", "1",
        "--log-retries", "0", "--json", *extra, "--", sys.executable, "-c", "print('hi')",
    ]  # fmt: skip


def _entry_kind(ws: Path) -> tuple[str, str]:
    """The saved entry's kind and its hashedrekord digest (hex; "" for other kinds)."""
    (doc,) = json.loads(next((ws / ".atlas").glob("s.*.logentry.json")).read_bytes()).values()
    body = json.loads(base64.b64decode(doc["body"]))
    digest = body["spec"].get("data", {}).get("hash", {}).get("value", "")
    return body["kind"], digest


def _envelope_hash(ws: Path) -> str:
    return hashlib.sha256(next((ws / ".atlas").glob("s.*.link")).read_bytes()).hexdigest()


def test_run_logs_a_digest_entry(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with log_on(ws / "log") as (url, _):
        assert main(_run(url, "--log-visibility", "digest")) == 0
    assert json.loads(capsys.readouterr().out)
    assert _entry_kind(ws) == ("hashedrekord", _envelope_hash(ws))


def test_log_publish_turns_a_pending_full_link_into_a_digest_entry(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    assert main(_run(url)) == 2
    capsys.readouterr()
    with log_on(ws / "log", port):
        publish = ["log", "publish", "--url", url, "--retries", "0", "--log-visibility", "digest"]
        assert main([*publish, "--json"]) == 2
        error = json.loads(capsys.readouterr().out)["error"]
        assert "pass --key" in error["message"]
        assert main([*publish, "--key", "keys/alice.key", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["published"] == 1
    assert _entry_kind(ws) == ("hashedrekord", _envelope_hash(ws))


def test_unknown_visibility_is_a_usage_error(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(_run("http://127.0.0.1:9", "--log-visibility", "secret"))
    assert exc.value.code == 2
    assert "--log-visibility" in capsys.readouterr().err


def _layout(ws: Path, log_pem: bytes, visibility: str | None) -> Path:
    (ws / "log.pub").write_bytes(log_pem)
    vis = "" if visibility is None else f", visibility: {visibility}"
    source = ws / f"layout-{visibility}.yaml"
    source.write_text(
        "apiVersion: atlas-intoto/v1\nkind: Layout\n"
        'expires: "2099-01-01T00:00:00Z"\n'
        "functionaries: {alice: keys/alice.pub}\n"
        "steps:\n"
        "  - {name: s, functionaries: [alice], materials: [], products: []}\n"
        f"trust:\n  logs:\n    - {{key: log.pub{vis}}}\n"
    )
    signed = ws / f"layout-{visibility}.layout"
    sign = ["layout", "sign", str(source), "--key", "keys/alice.key", "--out", str(signed)]
    assert main(sign) == 0
    return signed


def test_bundle_of_a_digest_run_verifies_under_a_digest_layout(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user's whole flow: run by digest, bundle create (format v2, the default), verify."""
    with log_on(ws / "log") as (url, log_pem):
        assert main(_run(url, "--log-visibility", "digest")) == 0
    verdicts = {}
    for visibility in ("digest", None):
        layout = _layout(ws, log_pem, visibility)
        bundle = ws / f"{visibility}.atlas.json"
        create = ["bundle", "create", "--layout", str(layout), "--evidence", ".atlas"]
        assert main([*create, "--out", str(bundle)]) == 0
        verify = ["verify", str(bundle), "--layout-key", "keys/alice.pub", "--json"]
        capsys.readouterr()
        code = main(verify)
        rows = json.loads(capsys.readouterr().out)["results"]
        verdicts[visibility] = (code, [r.get("code") for r in rows if r["check"] == "tlog"])
    assert verdicts["digest"] == (0, [None])
    assert verdicts[None] == (1, ["tlog.visibility"])

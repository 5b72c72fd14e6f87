"""CLI: ``keygen`` (--encrypt, where the CA key went) and recording with ``--cert``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from atlas_intoto.cli import main
from atlas_intoto.errors import KeyLoadError
from atlas_intoto.keys import load_private_key


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_encrypt_writes_an_encrypted_pkcs8_key(
    ws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATLAS_INTOTO_KEY_PASSWORD", "s3cret")
    assert main(["keygen", "alice", "--dir", "keys", "--encrypt", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["encrypted"] is True
    pem = (ws / "keys" / "alice.key").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    load_private_key(ws / "keys" / "alice.key")  # the same variable unlocks it
    monkeypatch.setenv("ATLAS_INTOTO_KEY_PASSWORD", "wrong")
    with pytest.raises(KeyLoadError, match="wrong password"):
        load_private_key(ws / "keys" / "alice.key")
    # Recording with the encrypted key works with the password.
    monkeypatch.setenv("ATLAS_INTOTO_KEY_PASSWORD", "s3cret")
    code = main(["run", "--step", "s", "--key", "keys/alice.key", "--", sys.executable, "-c", "0"])
    assert code == 0


def test_encrypt_without_password_or_terminal_is_a_usage_error(
    ws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ATLAS_INTOTO_KEY_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", None)
    assert main(["keygen", "alice", "--encrypt"]) == 2
    assert "ATLAS_INTOTO_KEY_PASSWORD" in capsys.readouterr().err
    assert not (ws / "alice.key").exists()


def test_prompted_passwords_must_match(
    ws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ATLAS_INTOTO_KEY_PASSWORD", raising=False)

    class Tty:
        def isatty(self) -> bool:
            return True

    answers = iter(["one", "two"])
    monkeypatch.setattr("sys.stdin", Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert main(["keygen", "alice", "--encrypt"]) == 2
    assert "passwords do not match" in capsys.readouterr().err
    assert not (ws / "alice.key").exists()


def test_keygen_says_where_the_ca_key_went(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "alice", "--dir", "keys", "--ca-dir", "ca", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["ca_key"] == str(Path("ca") / "ca.key") and doc["ca_created"] is True
    assert "created development CA: key ca/ca.key" in captured.err
    assert main(["keygen", "bob", "--dir", "keys", "--ca-dir", "ca", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ca_created"] is False


def test_cert_names_the_c2pa_chain_explicitly(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "alice", "--dir", "keys"]) == 0
    (ws / "keys" / "alice.crt").rename(ws / "chain.pem")
    (ws / "out").mkdir()
    cmd = [sys.executable, "-c", "open('out/m.bin', 'w').write('m')"]
    base = ["run", "--step", "s", "--key", "keys/alice.key", "--products", "out", "--c2pa"]
    assert main([*base, "--", *cmd]) == 2  # the chain is no longer at keys/alice.crt
    assert "alice.crt" in capsys.readouterr().err
    assert main([*base, "--cert", "chain.pem", "--json", "--", *cmd]) == 0
    assert "out/m.bin" in json.loads(capsys.readouterr().out)["c2pa"]


def test_relative_key_errors_name_the_absolute_path(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--step", "s", "--key", "nokey.key", "--", sys.executable, "-c", "0"]) == 2
    assert f"{ws / 'nokey.key'}: private key not found" in capsys.readouterr().err

"""The log key on disk: created once (PKCS#8 PEM, mode 0600), reloaded, P-256 only; the public
key beside it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from helpers import pem

from atlas_intoto.errors import InputError, KeyLoadError
from atlas_intoto.tlog.logkey import load_or_create_log_key, public_key_pem, write_public_key


def _write(path: Path, key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def test_created_once_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "log.key"
    key = load_or_create_log_key(path)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = load_or_create_log_key(path)
    assert public_key_pem(again) == public_key_pem(key) == pem(key)


def test_missing_key_is_not_created_without_create(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.key"):
        load_or_create_log_key(tmp_path / "missing.key", create=False)
    assert not (tmp_path / "missing.key").exists()


@pytest.mark.parametrize(
    "key", [ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP384R1())]
)
def test_only_p256_log_keys(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
) -> None:
    path = tmp_path / "log.key"
    _write(path, key)
    with pytest.raises(KeyLoadError, match="must be ECDSA P-256"):
        load_or_create_log_key(path)


def test_garbage_key_file_is_a_key_load_error(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    path.write_bytes(b"not a key")
    with pytest.raises(KeyLoadError):
        load_or_create_log_key(path)
    assert path.read_bytes() == b"not a key"  # never replaced


def test_public_key_written_only_when_different(tmp_path: Path) -> None:
    key = load_or_create_log_key(tmp_path / "log.key")
    public = tmp_path / "log.pub"
    write_public_key(key, public)
    assert public.read_bytes() == pem(key)
    public.chmod(0o444)  # already correct: left alone, even read-only
    write_public_key(key, public)
    public.chmod(0o644)
    public.write_bytes(b"stale")
    write_public_key(key, public)
    assert public.read_bytes() == pem(key)

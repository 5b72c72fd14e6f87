"""Keys: loading of supported key types, refusal of others, passwords, keygen certificates."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from atlas_intoto.errors import InputError, KeyLoadError, OutputError
from atlas_intoto.keys import (
    PASSWORD_ENV,
    certificate_chain_path,
    generate_keypair,
    load_private_key,
    load_public_key,
    load_public_key_pem,
    load_signer,
)

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")


def write_private(path: Path, key: object, password: bytes | None = None) -> Path:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )
    return path


def write_public(path: Path, key: object) -> Path:
    path.write_bytes(
        key.public_key().public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.mark.parametrize(
    ("factory", "scheme"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ecdsa-sha2-nistp256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ecdsa-sha2-nistp384"),
        (ed25519.Ed25519PrivateKey.generate, "ed25519"),
    ],
)
def test_supported_keys_sign_and_match_in_toto_keyids(
    tmp_path: Path, factory: object, scheme: str
) -> None:
    from in_toto.models._signer import load_public_key_from_file

    key = factory()  # type: ignore[operator]
    private = write_private(tmp_path / "k.key", key)
    public = write_public(tmp_path / "k.pub", key)
    signer = load_signer(private)
    assert signer.public_key.scheme == scheme
    signature = signer.sign(b"payload")
    loaded = load_public_key(public)
    loaded.verify_signature(signature, b"payload")
    assert loaded.keyid == signer.public_key.keyid == load_public_key(private).keyid
    assert loaded.keyid == load_public_key_from_file(str(public))["keyid"]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ec.generate_private_key(ec.SECP521R1()), "unsupported curve secp521r1"),
        (lambda: ec.generate_private_key(ec.SECP256K1()), "unsupported curve secp256k1"),
        (
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "unsupported key type",
        ),
    ],
)
def test_unsupported_key_types_are_refused(tmp_path: Path, factory: object, message: str) -> None:
    key = factory()  # type: ignore[operator]
    with pytest.raises(KeyLoadError, match=message):
        load_signer(write_private(tmp_path / "k.key", key))
    with pytest.raises(KeyLoadError, match=message):
        load_public_key(write_public(tmp_path / "k.pub", key))


def test_garbage_and_wrong_type_files(tmp_path: Path) -> None:
    (tmp_path / "garbage").write_bytes(b"\x00\xffnot pem at all")
    with pytest.raises(KeyLoadError, match="not a PEM private key"):
        load_private_key(tmp_path / "garbage")
    with pytest.raises(KeyLoadError, match="not a PEM public key"):
        load_public_key(tmp_path / "garbage")
    key = ec.generate_private_key(ec.SECP256R1())
    pub = write_public(tmp_path / "k.pub", key)
    with pytest.raises(KeyLoadError, match="expected a private key, found a public key"):
        load_private_key(pub)
    broken = tmp_path / "broken.key"
    broken.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyLoadError, match="corrupt key"):
        load_private_key(broken)


def test_missing_and_directory_key_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="private key not found"):
        load_private_key(tmp_path / "nope.key")
    with pytest.raises(InputError, match="is a directory"):
        load_private_key(tmp_path)


def test_encrypted_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path = write_private(tmp_path / "enc.key", key, password=b"pw")
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(KeyLoadError, match=f"key is encrypted; set {PASSWORD_ENV}"):
        load_private_key(path)
    monkeypatch.setenv(PASSWORD_ENV, "nope")
    with pytest.raises(KeyLoadError, match="wrong password"):
        load_private_key(path)
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    assert (
        load_signer(path).public_key.keyid
        == load_public_key(write_public(tmp_path / "enc.pub", key)).keyid
    )
    assert isinstance(load_private_key(path, password=b"pw"), ec.EllipticCurvePrivateKey)


def test_keygen_writes_key_files_and_a_c2pa_capable_chain(tmp_path: Path) -> None:
    paths = generate_keypair("alice", directory=tmp_path / "k", ca_dir=tmp_path / "ca")
    assert paths.private_key.stat().st_mode & 0o777 == 0o600
    assert certificate_chain_path(paths.private_key) == paths.certificate_chain
    assert b"BEGIN PRIVATE KEY" in paths.private_key.read_bytes()  # PKCS#8, unencrypted
    chain = x509.load_pem_x509_certificates(paths.certificate_chain.read_bytes())
    assert len(chain) == 2
    leaf, ca = chain
    assert ca == x509.load_pem_x509_certificate((tmp_path / "ca" / "ca.crt").read_bytes())

    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING}
    ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(leaf.public_key())
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    leaf.verify_directly_issued_by(ca)

    pub_from_cert = load_public_key_pem(paths.certificate_chain.read_bytes(), source="chain")
    assert load_public_key(paths.public_key).keyid == load_public_key(paths.private_key).keyid
    assert pub_from_cert.public_numbers() == leaf.public_key().public_numbers()  # type: ignore[union-attr]


def test_keygen_reuses_the_ca_and_refuses_overwrite(tmp_path: Path) -> None:
    first = generate_keypair("a", directory=tmp_path)
    second = generate_keypair("b", directory=tmp_path)
    ca_a = x509.load_pem_x509_certificates(first.certificate_chain.read_bytes())[1]
    ca_b = x509.load_pem_x509_certificates(second.certificate_chain.read_bytes())[1]
    assert ca_a == ca_b
    with pytest.raises(OutputError, match="already exists"):
        generate_keypair("a", directory=tmp_path)
    with pytest.raises(InputError, match="plain file name"):
        generate_keypair("../x", directory=tmp_path)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "ca.key").write_bytes(b"x")
    with pytest.raises(InputError, match=r"only one of ca\.key and ca\.crt"):
        generate_keypair("c", directory=tmp_path, ca_dir=tmp_path / "half")


def test_keygen_refuses_a_mismatched_or_expired_ca(tmp_path: Path) -> None:
    import datetime

    from cryptography.hazmat.primitives import hashes

    from atlas_intoto.keys import ensure_ca

    key_one, _ = ensure_ca(tmp_path / "one")
    _, cert_two = ensure_ca(tmp_path / "two")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "ca.key").write_bytes((tmp_path / "one" / "ca.key").read_bytes())
    (mixed / "ca.crt").write_bytes((tmp_path / "two" / "ca.crt").read_bytes())
    # Used to succeed, writing a leaf whose chain no verifier accepts.
    with pytest.raises(KeyLoadError, match=r"does not match ca\.key"):
        generate_keypair("x", directory=tmp_path / "k", ca_dir=mixed)
    assert not (tmp_path / "k" / "x.key").exists()

    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    expired = (
        x509.CertificateBuilder()
        .subject_name(cert_two.subject)
        .issuer_name(cert_two.subject)
        .public_key(key_one.public_key())
        .serial_number(1)
        .not_valid_before(past)
        .not_valid_after(past + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key_one, hashes.SHA256())
    )
    (mixed / "ca.crt").write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(KeyLoadError, match="CA certificate expired"):
        generate_keypair("x", directory=tmp_path / "k", ca_dir=mixed)

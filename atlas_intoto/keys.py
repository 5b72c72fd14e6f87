"""Key generation and loading, and the development CA that issues C2PA signing certificates.

Private keys are PKCS#8 PEM, public keys SPKI PEM. Keys are wrapped as securesystemslib
signers and keys so that key ids are exactly what in-toto and securesystemslib compute.
"""

from __future__ import annotations

import datetime
import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from atlas_intoto.errors import InputError, KeyLoadError, OutputError
from atlas_intoto.fileio import atomic_write, read_bytes

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner, SSlibKey

#: Environment variable holding the password of an encrypted private key.
PASSWORD_ENV = "ATLAS_INTOTO_KEY_PASSWORD"

SupportedPrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
SupportedPublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
_SUPPORTED_CURVES = (ec.SECP256R1, ec.SECP384R1)
_CA_VALIDITY = datetime.timedelta(days=3650)
_LEAF_VALIDITY = datetime.timedelta(days=825)
#: id-kp-documentSigning (RFC 9336); C2PA accepts it beside id-kp-emailProtection.
_DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")


@dataclass(frozen=True, kw_only=True)
class KeyPaths:
    """The files ``generate_keypair`` writes."""

    private_key: Path
    public_key: Path
    certificate_chain: Path
    ca_certificate: Path
    #: the development CA's private key, which issued the chain (keep it safe: it can issue
    #: more signing certificates)
    ca_key: Path | None = None
    #: whether this call created the CA (else an existing one issued the chain)
    ca_created: bool = False
    #: whether the private key is encrypted (PKCS#8 with a password)
    encrypted: bool = False


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _check_supported(key: object, path: Path) -> None:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _SUPPORTED_CURVES):
            raise KeyLoadError(f"{path}: unsupported curve {key.curve.name} (use P-256 or P-384)")
        return
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return
    raise KeyLoadError(
        f"{path}: unsupported key type {type(key).__name__} (use ECDSA P-256/P-384 or Ed25519)"
    )


def _password_for(path: Path) -> bytes:
    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        return env.encode()
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"Password for {path}: ").encode()
    raise KeyLoadError(f"{path}: key is encrypted; set {PASSWORD_ENV} or run interactively")


def load_private_key(path: Path, *, password: bytes | None = None) -> SupportedPrivateKey:
    """Load a PEM private key (PKCS#8 or traditional), asking for a password if encrypted.

    Errors name the absolute path that was read (a relative ``--key`` given from another
    directory is then obvious)."""
    path = Path(os.path.abspath(path))
    data = read_bytes(path, what="private key")
    if b"PRIVATE KEY" not in data:
        if b"PUBLIC KEY" in data or b"CERTIFICATE" in data:
            raise KeyLoadError(f"{path}: expected a private key, found a public key/certificate")
        raise KeyLoadError(f"{path}: not a PEM private key")
    if b"ENCRYPTED" in data and password is None:
        password = _password_for(path)
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:  # password given for an unencrypted key, or missing
        raise KeyLoadError(f"{path}: {exc}") from exc
    except ValueError as exc:
        reason = "wrong password or corrupt key" if password is not None else "corrupt key"
        raise KeyLoadError(f"{path}: cannot load private key ({reason})") from exc
    _check_supported(key, path)
    assert isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    return key


def load_public_key_pem(data: bytes, *, source: str) -> SupportedPublicKey:
    """Parse SPKI PEM bytes (or a certificate, taking its key)."""
    try:
        if b"CERTIFICATE" in data:
            key: object = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyLoadError(f"{source}: not a PEM public key or certificate") from exc
    _check_supported(key, Path(source))
    assert isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    return key


def sslib_key(public_key: SupportedPublicKey) -> SSlibKey:
    """The securesystemslib key (and so the in-toto key id) for a public key."""
    from securesystemslib.signer import SSlibKey

    return SSlibKey.from_crypto(public_key)


def load_public_key(path: Path) -> SSlibKey:
    """Load an SPKI PEM public key (or a private key's public half) as a securesystemslib key."""
    data = read_bytes(path, what="public key")
    if b"PRIVATE KEY" in data:
        return sslib_key(load_private_key(path).public_key())
    return sslib_key(load_public_key_pem(data, source=str(path)))


def load_signer(path: Path, *, password: bytes | None = None) -> CryptoSigner:
    """A securesystemslib signer for a PEM private key file."""
    from securesystemslib.signer import CryptoSigner

    private = load_private_key(path, password=password)
    return CryptoSigner(private, sslib_key(private.public_key()))


def certificate_chain_path(private_key_path: Path) -> Path:
    """Where keygen puts the certificate chain of a private key (NAME.key → NAME.crt)."""
    return private_key_path.with_suffix(".crt")


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


def _private_pem(key: SupportedPrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _public_pem(key: SupportedPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _ensure_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{directory}: cannot create directory ({exc.strerror})") from exc
    if not directory.is_dir():
        raise OutputError(f"{directory}: not a directory")


def ensure_ca(ca_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Load the development CA in ``ca_dir``, creating it on first use."""
    key_path, cert_path = ca_dir / "ca.key", ca_dir / "ca.crt"
    if key_path.exists() and cert_path.exists():
        key = load_private_key(key_path)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyLoadError(f"{key_path}: the CA key must be ECDSA")
        try:
            cert = x509.load_pem_x509_certificate(read_bytes(cert_path, what="CA certificate"))
        except ValueError as exc:
            raise KeyLoadError(f"{cert_path}: not a PEM certificate") from exc
        # Leaves are signed with ca.key but name ca.crt as issuer: a mismatched or expired pair
        # would yield certificate chains that no verifier accepts.
        if cert.public_key() != key.public_key():
            raise KeyLoadError(f"{cert_path}: CA certificate does not match {key_path.name}")
        if cert.not_valid_after_utc <= datetime.datetime.now(datetime.UTC):
            raise KeyLoadError(f"{cert_path}: CA certificate expired {cert.not_valid_after_utc}")
        return key, cert
    if key_path.exists() != cert_path.exists():
        raise InputError(f"{ca_dir}: has only one of ca.key and ca.crt")
    _ensure_dir(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "atlas-intoto"),
            x509.NameAttribute(NameOID.COMMON_NAME, "atlas-intoto development CA"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    atomic_write(key_path, _private_pem(key), mode=0o600)
    atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """digitalSignature always; keyCertSign and cRLSign for a CA."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue_signing_certificate(
    *,
    name: str,
    public_key: SupportedPublicKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
) -> x509.Certificate:
    """A leaf certificate usable for C2PA signing (not a CA; digitalSignature; EKUs)."""
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "atlas-intoto"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + _LEAF_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, _DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def generate_keypair(
    name: str, *, directory: Path, ca_dir: Path | None = None, password: bytes | None = None
) -> KeyPaths:
    """Write ``NAME.key`` (0600), ``NAME.pub`` and ``NAME.crt`` (leaf + CA chain) to ``directory``.

    With ``password`` the private key is encrypted PKCS#8 (what :func:`load_private_key` reads
    with ``ATLAS_INTOTO_KEY_PASSWORD`` or a prompt). The CA (``ca.key``/``ca.crt`` in ``ca_dir``,
    default ``directory``) is created on first use."""
    if not name or "/" in name or name.startswith("."):
        raise InputError(f"key name {name!r}: must be a plain file name")
    _ensure_dir(directory)
    ca_dir = ca_dir or directory
    paths = KeyPaths(
        private_key=directory / f"{name}.key",
        public_key=directory / f"{name}.pub",
        certificate_chain=directory / f"{name}.crt",
        ca_certificate=ca_dir / "ca.crt",
    )
    if paths.private_key.exists():
        raise OutputError(f"{paths.private_key}: already exists (refusing to overwrite a key)")
    ca_created = not (ca_dir / "ca.key").exists()
    ca_key, ca_cert = ensure_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_signing_certificate(
        name=name, public_key=key.public_key(), ca_key=ca_key, ca_cert=ca_cert
    )
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
        serialization.Encoding.PEM
    )
    atomic_write(paths.private_key, _private_pem(key, password), mode=0o600)
    atomic_write(paths.public_key, _public_pem(key.public_key()))
    atomic_write(paths.certificate_chain, chain)
    from dataclasses import replace

    return replace(
        paths, ca_key=ca_dir / "ca.key", ca_created=ca_created, encrypted=password is not None
    )


def certify_public_key(
    name: str, public_key: SupportedPublicKey, *, directory: Path, ca_dir: Path | None = None
) -> KeyPaths:
    """Write ``NAME.pub`` and ``NAME.crt`` (leaf + CA chain) for a key whose private half lives
    elsewhere (a PKCS#11 token: ``keygen --hsm``). No ``NAME.key`` is written (the returned
    ``private_key`` names where it would be)."""
    if not name or "/" in name or name.startswith("."):
        raise InputError(f"key name {name!r}: must be a plain file name")
    _ensure_dir(directory)
    ca_dir = ca_dir or directory
    public_path, chain_path = directory / f"{name}.pub", directory / f"{name}.crt"
    for path in (public_path, chain_path):
        if path.exists():
            raise OutputError(f"{path}: already exists (refusing to overwrite)")
    ca_created = not (ca_dir / "ca.key").exists()
    ca_key, ca_cert = ensure_ca(ca_dir)
    leaf = issue_signing_certificate(
        name=name, public_key=public_key, ca_key=ca_key, ca_cert=ca_cert
    )
    pem = serialization.Encoding.PEM
    atomic_write(public_path, _public_pem(public_key))
    atomic_write(chain_path, leaf.public_bytes(pem) + ca_cert.public_bytes(pem))
    return KeyPaths(
        private_key=directory / f"{name}.key",
        public_key=public_path,
        certificate_chain=chain_path,
        ca_certificate=ca_dir / "ca.crt",
        ca_key=ca_dir / "ca.key",
        ca_created=ca_created,
    )

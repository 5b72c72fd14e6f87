"""The TSA's key and certificate chain in a directory (at the edge):

* ``tsa.key``       ECDSA P-256 signing key (PKCS#8 PEM, mode 0600);
* ``tsa-chain.pem`` the TSA certificate (critical EKU timeStamping) then its root CA;
* ``tsa-root.pem``  the root CA alone: what a layout pins in ``trust.tsa.roots``.

:func:`load_or_create_tsa` creates all three on first use; later runs load them.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from atlas_intoto.errors import KeyLoadError
from atlas_intoto.fileio import atomic_write, ensure_writable_dir
from atlas_intoto.tsa.authority import TimestampAuthority

__all__ = ["load_or_create_tsa", "root_path"]

_VALIDITY = datetime.timedelta(days=3650)


def root_path(directory: Path) -> Path:
    """Where the TSA's root certificate (the layout pin) is kept."""
    return directory / "tsa-root.pem"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "atlas-intoto"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
    ca: bool,
    now: datetime.datetime,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    else:
        usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    builder = builder.add_extension(usage, critical=True)
    return builder.sign(signer, hashes.SHA256())


def _create(directory: Path) -> None:
    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("atlas-intoto TSA root")
    root = _issue(
        subject=root_name,
        issuer=root_name,
        public_key=root_key.public_key(),
        signer=root_key,
        ca=True,
        now=now,
    )
    leaf = _issue(
        subject=_name("atlas-intoto TSA"),
        issuer=root_name,
        public_key=key.public_key(),
        signer=root_key,
        ca=False,
        now=now,
    )
    pem = serialization.Encoding.PEM
    pkcs8 = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    atomic_write(directory / "tsa.key", pkcs8, mode=0o600)
    atomic_write(directory / "tsa-chain.pem", leaf.public_bytes(pem) + root.public_bytes(pem))
    atomic_write(root_path(directory), root.public_bytes(pem))


def load_or_create_tsa(directory: Path, *, create: bool = True) -> TimestampAuthority:
    """The TSA kept in ``directory`` (created there on first use when ``create``)."""
    key_path = directory / "tsa.key"
    if not key_path.exists():
        if not create:
            raise KeyLoadError(f"{key_path}: no TSA key (run `atlas-intoto tsa serve` once)")
        ensure_writable_dir(directory)
        _create(directory)
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        chain = tuple(x509.load_pem_x509_certificates((directory / "tsa-chain.pem").read_bytes()))
    except (OSError, ValueError, TypeError) as exc:
        raise KeyLoadError(f"{directory}: cannot load the TSA key and chain ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or len(chain) < 2:
        raise KeyLoadError(
            f"{directory}: the TSA key must be ECDSA with a chain of 2+ certificates"
        )
    if chain[0].public_key() != key.public_key():
        raise KeyLoadError(f"{directory}/tsa-chain.pem: first certificate is not the TSA key's")
    return TimestampAuthority(key=key, chain=chain)

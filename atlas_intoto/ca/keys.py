"""The CA's keys and certificates in a directory (at the edge):

* ``ca-root.pem``          the root CA certificate: what clients pin (trusted root, layout);
* ``ca-intermediate.pem``  the intermediate CA certificate, issued by the root;
* ``ca-intermediate.key``  its ECDSA P-256 key (PKCS#8 PEM, mode 0600): it issues the leaves;
* ``ct.key``               the CT log's ECDSA P-256 key (PKCS#8 PEM, mode 0600): it signs SCTs;
* ``ct.pub``               its public key (PEM): what clients pin under ``ctlogs``.

:func:`load_or_create_ca` creates them on first use. The root's key signs the intermediate and
is then discarded: nothing online can issue another intermediate.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from atlas_intoto.ca.authority import CertificateAuthority, _usage
from atlas_intoto.errors import KeyLoadError
from atlas_intoto.fileio import atomic_write, ensure_writable_dir

__all__ = ["create_authority", "load_or_create_ca", "root_path"]

_VALIDITY = datetime.timedelta(days=3650)


def root_path(directory: Path) -> Path:
    """Where the CA's root certificate (the pin) is kept."""
    return directory / "ca-root.pem"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "atlas-intoto"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_certificate(
    *,
    subject: str,
    issuer: x509.Name | None,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    now: datetime.datetime,
) -> x509.Certificate:
    name = _name(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=1 if issuer is None else 0), critical=True
        )
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
    return builder.sign(signer, hashes.SHA256())


def create_authority(*, now: datetime.datetime | None = None) -> CertificateAuthority:
    """A new CA in memory (fresh keys): root, intermediate and CT log key."""
    now = now or datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    root = _ca_certificate(
        subject="atlas-intoto CA root", issuer=None, key=root_key, signer=root_key, now=now
    )
    intermediate = _ca_certificate(
        subject="atlas-intoto CA intermediate",
        issuer=root.subject,
        key=key,
        signer=root_key,
        now=now,
    )
    return CertificateAuthority(
        root=root,
        intermediate=intermediate,
        intermediate_key=key,
        ct_key=ec.generate_private_key(ec.SECP256R1()),
    )


def _pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _save(directory: Path, ca: CertificateAuthority) -> None:
    pem = serialization.Encoding.PEM
    atomic_write(directory / "ca-intermediate.key", _pkcs8(ca.intermediate_key), mode=0o600)
    atomic_write(directory / "ct.key", _pkcs8(ca.ct_key), mode=0o600)
    atomic_write(directory / "ct.pub", ca.ct_public_key_pem())
    atomic_write(directory / "ca-intermediate.pem", ca.intermediate.public_bytes(pem))
    atomic_write(root_path(directory), ca.root.public_bytes(pem))


def _private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyLoadError(f"{path}: not an ECDSA private key")
    return key


def load_or_create_ca(directory: Path, *, create: bool = True) -> CertificateAuthority:
    """The CA kept in ``directory`` (created there on first use when ``create``)."""
    if not root_path(directory).exists():
        if not create:
            raise KeyLoadError(f"{directory}: no CA (run `atlas-intoto ca serve` once)")
        ensure_writable_dir(directory)
        _save(directory, create_authority())
    try:
        ca = CertificateAuthority(
            root=x509.load_pem_x509_certificate(root_path(directory).read_bytes()),
            intermediate=x509.load_pem_x509_certificate(
                (directory / "ca-intermediate.pem").read_bytes()
            ),
            intermediate_key=_private_key(directory / "ca-intermediate.key"),
            ct_key=_private_key(directory / "ct.key"),
        )
    except (OSError, ValueError, TypeError) as exc:
        raise KeyLoadError(f"{directory}: cannot load the CA ({exc})") from exc
    if ca.intermediate.public_key() != ca.intermediate_key.public_key():
        raise KeyLoadError(f"{directory}/ca-intermediate.pem: not the intermediate key's")
    return ca

"""The simulated platform's DCAP certificate hierarchy (pure, given keys and serials).

    Root CA ──► PCK Platform CA ──► PCK certificate (SGX extension 1.2.840.113741.1.13.1)
       ├──► TCB signing certificate (signs TCB info and QE identity, :mod:`.collateral`)
       └─ root CA CRL;  PCK Platform CA ─ PCK CRL

Shapes follow Intel's PCK Certificate and CRL Profile Specification, so dcap-qvl and our own
verifier walk the chain exactly as they walk Intel's; only the root differs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"
#: The certified TCB of the simulated CPU (PCK certificate; mirrored in the TCB info).
CPU_SVN = bytes([3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0])
PCE_SVN = 11
PCE_ID = b"\x00\x00"
#: The chain's keys and certificates, in issuing order (also their file names in tee-sim/).
CHAIN_NAMES = ("root", "pck-ca", "pck", "tcb-signing")


@dataclass(frozen=True, kw_only=True)
class PckChain:
    """The four certificates of one simulated platform, issued by :func:`issue_chain`."""

    root_cert: x509.Certificate
    pck_ca_cert: x509.Certificate
    pck_cert: x509.Certificate
    tcb_cert: x509.Certificate


def issue_chain(
    *,
    platform_id: str,
    keys: Mapping[str, ec.EllipticCurvePrivateKey],
    serials: Mapping[str, bytes],
    fmspc: bytes,
    ppid: bytes,
    not_before: dt.datetime,
) -> PckChain:
    """Issue the chain; ``keys`` and ``serials`` are indexed by :data:`CHAIN_NAMES`."""
    root_key, pck_ca_key = keys["root"], keys["pck-ca"]
    root_name = _name(f"atlas-intoto Simulated SGX Root CA {platform_id}")
    pck_ca_name = _name(f"atlas-intoto Simulated SGX PCK Platform CA {platform_id}")
    root_cert = _certificate(
        subject=root_name,
        issuer=root_name,
        key=root_key,
        issuer_key=root_key,
        not_before=not_before,
        years=25,
        ca_path_length=1,
        serial=serials["root"],
    )
    pck_ca_cert = _certificate(
        subject=pck_ca_name,
        issuer=root_name,
        key=pck_ca_key,
        issuer_key=root_key,
        not_before=not_before,
        years=15,
        ca_path_length=0,
        serial=serials["pck-ca"],
    )
    pck_cert = _certificate(
        subject=_name(f"atlas-intoto Simulated SGX PCK Certificate {platform_id}"),
        issuer=pck_ca_name,
        key=keys["pck"],
        issuer_key=pck_ca_key,
        not_before=not_before,
        years=7,
        ca_path_length=None,
        serial=serials["pck"],
        extra=[
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier(SGX_EXTENSION_OID),
                sgx_extension(
                    ppid=ppid, cpu_svn=CPU_SVN, pce_svn=PCE_SVN, pce_id=PCE_ID, fmspc=fmspc
                ),
            )
        ],
    )
    tcb_cert = _certificate(
        subject=_name(f"atlas-intoto Simulated SGX TCB Signing {platform_id}"),
        issuer=root_name,
        key=keys["tcb-signing"],
        issuer_key=root_key,
        not_before=not_before,
        years=7,
        ca_path_length=None,
        serial=serials["tcb-signing"],
    )
    return PckChain(
        root_cert=root_cert, pck_ca_cert=pck_ca_cert, pck_cert=pck_cert, tcb_cert=tcb_cert
    )


class _SgxExtensionEntry(core.Sequence):  # type: ignore[misc]
    _fields = [("id", core.ObjectIdentifier), ("value", core.Any)]  # noqa: RUF012


class _SgxExtensionEntries(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _SgxExtensionEntry


class _SgxType(core.Enumerated):  # type: ignore[misc]
    _map = {0: "standard", 1: "scalable", 2: "scalable_with_integrity"}  # noqa: RUF012


def sgx_extension(
    *, ppid: bytes, cpu_svn: bytes, pce_svn: int, pce_id: bytes, fmspc: bytes, sgx_type: int = 0
) -> bytes:
    """DER of Intel's SGX extension (PCK Certificate and CRL Profile Specification §1.5)."""
    base = SGX_EXTENSION_OID

    def entry(oid: str, value: core.Asn1Value) -> _SgxExtensionEntry:
        return _SgxExtensionEntry({"id": oid, "value": value})

    tcb = [entry(f"{base}.2.{i + 1}", core.Integer(svn)) for i, svn in enumerate(cpu_svn)]
    tcb.append(entry(f"{base}.2.17", core.Integer(pce_svn)))
    tcb.append(entry(f"{base}.2.18", core.OctetString(cpu_svn)))
    der: bytes = _SgxExtensionEntries(
        [
            entry(f"{base}.1", core.OctetString(ppid)),
            entry(f"{base}.2", _SgxExtensionEntries(tcb)),
            entry(f"{base}.3", core.OctetString(pce_id)),
            entry(f"{base}.4", core.OctetString(fmspc)),
            entry(f"{base}.5", _SgxType(sgx_type)),
        ]
    ).dump()
    return der


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "atlas-intoto simulated TEE"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    years: int,
    ca_path_length: int | None,
    serial: bytes,
    extra: list[x509.ExtensionType] | None = None,
) -> x509.Certificate:
    is_ca = ca_path_length is not None
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(serial, "big") >> 1 or 1)
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=365 * years))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                content_commitment=not is_ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=ca_path_length), critical=True)
    )
    for extension in extra or []:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def issue_crl(
    key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate, this_update: str, next_update: str
) -> bytes:
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(dt.datetime.fromisoformat(this_update))
        .next_update(dt.datetime.fromisoformat(next_update))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.DER)


def sign_raw(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA P-256/SHA-256 as DCAP encodes it: r ‖ s, 32 bytes each, big-endian."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def utc_datetime(unix: int) -> dt.datetime:
    """``unix`` as an aware UTC datetime, whole seconds (certificate and CRL times)."""
    return dt.datetime.fromtimestamp(unix, tz=dt.UTC).replace(microsecond=0)


def utc_text(unix: int) -> str:
    """``unix`` as Intel's collateral writes times (``2024-03-13T00:00:00Z``)."""
    return utc_datetime(unix).strftime("%Y-%m-%dT%H:%M:%SZ")

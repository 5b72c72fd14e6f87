"""Test certificates for identity functionaries: a Fulcio-shaped CA (ECDSA P-256 root, leaves
with Fulcio's OIDC issuer extensions, SANs and an embedded SCT from a CT log key), built with
cryptography alone. Test-only: the package's CA is atlas_intoto.ca (issue 16a)."""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
SCT_LIST = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pem_public(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _utf8(value: str) -> bytes:
    raw = value.encode()
    assert len(raw) < 128
    return b"\x0c" + bytes([len(raw)]) + raw


def _octet_string(value: bytes) -> bytes:
    if len(value) < 128:
        return b"\x04" + bytes([len(value)]) + value
    size = len(value).to_bytes((len(value).bit_length() + 7) // 8, "big")
    return b"\x04" + bytes([0x80 | len(size)]) + size + value


def _sct(
    tbs: bytes,
    *,
    issuer: ec.EllipticCurvePublicKey,
    ct_key: ec.EllipticCurvePrivateKey,
    when: dt.datetime,
) -> bytes:
    """One RFC 6962 SCT over a precertificate entry (TLS encoding)."""
    millis = int(when.timestamp() * 1000)
    signed = (
        b"\x00\x00"
        + struct.pack(">Q", millis)
        + b"\x00\x01"
        + hashlib.sha256(_spki(issuer)).digest()
        + len(tbs).to_bytes(3, "big")
        + tbs
        + b"\x00\x00"
    )
    signature = ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    log_id = hashlib.sha256(_spki(ct_key.public_key())).digest()
    return (
        b"\x00"
        + log_id
        + struct.pack(">Q", millis)
        + b"\x00\x00"
        + b"\x04\x03"
        + struct.pack(">H", len(signature))
        + signature
    )


def _sct_extension(sct: bytes) -> x509.UnrecognizedExtension:
    item = struct.pack(">H", len(sct)) + sct
    return x509.UnrecognizedExtension(SCT_LIST, _octet_string(struct.pack(">H", len(item)) + item))


@dataclass
class FakeFulcio:
    """A root CA key and certificate plus the CT log key whose SCTs its leaves carry."""

    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    ct_key: ec.EllipticCurvePrivateKey

    @property
    def root_pem(self) -> str:
        return self.root.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def ct_pem(self) -> str:
        return pem_public(self.ct_key)

    def leaf(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        subject: str,
        issuer: str,
        not_before: dt.datetime,
        minutes: int = 10,
        sct: bool = True,
        ct_key: ec.EllipticCurvePrivateKey | None = None,
        serial: int = 0x1234,
    ) -> x509.Certificate:
        """A Fulcio-shaped leaf for ``key``: empty subject, the SAN (URI or e-mail), the OIDC
        issuer in both Fulcio extensions, code signing, and (``sct``) an embedded SCT."""
        san: x509.GeneralName = (
            x509.RFC822Name(subject)
            if "@" in subject and "/" not in subject
            else x509.UniformResourceIdentifier(subject)
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.root.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_before + dt.timedelta(minutes=minutes))
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()),
                False,
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.UnrecognizedExtension(ISSUER_V1, issuer.encode()), False)
            .add_extension(x509.UnrecognizedExtension(ISSUER_V2, _utf8(issuer)), False)
        )
        pre = builder.sign(self.root_key, hashes.SHA256())
        if not sct:
            return pre
        stamp = _sct(
            pre.tbs_certificate_bytes,
            issuer=self.root_key.public_key(),
            ct_key=ct_key or self.ct_key,
            when=not_before + dt.timedelta(seconds=1),
        )
        return builder.add_extension(_sct_extension(stamp), False).sign(
            self.root_key, hashes.SHA256()
        )


def make_ca(
    root_key: ec.EllipticCurvePrivateKey | None = None,
    ct_key: ec.EllipticCurvePrivateKey | None = None,
    *,
    name: str = "atlas-intoto test CA",
) -> FakeFulcio:
    """A self-signed root (valid 2020-2040) and a CT log key."""
    root_key = root_key or ec.generate_private_key(ec.SECP256R1())
    ct_key = ct_key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    root = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(root_key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    return FakeFulcio(root_key=root_key, root=root, ct_key=ct_key)

"""Issuing Fulcio-style code-signing certificates (pure: keys, a request and a time in,
certificates out).

A leaf is valid for :data:`LEAF_VALIDITY` (10 minutes), has an empty subject, the identity as a
critical SAN (email or URI), KeyUsage digitalSignature, ExtendedKeyUsage codeSigning, the
issuer in Fulcio's ``1.3.6.1.4.1.57264.1.1`` (raw) and ``.8`` (DER UTF8String) extensions, the
extensions the token's claims give (:mod:`atlas_intoto.ca.oidc`), and one embedded SCT from the
CA's CT log key over its precertificate (:mod:`atlas_intoto.ca.sct`). It is issued by an
intermediate CA under a root: the chain a response and a Sigstore bundle carry is
leaf, intermediate, root.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from atlas_intoto.ca import oids
from atlas_intoto.ca.oidc import Principal
from atlas_intoto.ca.sct import sct_list, tbs_without_poison
from atlas_intoto.errors import CaRequestError

__all__ = ["LEAF_VALIDITY", "CertifiableKey", "CertificateAuthority"]

LEAF_VALIDITY = datetime.timedelta(minutes=10)

CertifiableKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


def _utf8(value: str) -> bytes:
    return bytes(core.UTF8String(value).dump())


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _check_key(key: object) -> CertifiableKey:
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1):
            return key
    elif isinstance(key, ed25519.Ed25519PublicKey) or (
        isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048
    ):
        return key
    raise CaRequestError("publicKey: only ECDSA P-256/384/521, Ed25519 and RSA >= 2048 keys")


@dataclass(frozen=True, kw_only=True)
class CertificateAuthority:
    """The CA's root and intermediate certificates, the intermediate's key, and the CT log
    key whose SCTs the leaves embed."""

    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    ct_key: ec.EllipticCurvePrivateKey

    @property
    def chain(self) -> tuple[x509.Certificate, x509.Certificate]:
        """The issuing chain, intermediate first (what leaves are followed by)."""
        return (self.intermediate, self.root)

    def ct_public_key_pem(self) -> bytes:
        """The CT log's public key (PEM): what clients pin under ``ctlogs``."""
        return self.ct_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def _leaf_builder(
        self,
        key: CertifiableKey,
        principal: Principal,
        now: datetime.datetime,
        serial: int,
        validity: datetime.timedelta,
    ) -> x509.CertificateBuilder:
        if principal.email is not None:
            san: x509.GeneralName = x509.RFC822Name(principal.email)
        else:
            san = x509.UniformResourceIdentifier(str(principal.uri))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(key)
            .serial_number(serial)
            .not_valid_before(now)
            .not_valid_after(now + validity)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.intermediate_key.public_key()
                ),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(
                x509.UnrecognizedExtension(oids.OIDC_ISSUER_V1, principal.issuer.encode()), False
            )
            .add_extension(
                x509.UnrecognizedExtension(oids.OIDC_ISSUER_V2, _utf8(principal.issuer)), False
            )
        )
        for name, value in principal.extensions:
            raw = value.encode() if name in oids.DEPRECATED_RAW else _utf8(value)
            builder = builder.add_extension(
                x509.UnrecognizedExtension(oids.by_name(name), raw), critical=False
            )
        return builder

    def issue(
        self,
        public_key: object,
        principal: Principal,
        *,
        now: datetime.datetime,
        validity: datetime.timedelta = LEAF_VALIDITY,
        embed_sct: bool = True,
    ) -> list[x509.Certificate]:
        """Certify ``public_key`` for ``principal`` at ``now``: leaf, intermediate, root.

        1. build the leaf's fields (:meth:`_leaf_builder`);
        2. issue the precertificate: those fields plus the critical poison (RFC 6962 §3.1);
        3. have the CT log key sign an SCT over it (:func:`atlas_intoto.ca.sct.sct_list`);
        4. issue the final certificate: the same fields plus the SCT list in the poison's
           place, and check that its precertificate TBS is exactly what the SCT signed.

        ``validity`` and ``embed_sct=False`` exist to make the certificates verifiers must
        refuse (test vectors); the server always issues with the defaults.
        """
        key = _check_key(public_key)
        now = now.replace(microsecond=0)
        serial = x509.random_serial_number()
        issuer_key = self.intermediate_key
        if not embed_sct:
            unlogged = self._leaf_builder(key, principal, now, serial, validity)
            return [unlogged.sign(issuer_key, hashes.SHA256()), self.intermediate, self.root]
        precert = (
            self._leaf_builder(key, principal, now, serial, validity)
            .add_extension(x509.PrecertPoison(), critical=True)
            .sign(issuer_key, hashes.SHA256())
        )
        scts = sct_list(precert, issuer_key=issuer_key.public_key(), log_key=self.ct_key, at=now)
        leaf = (
            self._leaf_builder(key, principal, now, serial, validity)
            .add_extension(
                x509.UnrecognizedExtension(oids.SCT_LIST, bytes(core.OctetString(scts).dump())),
                critical=False,
            )
            .sign(issuer_key, hashes.SHA256())
        )
        if leaf.tbs_precertificate_bytes != tbs_without_poison(precert):
            raise AssertionError("the final certificate's TBS differs from the precertificate's")
        return [leaf, self.intermediate, self.root]

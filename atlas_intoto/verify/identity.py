"""Verifying a signature made with a short-lived certificate (keyless signing) against the
identity functionaries of a layout (pure: bytes, pinned anchors and a reference time).

The model is sigstore-python's ``Verifier._verify_common_signing_cert``, with the layout's
``trust.ca`` in place of a Sigstore trusted root and the functionary's identity as the policy;
sigstore-python's pieces do the work where they fit: its SCT verification and the same
cryptography chain builder and extension policies. The identity is read stricter than its
``OIDCIssuer``/``Identity`` policies: both issuer extensions must agree, and the certificate
must name exactly one subject. :func:`verify_certified_signature` runs at check 2 (before
the log establishes the link's trusted time); :func:`check_certificate_time` runs once check 6
has established it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from atlas_intoto.errors import (
    CertificateChainError,
    CertificateFormatError,
    CertificateSctError,
    CertificateSignatureError,
    CertificateTimeError,
    IdentityIssuerError,
    IdentitySubjectError,
)
from atlas_intoto.layout.identity import CaTrust, FunctionaryIdentity

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = [
    "CertifiedSigner",
    "certificate_issuer",
    "certificate_subjects",
    "check_certificate_time",
    "verify_certified_signature",
]

#: Sigstore's SAN "other name" for subjects that are neither e-mails nor URIs (Fulcio OID info).
_OTHERNAME_OID = "1.3.6.1.4.1.57264.1.7"
#: Fulcio's OIDC issuer extensions: deprecated (raw string) and current (DER UTF8String).
_ISSUER_V1_OID = "1.3.6.1.4.1.57264.1.1"
_ISSUER_V2_OID = "1.3.6.1.4.1.57264.1.8"


@dataclass(frozen=True, kw_only=True)
class CertifiedSigner:
    """What a verified certificate-signed signature established (steps 1, 2, 4, 5)."""

    #: the layout's name of the identity functionary the certificate matched
    functionary: str
    issuer: str
    #: the certificate's subject (SAN) that matched the functionary
    subject: str
    #: in-toto key id of the certificate's public key (what the link's binding names)
    keyid: str
    #: SPKI PEM of the certificate's public key
    pem: str
    #: the DER leaf certificate
    certificate: bytes = field(repr=False)
    #: the untrusted DER intermediates it came with
    intermediates: tuple[bytes, ...] = field(default=(), repr=False)
    not_before: int
    not_after: int

    @property
    def identity(self) -> tuple[str, str]:
        """(issuer, subject): what thresholds count as one functionary."""
        return (self.issuer, self.subject)


def _load(certificate: bytes, *, source: str) -> Certificate:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(certificate)
    except ValueError as exc:
        raise CertificateFormatError(f"{source}: the signing certificate is not DER X.509") from exc


def _pinned(ca: CaTrust) -> list[Certificate]:
    from cryptography import x509

    return [cert for pem in ca.roots for cert in x509.load_pem_x509_certificates(pem.encode())]


def _chain_at(
    leaf: Certificate, ca: CaTrust, when: datetime, intermediates: Sequence[Certificate] = ()
) -> list[Certificate]:
    """The verified chain above ``leaf`` (issuer first) at ``when``; raises cryptography's
    verification error. Every pinned certificate is a trust anchor, as in Sigstore's trusted
    root (its CA ``certChain`` holds the intermediates too)."""
    from cryptography.x509 import ExtendedKeyUsage
    from cryptography.x509.verification import (
        Criticality,
        ExtensionPolicy,
        PolicyBuilder,
        Store,
    )

    # As sigstore-python: Fulcio leaves carry code-signing, not client-auth.
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store(_pinned(ca)))
        .time(when)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    chain: list[Certificate] = verifier.verify(leaf, list(intermediates)).chain[1:]
    return chain


def _check_chain(
    leaf: Certificate, ca: CaTrust, intermediates: Sequence[Certificate], *, source: str
) -> list[Certificate]:
    """Step 1: the leaf chains to a pinned certificate (at its own issuance time: WHEN it was
    used is step 3) and is a code-signing certificate with a digital-signature key usage."""
    from cryptography.x509 import ExtendedKeyUsage, KeyUsage
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        chain = _chain_at(leaf, ca, leaf.not_valid_before_utc, intermediates)
    except Exception as exc:  # cryptography's VerificationError, unsupported names, ...
        raise CertificateChainError(
            f"{source}: the signing certificate does not chain to a root pinned under "
            f"trust.ca.roots ({exc})"
        ) from exc
    try:
        usage = leaf.extensions.get_extension_for_class(KeyUsage).value
        extended = leaf.extensions.get_extension_for_class(ExtendedKeyUsage).value
    except Exception as exc:
        raise CertificateChainError(f"{source}: the signing certificate has no key usage") from exc
    if not usage.digital_signature or ExtendedKeyUsageOID.CODE_SIGNING not in extended:
        raise CertificateChainError(
            f"{source}: the signing certificate is not a code-signing certificate"
        )
    return chain


def _ct_keyring(ca: CaTrust) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from sigstore._internal.trust import Keyring
    from sigstore_models.common.v1 import PublicKey, PublicKeyDetails

    details = {
        "secp256r1": PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
        "secp384r1": PublicKeyDetails.PKIX_ECDSA_P384_SHA_384,
        "secp521r1": PublicKeyDetails.PKIX_ECDSA_P521_SHA_512,
    }
    keys = []
    for pem in ca.ct_keys:
        key = serialization.load_pem_public_key(pem.encode())
        if isinstance(key, ec.EllipticCurvePublicKey):
            kind = details[key.curve.name]
        elif isinstance(key, ed25519.Ed25519PublicKey):
            kind = PublicKeyDetails.PKIX_ED25519
        else:  # pragma: no cover - the layout pins EC/Ed25519 keys only
            continue
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # sigstore-models reads raw_bytes as protobuf JSON does: base64
        keys.append(PublicKey(raw_bytes=base64.b64encode(der), key_details=kind))
    return Keyring(keys)


def _check_sct(leaf: Certificate, chain: list[Certificate], ca: CaTrust, *, source: str) -> None:
    """Step 2: the certificate's embedded SCT is signed by a CT log key pinned under
    ``trust.ca.ct_keys`` (sigstore-python's ``verify_sct``: the precertificate entry bound to
    the issuer's key)."""
    from sigstore._internal.sct import verify_sct

    keyring = _ct_keyring(ca)
    try:
        verify_sct(leaf, chain, keyring)
    except Exception as exc:  # sigstore's VerificationError, a malformed SCT list, ...
        raise CertificateSctError(
            f"{source}: the signing certificate's SCT does not verify under a CT key pinned "
            f"under trust.ca.ct_keys ({exc})"
        ) from exc


def certificate_subjects(leaf: Certificate) -> list[str]:
    """The certificate's subjects as Sigstore reads them: e-mail and URI SANs and Sigstore's
    other name (as sigstore-python's ``Identity`` policy collects them). An other name whose
    value is not exactly one DER UTF8String is left out (never half-read)."""
    from cryptography.x509 import (
        OtherName,
        RFC822Name,
        SubjectAlternativeName,
        UniformResourceIdentifier,
    )

    try:
        san = leaf.extensions.get_extension_for_class(SubjectAlternativeName).value
    except Exception:
        return []
    subjects = [*san.get_values_for_type(RFC822Name)]
    subjects.extend(san.get_values_for_type(UniformResourceIdentifier))
    for other in san.get_values_for_type(OtherName):
        if other.type_id.dotted_string == _OTHERNAME_OID:
            value = _utf8_string(other.value)
            if value is not None:
                subjects.append(value)
    return subjects


def _san_count(leaf: Certificate) -> int:
    from cryptography.x509 import SubjectAlternativeName

    try:
        return len(leaf.extensions.get_extension_for_class(SubjectAlternativeName).value)
    except Exception:
        return 0


def _utf8_string(der: bytes) -> str | None:
    """The text of a DER UTF8String, or None when ``der`` is anything else (trailing bytes
    included: a prefix must never pass for the whole value)."""
    from asn1crypto import core

    try:
        parsed = core.UTF8String.load(der, strict=True)
        return str(parsed.native)
    except (ValueError, TypeError):
        return None


def _extension_text(leaf: Certificate, oid: str, *, der: bool) -> str | None:
    from cryptography.x509 import ExtensionNotFound, ObjectIdentifier

    try:
        raw: bytes = leaf.extensions.get_extension_for_oid(ObjectIdentifier(oid)).value.value  # type: ignore[attr-defined]
    except ExtensionNotFound:
        return None
    if der:
        return _utf8_string(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def certificate_issuer(leaf: Certificate, *, source: str) -> str:
    """The OIDC issuer Fulcio's extensions name: the current one (``1.3.6.1.4.1.57264.1.8``,
    a DER UTF8String) and the deprecated one (``.1``, raw); when both are present they must
    agree — a certificate naming two issuers proves neither (IdentityIssuerError)."""
    current = _extension_text(leaf, _ISSUER_V2_OID, der=True)
    deprecated = _extension_text(leaf, _ISSUER_V1_OID, der=False)
    if current is not None and deprecated is not None and current != deprecated:
        raise IdentityIssuerError(
            f"{source}: the certificate's OIDC issuer extensions disagree ({deprecated!r} in "
            f"1.3.6.1.4.1.57264.1.1, {current!r} in 1.3.6.1.4.1.57264.1.8)"
        )
    issuer = current if current is not None else deprecated
    if issuer is None:
        raise IdentityIssuerError(f"{source}: the certificate names no (readable) OIDC issuer")
    return issuer


def _subject_ok(leaf: Certificate, functionary: FunctionaryIdentity) -> str | None:
    """The matching subject, or None: ``subject`` exactly, a pattern as a full match
    (:meth:`FunctionaryIdentity.subject_matches`)."""
    return next((s for s in certificate_subjects(leaf) if functionary.subject_matches(s)), None)


def _match_identity(
    leaf: Certificate, identities: Sequence[FunctionaryIdentity], *, source: str
) -> tuple[FunctionaryIdentity, str]:
    """Step 4: the first functionary whose issuer and subject the certificate names. The
    issuer is compared exactly (OIDC compares issuer URLs as strings: no case folding, no
    trailing-slash tolerance); the certificate must name exactly one subject, as Fulcio's
    do — of several names, which one the CA vouched for is unknowable."""
    issuer = certificate_issuer(leaf, source=source)
    issuers = [f for f in identities if f.issuer == issuer]
    if not issuers:
        wanted = ", ".join(sorted({f.issuer for f in identities}))
        raise IdentityIssuerError(
            f"{source}: the certificate's OIDC issuer is not one of the step's identity "
            f"functionaries' ({wanted})"
        )
    if _san_count(leaf) != 1:
        raise IdentitySubjectError(
            f"{source}: the certificate names {_san_count(leaf)} subject alternative names; "
            "a signing certificate must name exactly one subject"
        )
    for functionary in issuers:
        subject = _subject_ok(leaf, functionary)
        if subject is not None:
            return functionary, subject
    actual = ", ".join(certificate_subjects(leaf)) or "none"
    wanted = "; ".join(f.describe() for f in issuers)
    raise IdentitySubjectError(
        f"{source}: the certificate's subject ({actual}) is not the step's identity "
        f"functionary's ({wanted})"
    )


def _check_signature(envelope: bytes, leaf: Certificate, *, source: str) -> tuple[str, str]:
    """Step 5: a DSSE signature of the envelope verifies with the certificate's key; returns
    the key's in-toto key id and SPKI PEM."""
    from cryptography.hazmat.primitives import serialization

    from atlas_intoto import dsse
    from atlas_intoto.errors import AtlasError
    from atlas_intoto.keys import sslib_key

    try:
        key = sslib_key(leaf.public_key())  # type: ignore[arg-type]
        parsed = dsse.parse(envelope, source=source)
    except AtlasError:
        raise
    except Exception as exc:
        raise CertificateFormatError(f"{source}: unsupported certificate key ({exc})") from exc
    # Key id hints mean nothing next to a certificate (sigstore clients leave them empty).
    hintless = replace(parsed, signatures=tuple(replace(s, keyid="") for s in parsed.signatures))
    if not dsse.verified_keyids(hintless, [key]):
        raise CertificateSignatureError(
            f"{source}: the signature does not verify with the certificate's key: the "
            "attestation was changed after signing"
        )
    pem = leaf.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key.keyid, pem.decode("ascii")


def verify_certified_signature(
    envelope: bytes,
    certificate: bytes,
    *,
    identities: Sequence[FunctionaryIdentity],
    ca: CaTrust,
    source: str,
    intermediates: Sequence[bytes] = (),
) -> CertifiedSigner:
    """Verify a DSSE ``envelope`` signed with the key of ``certificate`` (DER) as the
    signature of one of ``identities``, under the pinned ``ca``. ``intermediates`` (DER, a
    Sigstore bundle's chain) are untrusted: they may only link the leaf to a pinned certificate.

    Steps (3, the time, is :func:`check_certificate_time`, once the trusted time is known):
      1. the certificate chains to a certificate pinned under ``trust.ca.roots`` and is a
         code-signing leaf (CertificateChainError);
      2. its embedded SCT is signed by a CT key pinned under ``trust.ca.ct_keys``
         (CertificateSctError);
      4. its OIDC issuer extension is a functionary's issuer (IdentityIssuerError) and a
         subject alternative name is that functionary's subject or fully matches its
         ``subject_pattern`` (IdentitySubjectError);
      5. the envelope's signature verifies with the certificate's key
         (CertificateSignatureError).
    Step 6, thresholds over distinct identities, is the caller's (check 2).
    """
    leaf = _load(certificate, source=source)
    extra = [_load(der, source=source) for der in intermediates]
    chain = _check_chain(leaf, ca, extra, source=source)
    _check_sct(leaf, chain, ca, source=source)
    functionary, subject = _match_identity(leaf, identities, source=source)
    keyid, pem = _check_signature(envelope, leaf, source=source)
    return CertifiedSigner(
        functionary=functionary.name,
        issuer=functionary.issuer,
        subject=subject,
        keyid=keyid,
        pem=pem,
        certificate=certificate,
        intermediates=tuple(intermediates),
        not_before=int(leaf.not_valid_before_utc.timestamp()),
        not_after=int(leaf.not_valid_after_utc.timestamp()),
    )


def check_certificate_time(
    signer: CertifiedSigner, *, ca: CaTrust, at: int | None, source: str
) -> None:
    """Step 3: the signature was made while the certificate and its chain were valid, judged
    at ``at``, the link's trusted time (log-signed time or RFC 3161 timestamp). Without a
    trusted time nothing proves when a short-lived certificate was used: that fails too
    (CertificateTimeError)."""
    if at is None:
        raise CertificateTimeError(
            f"{source}: no trusted time (log entry or RFC 3161 timestamp): a short-lived "
            "certificate cannot be judged at the verifier's clock"
        )
    when = datetime.fromtimestamp(at, tz=UTC)
    if not signer.not_before <= at <= signer.not_after:
        valid = (
            f"{datetime.fromtimestamp(signer.not_before, tz=UTC):%Y-%m-%dT%H:%M:%SZ} to "
            f"{datetime.fromtimestamp(signer.not_after, tz=UTC):%Y-%m-%dT%H:%M:%SZ}"
        )
        raise CertificateTimeError(
            f"{source}: signed at {when:%Y-%m-%dT%H:%M:%SZ} (trusted time), outside the "
            f"certificate's validity {valid}"
        )
    try:
        extra = [_load(der, source=source) for der in signer.intermediates]
        _chain_at(_load(signer.certificate, source=source), ca, when, extra)
    except Exception as exc:
        raise CertificateTimeError(
            f"{source}: the certificate chain was not valid at {when:%Y-%m-%dT%H:%M:%SZ} "
            f"(trusted time): {exc}"
        ) from exc

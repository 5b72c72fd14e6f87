"""Verification material as Rekor handles it (pure): public keys and certificates
(``pkg/pki/x509``), signature checks over messages and digests, and Rekor's verification of a
DSSE envelope.

Rekor's envelope rule (``verifyEnvelope``) is not our DSSE threshold
(:func:`atlas_intoto.dsse.verify`): every supplied key must verify some signature *and* every
signature must be verified by some key. It lives here, next to the keys it checks.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from atlas_intoto import dsse
from atlas_intoto.errors import EntryFormatError, EntrySignatureError
from atlas_intoto.tlog.kinds.common import b64_dsse, b64_std, fail, hex_digest, obj, string

__all__ = [
    "MAX_SIGNATURES",
    "MAX_VERIFIERS",
    "PublicKey",
    "RekorEnvelope",
    "Verifier",
    "check_counts",
    "key_index",
    "load_verifier",
    "parse_envelope",
    "verify_envelope",
    "verify_message",
    "verify_prehashed",
]

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

_PREHASH = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----[^\n]*(?:\n|$)", re.DOTALL
)


@dataclass(frozen=True, kw_only=True)
class Verifier:
    """A parsed public key or certificate (chain) as Rekor's ``pki/x509.PublicKey`` holds it."""

    key: PublicKey
    #: Rekor's ``CanonicalValue()``: re-encoded SPKI PEM, or the certificates' PEM.
    canonical_pem: bytes
    #: Subject alternative names of the (leaf) certificate; empty for a bare key.
    subjects: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Keys and certificates (Rekor pkg/pki/x509)
# --------------------------------------------------------------------------------------------


def _subjects(cert: x509.Certificate) -> tuple[str, ...]:
    """Subject alternative names as sigstore's ``cryptoutils.GetSubjectAlternateNames``."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    except ValueError:  # a malformed extension: Go would have rejected the certificate
        return ()
    names: list[str] = []
    names.extend(san.get_values_for_type(x509.DNSName))
    names.extend(san.get_values_for_type(x509.RFC822Name))
    names.extend(str(ip) for ip in san.get_values_for_type(x509.IPAddress) if _is_ip(ip))
    names.extend(san.get_values_for_type(x509.UniformResourceIdentifier))
    return tuple(names)


def _is_ip(value: object) -> bool:
    return isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address)


def _check_key(key: object, field: str) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        return key
    raise fail(f"{field}: unsupported key type {type(key).__name__}")


def load_verifier(data: bytes, *, field: str = "publicKey") -> Verifier:
    """Parse PEM verification material as Rekor's ``x509.NewPublicKey``: one SPKI public key,
    one certificate, or several concatenated certificates (a chain, leaf first)."""
    try:
        return _load_verifier_cached(bytes(data))
    except EntryFormatError as exc:
        # The cached parser reports an empty field name (": reason"): add this call's.
        raise EntryFormatError(f"{field}{exc}") from exc


@functools.lru_cache(maxsize=1024)
def _load_verifier_cached(data: bytes) -> Verifier:
    """Functionaries publish many entries with one key: parse each key once."""
    return _load_verifier(data, field="")


def _load_verifier(data: bytes, *, field: str) -> Verifier:
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks:
        raise fail(f"{field}: invalid public key: failure decoding PEM")
    first = blocks[0]
    rest = data[first.end() :]
    if rest.strip():
        return _load_chain(blocks, field)
    kind = first.group(1).decode()
    der = _pem_body(first.group(2), field)
    if kind == "PUBLIC KEY":
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise fail(f"{field}: invalid public key") from exc
        checked = _check_key(key, field)
        pem = checked.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return Verifier(key=checked, canonical_pem=pem, subjects=())
    if kind == "CERTIFICATE":
        cert = _load_cert(der, field)
        return Verifier(
            key=_cert_key(cert, field),
            canonical_pem=cert.public_bytes(serialization.Encoding.PEM),
            subjects=_subjects(cert),
        )
    raise fail(f"{field}: invalid public key: cannot handle type {kind}")


def _load_chain(blocks: Sequence[re.Match[bytes]], field: str) -> Verifier:
    certs: list[x509.Certificate] = []
    for block in blocks:
        if block.group(1) != b"CERTIFICATE":
            raise fail(f"{field}: a PEM chain may only hold certificates")
        certs.append(_load_cert(_pem_body(block.group(2), field), field))
    return Verifier(
        key=_cert_key(certs[0], field),
        canonical_pem=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs),
        subjects=_subjects(certs[0]),
    )


def _pem_body(text: bytes, field: str) -> bytes:
    lines = [line.strip() for line in text.splitlines()]
    if any(b":" in line for line in lines):  # RFC 1421 headers: Go parses, we do not need them
        raise fail(f"{field}: PEM headers are not supported")
    return b64_std(b"".join(lines).decode("ascii", "replace"), field)


def _load_cert(der: bytes, field: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise fail(f"{field}: invalid certificate") from exc


def _cert_key(cert: x509.Certificate, field: str) -> PublicKey:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise fail(f"{field}: certificate has an unsupported public key") from exc
    return _check_key(key, field)


def key_index(verifier: Verifier) -> list[str]:
    """The index keys of a verifier: the SHA-256 of its canonical PEM and its subjects."""
    return ["sha256:" + hex_digest(verifier.canonical_pem), *verifier.subjects]


# --------------------------------------------------------------------------------------------
# Signatures
# --------------------------------------------------------------------------------------------


def verify_message(key: PublicKey, signature: bytes, message: bytes) -> bool:
    """sigstore ``signature.LoadVerifier(key, crypto.SHA256)``: ECDSA and RSA PKCS#1 v1.5 over
    SHA-256 of the message, Ed25519 over the message itself."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_prehashed(key: PublicKey, signature: bytes, digest: bytes, algorithm: str) -> bool:
    """A signature over an artifact digest (``hashedrekord``); ``algorithm`` is ``sha256``,
    ``sha384`` or ``sha512``. Ed25519 keys never verify (Rekor would need Ed25519ph)."""
    prehashed = utils.Prehashed(_PREHASH[algorithm])
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), prehashed)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


# --------------------------------------------------------------------------------------------
# DSSE envelopes (go-securesystemslib dsse.EnvelopeVerifier, as Rekor's verifyEnvelope uses it)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RekorEnvelope:
    """A DSSE envelope as Rekor's Go model reads it: fields may be missing (empty), payload and
    signatures stay base64 text until verification."""

    payload_b64: str
    payload_type: str
    #: ``(keyid, sig base64)`` pairs, in envelope order.
    signatures: tuple[tuple[str, str], ...]


def parse_envelope(text: str, field: str) -> RekorEnvelope:
    """Parse an envelope's JSON leniently, as Go's ``json.Unmarshal`` into the DSSE model."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError: also huge integers
        raise fail(f"{field}: not a JSON DSSE envelope") from exc
    env = obj(doc, field)
    payload = string(env.get("payload"), f"{field}.payload", required=False)
    payload_type = string(env.get("payloadType"), f"{field}.payloadType", required=False)
    sigs = env.get("signatures")
    if sigs is None:
        sigs = []
    if not isinstance(sigs, list):
        raise fail(f"{field}.signatures: expected an array")
    parsed: list[tuple[str, str]] = []
    for i, raw in enumerate(sigs):
        sig = obj(raw, f"{field}.signatures[{i}]")
        keyid = string(sig.get("keyid"), f"{field}.signatures[{i}].keyid", required=False)
        value = string(sig.get("sig"), f"{field}.signatures[{i}].sig", required=False)
        parsed.append((keyid, value))
    return RekorEnvelope(payload_b64=payload, payload_type=payload_type, signatures=tuple(parsed))


#: Most signatures / verifiers one entry may carry. Checking is every key against every
#: signature, so an unauthenticated request could otherwise buy seconds of ECDSA (330 x 330);
#: real envelopes carry one or a few.
MAX_SIGNATURES = 8
MAX_VERIFIERS = 8


def check_counts(*, signatures: int, verifiers: int, field: str) -> None:
    """Refuse entries with more than :data:`MAX_SIGNATURES` / :data:`MAX_VERIFIERS`."""
    if signatures > MAX_SIGNATURES:
        raise fail(f"{field}.signatures: {signatures} signatures, at most {MAX_SIGNATURES}")
    if verifiers > MAX_VERIFIERS:
        raise fail(f"{field}: {verifiers} verifiers, at most {MAX_VERIFIERS}")


def verify_envelope(
    verifiers: Sequence[Verifier], env: RekorEnvelope, field: str
) -> dict[str, Verifier]:
    """Rekor's ``verifyEnvelope``: every key must verify at least one signature (the DSSE
    verifier's threshold of 1) and every signature must be verified by some key. Returns the
    verifying key of each signature (base64 string); a later key wins, as in Rekor's map.

    At most :data:`MAX_SIGNATURES` signatures and :data:`MAX_VERIFIERS` keys (EntryFormatError);
    a key or signature given twice is checked once.
    """
    if not env.signatures:
        raise EntrySignatureError(f"{field}: could not verify envelope: no signatures")
    check_counts(signatures=len(env.signatures), verifiers=len(verifiers), field=field)
    payload = b64_dsse(env.payload_b64, f"{field}.payload")
    message = dsse.pae(env.payload_type, payload)
    unique_sigs = dict.fromkeys(sig for _, sig in env.signatures)
    decoded = [
        (sig, b64_dsse(sig, f"{field}.signatures[{i}].sig")) for i, sig in enumerate(unique_sigs)
    ]
    # the same key twice: the later one wins in Rekor's map, and one check suffices
    unique = {verifier.canonical_pem: verifier for verifier in verifiers}
    by_sig: dict[str, Verifier] = {}
    for n, verifier in enumerate(unique.values()):
        accepted = [text for text, raw in decoded if verify_message(verifier.key, raw, message)]
        if not accepted:
            raise EntrySignatureError(
                f"{field}: could not verify envelope: key {n} verifies no signature"
            )
        for text in accepted:
            by_sig[text] = verifier
    if any(text not in by_sig for text, _ in decoded):
        raise EntrySignatureError(f"{field}: all signatures must have a key that verifies it")
    return by_sig

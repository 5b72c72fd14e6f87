"""Rekor v2 ``hashedrekord`` 0.0.2 (pure): the write request, the canonical log entry, and the
entry a DSSE envelope is logged as.

As rekor-tiles' ``pkg/types/hashedrekord`` and protobuf-specs' ``rekor/v2``:

* request (``POST /api/v2/log/entries``, protojson)::

    {"hashedRekordRequestV002": {"digest": b64, "signature": {"content": b64, "verifier": {
        "publicKey": {"rawBytes": b64 DER SPKI}  |  "x509Certificate": {"rawBytes": b64 DER},
        "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}}

* the leaf is the RFC 8785 JSON of the protojson ``Entry``::

    {"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_256", "digest": b64}, "signature": <as requested>}}}

* a DSSE envelope is logged as a hashedrekord whose digest is the hash of its PAE and whose
  signature is the envelope's signature (rekor v2 spec §6.1.4; sigstore-python does the same).

The server verifies the signature over the prehashed digest before accepting an entry.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atlas_intoto import dsse
from atlas_intoto.errors import EntryFormatError, EntrySignatureError, LogEntryMismatchError
from atlas_intoto.tlog.kinds.material import PublicKey, verify_prehashed

__all__ = [
    "KEY_DETAILS",
    "HashedRekordEntry",
    "dsse_request",
    "entry_for_envelope",
    "parse_request",
]

KIND = "hashedrekord"
API_VERSION = "0.0.2"

#: keyDetails this log accepts: (curve bits, digest name, HashOutput algorithm).
KEY_DETAILS: dict[str, tuple[int, str, str]] = {
    "PKIX_ECDSA_P256_SHA_256": (256, "sha256", "SHA2_256"),
    "PKIX_ECDSA_P384_SHA_384": (384, "sha384", "SHA2_384"),
}
_DIGEST_SIZE = {"sha256": 32, "sha384": 48}


def _fail(message: str) -> EntryFormatError:
    return EntryFormatError(message)


def _only(doc: Any, field: str, allowed: set[str]) -> Mapping[str, Any]:
    # protojson rejects unknown fields: so do we, so no field is silently dropped.
    if not isinstance(doc, dict):
        raise _fail(f"{field}: expected a JSON object")
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise _fail(f"{field}: unknown field {unknown[0]!r}")
    return doc


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise _fail(f"{field}: expected non-empty base64")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise _fail(f"{field}: not valid base64") from exc


@dataclass(frozen=True, kw_only=True)
class HashedRekordEntry:
    """A validated hashedrekord 0.0.2 entry (what the log stores and a verifier rebuilds)."""

    digest: bytes
    algorithm: str  # HashOutput name, e.g. SHA2_256
    signature: bytes
    key_details: str
    #: ``publicKey`` or ``x509Certificate``, and its DER bytes
    verifier_kind: str
    verifier_der: bytes

    def signature_doc(self) -> dict[str, Any]:
        """The protojson ``Signature`` message."""
        return {
            "content": base64.b64encode(self.signature).decode(),
            "verifier": {
                self.verifier_kind: {"rawBytes": base64.b64encode(self.verifier_der).decode()},
                "keyDetails": self.key_details,
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """The protojson ``Entry`` (kind, apiVersion, spec)."""
        data = {"algorithm": self.algorithm, "digest": base64.b64encode(self.digest).decode()}
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "spec": {"hashedRekordV002": {"data": data, "signature": self.signature_doc()}},
        }

    def canonical_body(self) -> bytes:
        """The Merkle leaf: RFC 8785 JSON of :meth:`to_dict`."""
        return bytes(rfc8785.dumps(self.to_dict()))

    def request(self) -> dict[str, Any]:
        """The ``CreateEntryRequest`` that proposes this entry."""
        return {
            "hashedRekordRequestV002": {
                "digest": base64.b64encode(self.digest).decode(),
                "signature": self.signature_doc(),
            }
        }


def _public_key(kind: str, der: bytes, field: str) -> PublicKey:
    try:
        if kind == "publicKey":
            key: Any = serialization.load_der_public_key(der)
        else:
            key = x509.load_der_x509_certificate(der).public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _fail(f"{field}: not a DER {kind}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise _fail(f"{field}: unsupported key type {type(key).__name__} (ECDSA P-256/P-384)")
    return key


def _check_details(key: PublicKey, details: str, field: str) -> tuple[str, str]:
    spec = KEY_DETAILS.get(details)
    if spec is None:
        raise _fail(f"{field}: unsupported keyDetails {details[:60]!r}")
    bits, digest_name, algorithm = spec
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.key_size != bits:
        raise _fail(f"{field}: keyDetails {details} does not match the key")
    return digest_name, algorithm


def parse_request(doc: Any) -> HashedRekordEntry:
    """Validate a ``CreateEntryRequest`` and verify its signature over the digest.

    1. exactly the fields of a hashedRekordRequestV002 (anything else: EntryFormatError);
    2. the verifier is a DER public key or certificate of a supported ECDSA curve, and
       ``keyDetails`` names that curve's algorithm;
    3. the digest has the algorithm's size and the signature verifies over it
       (EntrySignatureError).
    """
    top = _only(doc, "request", {"hashedRekordRequestV002"})
    if "hashedRekordRequestV002" not in top:
        raise _fail("request: invalid type, must be hashedRekordRequestV002")
    hr = _only(top["hashedRekordRequestV002"], "hashedRekordRequestV002", {"digest", "signature"})
    digest = _b64(hr.get("digest"), "digest")
    sig = _only(hr.get("signature"), "signature", {"content", "verifier"})
    content = _b64(sig.get("content"), "signature.content")
    verifier = _only(
        sig.get("verifier"), "signature.verifier", {"publicKey", "x509Certificate", "keyDetails"}
    )
    kinds = [k for k in ("publicKey", "x509Certificate") if k in verifier]
    if len(kinds) != 1:
        raise _fail("signature.verifier: must contain either a publicKey or an x509Certificate")
    kind = kinds[0]
    raw = _only(verifier[kind], f"signature.verifier.{kind}", {"rawBytes"})
    der = _b64(raw.get("rawBytes"), f"signature.verifier.{kind}.rawBytes")
    key = _public_key(kind, der, f"signature.verifier.{kind}")
    details = verifier.get("keyDetails")
    if not isinstance(details, str):
        raise _fail("signature.verifier.keyDetails: expected a string")
    digest_name, algorithm = _check_details(key, details, "signature.verifier.keyDetails")
    if len(digest) != _DIGEST_SIZE[digest_name]:
        raise _fail(f"digest: {len(digest)} bytes, expected {_DIGEST_SIZE[digest_name]}")
    if not verify_prehashed(key, content, digest, digest_name):
        raise EntrySignatureError("signature.content: does not verify over the digest")
    return HashedRekordEntry(
        digest=digest,
        algorithm=algorithm,
        signature=content,
        key_details=details,
        verifier_kind=kind,
        verifier_der=der,
    )


def key_details_for(key: PublicKey) -> str:
    """The ``keyDetails`` of an ECDSA key (UsageError-free: raises EntryFormatError)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        for name, (bits, _, _) in KEY_DETAILS.items():
            if key.curve.key_size == bits:
                return name
    raise _fail(f"Rekor v2 logs ECDSA P-256/P-384 keys only, not {type(key).__name__}")


def _verifier_of(pem: bytes) -> tuple[Any, str, bytes]:
    """The key, verifier kind and verifier DER of a PEM public key or certificate."""
    if b"-----BEGIN CERTIFICATE-----" in pem:
        from cryptography import x509

        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise _fail(f"certificate: not a PEM certificate ({exc})") from exc
        return cert.public_key(), "x509Certificate", cert.public_bytes(serialization.Encoding.DER)
    try:
        key: Any = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _fail(f"public key: not a PEM public key ({exc})") from exc
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, "publicKey", der


def entry_for_envelope(envelope: bytes, public_key_pem: bytes) -> HashedRekordEntry:
    """The hashedrekord entry that logs ``envelope`` (its first signature verifying with
    ``public_key_pem``): digest = hash(PAE), signature = that signature. No signature check here
    (the server checks it; the verifier compares the logged entry with this one).

    ``public_key_pem`` may be a PEM certificate (the functionary's leaf): the entry's verifier
    is then that ``x509Certificate``, which Sigstore verifiers require of a bundle holding it.
    """
    parsed = dsse.parse(envelope, source="envelope")
    key, verifier_kind, verifier_der = _verifier_of(public_key_pem)
    details = key_details_for(key)
    digest_name = KEY_DETAILS[details][1]
    pae = dsse.pae(parsed.payload_type, parsed.payload)
    digest = hashlib.new(digest_name, pae).digest()
    for signature in parsed.signatures:
        if verify_prehashed(key, signature.sig, digest, digest_name):
            return HashedRekordEntry(
                digest=digest,
                algorithm=KEY_DETAILS[details][2],
                signature=signature.sig,
                key_details=details,
                verifier_kind=verifier_kind,
                verifier_der=verifier_der,
            )
    raise EntrySignatureError("envelope: no signature verifies with the functionary's key")


def dsse_request(envelope: bytes, public_key_pem: bytes) -> dict[str, Any]:
    """The ``CreateEntryRequest`` logging ``envelope`` (see :func:`entry_for_envelope`)."""
    return entry_for_envelope(envelope, public_key_pem).request()


def match_envelope(entry: HashedRekordEntry, envelope: bytes) -> None:
    """Check a logged entry records ``envelope`` (pure; LogEntryMismatchError otherwise).

    1. the entry's digest is the hash of the envelope's PAE under the entry's algorithm;
    2. the entry's signature is one of the envelope's signatures;
    3. that signature verifies over the digest with the entry's key (a logged entry can only
       be trusted to name its signer if its own signature holds).
    """
    try:
        parsed = dsse.parse(envelope, source="envelope")
    except Exception as exc:
        raise LogEntryMismatchError(f"log entry: the link envelope does not parse ({exc})") from exc
    digest_name = {v[2]: v[1] for v in KEY_DETAILS.values()}.get(entry.algorithm)
    if digest_name is None:
        raise LogEntryMismatchError(f"log entry: unsupported digest algorithm {entry.algorithm}")
    pae = dsse.pae(parsed.payload_type, parsed.payload)
    if hashlib.new(digest_name, pae).digest() != entry.digest:
        raise LogEntryMismatchError("log entry: digest is not the hash of this envelope's PAE")
    if entry.signature not in {s.sig for s in parsed.signatures}:
        raise LogEntryMismatchError("log entry: signature is not one of this envelope's")
    key = _public_key(entry.verifier_kind, entry.verifier_der, "log entry verifier")
    if not verify_prehashed(key, entry.signature, entry.digest, digest_name):
        raise LogEntryMismatchError("log entry: signature does not verify with the logged key")


def verifier_key(entry: HashedRekordEntry) -> PublicKey:
    """The public key an entry logs (a certificate's key for a certificate)."""
    return _public_key(entry.verifier_kind, entry.verifier_der, "log entry verifier")


def entry_for_digest(envelope: bytes, signature: bytes, public_key_pem: bytes) -> HashedRekordEntry:
    """The entry logging ``envelope`` by digest only (``--log-visibility digest``): the SHA-256
    of its exact bytes and the functionary's ``signature`` over them (P-256 keys)."""
    from atlas_intoto.tlog.visibility import envelope_digest

    key, verifier_kind, verifier_der = _verifier_of(public_key_pem)
    details = key_details_for(key)
    if KEY_DETAILS[details][1] != "sha256":
        raise _fail("digest entries are SHA-256: they need an ECDSA P-256 key")
    return HashedRekordEntry(
        digest=envelope_digest(envelope),
        algorithm=KEY_DETAILS[details][2],
        signature=signature,
        key_details=details,
        verifier_kind=verifier_kind,
        verifier_der=verifier_der,
    )


def parse_entry_body(body: bytes) -> HashedRekordEntry:
    """A logged entry's canonical body back into a :class:`HashedRekordEntry` (the body must be
    exactly the canonical form of what it describes). Raises EntryFormatError."""
    import json

    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise _fail("canonicalizedBody: not JSON") from exc
    top = _only(doc, "canonicalizedBody", {"apiVersion", "kind", "spec"})
    if top.get("kind") != KIND or top.get("apiVersion") != API_VERSION:
        raise _fail("canonicalizedBody: not a hashedrekord 0.0.2 entry")
    spec = _only(top.get("spec"), "spec", {"hashedRekordV002"})
    hr = _only(spec.get("hashedRekordV002"), "spec.hashedRekordV002", {"data", "signature"})
    data = _only(hr.get("data"), "data", {"algorithm", "digest"})
    request = {
        "hashedRekordRequestV002": {"digest": data.get("digest"), "signature": hr.get("signature")}
    }
    entry = parse_request(request)
    if entry.algorithm != data.get("algorithm") or entry.canonical_body() != body:
        raise _fail("canonicalizedBody: not in canonical form")
    return entry

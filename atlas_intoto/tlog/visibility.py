"""Log visibility: what a public transparency log learns about a link.

* ``full`` (the default): the log records the DSSE envelope itself (Rekor v1 ``dsse``) or a
  ``hashedrekord`` over its PAE with the envelope's own signature (Rekor v2) — the envelope is
  sent to the log, so the log operator reads every path and digest the link names.
* ``digest``: the log receives only a ``hashedrekord`` (v0.0.1 on Rekor v1, v0.0.2 on Rekor v2)
  whose artifact digest is the SHA-256 of the link's *exact envelope bytes* and whose
  signature is the functionary's signature over those bytes — a digest and a key, nothing else.

A digest entry binds the envelope as tightly as a ``dsse`` entry does (the hash covers the
payload and every signature), but only if (a) the digest is over the whole envelope, never over
the payload or the PAE, and (b) the key is a functionary's the layout authorises for the step:
anyone may log a digest with their own key. The verifier checks both (check 6,
:mod:`atlas_intoto.verify.checks.log_visibility`).

Pure except :class:`DigestPublisher`, which only forwards to a backend's publisher.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atlas_intoto.errors import (
    LogDigestMismatchError,
    LogDigestSignatureError,
    UsageError,
)

if TYPE_CHECKING:
    from securesystemslib.signer import Signer

    from atlas_intoto.tlog.backend import LogPublisher
    from atlas_intoto.tlog.kinds.material import PublicKey

__all__ = [
    "DIGEST",
    "FULL",
    "LAYOUT_VISIBILITIES",
    "VISIBILITIES",
    "DigestEntry",
    "DigestPublisher",
    "check_can_publish",
    "check_signing_key",
    "classify",
    "decode_signature",
    "encode_signature",
    "envelope_digest",
    "sign_envelope",
    "spki_der",
]

FULL = "full"
DIGEST = "digest"
#: What recording may ask for (``--log-visibility``).
VISIBILITIES = (FULL, DIGEST)
#: What a layout's ``trust.logs[].visibility`` may accept.
LAYOUT_VISIBILITIES = (FULL, DIGEST, "any")


def envelope_digest(envelope: bytes) -> bytes:
    """The artifact digest of a digest entry: SHA-256 of the envelope bytes exactly as kept."""
    return hashlib.sha256(envelope).digest()


def check_signing_key(public_pem: bytes) -> None:
    """Digest entries need an ECDSA P-256 functionary key: Rekor's ``hashedrekord`` verifies a
    signature over a SHA-256 digest (Ed25519 would need Ed25519ph). UsageError otherwise."""
    try:
        key = serialization.load_pem_public_key(public_pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UsageError(
            "--log-visibility digest: the functionary key is not a PEM public key"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.key_size != 256:
        raise UsageError(
            "--log-visibility digest: needs an ECDSA P-256 functionary key (hashedrekord signs a "
            f"SHA-256 digest); this key is {type(key).__name__}"
        )


def check_can_publish(publisher: object, public_pem: bytes) -> None:
    """Before a step runs: its log backend logs digest entries and its key can sign them."""
    if not callable(getattr(publisher, "publish_digest", None)):
        name = getattr(publisher, "backend_name", type(publisher).__name__)
        raise UsageError(f"--log-visibility digest: log backend {name} logs no digest entries")
    check_signing_key(public_pem)


def sign_envelope(signer: Signer, envelope: bytes) -> bytes:
    """The functionary's signature over the exact envelope bytes (securesystemslib: ECDSA P-256
    over SHA-256, i.e. a signature over :func:`envelope_digest`)."""
    return bytes.fromhex(signer.sign(envelope).signature)


def spki_der(key: PublicKey) -> bytes:
    """A public key's DER SubjectPublicKeyInfo (how keys are compared)."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True, kw_only=True)
class DigestEntry:
    """A logged digest entry that records an envelope: its signature and its signer's key."""

    signature: bytes
    #: DER SPKI of the key the entry logs (a certificate's public key for a certificate)
    signer: bytes


def _envelope_signatures(envelope: bytes) -> frozenset[bytes]:
    from atlas_intoto.tlog.kinds.match import envelope_facts

    return envelope_facts(envelope).signatures


def classify(
    *, algorithm: str, digest: bytes, signature: bytes, key: PublicKey, envelope: bytes
) -> DigestEntry | None:
    """Which visibility a logged ``hashedrekord`` has for ``envelope``.

    1. a SHA-256 digest equal to :func:`envelope_digest` is a digest entry: its signature must
       verify over it with the logged key (LogDigestSignatureError); returns the DigestEntry;
    2. an entry signed with one of the envelope's own DSSE signatures is a full-visibility
       entry over the PAE: None (the backend matches it as before);
    3. anything else logs some other document: LogDigestMismatchError.
    """
    from atlas_intoto.tlog.kinds.material import verify_prehashed

    if algorithm == "sha256" and digest == envelope_digest(envelope):
        if not verify_prehashed(key, signature, digest, "sha256"):
            raise LogDigestSignatureError(
                "log entry: the digest entry's signature does not verify with the key it logs"
            )
        return DigestEntry(signature=signature, signer=spki_der(key))
    if signature in _envelope_signatures(envelope):
        return None
    raise LogDigestMismatchError(
        "log entry: the hashedrekord digest is not the SHA-256 of this link's envelope bytes "
        "(the entry logs another document)"
    )


def encode_signature(signature: bytes) -> str:
    """A signature as kept in a pending marker (standard base64)."""
    return base64.b64encode(signature).decode()


def decode_signature(value: str, *, source: str) -> bytes:
    """A signature kept in a pending marker (ValueError naming ``source``, e.g. the field)."""
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"{source} is not base64") from exc


class DigestLogPublisher(Protocol):
    """A backend publisher that can log a digest entry (Rekor v1 and v2 publishers)."""

    def publish_digest(
        self, envelope: bytes, signature: bytes, public_key_pem: bytes
    ) -> Mapping[str, Any]:
        """Log the digest entry of ``envelope`` signed with ``signature``; return the document."""
        ...


class DigestPublisher:
    """A :class:`~atlas_intoto.tlog.backend.LogPublisher` that logs an envelope by digest only,
    with a signature made when the link was recorded (so ``log publish`` needs no key)."""

    def __init__(self, inner: LogPublisher, signature: bytes) -> None:
        publish_digest = getattr(inner, "publish_digest", None)
        if not callable(publish_digest):
            name = getattr(inner, "backend_name", type(inner).__name__)
            raise UsageError(
                f"--log-visibility digest: log backend {name} cannot log digest entries"
            )
        self.inner = inner
        self.signature = signature
        self.backend_name = getattr(inner, "backend_name", "")
        self.tsa_url = getattr(inner, "tsa_url", None)

    def publish(self, envelope: bytes, public_key_pem: bytes) -> Mapping[str, Any]:
        inner: DigestLogPublisher = self.inner  # type: ignore[assignment]
        return inner.publish_digest(envelope, self.signature, public_key_pem)

    def request_size(self, envelope: bytes, public_key_pem: bytes) -> int:
        """A digest, a signature and a key: small whatever the envelope's size."""
        return 1024 + 2 * len(public_key_pem) + 2 * len(self.signature)

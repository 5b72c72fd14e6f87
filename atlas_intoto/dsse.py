"""DSSE (Dead Simple Signing Envelope) v1: the one implementation of PAE, parsing, signing and
verification that links, layouts and transparency-log entries share (pure: bytes and keys in).

Semantics, spelled out because every caller relies on them:

* **PAE** is ``"DSSEv1" SP len(type) SP type SP len(payload) SP payload`` (lengths in ASCII
  decimal); signatures are over the PAE, never over the payload alone.
* **Parsing** accepts a JSON object with ``payload`` (base64, standard or URL-safe alphabet, as
  the DSSE spec allows), ``payloadType`` (string) and ``signatures`` (a list of at most
  :data:`MAX_SIGNATURES` objects, each with a base64 ``sig`` and an optional string ``keyid``).
  Two signatures naming the same non-empty key id are malformed (in-toto's rule).
* **Which signatures count.** A signature naming a key id is tried only with the given key of
  that id (in-toto's rule); a signature without a key id is tried with every given key, unless
  the caller requires key ids (links do, as ``in-toto-verify`` does). A key counts once however
  many signatures it verifies, so a threshold is a number of *distinct keys*.
* The payload is never interpreted here: callers parse it only after :func:`verify`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atlas_intoto.errors import DsseFormatError, DsseSignatureError

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer

#: Upper bound on signatures per envelope: verification cost is keys × signatures.
MAX_SIGNATURES = 64

__all__ = [
    "MAX_SIGNATURES",
    "Envelope",
    "Signature",
    "b64decode",
    "pae",
    "parse",
    "sign",
    "verified_keyids",
    "verify",
    "verifying_signatures",
]


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``payload_type`` and ``payload``."""
    encoded = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(encoded), encoded, len(payload), payload)


def b64decode(value: Any, *, field: str) -> bytes:
    """Strict base64 in the standard or the URL-safe alphabet (padded), as DSSE allows."""
    if not isinstance(value, str):
        raise DsseFormatError(f"{field}: not a base64 string")
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError as exc:
        raise DsseFormatError(f"{field}: not valid base64") from exc
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(raw, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise DsseFormatError(f"{field}: not valid base64")


@dataclass(frozen=True, kw_only=True)
class Signature:
    """One DSSE signature: the raw signature bytes and the (unauthenticated) key id hint."""

    keyid: str
    sig: bytes

    def to_dict(self) -> dict[str, str]:
        return {"keyid": self.keyid, "sig": base64.b64encode(self.sig).decode("ascii")}


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """A parsed DSSE envelope. ``payload`` is not interpreted until it has been verified."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...] = ()

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    @property
    def keyids(self) -> tuple[str, ...]:
        """The key ids the signatures *claim* (hints, for error messages)."""
        return tuple(s.keyid for s in self.signatures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [s.to_dict() for s in self.signatures],
        }

    @classmethod
    def from_dict(cls, doc: Any, *, source: str = "envelope") -> Envelope:
        """:func:`parse` of an already decoded JSON document."""
        return _from_document(doc, source=source)


def _from_document(doc: Any, *, source: str) -> Envelope:
    if not isinstance(doc, Mapping):
        raise DsseFormatError(f"{source}: DSSE envelope must be a JSON object")
    for name in ("payload", "payloadType", "signatures"):
        if name not in doc:
            raise DsseFormatError(f"{source}: DSSE envelope lacks field {name!r}")
    payload_type = doc["payloadType"]
    if not isinstance(payload_type, str):
        raise DsseFormatError(f"{source}: payloadType must be a string")
    payload = b64decode(doc["payload"], field=f"{source}: payload")
    raw_signatures = doc["signatures"]
    if not isinstance(raw_signatures, list):
        raise DsseFormatError(f"{source}: signatures must be a list")
    if len(raw_signatures) > MAX_SIGNATURES:
        raise DsseFormatError(
            f"{source}: {len(raw_signatures)} signatures; at most {MAX_SIGNATURES} are accepted"
        )
    signatures: list[Signature] = []
    seen: set[str] = set()
    for index, item in enumerate(raw_signatures):
        where = f"{source}: signatures[{index}]"
        if not isinstance(item, Mapping):
            raise DsseFormatError(f"{where}: must be an object")
        keyid = item.get("keyid", "")
        if not isinstance(keyid, str):
            raise DsseFormatError(f"{where}.keyid: must be a string")
        if keyid and keyid in seen:
            raise DsseFormatError(f"{where}: a second signature for key id {keyid[:16]}")
        seen.add(keyid)
        signatures.append(Signature(keyid=keyid, sig=b64decode(item.get("sig"), field=where)))
    return Envelope(payload_type=payload_type, payload=payload, signatures=tuple(signatures))


def parse(data: bytes | str, *, source: str = "envelope") -> Envelope:
    """Parse envelope JSON (bytes or text). Raises :class:`DsseFormatError` naming ``source``."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise DsseFormatError(f"{source}: not a JSON DSSE envelope ({exc})") from exc
    return _from_document(doc, source=source)


def sign(payload_type: str, payload: bytes, signers: Sequence[Signer]) -> Envelope:
    """An envelope over ``payload`` with one signature per signer (in order)."""
    message = pae(payload_type, payload)
    signatures = []
    for signer in signers:
        made = signer.sign(message)
        signatures.append(Signature(keyid=made.keyid, sig=bytes.fromhex(made.signature)))
    return Envelope(payload_type=payload_type, payload=payload, signatures=tuple(signatures))


def _verifies(key: Key, signature: Signature, message: bytes) -> bool:
    from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
    from securesystemslib.signer import Signature as SslibSignature

    try:
        key.verify_signature(SslibSignature(keyid=key.keyid, sig=signature.sig.hex()), message)
    except (UnverifiedSignatureError, VerificationError, ValueError):
        return False
    return True


def verified_keyids(
    envelope: Envelope, keys: Sequence[Key], *, keyid_required: bool = False
) -> tuple[str, ...]:
    """Key ids of the distinct ``keys`` that verify at least one signature (sorted)."""
    message = envelope.pae()
    accepted: set[str] = set()
    for key in keys:
        if key.keyid in accepted:
            continue
        for signature in envelope.signatures:
            if signature.keyid != key.keyid and (signature.keyid or keyid_required):
                continue
            if _verifies(key, signature, message):
                accepted.add(key.keyid)
                break
    return tuple(sorted(accepted))


def verifying_signatures(envelope: Envelope, keys: Sequence[Key]) -> tuple[bytes, ...]:
    """The signatures of ``envelope`` that one of ``keys`` verifies (what a timestamp over "the
    link's signature" must cover: never an extra, unverified signature someone appended)."""
    message = envelope.pae()
    return tuple(
        s.sig
        for s in envelope.signatures
        if any((not s.keyid or s.keyid == key.keyid) and _verifies(key, s, message) for key in keys)
    )


def verify(
    envelope: Envelope,
    keys: Sequence[Key],
    *,
    threshold: int = 1,
    keyid_required: bool = False,
    source: str = "envelope",
) -> tuple[str, ...]:
    """Verify that at least ``threshold`` distinct ``keys`` signed; return their key ids.

    Raises :class:`DsseSignatureError` when fewer keys verify (callers re-raise it as the
    error of their own check, e.g. a link's or a layout's signature error).
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    accepted = verified_keyids(envelope, keys, keyid_required=keyid_required)
    if len(accepted) < threshold:
        raise DsseSignatureError(
            f"{source}: {len(accepted)} of the expected key(s) signed, {threshold} required"
        )
    return accepted

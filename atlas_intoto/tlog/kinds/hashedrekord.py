"""The ``hashedrekord`` 0.0.1 kind (sigstore/rekor ``pkg/types/hashedrekord/v0.0.1``), pure.

Rekor stores the artifact hash, the signature and the canonical PEM of the key/certificate.
Ed25519 keys cannot sign these entries here: Rekor uses Ed25519ph, which ``cryptography``
lacks.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from atlas_intoto import dsse
from atlas_intoto.errors import EntrySignatureError
from atlas_intoto.tlog.kinds import common, match
from atlas_intoto.tlog.kinds.material import load_verifier, verify_prehashed

__all__ = ["API_VERSION", "KIND", "canonicalize", "match_envelope"]

KIND = "hashedrekord"
API_VERSION = "0.0.1"
#: Hex length of each accepted digest algorithm.
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def canonicalize(spec: Mapping[str, Any], *, for_insert: bool = True) -> common.CanonicalEntry:
    """Verify the signature over the artifact digest and build the stored form.
    ``for_insert`` changes nothing: Rekor verifies hashedrekord entries for search too."""
    sig_obj = common.obj(spec.get("signature"), "spec.signature")
    signature = common.b64_std(
        common.string(sig_obj.get("content"), "spec.signature.content"), "spec.signature.content"
    )
    key_obj = common.obj(sig_obj.get("publicKey"), "spec.signature.publicKey")
    key_content = common.b64_std(
        common.string(key_obj.get("content"), "spec.signature.publicKey.content"),
        "spec.signature.publicKey.content",
    )
    verifier = load_verifier(key_content, field="spec.signature.publicKey.content")
    data = common.obj(spec.get("data"), "spec.data")
    digest = common.hash_obj(data.get("hash"), "spec.data.hash", _HASH_LENGTHS)
    algorithm, value = digest["algorithm"], digest["value"]
    if len(value) != _HASH_LENGTHS[algorithm]:
        raise common.fail("spec.data.hash.value: invalid value for hash")
    try:
        digest_bytes = bytes.fromhex(value)
    except ValueError as exc:
        raise common.fail("spec.data.hash.value: not hexadecimal") from exc
    if isinstance(verifier.key, ed25519.Ed25519PublicKey):
        raise EntrySignatureError(
            "spec.signature: Ed25519 keys need Ed25519ph for hashedrekord, which is not supported"
        )
    if not verify_prehashed(verifier.key, signature, digest_bytes, algorithm):
        raise EntrySignatureError("spec.signature: verifying signature: invalid signature")
    canonical_spec = {
        "data": {"hash": digest},
        "signature": {
            "content": base64.b64encode(signature).decode(),
            "publicKey": {"content": base64.b64encode(verifier.canonical_pem).decode()},
        },
    }
    keys = [common.hex_digest(key_content), *verifier.subjects, f"{algorithm}:{value}".lower()]
    return common.accepted_entry(KIND, API_VERSION, canonical_spec, keys)


def match_envelope(
    spec: Any, envelope: match.EnvelopeFacts, *, check_envelope_hash: bool = True
) -> None:
    """The stored spec signs ``envelope``: ``data.hash`` is the SHA-256 of the envelope's PAE
    and the signature is one of the envelope's. (No envelope hash is stored.)"""
    pae_hash = hashlib.sha256(dsse.pae(envelope.payload_type, envelope.payload)).hexdigest()
    if match.sha256_field(spec, "data", "hash") != pae_hash:
        raise match.mismatch("hashedrekord data.hash is not the SHA-256 of this envelope's PAE")
    sig = match.sig_bytes(match.field(spec, "signature", "content"), "hashedrekord signature")
    if sig not in envelope.signatures:
        raise match.mismatch("hashedrekord signature is not one of this envelope's signatures")

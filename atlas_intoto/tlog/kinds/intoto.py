"""The ``intoto`` 0.0.2 kind (sigstore/rekor ``pkg/types/intoto/v0.0.2``), pure.

Rekor stores the payloadType, the signatures as sent (double base64, as Rekor's model has it),
the client's envelope hash and the server-computed payload hash — never the payload. Unlike
Rekor, an undecodable in-toto statement only drops the statement's subject keys instead of all
index keys.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from atlas_intoto.tlog.kinds import common, match
from atlas_intoto.tlog.kinds.material import (
    RekorEnvelope,
    Verifier,
    key_index,
    load_verifier,
    verify_envelope,
)

__all__ = ["API_VERSION", "KIND", "canonicalize", "match_envelope"]

KIND = "intoto"
API_VERSION = "0.0.2"
_SHA256 = {"sha256": 64}


def canonicalize(spec: Mapping[str, Any], *, for_insert: bool) -> common.CanonicalEntry:
    """Verify a proposed ``intoto`` entry and build its stored form. Without ``for_insert``
    (search by entry) the payload may be absent if ``payloadHash`` is given."""
    content = common.obj(spec.get("content"), "spec.content")
    envelope = common.obj(content.get("envelope"), "spec.content.envelope")
    payload_type = common.string(envelope.get("payloadType"), "spec.content.envelope.payloadType")
    # The model's payload, sig and publicKey are strfmt.Base64: the JSON carries base64 of
    # the envelope's own base64 strings (and of the PEM key).
    payload_field = envelope.get("payload")
    payload_b64 = ""
    if payload_field is not None:
        payload_b64 = common.b64_std(
            common.string(payload_field, "spec.content.envelope.payload", required=False),
            "spec.content.envelope.payload",
        ).decode("ascii", "replace")
    stored_sigs: list[dict[str, str]] = []
    sig_pairs: list[tuple[str, str]] = []
    verifiers: list[Verifier] = []
    raw_sigs = common.non_empty_list(envelope.get("signatures"), "spec.content.envelope.signatures")
    for i, raw in enumerate(raw_sigs):
        where = f"spec.content.envelope.signatures[{i}]"
        sig = common.obj(raw, where)
        keyid = common.string(sig.get("keyid"), f"{where}.keyid", required=False)
        sig_text = common.b64_std(common.string(sig.get("sig"), f"{where}.sig"), f"{where}.sig")
        key_pem = common.b64_std(
            common.string(sig.get("publicKey"), f"{where}.publicKey"), f"{where}.publicKey"
        )
        verifiers.append(load_verifier(key_pem, field=f"{where}.publicKey"))
        stored: dict[str, str] = {}
        if keyid:
            stored["keyid"] = keyid
        stored["sig"] = base64.b64encode(sig_text).decode()
        stored["publicKey"] = base64.b64encode(key_pem).decode()
        stored_sigs.append(stored)
        sig_pairs.append((keyid, sig_text.decode("ascii", "replace")))
    env_hash_raw = content.get("hash")
    if env_hash_raw is None:
        raise common.fail("spec.content.hash: missing envelope digest")
    env_hash = common.hash_obj(env_hash_raw, "spec.content.hash", _SHA256)
    payload: bytes | None = None
    if payload_b64:
        env = RekorEnvelope(
            payload_b64=payload_b64, payload_type=payload_type, signatures=tuple(sig_pairs)
        )
        verify_envelope(verifiers, env, "spec.content.envelope")
        # Rekor decodes the verified payload with StdEncoding only (not DSSE's URL-safe too).
        try:
            payload = base64.b64decode(payload_b64.encode("ascii"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise common.fail(
                "spec.content.envelope.payload: could not decode envelope payload"
            ) from exc
        payload_hash = {"algorithm": "sha256", "value": common.hex_digest(payload)}
    elif for_insert:
        raise common.fail("spec.content.envelope.payload: missing envelope content")
    else:
        if content.get("payloadHash") is None:
            raise common.fail("spec.content.payloadHash: missing payload digest")
        payload_hash = common.hash_obj(
            content.get("payloadHash"), "spec.content.payloadHash", _SHA256
        )
    canonical_spec = {
        "content": {
            "envelope": {"payloadType": payload_type, "signatures": stored_sigs},
            "hash": env_hash,
            "payloadHash": payload_hash,
        }
    }
    keys: list[str] = []
    for verifier in verifiers:
        keys.extend(key_index(verifier))
    keys.append(f"{payload_hash['algorithm']}:{payload_hash['value']}".lower())
    if payload_type == common.INTOTO_PAYLOAD_TYPE and payload is not None:
        keys.extend(common.statement_keys(payload))
    return common.accepted_entry(KIND, API_VERSION, canonical_spec, keys)


def match_envelope(
    spec: Any, envelope: match.EnvelopeFacts, *, check_envelope_hash: bool = True
) -> None:
    """The stored spec records ``envelope``: ``content.hash`` (unless not checked),
    ``content.payloadHash``, the payload type and the signatures (stored base64-encoded once
    more) all agree."""
    if (
        check_envelope_hash
        and match.sha256_field(spec, "content", "hash") != envelope.envelope_hash
    ):
        raise match.mismatch("intoto content.hash is not the SHA-256 of this envelope")
    if match.sha256_field(spec, "content", "payloadHash") != envelope.payload_hash:
        raise match.mismatch("intoto payloadHash is not the SHA-256 of this envelope's payload")
    if match.field(spec, "content", "envelope", "payloadType") != envelope.payload_type:
        raise match.mismatch("intoto payloadType differs from this envelope's")
    sigs = match.field(spec, "content", "envelope", "signatures")
    if not isinstance(sigs, list):
        raise match.mismatch("intoto signatures is not a list")
    stored: set[bytes] = set()
    for s in sigs:
        once = match.sig_bytes(match.field(s, "sig"), "intoto sig")
        try:
            stored.add(base64.b64decode(once, validate=True))
        except (binascii.Error, ValueError):
            # Not Rekor's double encoding: this cannot be one of the envelope's signatures.
            stored.add(b"\x00not-a-signature\x00" + once)
    if stored != envelope.signatures:
        raise match.mismatch("intoto signatures differ from this envelope's signatures")

"""The ``dsse`` 0.0.1 kind (sigstore/rekor ``pkg/types/dsse/v0.0.1``), pure.

Rekor stores ``envelopeHash`` (SHA-256 of the envelope string as sent), ``payloadHash`` and the
signatures each with the canonical PEM of the key that verified it — never the envelope.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from atlas_intoto.errors import EntryFormatError
from atlas_intoto.tlog.kinds import common, match
from atlas_intoto.tlog.kinds.material import (
    check_counts,
    key_index,
    load_verifier,
    parse_envelope,
    verify_envelope,
)

__all__ = ["API_VERSION", "KIND", "canonicalize", "match_envelope"]

KIND = "dsse"
API_VERSION = "0.0.1"
_BOTH = "spec: either proposedContent or envelopeHash, payloadHash and signatures must be present"


def canonicalize(spec: Mapping[str, Any], *, for_insert: bool) -> common.CanonicalEntry:
    """Verify a proposed ``dsse`` entry (every key verifies, every signature is verified) and
    build its stored form. Without ``for_insert`` (search by entry) a spec already in stored
    form is re-serialised, verifying nothing, as Rekor's ``UnmarshalEntry`` allows."""
    proposed = spec.get("proposedContent")
    computed = [spec.get(k) for k in ("envelopeHash", "payloadHash", "signatures")]
    if proposed is None:
        if for_insert:
            raise common.fail("spec.proposedContent: required to add a dsse entry")
        if any(v is None for v in computed) or not spec.get("signatures"):
            raise common.fail(_BOTH)
        return _from_canonical(spec)
    if any(v is not None for v in computed):
        raise common.fail(f"{_BOTH} but not both")
    content = common.obj(proposed, "spec.proposedContent")
    envelope_text = common.string(content.get("envelope"), "spec.proposedContent.envelope")
    raw_verifiers = common.non_empty_list(
        content.get("verifiers"), "spec.proposedContent.verifiers"
    )
    # before parsing keys: each costs CPU an unauthenticated caller should not command
    check_counts(signatures=0, verifiers=len(raw_verifiers), field="spec.proposedContent")
    verifiers = [
        load_verifier(
            common.b64_std(
                common.string(v, f"spec.proposedContent.verifiers[{i}]"),
                f"spec.proposedContent.verifiers[{i}]",
            ),
            field=f"spec.proposedContent.verifiers[{i}]",
        )
        for i, v in enumerate(raw_verifiers)
    ]
    env = parse_envelope(envelope_text, "spec.proposedContent.envelope")
    by_sig = verify_envelope(verifiers, env, "spec.proposedContent.envelope")
    payload = common.b64_dsse(env.payload_b64, "spec.proposedContent.envelope.payload")
    signatures = [
        {"signature": sig, "verifier": base64.b64encode(by_sig[sig].canonical_pem).decode()}
        for sig in sorted(by_sig)
    ]
    envelope_hash = common.hex_digest(envelope_text.encode())
    payload_hash = common.hex_digest(payload)
    canonical_spec = {
        "envelopeHash": {"algorithm": "sha256", "value": envelope_hash},
        "payloadHash": {"algorithm": "sha256", "value": payload_hash},
        "signatures": signatures,
    }
    keys: list[str] = []
    for sig in sorted(by_sig):
        keys.extend(key_index(by_sig[sig]))
    keys.append("sha256:" + payload_hash)
    keys.append("sha256:" + envelope_hash)
    keys.extend(_payload_keys(env.payload_type, env.payload_b64))
    return common.accepted_entry(KIND, API_VERSION, canonical_spec, keys)


def _from_canonical(spec: Mapping[str, Any]) -> common.CanonicalEntry:
    sha = {"sha256": 64}
    envelope_hash = common.hash_obj(spec.get("envelopeHash"), "spec.envelopeHash", sha)
    payload_hash = common.hash_obj(spec.get("payloadHash"), "spec.payloadHash", sha)
    signatures: list[dict[str, str]] = []
    keys: list[str] = []
    for i, raw in enumerate(common.non_empty_list(spec.get("signatures"), "spec.signatures")):
        sig = common.obj(raw, f"spec.signatures[{i}]")
        text = common.string(sig.get("signature"), f"spec.signatures[{i}].signature")
        verifier_b64 = common.string(sig.get("verifier"), f"spec.signatures[{i}].verifier")
        verifier = load_verifier(
            common.b64_std(verifier_b64, f"spec.signatures[{i}].verifier"),
            field=f"spec.signatures[{i}].verifier",
        )
        signatures.append({"signature": text, "verifier": verifier_b64})
        keys.extend(key_index(verifier))
    signatures.sort(key=lambda s: s["signature"])
    keys.append(f"{payload_hash['algorithm']}:{payload_hash['value']}".lower())
    keys.append(f"{envelope_hash['algorithm']}:{envelope_hash['value']}".lower())
    canonical_spec = {
        "envelopeHash": envelope_hash,
        "payloadHash": payload_hash,
        "signatures": signatures,
    }
    return common.accepted_entry(KIND, API_VERSION, canonical_spec, keys)


def _payload_keys(payload_type: str, payload_b64: str) -> list[str]:
    if payload_type != common.INTOTO_PAYLOAD_TYPE or not payload_b64:
        return []
    try:
        payload = common.b64_dsse(payload_b64, "payload")
    except EntryFormatError:
        return []
    return common.statement_keys(payload)


def match_envelope(
    spec: Any, envelope: match.EnvelopeFacts, *, check_envelope_hash: bool = True
) -> None:
    """The stored spec records ``envelope``: ``envelopeHash`` (unless not checked),
    ``payloadHash`` and the set of signatures all agree."""
    if check_envelope_hash and match.sha256_field(spec, "envelopeHash") != envelope.envelope_hash:
        raise match.mismatch("dsse envelopeHash is not the SHA-256 of this envelope")
    if match.sha256_field(spec, "payloadHash") != envelope.payload_hash:
        raise match.mismatch("dsse payloadHash is not the SHA-256 of this envelope's payload")
    sigs = match.field(spec, "signatures")
    if not isinstance(sigs, list):
        raise match.mismatch("dsse signatures is not a list")
    stored = {match.sig_bytes(match.field(s, "signature"), "dsse signature") for s in sigs}
    if stored != envelope.signatures:
        raise match.mismatch("dsse signatures differ from this envelope's signatures")

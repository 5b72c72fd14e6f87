"""TransparencyLogEntry verification for logs keyed as the public rekor-tiles logs are: an
Ed25519 checkpoint key, the C2SP note key hash as ``logId`` and as the signature's key hint."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from helpers import link_envelope, pem

from atlas_intoto.errors import CheckpointError
from atlas_intoto.tlog import checkpoint as checkpoints
from atlas_intoto.tlog import merkle
from atlas_intoto.tlog.v2 import hashedrekord
from atlas_intoto.tlog.v2.entry import InclusionProof, TransparencyLogEntry, verify_entry

ORIGIN = "log2025-test.rekor.example"


def _c2sp_signed(cp: checkpoints.Checkpoint, key: ed25519.Ed25519PrivateKey) -> tuple[str, bytes]:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_hash = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()
    line = checkpoints.NoteSignature(
        name=ORIGIN, key_hint=key_hash[:4], signature=key.sign(cp.body)
    )
    return checkpoints.Checkpoint(
        origin=cp.origin, size=cp.size, root_hash=cp.root_hash, signatures=(line,)
    ).text, key_hash


def test_ed25519_log_with_c2sp_log_id(key: ec.EllipticCurvePrivateKey) -> None:
    log_key = ed25519.Ed25519PrivateKey.generate()
    envelope = link_envelope(key, "train")
    bodies = [b"other", hashedrekord.entry_for_envelope(envelope, pem(key)).canonical_body()]
    leaves = [merkle.leaf_hash(b) for b in bodies]
    root = merkle.root_from_leaves(bodies)
    note, log_id = _c2sp_signed(
        checkpoints.Checkpoint(origin=ORIGIN, size=2, root_hash=root), log_key
    )
    entry = TransparencyLogEntry(
        log_index=1,
        log_id=log_id,
        kind="hashedrekord",
        version="0.0.2",
        inclusion_proof=InclusionProof(
            log_index=1,
            root_hash=root,
            tree_size=2,
            hashes=tuple(merkle.inclusion_proof_from_leaves(leaves, 1)),
            checkpoint=note,
        ),
        canonicalized_body=bodies[1],
    ).to_dict()
    assert TransparencyLogEntry.from_dict(entry).to_dict() == entry
    public = pem(log_key)
    verified = verify_entry(entry, envelope=envelope, log_keys=[public])
    assert verified.checkpoint.origin == ORIGIN and verified.entry.log_index == 1
    wrong = {**entry, "logId": {"keyId": base64.b64encode(bytes(32)).decode()}}
    with pytest.raises(CheckpointError, match="logId"):
        verify_entry(wrong, envelope=envelope, log_keys=[public])

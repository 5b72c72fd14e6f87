"""The Rekor v2 ``TransparencyLogEntry`` (protobuf-specs ``dev.sigstore.rekor.v1``, protojson
shape, exactly as a Sigstore bundle's ``tlogEntries[]`` holds it) and its offline verification.

::

    {"logIndex": "7", "logId": {"keyId": b64}, "kindVersion": {"kind": "hashedrekord",
     "version": "0.0.2"}, "inclusionProof": {"logIndex": "7", "rootHash": b64, "treeSize": "9",
     "hashes": [b64...], "checkpoint": {"envelope": "<signed note>"}},
     "canonicalizedBody": b64}

Rekor v2 signs no time (no ``integratedTime``, no ``inclusionPromise``): trusted time comes
from RFC 3161 timestamps (:mod:`atlas_intoto.verify.rfc3161`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from atlas_intoto.errors import CheckpointError, EntryFormatError, LogEntryFormatError
from atlas_intoto.tlog import checkpoint as checkpoints
from atlas_intoto.tlog import merkle
from atlas_intoto.tlog.v2 import hashedrekord

if TYPE_CHECKING:
    from atlas_intoto.tlog.visibility import DigestEntry

__all__ = ["InclusionProof", "TransparencyLogEntry", "VerifiedV2Entry", "verify_entry"]


def _fail(message: str) -> LogEntryFormatError:
    return LogEntryFormatError(f"log entry: {message}")


def _field(doc: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in doc:
        raise _fail(f"{where}.{name} is missing")
    return doc[name]


def _int64(value: Any, field: str) -> int:
    # protojson writes int64 as a decimal string; accept a JSON number too, as parsers do.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(f"{field}: expected an integer")
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise _fail(f"{field}: expected a non-negative integer")
    return int(text)


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise _fail(f"{field}: expected base64")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise _fail(f"{field}: not valid base64") from exc


def _obj(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fail(f"{field}: expected a JSON object")
    return value


def _e(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True, kw_only=True)
class InclusionProof:
    """``InclusionProof``: the audit path to a root and the checkpoint signing that root."""

    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "logIndex": str(self.log_index),
            "rootHash": _e(self.root_hash),
            "treeSize": str(self.tree_size),
            "hashes": [_e(h) for h in self.hashes],
            "checkpoint": {"envelope": self.checkpoint},
        }

    @classmethod
    def from_dict(cls, doc: Any) -> InclusionProof:
        doc = _obj(doc, "inclusionProof")
        hashes = _field(doc, "hashes", "inclusionProof") if "hashes" in doc else []
        if not isinstance(hashes, list):
            raise _fail("inclusionProof.hashes: expected an array")
        cp = _obj(_field(doc, "checkpoint", "inclusionProof"), "inclusionProof.checkpoint")
        envelope = _field(cp, "envelope", "inclusionProof.checkpoint")
        if not isinstance(envelope, str):
            raise _fail("inclusionProof.checkpoint.envelope: expected a string")
        return cls(
            log_index=_int64(doc.get("logIndex", "0"), "inclusionProof.logIndex"),
            root_hash=_b64(_field(doc, "rootHash", "inclusionProof"), "inclusionProof.rootHash"),
            tree_size=_int64(_field(doc, "treeSize", "inclusionProof"), "inclusionProof.treeSize"),
            hashes=tuple(_b64(h, "inclusionProof.hashes[]") for h in hashes),
            checkpoint=envelope,
        )


@dataclass(frozen=True, kw_only=True)
class TransparencyLogEntry:
    """A Rekor v2 ``TransparencyLogEntry`` (no integrated time, no promise)."""

    log_index: int
    log_id: bytes
    kind: str
    version: str
    inclusion_proof: InclusionProof
    canonicalized_body: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "logIndex": str(self.log_index),
            "logId": {"keyId": _e(self.log_id)},
            "kindVersion": {"kind": self.kind, "version": self.version},
            "inclusionProof": self.inclusion_proof.to_dict(),
            "canonicalizedBody": _e(self.canonicalized_body),
        }

    @classmethod
    def from_dict(cls, doc: Any) -> TransparencyLogEntry:
        doc = _obj(doc, "entry")
        log_id = _obj(_field(doc, "logId", "entry"), "entry.logId")
        kv = _obj(_field(doc, "kindVersion", "entry"), "entry.kindVersion")
        if doc.get("integratedTime") not in (None, "0", 0) or "inclusionPromise" in doc:
            # A v2 entry carries no log-signed time; one that claims it is not from a v2 log.
            raise _fail("entry: a Rekor v2 entry has no integratedTime or inclusionPromise")
        return cls(
            log_index=_int64(doc.get("logIndex", "0"), "entry.logIndex"),
            log_id=_b64(_field(log_id, "keyId", "entry.logId"), "entry.logId.keyId"),
            kind=str(kv.get("kind", "")),
            version=str(kv.get("version", "")),
            inclusion_proof=InclusionProof.from_dict(_field(doc, "inclusionProof", "entry")),
            canonicalized_body=_b64(
                _field(doc, "canonicalizedBody", "entry"), "entry.canonicalizedBody"
            ),
        )


@dataclass(frozen=True, kw_only=True)
class VerifiedV2Entry:
    """What :func:`verify_entry` established."""

    entry: TransparencyLogEntry
    checkpoint: checkpoints.Checkpoint
    #: the hashedrekord the log recorded
    record: hashedrekord.HashedRekordEntry
    #: set when the entry logs the envelope by digest only (``--log-visibility digest``)
    digest_entry: DigestEntry | None = None


def _log_ids(key: checkpoints.LogKey, origin: str) -> set[bytes]:
    """The IDs a v2 log may give its key: SHA-256 of the SPKI (ECDSA; Rekor v1 too) or, for
    Ed25519 (as the public rekor-tiles logs use), the full C2SP signed-note key hash."""
    ids = {key.log_id}
    if isinstance(key.public_key, ed25519.Ed25519PublicKey):
        raw = key.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        ids.add(hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest())
    return ids


def verify_entry(
    doc: Any, *, envelope: bytes, log_keys: Sequence[bytes | checkpoints.LogKey]
) -> VerifiedV2Entry:
    """Verify a saved Rekor v2 entry offline (pure).

    1. the document is a v2 ``TransparencyLogEntry`` of kind hashedrekord 0.0.2
       (LogEntryFormatError);
    2. its canonical body records ``envelope``: digest = hash(PAE), signature one of the
       envelope's, verifying with the logged key (LogEntryMismatchError) — or, logged with
       ``--log-visibility digest``, digest = SHA-256 of the exact envelope bytes and a
       signature over them verifying with the logged key (LogDigestMismatchError,
       LogDigestSignatureError);
    3. the inclusion proof takes the body's leaf hash at ``logIndex`` to ``rootHash``
       (InclusionProofError);
    4. the checkpoint is signed by a pinned log key whose log ID is the entry's ``logId``,
       and commits to the proof's tree size and root (CheckpointError).
    """
    entry = TransparencyLogEntry.from_dict(doc)
    if (entry.kind, entry.version) != (hashedrekord.KIND, hashedrekord.API_VERSION):
        raise _fail(f"entry: kind {entry.kind} {entry.version} is not hashedrekord 0.0.2")
    try:
        record = hashedrekord.parse_entry_body(entry.canonicalized_body)
    except EntryFormatError as exc:
        raise LogEntryFormatError(f"log entry: {exc}") from exc
    digest_entry = _match(record, envelope)
    proof = entry.inclusion_proof
    if proof.log_index != entry.log_index:
        raise _fail("entry: inclusionProof.logIndex differs from logIndex")
    merkle.verify_inclusion(
        merkle.leaf_hash(entry.canonicalized_body),
        entry.log_index,
        proof.tree_size,
        proof.hashes,
        proof.root_hash,
    )
    pinned = [checkpoints.log_key(k) for k in log_keys]
    origin = checkpoints.parse(proof.checkpoint).origin
    signers = [k for k in pinned if entry.log_id in _log_ids(k, origin)]
    if not signers:
        raise CheckpointError("checkpoint: the entry's logId names no pinned log key")
    cp = checkpoints.verify(proof.checkpoint, signers)
    if cp.size != proof.tree_size or cp.root_hash != proof.root_hash:
        raise CheckpointError("checkpoint: size or root differs from the inclusion proof's")
    return VerifiedV2Entry(entry=entry, checkpoint=cp, record=record, digest_entry=digest_entry)


def _match(record: hashedrekord.HashedRekordEntry, envelope: bytes) -> DigestEntry | None:
    """Step 2: a digest entry (SHA-256 of the exact envelope bytes, signed over them:
    :func:`atlas_intoto.tlog.visibility.classify`), else an entry over the envelope's PAE."""
    from atlas_intoto.tlog.visibility import classify

    key = hashedrekord.verifier_key(record)
    algorithm = {"SHA2_256": "sha256"}.get(record.algorithm, record.algorithm)
    digest_entry = classify(
        algorithm=algorithm,
        digest=record.digest,
        signature=record.signature,
        key=key,
        envelope=envelope,
    )
    if digest_entry is None:
        hashedrekord.match_envelope(record, envelope)
    return digest_entry

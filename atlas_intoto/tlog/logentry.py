"""Offline verification of Rekor v1 LogEntries (pure: bytes and pinned keys in, result out).

A LogEntry is what Rekor answers for an entry, keyed by its UUID::

    {"<uuid>": {"body": "<base64 canonical entry>", "integratedTime": 1700000000,
                "logID": "<hex SHA-256 of the log key's DER SPKI>", "logIndex": 42,
                "verification": {"signedEntryTimestamp": "<base64 signature>",
                                 "inclusionProof": {"logIndex": 42, "rootHash": "<hex>",
                                                    "treeSize": 43, "hashes": ["<hex>", ...],
                                                    "checkpoint": "<signed note>"}}}}

``logIndex`` at the top is the log's global index (public Rekor: across shards); the inclusion
proof's ``logIndex`` is the leaf's index in the tree the proof is for.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785

from atlas_intoto.errors import (
    CheckpointError,
    InclusionProofError,
    LogEntryFormatError,
    LogEntryMismatchError,
    SetError,
)
from atlas_intoto.tlog import checkpoint as cpmod
from atlas_intoto.tlog import ids, kinds, merkle
from atlas_intoto.tlog.kinds.match import envelope_facts, field, mismatch

__all__ = [
    "LogEntry",
    "LogEntryFormatError",
    "VerifiedLogEntry",
    "check_body_matches_envelope",
    "from_sigstore_bundle_entry",
    "parse_log_entry",
    "verify_log_entry",
    "verify_proof",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_INT = (1 << 63) - 1


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """A parsed Rekor v1 LogEntry."""

    #: The key the log answered with (Rekor's ``entryUUID``): a UUID (64 hex, the leaf hash)
    #: or an entry ID (80 hex, tree id + UUID); see :mod:`atlas_intoto.tlog.ids`.
    uuid: str
    body: bytes
    body_b64: str  # exactly as served: the SET covers this string
    integrated_time: int | None
    log_id: bytes
    log_index: int
    signed_entry_timestamp: bytes | None
    proof_log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.body)


@dataclass(frozen=True, kw_only=True)
class VerifiedLogEntry:
    """What a verified LogEntry proves."""

    #: As :attr:`LogEntry.uuid`: the UUID or entry ID the entry was filed under.
    uuid: str
    log_index: int
    integrated_time: int
    tree_size: int
    root_hash: bytes
    checkpoint: cpmod.Checkpoint
    kind: str
    api_version: str


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _fail(msg: str) -> LogEntryFormatError:
    return LogEntryFormatError(f"log entry: {msg}")


def _int(value: Any, field: str, *, minimum: int = 0) -> int:
    # Rekor serves integers; protobuf JSON (bundles) serves 64-bit ints as strings.
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{field} is not an integer")
    if not minimum <= value <= _MAX_INT:
        raise _fail(f"{field} {value} out of range")
    return value


def _hex32(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _fail(f"{field} is not 64 lowercase hex digits")
    return bytes.fromhex(value)


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise _fail(f"{field} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail(f"{field} is not valid base64") from exc


def _obj(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(f"{field} is not an object")
    return value


def parse_log_entry(doc: Any) -> LogEntry:
    """Parse ``{uuid: LogEntry}`` (a Rekor response) or a bare LogEntry.

    Raises :class:`LogEntryFormatError` for anything that is not Rekor's shape.
    """
    doc = _obj(doc, "document")
    uuid: str | None = None
    if "body" not in doc:
        if len(doc) != 1:
            raise _fail("expected exactly one {uuid: entry} pair")
        ((uuid, doc),) = doc.items()
        if not isinstance(uuid, str) or ids.split_entry_id(uuid) is None:
            raise _fail("uuid is not 64 or 80 lowercase hex digits")
        doc = _obj(doc, "entry")
    body_b64 = doc.get("body")
    body = _b64(body_b64, "body")
    assert isinstance(body_b64, str)
    verification = _obj(doc.get("verification"), "verification")
    proof = _obj(verification.get("inclusionProof"), "verification.inclusionProof")
    raw_hashes = proof.get("hashes")
    if not isinstance(raw_hashes, list) or len(raw_hashes) > 64:
        raise _fail("verification.inclusionProof.hashes is not a list of at most 64 hashes")
    cp = proof.get("checkpoint")
    if not isinstance(cp, str):
        raise _fail("verification.inclusionProof.checkpoint is not a string")
    set_b64 = verification.get("signedEntryTimestamp")
    integrated = doc.get("integratedTime")
    if uuid is None:
        uuid = ids.entry_uuid(body)
    return LogEntry(
        uuid=uuid,
        body=body,
        body_b64=body_b64,
        integrated_time=None if integrated is None else _int(integrated, "integratedTime"),
        log_id=_hex32(doc.get("logID"), "logID"),
        log_index=_int(doc.get("logIndex"), "logIndex"),
        signed_entry_timestamp=None
        if set_b64 is None
        else _b64(set_b64, "verification.signedEntryTimestamp"),
        proof_log_index=_int(proof.get("logIndex"), "inclusionProof.logIndex"),
        root_hash=_hex32(proof.get("rootHash"), "inclusionProof.rootHash"),
        tree_size=_int(proof.get("treeSize"), "inclusionProof.treeSize", minimum=1),
        hashes=tuple(_hex32(h, f"inclusionProof.hashes[{i}]") for i, h in enumerate(raw_hashes)),
        checkpoint=cp,
    )


def from_sigstore_bundle_entry(tlog_entry: Any) -> dict[str, Any]:
    """Convert a Sigstore bundle's ``verificationMaterial.tlogEntries[]`` item (protobuf JSON)
    into Rekor's ``{uuid: LogEntry}`` shape.

    The UUID gets the tree id from a Rekor v1 checkpoint origin (``<name> - <treeID>``) when
    there is one. Rekor v2 entries have neither ``integratedTime`` nor a SET; those keys are
    then omitted (and :func:`verify_log_entry` will reject the entry at the SET step).
    """
    e = _obj(tlog_entry, "tlogEntries[]")
    proof = _obj(e.get("inclusionProof"), "tlogEntries[].inclusionProof")
    body_b64 = e.get("canonicalizedBody")
    body = _b64(body_b64, "canonicalizedBody")
    checkpoint = _obj(proof.get("checkpoint"), "inclusionProof.checkpoint").get("envelope")
    if not isinstance(checkpoint, str):
        raise _fail("inclusionProof.checkpoint.envelope is not a string")
    hashes = proof.get("hashes") or []
    if not isinstance(hashes, list):
        raise _fail("inclusionProof.hashes is not a list")
    entry: dict[str, Any] = {
        "body": body_b64,
        "logID": _b64(_obj(e.get("logId"), "logId").get("keyId"), "logId.keyId").hex(),
        "logIndex": _int(e.get("logIndex"), "logIndex"),
        "verification": {
            "inclusionProof": {
                "logIndex": _int(proof.get("logIndex"), "inclusionProof.logIndex"),
                "rootHash": _b64(proof.get("rootHash"), "inclusionProof.rootHash").hex(),
                "treeSize": _int(proof.get("treeSize"), "inclusionProof.treeSize"),
                "hashes": [_b64(h, "inclusionProof.hashes[]").hex() for h in hashes],
                "checkpoint": checkpoint,
            }
        },
    }
    integrated = e.get("integratedTime")
    if integrated not in (None, "0", 0):
        entry["integratedTime"] = _int(integrated, "integratedTime")
    promise = e.get("inclusionPromise")
    if isinstance(promise, Mapping) and "signedEntryTimestamp" in promise:
        entry["verification"]["signedEntryTimestamp"] = promise["signedEntryTimestamp"]
    key = ids.entry_uuid(body)
    origin = checkpoint.split("\n", 1)[0]
    m = re.fullmatch(r".+ - ([0-9]{1,19})", origin)
    if m and int(m.group(1)) < 1 << 63:
        key = ids.entry_id(int(m.group(1)), merkle.leaf_hash(body))
    return {key: entry}


# --------------------------------------------------------------------------------------------
# Step 1: the body describes this envelope
# --------------------------------------------------------------------------------------------


def check_body_matches_envelope(
    body: bytes, envelope: bytes, *, check_envelope_hash: bool = True
) -> tuple[str, str]:
    """Check that a Rekor entry body records exactly this DSSE envelope.

    * ``dsse`` 0.0.1: ``envelopeHash`` = SHA-256 of the envelope bytes as uploaded,
      ``payloadHash`` = SHA-256 of the payload, and the set of signatures equals the envelope's;
    * ``intoto`` 0.0.2: ``content.hash`` and ``content.payloadHash`` likewise, same payload type,
      same signatures (Rekor stores each ``sig`` base64-encoded once more);
    * ``hashedrekord`` 0.0.1: ``data.hash`` = SHA-256 of the envelope's PAE and the signature is
      one of the envelope's.

    Each rule is its kind's ``match_envelope`` in :mod:`atlas_intoto.tlog.kinds`.
    ``check_envelope_hash=False`` skips the envelope-bytes hash, for envelopes re-serialised
    from elsewhere (Sigstore bundles); payload hash and signatures still bind the entry.
    Returns ``(kind, apiVersion)``. Raises :class:`LogEntryMismatchError`.
    """
    facts = envelope_facts(envelope)
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise mismatch("body is not JSON") from exc
    kind, version = field(doc, "kind"), field(doc, "apiVersion")
    spec = field(doc, "spec")
    matcher = (
        kinds.BODY_MATCHERS.get((kind, version))
        if isinstance(kind, str) and isinstance(version, str)
        else None
    )
    if matcher is None:
        raise mismatch(f"unsupported entry kind {kind!r} version {version!r}")
    matcher(spec, facts, check_envelope_hash=check_envelope_hash)
    return str(kind), str(version)


# --------------------------------------------------------------------------------------------
# Steps 2-5
# --------------------------------------------------------------------------------------------


def verify_proof(
    entry: LogEntry, *, log_keys: Sequence[bytes | cpmod.PublicKey | cpmod.LogKey]
) -> cpmod.Checkpoint:
    """Steps 2-4 of :func:`verify_log_entry` (also usable for Rekor v2 entries, which have no
    SET). Returns the verified checkpoint."""
    # 2. the body's leaf hash is included under the proof's root
    leaf = entry.leaf_hash
    named = ids.split_entry_id(entry.uuid)
    if named is None or named[1] != leaf:
        raise LogEntryMismatchError(
            f"log entry: uuid {entry.uuid} does not name this body (leaf hash {leaf.hex()})"
        )
    merkle.verify_inclusion(
        leaf, entry.proof_log_index, entry.tree_size, entry.hashes, entry.root_hash
    )
    # 3. + 4. the checkpoint commits to that root and is signed by a pinned log key
    try:
        cp = cpmod.parse(entry.checkpoint)
    except CheckpointError as exc:
        raise CheckpointError(f"log entry {exc}") from exc
    if cp.size != entry.tree_size or cp.root_hash != entry.root_hash:
        raise CheckpointError(
            f"log entry checkpoint: size {cp.size} / root {cp.root_hash.hex()[:16]}… is not the "
            f"inclusion proof's size {entry.tree_size} / root {entry.root_hash.hex()[:16]}…"
        )
    return cpmod.verify(entry.checkpoint, log_keys)


def _set_payload(entry: LogEntry) -> bytes:
    return rfc8785.dumps(
        {
            "body": entry.body_b64,
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.hex(),
            "logIndex": entry.log_index,
        }
    )


def verify_log_entry(
    entry_doc: Any,
    *,
    log_keys: Sequence[bytes | cpmod.PublicKey | cpmod.LogKey],
    envelope: bytes | None = None,
) -> VerifiedLogEntry:
    """Verify a Rekor v1 LogEntry offline against pinned log keys (SPKI PEM/DER).

    0. the document has Rekor's LogEntry shape (:class:`LogEntryFormatError`);
    1. with ``envelope``: the body records exactly that DSSE envelope
       (:func:`check_body_matches_envelope`, :class:`LogEntryMismatchError`);
    2. the leaf hash ``SHA-256(0x00 ‖ body)`` is named by the uuid and the inclusion proof
       reaches ``rootHash`` (:class:`InclusionProofError`);
    3. the checkpoint's size and root equal the proof's (:class:`CheckpointError`);
    4. the checkpoint is signed by a pinned log key (:class:`CheckpointError`);
    5. the SET verifies: the key whose log ID is ``logID`` is pinned and signed the RFC 8785
       JSON of ``{body, integratedTime, logID, logIndex}`` (:class:`SetError`).
    """
    entry = parse_log_entry(entry_doc)
    pinned = [cpmod.log_key(k) for k in log_keys]
    if not pinned:
        raise CheckpointError("log entry: no pinned log keys")
    kind = version = ""
    if envelope is not None:
        kind, version = check_body_matches_envelope(entry.body, envelope)
    else:
        try:
            head = json.loads(entry.body)
            kind, version = str(head.get("kind", "")), str(head.get("apiVersion", ""))
        except (ValueError, RecursionError, AttributeError):
            raise _fail("body is not a JSON object") from None
    try:
        cp = verify_proof(entry, log_keys=pinned)
    except InclusionProofError as exc:
        raise InclusionProofError(f"log entry {exc}") from exc
    # 5. signed entry timestamp
    if entry.signed_entry_timestamp is None or entry.integrated_time is None:
        raise SetError("log entry: no signed entry timestamp (integratedTime/SET missing)")
    key = next((k for k in pinned if k.log_id == entry.log_id), None)
    if key is None:
        raise SetError(f"log entry: logID {entry.log_id.hex()} is not a pinned log key")
    if not key.verify(entry.signed_entry_timestamp, _set_payload(entry)):
        raise SetError("log entry: signed entry timestamp does not verify")
    return VerifiedLogEntry(
        uuid=entry.uuid,
        log_index=entry.log_index,
        integrated_time=entry.integrated_time,
        tree_size=entry.tree_size,
        root_hash=entry.root_hash,
        checkpoint=cp,
        kind=kind,
        api_version=version,
    )

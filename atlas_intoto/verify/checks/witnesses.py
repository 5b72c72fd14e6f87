"""Part of check 6: the witness cosignatures a layout requires on a log's checkpoints
(C2SP tlog-cosignature, k of n per log)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atlas_intoto.errors import CheckpointError, WitnessCosignatureError
from atlas_intoto.layout import Layout
from atlas_intoto.tlog import checkpoint as checkpoints
from atlas_intoto.tlog.cosignature import require_cosignatures, witness_key

__all__ = ["check_witnesses", "checkpoint_text"]


def checkpoint_text(document: Mapping[str, Any]) -> str | None:
    """The checkpoint note a saved entry's inclusion proof reaches (Rekor v1 or v2 shape)."""
    if document.get("backend") == "rekor-v2":
        entry = document.get("entry")
        proof = entry.get("inclusionProof") if isinstance(entry, Mapping) else None
        cp = proof.get("checkpoint") if isinstance(proof, Mapping) else None
        text = cp.get("envelope") if isinstance(cp, Mapping) else None
        return text if isinstance(text, str) else None
    for value in document.values():
        verification = value.get("verification") if isinstance(value, Mapping) else None
        proof = verification.get("inclusionProof") if isinstance(verification, Mapping) else None
        text = proof.get("checkpoint") if isinstance(proof, Mapping) else None
        return text if isinstance(text, str) else None
    return None


def check_witnesses(layout: Layout, document: Mapping[str, Any]) -> None:
    """The entry's checkpoint (already verified by its backend) carries the cosignatures
    required by the pinned log that signed it.

    1. logs with no witness policy require nothing;
    2. for each log with a policy whose key signed the checkpoint, at least ``threshold``
       distinct pinned witnesses cosigned it, and every line naming a pinned witness
       verifies (WitnessCosignatureError).
    """
    policies = [log for log in layout.logs if log.witness_threshold > 0]
    if not policies:
        return
    text = checkpoint_text(document)
    if text is None:
        raise WitnessCosignatureError("checkpoint: none in the log entry to check cosignatures on")
    for log in policies:
        try:
            cp = checkpoints.verify(text, [log.pem.encode()])
        except CheckpointError:
            continue  # signed by another pinned log
        witnesses = [witness_key(name, pem) for name, pem in log.witnesses]
        require_cosignatures(cp, witnesses, log.witness_threshold)

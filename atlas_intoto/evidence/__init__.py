"""Attestation evidence bound to a step (the evidence-kind seam).

* :mod:`.model` — the typed entries a link carries (``environment["atlas-intoto"].evidence``);
* :mod:`.kind` — the interface a kind implements (record / verify);
* :mod:`.registry` — kinds by name (TDX built in: :mod:`atlas_intoto.tee.kind`).
"""

from __future__ import annotations

from atlas_intoto.evidence.kind import (
    Blob,
    EvidenceKind,
    EvidenceResult,
    RecordedEvidence,
    RecordRequest,
    VerifyContext,
)
from atlas_intoto.evidence.model import (
    EVIDENCE_VERSION,
    BlobRef,
    EvidenceEntry,
    evidence_entries,
)

__all__ = [
    "EVIDENCE_VERSION",
    "Blob",
    "BlobRef",
    "EvidenceEntry",
    "EvidenceKind",
    "EvidenceResult",
    "RecordRequest",
    "RecordedEvidence",
    "VerifyContext",
    "evidence_entries",
]

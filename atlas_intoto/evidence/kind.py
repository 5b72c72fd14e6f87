"""The evidence-kind seam: what a kind of attestation evidence (a TEE quote, later a GPU
attestation) must provide to be recorded with a step and verified with the bundle.

A kind records at the edge (it may call hardware, files or the network) and verifies purely:
bytes, the layout's policy and a trusted time in, a typed :class:`EvidenceResult` out, or one of
the kind's own :class:`~atlas_intoto.errors.EvidenceError` subclasses.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from atlas_intoto.errors import (
    EvidenceBlobMismatchError,
    EvidenceError,
    MissingTeeEvidenceError,
)
from atlas_intoto.evidence.model import EvidenceEntry


@dataclass(frozen=True, kw_only=True)
class RecordRequest:
    """What a kind needs to produce evidence for one step."""

    step: str
    #: the step binding digest B (:mod:`atlas_intoto.binding`) the evidence must commit to
    binding: bytes
    keyid: str
    #: kind-specific options (e.g. ``{"platform": "simulated"}`` for tdx)
    options: Mapping[str, str] = field(default_factory=dict)
    #: the state directory (simulated platforms, caches)
    home: Path = Path(".")


@dataclass(frozen=True, kw_only=True)
class Blob:
    """A file the evidence needs beside the link (e.g. TDX collateral)."""

    data: bytes = field(repr=False)
    #: file name suffix, e.g. ``.json``
    suffix: str = ".bin"


@dataclass(frozen=True, kw_only=True)
class RecordedEvidence:
    """A kind's evidence for one step, before the recorder files it."""

    #: the entry's fields (without ``kind`` and ``blobs``: the recorder adds those)
    fields: Mapping[str, Any]
    blobs: Mapping[str, Blob] = field(default_factory=dict)
    #: hex SHA-256 that C2PA step assertions carry as ``quote_digest`` (None: none)
    manifest_digest: str | None = None


@dataclass(frozen=True, kw_only=True)
class VerifyContext:
    """Everything a kind may use to verify one entry (all from the signed link, the bundle and
    the signed layout)."""

    step: str
    entry: EvidenceEntry
    #: the bundle's blobs of this kind for this link, by name (not yet checked against the link)
    blobs: Mapping[str, bytes]
    #: B recomputed from the signed link, never the link's own claim
    binding: bytes
    #: the step's policy for this kind (``steps[].evidence.KIND``; ``steps[].tee`` for tdx)
    step_policy: Mapping[str, Any] | None
    #: the layout's trust block for this kind (``trust.evidence.KIND``; ``trust.tee`` for tdx)
    trust: Mapping[str, Any] | None
    #: trusted unix time at which to judge the evidence (certificates, collateral)
    at: int

    def blob(
        self, name: str, *, mismatch: type[EvidenceError] = EvidenceBlobMismatchError
    ) -> bytes:
        """The blob ``name``, checked against the digest the signed link commits to."""
        ref = self.entry.blobs.get(name)
        if ref is None:
            raise MissingTeeEvidenceError(
                f"step {self.step}: the {self.entry.kind} evidence records no {name} digest"
            )
        data = self.blobs.get(name)
        if data is None:
            raise MissingTeeEvidenceError(
                f"step {self.step}: {self.entry.kind} {name} missing from the bundle"
            )
        actual = hashlib.sha256(data).hexdigest()
        if not hmac.compare_digest(actual, ref.sha256):
            raise mismatch(
                f"step {self.step}: {self.entry.kind} {name} has SHA-256 {actual}, "
                f"the link records {ref.sha256}"
            )
        return data


@dataclass(frozen=True, kw_only=True)
class EvidenceResult:
    """What verifying one entry established (JSON-able, so results can be cached)."""

    kind: str
    #: one line for the report row, e.g. "simulated-tdx quote verified (TCB UpToDate, ...)"
    description: str
    #: facts for the lineage/report (e.g. mrtd, tcb_status); JSON values only
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "description": self.description, "facts": dict(self.facts)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> EvidenceResult:
        return cls(kind=str(doc["kind"]), description=str(doc["description"]), facts=doc["facts"])


class EvidenceKind(ABC):
    """A kind of attestation evidence. Register an instance with
    :func:`atlas_intoto.evidence.registry.register`."""

    #: the kind's name: the ``kind`` of its entries and the key of its layout policy
    name: ClassVar[str]
    #: the subdirectory of the evidence directory its blobs are kept in
    blob_dir: ClassVar[str]
    #: bump when :meth:`verify` changes what it accepts: cached results of older versions are
    #: then not reused
    version: ClassVar[int] = 1

    @abstractmethod
    def record(self, request: RecordRequest) -> RecordedEvidence:
        """Produce evidence bound to ``request.binding`` (may do I/O; raise OperationalError
        subclasses when the platform cannot)."""

    @abstractmethod
    def verify(self, context: VerifyContext) -> EvidenceResult:
        """Verify one entry (pure). Raise the kind's EvidenceError subclasses on failure."""

    def check_available(self, request: RecordRequest) -> None:  # noqa: B027 (optional hook)
        """Fail before a step's command runs when this kind cannot record here (ImportError
        for a missing integration, UsageError for bad options)."""

    def required(self, step_policy: Mapping[str, Any] | None) -> bool:
        """Whether the step must carry this kind: stating a policy implies it unless the
        policy says ``required: false``."""
        return step_policy is not None and bool(step_policy.get("required", True))

    def cache_inputs(self, context: VerifyContext) -> Mapping[str, Any] | None:
        """Extra inputs that make a cached result of :meth:`verify` reusable (beyond the entry,
        blobs, binding, policy, trust and time, which are always part of the key); None: the
        result must never be cached."""
        return {}

    def manifest_digest(self, entry: EvidenceEntry) -> str | None:
        """The hex digest C2PA step assertions of this step carry for this evidence (None)."""
        return None

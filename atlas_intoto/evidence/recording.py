"""The recording side of the evidence seam: ask every requested kind for evidence bound to a
step and file its blobs beside the link (``<out_dir>/<blob_dir>/<stem>.<name><suffix>``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_intoto.evidence.kind import EvidenceKind, RecordRequest
from atlas_intoto.evidence.model import EVIDENCE_VERSION, BlobRef, EvidenceEntry


@dataclass(frozen=True, kw_only=True)
class StepEvidence:
    """A step's evidence, ready to be signed into its link and written beside it."""

    #: the ``environment["atlas-intoto"]`` block (version, binding, evidence entries)
    environment: dict[str, Any]
    entries: tuple[EvidenceEntry, ...]
    #: blob files to write (path, bytes)
    writes: tuple[tuple[Path, bytes], ...]
    blob_paths: Mapping[str, Mapping[str, Path]]
    #: what the step's C2PA assertions carry as ``quote_digest`` (the first kind's that has one)
    manifest_digest: str | None


def record_evidence(
    kinds: Sequence[tuple[EvidenceKind, Mapping[str, str]]],
    *,
    step: str,
    binding: bytes,
    keyid: str,
    out_dir: Path,
    stem: str,
    home: Path,
) -> StepEvidence:
    """Evidence of every kind in ``kinds`` (in order), bound to ``binding``."""
    environment: dict[str, Any] = {"version": EVIDENCE_VERSION, "binding": binding.hex()}
    entries: list[EvidenceEntry] = []
    writes: list[tuple[Path, bytes]] = []
    blob_paths: dict[str, dict[str, Path]] = {}
    manifest_digest: str | None = None
    for kind, kind_options in kinds:
        request = RecordRequest(
            step=step, binding=binding, keyid=keyid, options=kind_options, home=home
        )
        recorded = kind.record(request)
        refs: dict[str, BlobRef] = {}
        for name, blob in sorted(recorded.blobs.items()):
            rel = f"{kind.blob_dir}/{stem}.{name}{blob.suffix}"
            refs[name] = BlobRef(path=rel, sha256=hashlib.sha256(blob.data).hexdigest())
            writes.append((out_dir / rel, blob.data))
            blob_paths.setdefault(kind.name, {})[name] = out_dir / rel
        entries.append(EvidenceEntry(kind=kind.name, fields=dict(recorded.fields), blobs=refs))
        manifest_digest = manifest_digest or recorded.manifest_digest
    if entries:
        environment["evidence"] = [entry.to_dict() for entry in entries]
    return StepEvidence(
        environment=environment,
        entries=tuple(entries),
        writes=tuple(writes),
        blob_paths=blob_paths,
        manifest_digest=manifest_digest,
    )

"""The evidence a link carries in ``environment["atlas-intoto"]``, read into typed entries (pure).

Format (version 2)::

    "atlas-intoto": {
      "version": 2,
      "binding": "<hex of B>",
      "evidence": [{"kind": "tdx", ...the kind's fields...,
                    "blobs": {"collateral": {"path": "tee/NAME.KEYID8.collateral.json",
                                             "sha256": "<hex>"}}}],
      "c2pa": {"<product>": {"sidecar": "c2pa/<product>.c2pa", "sha256": "<hex>"}}
    }

One entry per kind. Blobs are files kept beside the link (and in the bundle under the entry's
kind); the link commits to each by SHA-256. Version 1 links carry a single TDX entry as ``tee``
(its collateral reference under ``collateral``): it is read as a ``tdx`` entry, so old links and
bundles still verify.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atlas_intoto.errors import TeeEvidenceFormatError

#: ``environment["atlas-intoto"]["version"]`` written by this release.
EVIDENCE_VERSION = 2
#: The kind a version 1 ``tee`` entry is read as.
LEGACY_TEE_KIND = "tdx"
KIND_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True, kw_only=True)
class BlobRef:
    """Where a blob was kept (relative to the evidence directory) and its committed digest."""

    path: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, doc: Any, *, where: str) -> BlobRef:
        if not isinstance(doc, Mapping):
            raise TeeEvidenceFormatError(f"{where}: must be an object with path and sha256")
        path, sha256 = doc.get("path", ""), doc.get("sha256")
        if not isinstance(path, str) or not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            raise TeeEvidenceFormatError(f"{where}: needs a path and a 64-hex sha256")
        return cls(path=path, sha256=sha256.lower())


@dataclass(frozen=True, kw_only=True)
class EvidenceEntry:
    """One piece of attestation evidence of one kind (e.g. a TDX quote), as the link signs it."""

    kind: str
    #: the kind's own fields (everything but ``kind`` and ``blobs``)
    fields: Mapping[str, Any] = field(default_factory=dict)
    blobs: Mapping[str, BlobRef] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {**self.fields, "kind": self.kind}
        if self.blobs:
            doc["blobs"] = {name: ref.to_dict() for name, ref in sorted(self.blobs.items())}
        return doc

    @classmethod
    def from_dict(cls, doc: Any, *, where: str = "evidence[]") -> EvidenceEntry:
        if not isinstance(doc, Mapping):
            raise TeeEvidenceFormatError(f"{where}: must be an object")
        kind = doc.get("kind")
        if not isinstance(kind, str) or not KIND_NAME.fullmatch(kind):
            raise TeeEvidenceFormatError(f"{where}.kind: {kind!r} is not an evidence kind name")
        raw_blobs = doc.get("blobs", {})
        if not isinstance(raw_blobs, Mapping):
            raise TeeEvidenceFormatError(f"{where}.blobs: must be an object")
        blobs = {
            str(name): BlobRef.from_dict(ref, where=f"{where}.blobs.{name}")
            for name, ref in raw_blobs.items()
        }
        fields = {k: v for k, v in doc.items() if k not in ("kind", "blobs")}
        return cls(kind=kind, fields=fields, blobs=blobs)

    @classmethod
    def from_legacy_tee(cls, tee: Any) -> EvidenceEntry:
        """A version 1 ``tee`` entry as a ``tdx`` entry (``collateral`` becomes a blob)."""
        if not isinstance(tee, Mapping):
            raise TeeEvidenceFormatError("tee: evidence entry is not an object")
        fields = {k: v for k, v in tee.items() if k not in ("collateral", "kind", "blobs")}
        blobs: dict[str, BlobRef] = {}
        collateral = tee.get("collateral")
        # A missing or digest-less reference is left for the kind to reject with its own error.
        if isinstance(collateral, Mapping) and isinstance(collateral.get("sha256"), str):
            blobs["collateral"] = BlobRef(
                path=str(collateral.get("path", "")), sha256=collateral["sha256"].lower()
            )
        return cls(kind=LEGACY_TEE_KIND, fields=fields, blobs=blobs)


def evidence_entries(atlas: Mapping[str, Any]) -> tuple[EvidenceEntry, ...]:
    """The evidence entries of an ``atlas-intoto`` block, version 1 or 2.

    Raises :class:`TeeEvidenceFormatError` for a malformed list or entry, two entries of one
    kind (blobs are filed by kind, so a second entry could not be told apart), or a version this
    reader does not know (its evidence could be anywhere: failing is the only safe answer).
    """
    version = atlas.get("version", 1)
    if isinstance(version, bool) or version not in (1, 2):
        raise TeeEvidenceFormatError(
            f"version: evidence version {version!r} is not 1 or 2 (written by a newer atlas-intoto?)"
        )
    entries: list[EvidenceEntry] = []
    if "tee" in atlas:
        entries.append(EvidenceEntry.from_legacy_tee(atlas["tee"]))
    if "evidence" in atlas:
        raw = atlas["evidence"]
        if not isinstance(raw, list):
            raise TeeEvidenceFormatError("evidence: must be a list of entries")
        entries.extend(
            EvidenceEntry.from_dict(item, where=f"evidence[{i}]") for i, item in enumerate(raw)
        )
    kinds = [entry.kind for entry in entries]
    for kind in kinds:
        if kinds.count(kind) > 1:
            raise TeeEvidenceFormatError(f"evidence: more than one entry of kind {kind!r}")
    return tuple(entries)

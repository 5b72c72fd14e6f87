"""SPDX 3.0.1 JSON-LD of a verified bundle, with the AI and Dataset profiles (pure).

``atlas-intoto export spdx BUNDLE`` verifies the bundle, then writes one ``SpdxDocument`` whose
root is the final model:

- models are ``ai_AIPackage`` (``software_primaryPurpose`` model, the evaluation's metrics as
  ``ai_metric``), datasets ``dataset_DatasetPackage`` (type from the file name), code and other
  files ``software_File`` — each with its SHA-256 (``verifiedUsing``);
- ``trainedOn`` and ``testedOn`` relationships from each model to its datasets;
- each step a ``build_Build`` (Build profile: the layout digest as build type, the step as build
  id, the log time as end time, the TEE measurement and signers as ``build_environment``) with
  ``hasInput``/``hasOutput`` relationships, and an external reference to the step's signed link
  (the SHA-256 of its DSSE envelope) — the attestation that proves it.

The document is built with spdx-python-model, the SPDX project's bindings generated from the
SPDX 3 SHACL model: property types, vocabularies and cardinalities are checked when the objects
are made and serialized.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from atlas_intoto.bom.lineage import Artifact, Key, MlLineage, step_facts

if TYPE_CHECKING:
    from atlas_intoto.bundle import Bundle
    from atlas_intoto.verify.report import StepLineage

#: in-toto predicate type of an SPDX document (in-toto attestation predicate spec: the SPDX
#: version follows ``Document/v``).
SPDX_PREDICATE = "https://spdx.dev/Document/v3.0.1"
#: Spec version written.
SPEC_VERSION = "3.0.1"
#: build_buildType of a step (the step is an atlas-intoto attested step).
BUILD_TYPE = "https://github.com/atlas-intoto/atlas-intoto/spdx/step/v1"

_DATASET_TYPES = {
    "structured": {".csv", ".tsv", ".parquet", ".arrow", ".avro"},
    "text": {".jsonl", ".ndjson", ".txt"},
    "image": {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"},
    "audio": {".wav", ".flac", ".mp3"},
    "numeric": {".npy", ".npz", ".ubyte", ".idx", ".pt", ".bin"},
}

__all__ = ["BUILD_TYPE", "SPDX_PREDICATE", "SPEC_VERSION", "dataset_type", "spdx_document"]


def dataset_type(path: str) -> str:
    """The SPDX ``dataset_DatasetType`` of a dataset file, from its extension."""
    suffix = PurePosixPath(path).suffix.lower()
    return next((kind for kind, suffixes in _DATASET_TYPES.items() if suffix in suffixes), "other")


class _Builder:
    """Makes the elements of one document (ids under one namespace, one CreationInfo)."""

    def __init__(self, lineage: MlLineage, *, namespace: str, version: str) -> None:
        from spdx_python_model import v3_0_1 as spdx

        self.spdx = spdx
        self.lineage = lineage
        self.namespace = namespace
        self.objects: list[Any] = []
        self._count = 0
        when = datetime.fromtimestamp(lineage.verified_at, tz=UTC)
        self.creation = spdx.CreationInfo(specVersion=SPEC_VERSION, created=when)
        self.tool = self.element(spdx.Tool, "tool", name=f"atlas-intoto {version}")
        self.agent = self.element(spdx.SoftwareAgent, "verifier", name="atlas-intoto verifier")
        self.creation.createdBy = [self.agent]
        self.creation.createdUsing = [self.tool]

    def element(self, cls: Any, label: str, **fields: Any) -> Any:
        self._count += 1
        obj = cls(
            spdxId=f"{self.namespace}#{label}-{self._count}",
            creationInfo=self.creation,
            **fields,
        )
        self.objects.append(obj)
        return obj

    def sha256(self, digest: str) -> Any:
        return self.spdx.Hash(algorithm=self.spdx.HashAlgorithm.sha256, hashValue=digest)

    def relationship(self, source: Any, kind: str, targets: list[Any]) -> Any:
        return self.element(
            self.spdx.Relationship,
            "relationship",
            from_=source,
            relationshipType=getattr(self.spdx.RelationshipType, kind),
            to=targets,
            completeness=self.spdx.RelationshipCompleteness.complete,
        )


def _artifact(b: _Builder, artifact: Artifact) -> Any:
    spdx = b.spdx
    purpose = spdx.software_SoftwarePurpose
    common: dict[str, Any] = {
        "name": artifact.path,
        "verifiedUsing": [b.sha256(artifact.sha256)],
    }
    step = next((s for s in b.lineage.steps if s.step == artifact.producer), None)
    if step is not None and step.integrated_time is not None:
        common["builtTime"] = datetime.fromtimestamp(step.integrated_time, tz=UTC)
    if artifact.role == "model":
        metrics = b.lineage.metrics.get(artifact.key, {})
        return b.element(
            spdx.ai_AIPackage,
            "model",
            software_primaryPurpose=purpose.model,
            ai_metric=[
                spdx.DictionaryEntry(key=name, value=str(value))
                for name, value in sorted(metrics.items())
            ],
            **common,
        )
    if artifact.role == "dataset":
        kind = getattr(spdx.dataset_DatasetType, dataset_type(artifact.path))
        return b.element(
            spdx.dataset_DatasetPackage,
            "dataset",
            software_primaryPurpose=purpose.data,
            dataset_datasetType=[kind],
            **common,
        )
    common.pop("builtTime", None)
    file_purpose = purpose.source if artifact.role == "code" else purpose.other
    return b.element(spdx.software_File, "file", software_primaryPurpose=file_purpose, **common)


def _environment(b: _Builder, step: StepLineage) -> list[Any]:
    pairs = step_facts(step)
    return [
        b.spdx.DictionaryEntry(key=f"atlas-intoto:{k}", value=str(v))
        for k, v in pairs
        if v not in (None, "")
    ]


def _build(b: _Builder, step: StepLineage, envelopes: list[str], source: str) -> Any:
    spdx = b.spdx
    fields: dict[str, Any] = {
        "name": step.step,
        "build_buildType": BUILD_TYPE,
        "build_buildId": step.step,
        "build_environment": _environment(b, step),
        "externalRef": [
            spdx.ExternalRef(
                externalRefType=spdx.ExternalRefType.secureSoftwareAttestation,
                locator=[f"{source}#step={step.step}"],
                comment=f"in-toto link (DSSE envelope sha256:{digest})",
            )
            for digest in envelopes
        ],
    }
    if step.integrated_time is not None:
        fields["build_buildEndTime"] = datetime.fromtimestamp(step.integrated_time, tz=UTC)
    if step.command:
        fields["build_parameter"] = [
            spdx.DictionaryEntry(key="command", value=" ".join(step.command))
        ]
    return b.element(spdx.build_Build, "step", **fields)


def _relationships(b: _Builder, elements: dict[Key, Any], builds: dict[str, Any]) -> None:
    lineage = b.lineage
    for key, datasets in lineage.trained_on.items():
        b.relationship(elements[key], "trainedOn", [elements[d] for d in datasets])
    for key, datasets in lineage.tested_on.items():
        if datasets:
            b.relationship(elements[key], "testedOn", [elements[d] for d in datasets])
    for step in lineage.steps:
        build = builds[step.step]
        if step.materials:
            b.relationship(build, "hasInput", [elements[k] for k in step.materials.items()])
        if step.products:
            b.relationship(build, "hasOutput", [elements[k] for k in step.products.items()])


def spdx_document(
    lineage: MlLineage, bundle: Bundle, *, source: str, version: str
) -> dict[str, Any]:
    """The SPDX 3.0.1 JSON-LD document of a verified bundle's ``lineage``.

    1. One element per artifact (AIPackage, DatasetPackage, File) with its digest.
    2. One Build per step, with its attestation reference and environment.
    3. trainedOn/testedOn and hasInput/hasOutput relationships.
    4. The SpdxDocument (root: the final models), serialized by spdx-python-model.
    """
    seed = f"{lineage.layout_digest}|{source}|{lineage.verified_at}"
    namespace = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, seed)}"
    b = _Builder(lineage, namespace=namespace, version=version)
    elements = {a.key: _artifact(b, a) for a in lineage.artifacts}
    envelopes: dict[str, list[str]] = {}
    for link in bundle.links:
        envelopes.setdefault(link.step, []).append(hashlib.sha256(link.envelope).hexdigest())
    builds = {s.step: _build(b, s, envelopes.get(s.step, []), source) for s in lineage.steps}
    _relationships(b, elements, builds)
    spdx = b.spdx
    roots = [elements[a.key] for a in lineage.final_models()] or list(elements.values())[:1]
    profiles = spdx.ProfileIdentifierType
    document = spdx.SpdxDocument(
        spdxId=f"{namespace}#document",
        creationInfo=b.creation,
        name=f"AI-BOM of {source}",
        rootElement=roots,
        element=list(b.objects),
        profileConformance=[
            profiles.core,
            profiles.software,
            profiles.ai,
            profiles.dataset,
            profiles.build,
        ],
    )
    objects = spdx.SHACLObjectSet()
    for obj in (*b.objects, document):
        objects.add(obj)
    buffer = io.BytesIO()
    spdx.JSONLDSerializer().write(objects, buffer)
    result: dict[str, Any] = json.loads(buffer.getvalue())
    return result

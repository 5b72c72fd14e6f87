"""CycloneDX 1.6 ML-BOM of a verified bundle (pure).

``atlas-intoto export cyclonedx BUNDLE`` verifies the bundle, then writes:

- ``components``: every artifact a verified link signed — models as ``machine-learning-model``
  (with a ``modelCard``: the datasets it was trained and tested on, the evaluation's metrics),
  datasets as ``data``, code and other files as ``file`` — each with its SHA-256 and an
  ``attestation`` external reference per step whose signed link records it (the hash is the
  SHA-256 of that link's DSSE envelope, as held in the bundle);
- ``dependencies``: the lineage (a product depends on the materials of the step that made it);
- ``formulation``: the pipeline as one workflow (the layout), one task per step with its
  command, inputs, outputs, log time and TEE environment (type, MRTD, TCB status);
- ``metadata``: the final model as the BOM's subject, atlas-intoto as the tool, the layout
  digest and the verification time.

cyclonedx-python-lib builds and serializes everything it models; the ``modelCard`` and the
``formulation`` (which it does not model yet) are added to its JSON output.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from atlas_intoto.bom.lineage import Artifact, Key, MlLineage, step_facts
from atlas_intoto.tlog.trusted_root import rfc3339

if TYPE_CHECKING:
    from cyclonedx.model.component import Component

    from atlas_intoto.bundle import Bundle

#: in-toto predicate type of a CycloneDX BOM (in-toto attestation predicate registry).
CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom"
#: Spec version written.
SPEC_VERSION = "1.6"
#: Property namespace of our own properties (CycloneDX property taxonomy style).
PROPERTY_PREFIX = "atlas-intoto:"

__all__ = ["CYCLONEDX_PREDICATE", "SPEC_VERSION", "bom_ref", "cyclonedx_bom"]


def bom_ref(key: Key) -> str:
    """The bom-ref of an artifact: its path and digest (the same path may hold other bytes
    at another step)."""
    return f"artifact:{key[0]}@sha256:{key[1]}"


def _envelope_digests(bundle: Bundle) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for link in bundle.links:
        found.setdefault(link.step, []).append(hashlib.sha256(link.envelope).hexdigest())
    return found


def _component(
    artifact: Artifact, lineage: MlLineage, envelopes: Mapping[str, list[str]], source: str
) -> Component:
    from cyclonedx.model import (
        ExternalReference,
        ExternalReferenceType,
        HashAlgorithm,
        HashType,
        Property,
        XsUri,
    )
    from cyclonedx.model.component import Component, ComponentType

    kind = {
        "model": ComponentType.MACHINE_LEARNING_MODEL,
        "dataset": ComponentType.DATA,
    }.get(artifact.role, ComponentType.FILE)
    by_step = {s.step: s for s in lineage.steps}
    references = []
    for step in artifact.steps:
        log = by_step[step]
        where = f", log entry {log.log_uuid}" if log.log_uuid else ""
        for digest in envelopes.get(step, []):
            references.append(
                ExternalReference(
                    type=ExternalReferenceType.ATTESTATION,
                    url=XsUri(f"{source}#step={step}"),
                    comment=f"in-toto link of step '{step}' (DSSE envelope){where}",
                    hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest)],
                )
            )
    properties = [Property(name=f"{PROPERTY_PREFIX}role", value=artifact.role)]
    if artifact.producer:
        properties.append(Property(name=f"{PROPERTY_PREFIX}producer", value=artifact.producer))
    return Component(
        name=artifact.path,
        type=kind,
        bom_ref=bom_ref(artifact.key),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=artifact.sha256)],
        external_references=references,
        properties=properties,
    )


def _library_bom(
    lineage: MlLineage, bundle: Bundle, *, source: str, version: str
) -> dict[str, Any]:
    """Everything cyclonedx-python-lib models, as its JSON output."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.output.json import JsonV1Dot6

    envelopes = _envelope_digests(bundle)
    components = {a.key: _component(a, lineage, envelopes, source) for a in lineage.artifacts}
    finals = lineage.final_models()
    tool = Component(type=ComponentType.APPLICATION, name="atlas-intoto", version=version)
    metadata = BomMetaData(
        tools=ToolRepository(components=[tool]),
        timestamp=datetime.fromtimestamp(lineage.verified_at, tz=UTC),
        properties=[
            Property(name=f"{PROPERTY_PREFIX}layout.sha256", value=lineage.layout_digest),
            Property(name=f"{PROPERTY_PREFIX}verified", value="true"),
            Property(name=f"{PROPERTY_PREFIX}bundle", value=source),
        ],
    )
    # Same bundle, same layout, same time: the same serial number.
    seed = f"{lineage.layout_digest}|{source}|{lineage.verified_at}|{sorted(components)}"
    bom = Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, seed),
        metadata=metadata,
        components=components.values(),
    )
    for product, materials in lineage.derived_from.items():
        bom.register_dependency(components[product], [components[m] for m in materials])
    document: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    if finals:
        # metadata.component: the BOM is about the final model (a copy, so it keeps its card)
        document["metadata"]["component"] = {
            "type": "machine-learning-model",
            "name": finals[0].path,
            "bom-ref": "subject:" + bom_ref(finals[0].key),
            "hashes": [{"alg": "SHA-256", "content": finals[0].sha256}],
        }
    return document


def _model_card(key: Key, lineage: MlLineage) -> dict[str, Any]:
    datasets = [*lineage.trained_on.get(key, ()), *lineage.tested_on.get(key, ())]
    card: dict[str, Any] = {}
    if datasets:
        card["modelParameters"] = {
            "datasets": [{"ref": bom_ref(d)} for d in dict.fromkeys(datasets)]
        }
    metrics = lineage.metrics.get(key, {})
    if metrics:
        tested = ", ".join(path for path, _ in lineage.tested_on.get(key, ()))
        evaluated = ", ".join(lineage.evaluated_by.get(key, ()))
        card["quantitativeAnalysis"] = {
            "performanceMetrics": [
                {"type": name, "value": str(value), "slice": tested or f"step {evaluated}"}
                for name, value in sorted(metrics.items())
            ]
        }
    return card


def _task_types(step: Any, lineage: MlLineage, last: str | None) -> list[str]:
    roles = {a.key: a.role for a in lineage.artifacts}
    if step.step == last:
        return ["release"]
    if any(roles.get(k) == "model" for k in step.products.items()):
        return ["build"]
    if any(step.step in v for v in lineage.evaluated_by.values()):
        return ["test"]
    return ["other"]


def _properties(pairs: Iterable[tuple[str, Any]]) -> list[dict[str, str]]:
    return [{"name": PROPERTY_PREFIX + n, "value": str(v)} for n, v in pairs if v not in (None, "")]


def _task(step: Any, lineage: MlLineage, last: str | None) -> dict[str, Any]:
    task: dict[str, Any] = {
        "bom-ref": f"task:{step.step}",
        "uid": step.step,
        "name": step.step,
        "taskTypes": _task_types(step, lineage, last),
        "steps": [{"name": step.step, "commands": [{"executed": " ".join(step.command)}]}],
    }
    if step.materials:
        task["inputs"] = [{"resource": {"ref": bom_ref(k)}} for k in step.materials.items()]
    if step.products:
        task["outputs"] = [
            {"resource": {"ref": bom_ref(k)}, "type": "artifact"} for k in step.products.items()
        ]
    if step.integrated_time is not None:
        task["timeEnd"] = rfc3339(step.integrated_time)
    task["properties"] = _properties(
        [*step_facts(step), ("c2pa.products", ", ".join(step.c2pa_products))]
    )
    return task


def _formulation(lineage: MlLineage) -> list[dict[str, Any]]:
    last = next((s.step for s in reversed(lineage.steps) if s.products), None)
    workflow = {
        "bom-ref": "workflow:pipeline",
        "uid": f"layout:sha256:{lineage.layout_digest}",
        "name": lineage.layout_readme or "pipeline",
        "taskTypes": ["build"],
        "tasks": [_task(step, lineage, last) for step in lineage.steps],
    }
    return [{"bom-ref": "formula:pipeline", "workflows": [workflow]}]


def cyclonedx_bom(
    lineage: MlLineage, bundle: Bundle, *, source: str, version: str
) -> dict[str, Any]:
    """The CycloneDX 1.6 ML-BOM of a verified bundle's ``lineage``.

    1. Components, dependencies and metadata through cyclonedx-python-lib.
    2. A ``modelCard`` on every model the lineage knows datasets or metrics of.
    3. The ``formulation``: the layout as a workflow, the steps as its tasks.
    """
    document = _library_bom(lineage, bundle, source=source, version=version)
    for component in document.get("components", []):
        key = next(
            (a.key for a in lineage.artifacts if bom_ref(a.key) == component["bom-ref"]), None
        )
        if key is not None and component["type"] == "machine-learning-model":
            card = _model_card(key, lineage)
            if card:
                component["modelCard"] = card
    document["formulation"] = _formulation(lineage)
    return document

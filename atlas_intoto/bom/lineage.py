"""What a verified lineage says about models, datasets and code (pure): the common input of the
AI-BOM exports (:mod:`atlas_intoto.bom.cyclonedx`, :mod:`atlas_intoto.bom.spdx`).

Every artifact is a (path, SHA-256) pair some verified link signed, as a material or a product.
Its role follows from its name, since links carry no types:

1. source code by its extension (:data:`CODE_SUFFIXES`);
2. weights (:data:`MODEL_SUFFIXES`) under a directory naming a model (``model(s)``,
   ``checkpoint(s)``, ``weights``) are a model; anything under a directory naming data
   (``data``, ``dataset(s)``, ``raw``, ``corpus``, ``images``) is a dataset;
3. otherwise the extension decides (:data:`MODEL_SUFFIXES`, :data:`DATA_SUFFIXES`), and
   anything else is a plain file (configs, metrics, model cards).

Lineage follows the steps: a step's products derive from its materials. A model was *trained
on* the datasets among the materials of the step that produced it (and, through a model it
consumed, what that one was trained on). A step that consumes a model and produces no model is
an *evaluation*: the model (by digest, wherever it was copied to) was *tested on* the
evaluation's datasets, and the evaluation's JSON products are its metrics when the consumer
hands their bytes over (checked against the signed digest).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from atlas_intoto.errors import ExportArtifactError
from atlas_intoto.verify.report import StepLineage, VerificationReport

#: Weights and serialized models.
MODEL_SUFFIXES = frozenset(
    {".safetensors", ".pt", ".pth", ".ckpt", ".onnx", ".npz", ".h5", ".keras", ".gguf"}
    | {".pkl", ".joblib", ".tflite", ".mlmodel", ".pb", ".bin"}
)
#: Tabular, text, image and tensor data.
DATA_SUFFIXES = frozenset(
    {".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".arrow", ".tfrecord", ".npy", ".avro"}
    | {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".wav", ".flac", ".ubyte", ".idx"}
)
#: Source code.
CODE_SUFFIXES = frozenset(
    {".py", ".ipynb", ".sh", ".r", ".jl", ".js", ".ts", ".go", ".rs", ".c", ".cc", ".cpp"}
    | {".java", ".scala", ".sql"}
)
_DATA_DIRS = frozenset({"data", "dataset", "datasets", "raw", "corpus", "images"})
_MODEL_DIRS = frozenset({"model", "models", "checkpoint", "checkpoints", "weights"})
#: Artifact roles.
ROLES = ("model", "dataset", "code", "file")

#: (path, sha256 hex): one artifact.
Key = tuple[str, str]


def step_facts(step: StepLineage) -> list[tuple[str, Any]]:
    """What verification established about a step's run, as (name, value) pairs for a BOM."""
    return [
        ("signers", ", ".join(step.functionaries or step.signers)),
        ("tee.type", step.tee_type),
        ("tee.mrtd", step.mrtd),
        ("tee.tcb_status", step.tcb_status),
        ("log.index", step.log_index),
        ("log.uuid", step.log_uuid),
    ]


def role_of(path: str) -> str:
    """The role of the artifact at ``path`` (one of :data:`ROLES`), from its name."""
    pure = PurePosixPath(path)
    suffix = pure.suffix.lower()
    dirs = {part.lower() for part in pure.parts[:-1]}
    if suffix in CODE_SUFFIXES:
        return "code"
    if dirs & _MODEL_DIRS and suffix in MODEL_SUFFIXES:
        return "model"
    if dirs & _DATA_DIRS:
        return "dataset"
    if suffix in MODEL_SUFFIXES:
        return "model"
    if suffix in DATA_SUFFIXES:
        return "dataset"
    return "file"


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """One (path, digest) some verified link signed."""

    path: str
    sha256: str
    role: str
    #: the step that first produced it; None for a pipeline input
    producer: str | None
    #: every step whose signed link records it, in layout order
    steps: tuple[str, ...]

    @property
    def key(self) -> Key:
        return (self.path, self.sha256)


@dataclass(frozen=True, kw_only=True)
class MlLineage:
    """The artifacts of a verified bundle and what the lineage says about them."""

    artifacts: tuple[Artifact, ...]
    steps: tuple[StepLineage, ...]
    #: product -> the materials of the step that produced it
    derived_from: Mapping[Key, tuple[Key, ...]] = field(default_factory=dict)
    #: model -> datasets it was trained on
    trained_on: Mapping[Key, tuple[Key, ...]] = field(default_factory=dict)
    #: model -> datasets it was tested on
    tested_on: Mapping[Key, tuple[Key, ...]] = field(default_factory=dict)
    #: model -> the evaluation's metrics (name -> number or string)
    metrics: Mapping[Key, Mapping[str, Any]] = field(default_factory=dict)
    #: model -> the steps that evaluated it
    evaluated_by: Mapping[Key, tuple[str, ...]] = field(default_factory=dict)
    layout_digest: str = ""
    layout_readme: str = ""
    verified_at: int = 0

    def of_role(self, role: str) -> tuple[Artifact, ...]:
        return tuple(a for a in self.artifacts if a.role == role)

    def get(self, key: Key) -> Artifact:
        return next(a for a in self.artifacts if a.key == key)

    def final_models(self) -> tuple[Artifact, ...]:
        """The models among the last step's products (else every model)."""
        last = next((s for s in reversed(self.steps) if s.products), None)
        finals = tuple(
            a
            for a in self.of_role("model")
            if last is not None and last.products.get(a.path) == a.sha256
        )
        return finals or self.of_role("model")


def _collect(steps: tuple[StepLineage, ...]) -> tuple[Artifact, ...]:
    producer: dict[Key, str] = {}
    seen: dict[Key, list[str]] = {}
    for step in steps:
        for path, digest in (*step.materials.items(), *step.products.items()):
            recorded = seen.setdefault((path, digest), [])
            if step.step not in recorded:
                recorded.append(step.step)
        for path, digest in step.products.items():
            producer.setdefault((path, digest), step.step)
    return tuple(
        Artifact(
            path=path,
            sha256=digest,
            role=role_of(path),
            producer=producer.get((path, digest)),
            steps=tuple(recorded),
        )
        for (path, digest), recorded in sorted(seen.items())
    )


def _metrics(document: bytes, *, path: str) -> dict[str, Any]:
    try:
        doc = json.loads(document)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExportArtifactError(f"{path}: metrics file is not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        return {}
    return {
        str(name): value
        for name, value in doc.items()
        if isinstance(value, int | float | str) and not isinstance(value, bool)
    }


def _evaluation(
    step: StepLineage,
    roles: Mapping[Key, str],
    files: Mapping[str, bytes],
) -> tuple[list[Key], list[Key], dict[str, Any]]:
    """(models it consumed, datasets it used, metrics it produced) of an evaluation step."""
    models = [k for k in step.materials.items() if roles[k] == "model"]
    datasets = [k for k in step.materials.items() if roles[k] == "dataset"]
    metrics: dict[str, Any] = {}
    for path, digest in step.products.items():
        if not path.lower().endswith(".json") or path not in files:
            continue
        if hashlib.sha256(files[path]).hexdigest() != digest:
            raise ExportArtifactError(
                f"{path}: differs from the digest step '{step.step}' signed for it"
            )
        metrics.update(_metrics(files[path], path=path))
    return models, datasets, metrics


def ml_lineage(
    report: VerificationReport, *, files: Mapping[str, bytes] | None = None
) -> MlLineage:
    """The artifacts, roles and ML relationships of a *verified* ``report``.

    ``files`` maps recorded paths to bytes the consumer holds (metrics files); each must match
    the digest the evaluation signed (:class:`ExportArtifactError` otherwise).

    1. Collect every (path, digest) of every step, with its first producer.
    2. Derivation: each product of a step derives from the step's materials (a product that is
       also a material with the same digest was passed through, not derived).
    3. Training: a model's datasets are the dataset materials of its producer, plus those of
       the models its producer consumed.
    4. Evaluation: a step consuming a model and producing none tested every model with that
       digest on its datasets; its JSON products (given in ``files``) are the metrics.
    """
    files = files or {}
    artifacts = _collect(report.steps)
    roles = {a.key: a.role for a in artifacts}
    producer = {a.key: a.producer for a in artifacts}
    by_step = {s.step: s for s in report.steps}
    derived: dict[Key, tuple[Key, ...]] = {}
    for step in report.steps:
        inputs = tuple(step.materials.items())
        for key in step.products.items():
            if key not in inputs and producer[key] == step.step:
                derived[key] = inputs

    def training(key: Key, depth: int = 0) -> list[Key]:
        step = by_step.get(producer[key] or "")
        if step is None or depth > len(report.steps):
            return []
        found: list[Key] = []
        for material in step.materials.items():
            if roles[material] == "dataset":
                found.append(material)
            elif roles[material] == "model" and material != key:
                found.extend(training(material, depth + 1))
        return list(dict.fromkeys(found))

    models = [a.key for a in artifacts if a.role == "model"]
    trained = {k: tuple(training(k)) for k in models if training(k)}
    tested: dict[Key, list[Key]] = {}
    metrics: dict[Key, dict[str, Any]] = {}
    evaluated: dict[Key, list[str]] = {}
    for step in report.steps:
        if any(roles[k] == "model" for k in step.products.items()):
            continue
        consumed, datasets, found = _evaluation(step, roles, files)
        digests = {digest for _, digest in consumed}
        for key in (k for k in models if k[1] in digests):
            tested.setdefault(key, []).extend(d for d in datasets if d not in tested[key])
            metrics.setdefault(key, {}).update(found)
            evaluated.setdefault(key, []).append(step.step)
    return MlLineage(
        artifacts=artifacts,
        steps=report.steps,
        derived_from=derived,
        trained_on=trained,
        tested_on={k: tuple(v) for k, v in tested.items()},
        metrics={k: v for k, v in metrics.items() if v},
        evaluated_by={k: tuple(v) for k, v in evaluated.items()},
        layout_digest=report.layout_digest or "",
        layout_readme=report.layout_readme,
        verified_at=report.verified_at,
    )

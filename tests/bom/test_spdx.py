"""The SPDX 3.0.1 JSON-LD export (AI and Dataset profiles) of the verified demo bundle, read back
and re-checked by the SPDX project's bindings (spdx-python-model, generated from the SPDX 3
SHACL model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atlas_intoto import __version__
from atlas_intoto.bom import bom_export
from atlas_intoto.bom.spdx import dataset_type
from atlas_intoto.bundle import parse_bundle


def load_spdx(document: dict[str, Any], tmp_path: Path) -> Any:
    """Read ``document`` with spdx-python-model (unknown types, properties or vocabulary fail)
    and serialize it again (missing required properties fail); return the object set."""
    import io

    import spdx_python_model

    path = tmp_path / "export.spdx3.json"
    path.write_text(json.dumps(document))
    model, objects = spdx_python_model.load(path)
    assert model is spdx_python_model.v3_0_1
    model.JSONLDSerializer().write(objects, io.BytesIO())
    return objects


def export(demo: Any, *, files: dict[str, bytes] | None = None) -> dict[str, Any]:
    data = demo.bundle.read_bytes()
    return bom_export(
        "spdx",
        demo.report,
        parse_bundle(data),
        source=demo.bundle.name,
        version=__version__,
        files=files,
    )


def _names(objects: Any, kind: str) -> dict[str, Any]:
    return {o.name: o for o in objects.foreach_type(kind)}


def test_demo_export_is_spdx_3_0_1_with_ai_and_dataset_profiles(demo: Any, tmp_path: Path) -> None:
    metrics = (demo.directory / "work" / "eval" / "metrics.json").read_bytes()
    document = export(demo, files={"eval/metrics.json": metrics})
    assert document["@context"] == "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
    objects = load_spdx(document, tmp_path)
    (doc,) = objects.foreach_type("SpdxDocument")
    assert doc.creationInfo.specVersion == "3.0.1"
    assert [e.name for e in doc.rootElement] == ["dist/model.npz"]
    models = _names(objects, "ai_AIPackage")
    assert set(models) == {"model/model.npz", "dist/model.npz"}
    datasets = _names(objects, "dataset_DatasetPackage")
    assert set(datasets) == {"data/train.csv", "data/test.csv"}
    metric = {e.key: e.value for e in models["dist/model.npz"].ai_metric}
    assert float(metric["accuracy"]) == json.loads(metrics)["accuracy"]
    assert models["dist/model.npz"].verifiedUsing[0].hashValue == document_hash(demo)


def document_hash(demo: Any) -> str:
    import hashlib

    return hashlib.sha256((demo.directory / "work" / "dist" / "model.npz").read_bytes()).hexdigest()


def test_trained_on_tested_on_and_the_steps_as_builds(demo: Any, tmp_path: Path) -> None:
    objects = load_spdx(export(demo), tmp_path)
    relations: dict[tuple[str, str], set[str]] = {}
    for rel in objects.foreach_type("Relationship"):
        kind = rel.relationshipType.rsplit("/", 1)[-1]
        relations.setdefault((rel.from_.name, kind), set()).update(t.name for t in rel.to)
    assert relations[("dist/model.npz", "trainedOn")] == {"data/train.csv"}
    assert relations[("dist/model.npz", "testedOn")] == {"data/test.csv"}
    assert relations[("train", "hasInput")] == {"data/train.csv", "src/train.py"}
    assert relations[("train", "hasOutput")] == {"model/model.npz"}
    builds = _names(objects, "build_Build")
    assert list(builds) == ["prepare", "train", "evaluate", "package"] or set(builds) == {
        "prepare",
        "train",
        "evaluate",
        "package",
    }
    env = {e.key: e.value for e in builds["train"].build_environment}
    assert env["atlas-intoto:signers"] == "trainer"
    assert len(env["atlas-intoto:tee.mrtd"]) == 96
    (ref,) = builds["train"].externalRef
    assert ref.locator == [f"{demo.bundle.name}#step=train"]


def test_dataset_types_follow_the_file() -> None:
    assert dataset_type("data/train.csv") == "structured"
    assert dataset_type("data/train-00000.jsonl") == "text"
    assert dataset_type("images/0001.png") == "image"
    assert dataset_type("data/blob.xyz") == "other"

"""The CycloneDX 1.6 ML-BOM of the verified demo bundle, validated by cyclonedx-python-lib's
strict JSON schema validator."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from atlas_intoto import __version__
from atlas_intoto.bom import bom_export
from atlas_intoto.bom.cyclonedx import bom_ref
from atlas_intoto.bundle import parse_bundle
from atlas_intoto.errors import UsageError


def assert_valid_cyclonedx(document: dict[str, Any]) -> None:
    """Valid against the official CycloneDX 1.6 JSON schema (strict: no unknown fields)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    assert error is None, str(error)


def export(demo: Any, *, files: dict[str, bytes] | None = None) -> dict[str, Any]:
    data = demo.bundle.read_bytes()
    return bom_export(
        "cyclonedx",
        demo.report,
        parse_bundle(data),
        source=demo.bundle.name,
        version=__version__,
        files=files,
    )


def _by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document["components"]}


def test_demo_bom_is_valid_cyclonedx_1_6(demo: Any) -> None:
    metrics = (demo.directory / "work" / "eval" / "metrics.json").read_bytes()
    document = export(demo, files={"eval/metrics.json": metrics})
    assert_valid_cyclonedx(document)
    assert (document["bomFormat"], document["specVersion"]) == ("CycloneDX", "1.6")
    components = _by_name(document)
    assert components["model/model.npz"]["type"] == "machine-learning-model"
    assert components["dist/model.npz"]["type"] == "machine-learning-model"
    assert components["data/train.csv"]["type"] == "data"
    assert components["src/train.py"]["type"] == "file"
    assert document["metadata"]["component"]["name"] == "dist/model.npz"
    card = components["dist/model.npz"]["modelCard"]
    datasets = {d["ref"] for d in card["modelParameters"]["datasets"]}
    assert {components["data/train.csv"]["bom-ref"], components["data/test.csv"]["bom-ref"]} == (
        datasets
    )
    (metric,) = card["quantitativeAnalysis"]["performanceMetrics"]
    assert metric["type"] == "accuracy"
    assert float(metric["value"]) == json.loads(metrics)["accuracy"]


def test_every_component_references_the_links_that_prove_it(demo: Any) -> None:
    document = export(demo)
    bundle = parse_bundle(demo.bundle.read_bytes())
    envelopes = {k.step: hashlib.sha256(k.envelope).hexdigest() for k in bundle.links}
    model = _by_name(document)["model/model.npz"]
    digest = hashlib.sha256((demo.directory / "work" / "model" / "model.npz").read_bytes())
    assert model["hashes"] == [{"alg": "SHA-256", "content": digest.hexdigest()}]
    refs = model["externalReferences"]
    assert {r["type"] for r in refs} == {"attestation"}
    # produced by train, consumed by evaluate and package: three signed links record it
    assert sorted(r["hashes"][0]["content"] for r in refs) == sorted(
        envelopes[s] for s in ("train", "evaluate", "package")
    )
    for component in document["components"]:
        assert component["externalReferences"], component["name"]


def test_dependencies_are_the_lineage_and_formulation_the_steps(demo: Any) -> None:
    document = export(demo)
    components = _by_name(document)
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in document["dependencies"]}
    model = components["model/model.npz"]["bom-ref"]
    assert deps[model] == {
        components["data/train.csv"]["bom-ref"],
        components["src/train.py"]["bom-ref"],
    }
    # the package step copied the model (with the metrics and its program)
    assert model in deps[components["dist/model.npz"]["bom-ref"]]
    (formula,) = document["formulation"]
    (workflow,) = formula["workflows"]
    tasks = {t["name"]: t for t in workflow["tasks"]}
    assert list(tasks) == ["prepare", "train", "evaluate", "package"]
    assert tasks["train"]["taskTypes"] == ["build"]
    assert tasks["evaluate"]["taskTypes"] == ["test"]
    assert tasks["package"]["taskTypes"] == ["release"]
    props = {p["name"]: p["value"] for p in tasks["train"]["properties"]}
    assert props["atlas-intoto:tee.type"] == "simulated-tdx"
    assert len(props["atlas-intoto:tee.mrtd"]) == 96
    assert props["atlas-intoto:signers"] == "trainer"
    assert {"resource": {"ref": model}, "type": "artifact"} in tasks["train"]["outputs"]
    assert bom_ref(("model/model.npz", model.rsplit(":", 1)[1])) == model


def test_a_report_that_failed_is_not_exported(demo: Any) -> None:
    data = demo.bundle.read_bytes()
    with pytest.raises(UsageError, match="does not verify"):
        bom_export("cyclonedx", demo.tampered_report, parse_bundle(data), source="x", version="0")

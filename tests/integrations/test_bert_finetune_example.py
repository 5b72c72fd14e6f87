"""The BERT case study (examples/bert_finetune), reduced: every step attested for real (simulated
TEE, C2PA, local log), the bundle verifies against layouts/bert-finetune.yaml, and the two attacks
fail the checks that must catch them."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bert_finetune" / "pipeline.py"


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("atlas_bert_case", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    # The autouse ATLAS_INTOTO_HOME fixture is function-scoped; this one is module-scoped.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATLAS_INTOTO_HOME", str(tmp_path_factory.mktemp("bert-home")))
        return module.run_case_study(tmp_path_factory.mktemp("bert-case"), rows=300)  # type: ignore[no-any-return]


def _failed(report: Any) -> set[tuple[str, str | None, str | None]]:
    return {(row.check, row.step, row.error) for row in report.failures}


def test_clean_run_verifies_end_to_end(case: dict[str, Any]) -> None:
    run = case["clean"]
    assert run.report.ok, run.report.text()
    checks = {(row.check, row.step) for row in run.report.results}
    for step in ("fetch-corpus", "tokenize", "finetune", "evaluate", "release"):
        for check in ("links", "rules", "tee", "c2pa", "tlog"):
            assert (check, step) in checks
    assert ("artifacts", None) in checks
    bundle = json.loads(run.bundle.read_bytes())
    assert bundle  # a real bundle file was written
    # format v2: every step's attestation is a Sigstore bundle of its Statement v1
    assert bundle["media_type"] == "application/vnd.atlas-intoto.bundle.v2+json"
    attestations = [a for step in bundle["steps"].values() for a in step["attestations"]]
    assert all("dsseEnvelope" in a["sigstore_bundle"] for a in attestations)
    assert 0.0 <= run.metrics["accuracy"] <= 1.0


def test_training_checkpoints_were_attested_in_the_background(case: dict[str, Any]) -> None:
    workdir: Path = case["clean"].workdir
    checkpoint_links = sorted((workdir / ".atlas-finetune" / "checkpoints").glob("*.link"))
    # One checkpoint per epoch, each with its own link, quote and log entry (its files get
    # their C2PA sidecars from the run's link).
    assert [p.name.split(".")[0] for p in checkpoint_links] == [
        f"finetune-checkpoint-{i}" for i in (1, 2, 3)
    ]
    assert len(list((workdir / ".atlas-finetune" / "checkpoints").glob("*.logentry.json"))) == 3


def test_swapped_model_fails_the_final_artifact_check(case: dict[str, Any]) -> None:
    assert _failed(case["swapped-model"].report) == {("artifacts", None, "FinalArtifactError")}


def test_poisoned_dataset_fails_the_artifact_rules_of_finetune(case: dict[str, Any]) -> None:
    report = case["poisoned-dataset"].report
    assert _failed(report) == {("rules", "finetune", "ArtifactRuleError")}
    (row,) = report.failures
    assert "data/train-00000.jsonl" in row.reason


def test_clean_run_exports_valid_cyclonedx_and_spdx_boms(
    case: dict[str, Any], tmp_path: Path
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bom"))
    from test_cyclonedx import assert_valid_cyclonedx
    from test_spdx import load_spdx

    from atlas_intoto import __version__
    from atlas_intoto.bom import bom_export
    from atlas_intoto.bundle import parse_bundle

    run = case["clean"]
    bundle = parse_bundle(run.bundle.read_bytes())
    files = {"eval/metrics.json": (run.workdir / "eval" / "metrics.json").read_bytes()}

    def export(fmt: str) -> dict[str, Any]:
        return bom_export(
            fmt, run.report, bundle, source=run.bundle.name, version=__version__, files=files
        )

    cyclonedx = export("cyclonedx")
    assert_valid_cyclonedx(cyclonedx)
    components = {c["name"]: c for c in cyclonedx["components"]}
    model = components["model/final/model.safetensors"]
    assert model["type"] == "machine-learning-model"
    metrics = {
        m["type"]: m["value"]
        for m in model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
    }
    assert float(metrics["accuracy"]) == run.metrics["accuracy"]
    datasets = {d["ref"] for d in model["modelCard"]["modelParameters"]["datasets"]}
    assert components["data/train-00000.jsonl"]["bom-ref"] in datasets
    assert {t["name"] for t in cyclonedx["formulation"][0]["workflows"][0]["tasks"]} == {
        "fetch-corpus",
        "tokenize",
        "finetune",
        "evaluate",
        "release",
    }

    objects = load_spdx(export("spdx"), tmp_path)
    trained = {
        t.name
        for rel in objects.foreach_type("Relationship")
        if rel.relationshipType.endswith("/trainedOn")
        and rel.from_.name == "model/final/model.safetensors"
        for t in rel.to
    }
    assert "data/train-00000.jsonl" in trained

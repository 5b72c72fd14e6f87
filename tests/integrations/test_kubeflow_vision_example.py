"""The Kubeflow vision case study (examples/kubeflow_vision), reduced: a KFP v2 pipeline run by the
KFP local runner, every component attested for real (simulated TEE, C2PA, local log), the bundle
verifies against layouts/kubeflow-vision.yaml (library, CLI and the verification service's gate),
and the two attacks fail the checks that must catch them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("kfp")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kubeflow_vision" / "pipeline.py"
STEPS = ("generate-images", "preprocess", "train", "evaluate", "package")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("atlas_kfp_vision_case", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    base = tmp_path_factory.mktemp("kfp-vision")
    # The autouse ATLAS_INTOTO_HOME fixture is function-scoped; this one is module-scoped.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATLAS_INTOTO_HOME", str(tmp_path_factory.mktemp("kfp-vision-home")))
        results = module.run_case_study(base, count=90, epochs=2)
        verdicts = module.gate(
            results["clean"].workdir,
            results["clean"].bundle,
            {"clean": base / "consumer-clean", "swapped-model": base / "consumer-swapped"},
        )
    return {"base": base, "results": results, "gate": verdicts}


def _failed(report: Any) -> set[tuple[str, str | None, str | None]]:
    return {(row.check, row.step, row.error) for row in report.failures}


def test_clean_run_verifies_end_to_end(case: dict[str, Any]) -> None:
    run = case["results"]["clean"]
    assert run.report.ok, run.report.text()
    assert run.report.to_dict()["artifacts_compared"] is True
    checks = {(row.check, row.step) for row in run.report.results}
    for step in STEPS:
        for check in ("links", "rules", "tee", "c2pa", "tlog"):
            assert (check, step) in checks
    assert ("artifacts", None) in checks
    rows = {(row.check, row.step): row.status for row in run.report.results}
    assert all(rows[("c2pa", step)] == "pass" for step in STEPS)
    assert all(rows[("tee", step)] == "pass" for step in STEPS)
    bundle = json.loads(run.bundle.read_bytes())
    assert bundle["media_type"] == "application/vnd.atlas-intoto.bundle.v2+json"
    assert set(bundle["steps"]) == set(STEPS)
    assert (
        0.0 <= run.metrics["accuracy"] <= 1.0 and run.metrics["examples"] == 23
    )  # every 4th of 90


def test_every_component_ran_as_a_kfp_task_with_its_own_evidence(case: dict[str, Any]) -> None:
    run_dir: Path = case["results"]["clean"].run_dir
    for step in STEPS:
        (link,) = (run_dir / step / "atlas_evidence").glob(f"{step}.*.link")
        assert link.with_name(link.name.replace(".link", ".logentry.json")).is_file()
    # The consumers' manifests carry the producers' as ingredients: sidecars were shipped.
    shipped = run_dir / "train" / "atlas_evidence" / "c2pa" / run_dir.name / "preprocess"
    assert (shipped / "train_data.c2pa").is_file()


def test_training_checkpoints_were_attested_in_the_background(case: dict[str, Any]) -> None:
    checkpoints = case["results"]["clean"].run_dir / "train" / "atlas_evidence" / "checkpoints"
    links = sorted(checkpoints.glob("*.link"))
    assert [p.name.split(".")[0] for p in links] == ["train-checkpoint-1", "train-checkpoint-2"]
    assert len(list(checkpoints.glob("*.logentry.json"))) == 2


def test_the_cli_verifies_the_released_model(case: dict[str, Any]) -> None:
    run = case["results"]["clean"]
    command = [sys.executable, "-m", "atlas_intoto", "verify", str(run.bundle), "--json"]
    command += ["--layout-key", str(run.workdir / "keys" / "owner.pub")]
    clean = subprocess.run(
        [*command, "--artifacts", str(case["base"] / "consumer-clean")],
        capture_output=True,
        text=True,
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["ok"] is True
    swapped = subprocess.run(
        [*command, "--artifacts", str(case["base"] / "consumer-swapped")],
        capture_output=True,
        text=True,
    )
    assert swapped.returncode == 1, swapped.stdout + swapped.stderr


def test_the_gate_admits_the_release_and_refuses_the_swapped_model(case: dict[str, Any]) -> None:
    assert case["gate"] == {"clean": True, "swapped-model": False}


def test_swapped_model_fails_the_final_artifact_check(case: dict[str, Any]) -> None:
    report = case["results"]["swapped-model"].report
    assert _failed(report) == {("artifacts", None, "FinalArtifactError")}


def test_poisoned_dataset_fails_the_artifact_rules_of_train(case: dict[str, Any]) -> None:
    report = case["results"]["poisoned-dataset"].report
    assert _failed(report) == {("rules", "train", "ArtifactRuleError")}
    (row,) = report.failures
    assert "poison/train_data" in row.reason


def test_clean_run_exports_valid_cyclonedx_and_spdx_boms(
    case: dict[str, Any], tmp_path: Path
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bom"))
    from test_cyclonedx import assert_valid_cyclonedx
    from test_spdx import load_spdx

    from atlas_intoto import __version__
    from atlas_intoto.bom import bom_export
    from atlas_intoto.bundle import parse_bundle

    run = case["results"]["clean"]
    bundle = parse_bundle(run.bundle.read_bytes())

    def export(fmt: str) -> dict[str, Any]:
        return bom_export(fmt, run.report, bundle, source=run.bundle.name, version=__version__)

    cyclonedx = export("cyclonedx")
    assert_valid_cyclonedx(cyclonedx)
    tasks = {t["name"] for t in cyclonedx["formulation"][0]["workflows"][0]["tasks"]}
    assert tasks == set(STEPS)
    # every component points at a signed link that records it
    assert all(
        any(ref["type"] == "attestation" for ref in c.get("externalReferences", []))
        for c in cyclonedx["components"]
    )
    objects = load_spdx(export("spdx"), tmp_path)
    assert any(True for _ in objects.foreach_type("Relationship"))

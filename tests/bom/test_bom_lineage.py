"""The ML lineage of a verified report: roles, trainedOn/testedOn, metrics checked against their
signed digests."""

from __future__ import annotations

import hashlib
import json

import pytest

from atlas_intoto.bom.lineage import ml_lineage, role_of
from atlas_intoto.errors import ExportArtifactError
from atlas_intoto.verify.report import CheckResult, StepLineage, VerificationReport

METRICS = json.dumps({"accuracy": 0.91, "loss": 0.3, "note": "test split", "ok": True}).encode()


def _d(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def report() -> VerificationReport:
    steps = (
        StepLineage(
            step="prepare",
            materials={"src/prepare.py": _d("p")},
            products={"data/train.csv": _d("train"), "data/test.csv": _d("test")},
        ),
        StepLineage(
            step="train",
            materials={"data/train.csv": _d("train"), "src/train.py": _d("t")},
            products={"model/model.npz": _d("model")},
        ),
        StepLineage(
            step="evaluate",
            materials={"data/test.csv": _d("test"), "model/model.npz": _d("model")},
            products={"eval/metrics.json": hashlib.sha256(METRICS).hexdigest()},
        ),
        StepLineage(
            step="package",
            materials={"model/model.npz": _d("model")},
            products={"dist/model.npz": _d("model")},
        ),
    )
    row = CheckResult(check="layout", step=None, passed=True, reason="ok")
    return VerificationReport(results=(row,), steps=steps, layout_digest="ab" * 32)


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("src/train.py", "code"),
        ("data/train.csv", "dataset"),
        ("raw/corpus.txt", "dataset"),
        ("images/cat.npz", "dataset"),
        ("model/model.npz", "model"),
        ("model/final/model.safetensors", "model"),
        ("model/final/config.json", "file"),
        ("dist/model.npz", "model"),
        ("eval/metrics.json", "file"),
        ("MODEL_CARD.md", "file"),
        ("test.parquet", "dataset"),
    ],
)
def test_roles_follow_the_names(path: str, role: str) -> None:
    assert role_of(path) == role


def test_trained_and_tested_on_follow_the_steps_and_copies() -> None:
    lineage = ml_lineage(report())
    model, copy = ("model/model.npz", _d("model")), ("dist/model.npz", _d("model"))
    assert lineage.trained_on[model] == (("data/train.csv", _d("train")),)
    # the copy was made from the model: it was trained on the same data
    assert lineage.trained_on[copy] == (("data/train.csv", _d("train")),)
    # the evaluation consumed these bytes: both paths holding them were tested
    assert lineage.tested_on[model] == lineage.tested_on[copy] == (("data/test.csv", _d("test")),)
    assert lineage.evaluated_by[copy] == ("evaluate",)
    assert [a.path for a in lineage.final_models()] == ["dist/model.npz"]
    assert lineage.derived_from[("model/model.npz", _d("model"))] == (
        ("data/train.csv", _d("train")),
        ("src/train.py", _d("t")),
    )
    # the package step passed the model through: the copy derives from it, nothing else
    assert lineage.derived_from[copy] == (model,)
    assert lineage.metrics == {}  # no metrics bytes handed over


def test_metrics_come_from_the_signed_file() -> None:
    lineage = ml_lineage(report(), files={"eval/metrics.json": METRICS})
    expected = {"accuracy": 0.91, "loss": 0.3, "note": "test split"}  # booleans are no metric
    assert lineage.metrics[("dist/model.npz", _d("model"))] == expected


def test_a_metrics_file_that_differs_from_its_signed_digest_is_refused() -> None:
    forged = json.dumps({"accuracy": 0.99}).encode()
    with pytest.raises(ExportArtifactError, match=r"eval/metrics\.json: differs"):
        ml_lineage(report(), files={"eval/metrics.json": forged})

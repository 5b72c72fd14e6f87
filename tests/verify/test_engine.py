"""verify_bundle: check order, fail-closed behaviour and report shape (plain links pipeline)."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from bundle_builder import Pipeline, layout_source, make_bundle, record, sign_source

from atlas_intoto.errors import InputError
from atlas_intoto.tee.simulated import COLLATERAL_VALIDITY
from atlas_intoto.verify import CHECKS, verify_bundle
from atlas_intoto.verify.report import VerificationReport


def _verify(pipeline: Pipeline, data: bytes | None = None, **kw: Any) -> VerificationReport:
    return verify_bundle(
        data if data is not None else pipeline.bundle_bytes(),
        layout_keys=[pipeline.owner_pem],
        **kw,
    )


def test_plain_pipeline_verifies_with_rows_in_order(plain_pipeline: Pipeline) -> None:
    report = _verify(plain_pipeline, artifacts_dir=plain_pipeline.work)
    assert report.ok, report.text()
    order = [CHECKS.index(row.check) for row in report.results]
    assert order == sorted(order)
    assert [s.step for s in report.steps] == ["prepare", "train", "package"]
    assert report.steps[1].functionaries == ("trainer",)
    assert report.steps[1].materials["data/train.csv"] == report.steps[0].products["data/train.csv"]
    doc = report.to_dict()
    assert doc["ok"] is True and len(doc["results"]) == len(report.results)
    assert report.text().endswith("VERIFIED")


def test_layout_failure_stops_verification(plain_pipeline: Pipeline) -> None:
    report = verify_bundle(
        plain_pipeline.bundle_bytes(),
        layout_keys=[(plain_pipeline.keys / "mallory.pub").read_bytes()],
    )
    assert [(r.check, r.error) for r in report.results] == [("layout", "LayoutSignatureError")]


def test_bad_layout_key_and_bundle_are_operational(plain_pipeline: Pipeline) -> None:
    with pytest.raises(InputError, match="--layout-key"):
        verify_bundle(plain_pipeline.bundle_bytes(), layout_keys=[b"garbage"])
    with pytest.raises(InputError):
        verify_bundle(b"{}", layout_keys=[plain_pipeline.owner_pem])


def test_now_is_the_reference_time(plain_pipeline: Pipeline) -> None:
    report = _verify(plain_pipeline, now=4_102_444_800 + 1)  # after the 2099-01-01 expiry
    assert report.first_failure is not None
    assert report.first_failure.error == "LayoutExpiredError"


def test_threshold_two_with_agreeing_links(plain_pipeline: Pipeline, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(plain_pipeline.root, root)
    clone = Pipeline(
        root=root,
        keys=root / "keys",
        work=root / "work",
        evidence=root / "evidence",
        layout_source=root / "layout.yaml",
        layout_file=root / "layout.layout",
        bundle_file=root / "bundle.atlas.json",
    )
    source = layout_source()
    source["functionaries"]["trainer-2"] = "keys/mallory.pub"
    source["steps"][1] = {
        **source["steps"][1],
        "functionaries": ["trainer", "trainer-2"],
        "threshold": 2,
    }
    sign_source(root, source)
    record(clone, "train", key="mallory")
    make_bundle(clone)
    assert _verify(clone).ok, _verify(clone).text()
    # the second trainer saw other data: threshold links disagree
    (clone.work / "model" / "model.npz").write_bytes(b"other")
    for link in clone.evidence.glob("train.*.link"):
        link.unlink()
    record(clone, "train", key="trainer")
    (clone.work / "model" / "model.npz").write_bytes(b"MODEL-1")
    record(clone, "train", key="mallory")
    make_bundle(clone)
    first = _verify(clone).first_failure
    assert first is not None and first.error == "ThresholdError" and "disagree" in first.reason


def test_link_filed_under_another_step(plain_pipeline: Pipeline) -> None:
    doc = plain_pipeline.bundle_doc()
    doc["steps"]["package"]["links"] = copy.deepcopy(doc["steps"]["train"]["links"])
    first = _verify(plain_pipeline, json.dumps(doc).encode()).first_failure
    assert first is not None
    # the train link is not signed by package's functionary
    assert first.error == "LinkSignatureError"


def test_garbage_envelope_fails_links_check(plain_pipeline: Pipeline) -> None:
    doc = plain_pipeline.bundle_doc()
    doc["steps"]["train"]["links"][0]["envelope"] = base64.b64encode(b"not json").decode()
    first = _verify(plain_pipeline, json.dumps(doc).encode()).first_failure
    assert first is not None and (first.check, first.error) == ("links", "FormatError")


def test_missing_final_artifact(plain_pipeline: Pipeline, tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    first = _verify(plain_pipeline, artifacts_dir=tmp_path).first_failure
    assert first is not None and first.error == "FinalArtifactError"
    assert "not among the artifacts" in first.reason
    with pytest.raises(InputError, match="artifacts directory not found"):
        _verify(plain_pipeline, artifacts_dir=tmp_path / "nope")


def test_failed_step_marked_in_lineage(plain_pipeline: Pipeline) -> None:
    doc = plain_pipeline.bundle_doc()
    del doc["steps"]["package"]
    report = _verify(plain_pipeline, json.dumps(doc).encode())
    assert [s.passed for s in report.steps] == [True, True, False]


def test_tee_is_judged_at_the_log_integration_time(full_pipeline: Pipeline) -> None:
    # Long after recording the simulated collateral has expired; a logged link's quote is
    # still judged at its integratedTime (issue 4), so its TEE rows pass.
    later = int(time.time()) + COLLATERAL_VALIDITY + 86400
    report = _verify(full_pipeline, now=later)
    tee_rows = [row for row in report.results if row.check == "tee"]
    assert len(tee_rows) == 3 and all(row.passed for row in tee_rows), report.text()

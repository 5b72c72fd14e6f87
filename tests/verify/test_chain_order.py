"""Check 2, chain order with ``require_upstream``: only upstream records count, log times never
stand in for them (a re-logged old link has a later log time but no record of this run)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bundle_builder import (
    layout_source,
    make_bundle,
    new_pipeline,
    record,
    sign_source,
)

from atlas_intoto.verify import VerificationReport, verify_bundle


def _pipeline(root: Path, *, require_upstream: bool, split: bool) -> VerificationReport:
    pipeline = new_pipeline(root)
    doc: dict[str, Any] = layout_source()
    if require_upstream:
        doc["require_upstream"] = True
    sign_source(root, doc)
    # split: the producer's link is not at hand when train is recorded (another evidence
    # directory), so train's link has no upstream record for prepare
    other = root / "evidence-prepare" if split else pipeline.evidence
    record(pipeline, "prepare", out=other)
    record(pipeline, "train")
    record(pipeline, "package")
    make_bundle(pipeline, evidence=sorted({other, pipeline.evidence}))
    return verify_bundle(pipeline.bundle_bytes(), layout_keys=[pipeline.owner_pem])


def _failures(report: VerificationReport) -> set[tuple[str, str | None, str | None]]:
    return {(row.check, row.step, row.error) for row in report.failures}


def test_recorded_upstream_links_satisfy_require_upstream(tmp_path: Path) -> None:
    report = _pipeline(tmp_path, require_upstream=True, split=False)
    assert report.ok, report.text()
    chain = [r for r in report.results if r.check == "links" and "chain order" in r.reason]
    assert chain and all(r.status == "pass" for r in chain)


def test_a_link_without_upstream_record_fails_when_the_layout_requires_it(
    tmp_path: Path,
) -> None:
    report = _pipeline(tmp_path, require_upstream=True, split=True)
    assert _failures(report) == {("links", "train", "ReplayError")}, report.text()
    assert "require_upstream" in next(r.reason for r in report.failures)


def test_without_require_upstream_an_unrecorded_input_is_never_a_silent_pass(
    tmp_path: Path,
) -> None:
    report = _pipeline(tmp_path, require_upstream=False, split=True)
    train = [r for r in report.results if r.check == "links" and r.step == "train"]
    # no upstream record and no log times: the chain order of train is a skip, not a pass
    assert any(r.status == "skip" and "not checked" in r.reason for r in train), report.text()

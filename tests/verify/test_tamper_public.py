"""Issue 17: the tamper suite on a PUBLIC bundle of a confidential pipeline (datasets recorded
as salted commitments). Every attack is still caught by its check and error class; the public
consumer holds the released files only (no private dataset)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from attacks import ATTACKS, Attack, Ctx
from bundle_builder import Pipeline

from atlas_intoto.verify import verify_bundle

#: attacks that need a C2PA sidecar of a private dataset, which a confidential pipeline never
#: makes (a manifest would name the dataset's path and hash: docs/confidentiality.md)
NOT_APPLICABLE = {"c2pa-manifest-other-file", "sidecar-swapped"}


def _public_copy(artifacts: Path | None, tmp: Path) -> Path | None:
    """What a public consumer holds: the files without the private datasets."""
    if artifacts is None or not artifacts.is_dir():
        return artifacts
    held = tmp / "public-held"
    shutil.copytree(artifacts, held, ignore=shutil.ignore_patterns("data"))
    return held


def test_untampered_public_bundle_verifies(confidential_pipeline: Pipeline, tmp_path: Path) -> None:
    data = confidential_pipeline.bundle_bytes()
    assert b"data/train.csv" not in data
    report = verify_bundle(
        data,
        layout_keys=[confidential_pipeline.owner_pem],
        artifacts_dir=_public_copy(confidential_pipeline.work, tmp_path),
    )
    assert report.ok, report.text()
    assert any(r.status == "skip" and "not visible" in r.reason for r in report.results)


@pytest.mark.parametrize(
    "attack", [a for a in ATTACKS if a.name not in NOT_APPLICABLE], ids=lambda a: a.name
)
def test_attack_on_public_bundle_is_detected_by_its_check(
    attack: Attack,
    confidential_pipeline: Pipeline,
    attack_ctx: Callable[[Pipeline], Ctx],
    tmp_path: Path,
) -> None:
    ctx = attack_ctx(confidential_pipeline)
    case = attack.build(ctx)
    report = verify_bundle(
        case.bundle,
        layout_keys=case.layout_keys,
        artifacts_dir=_public_copy(case.artifacts, tmp_path),
        now=case.now,
    )
    assert not report.ok
    first = report.first_failure
    assert first is not None
    assert (first.check, first.error) == (attack.check, attack.error), report.text()
    assert first.reason and "\n" not in first.reason

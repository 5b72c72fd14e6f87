"""Issue 6 item 7: every attack is caught by its specific check and error class; an untampered
bundle verifies (no false positives)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from attacks import ATTACKS, Attack, Ctx
from bundle_builder import Pipeline

from atlas_intoto.verify import VerifyCache, verify_bundle


def test_untampered_bundle_verifies(full_pipeline: Pipeline, tmp_path: Path) -> None:
    for cache in (None, VerifyCache(tmp_path / "cache"), VerifyCache(tmp_path / "cache")):
        report = verify_bundle(
            full_pipeline.bundle_bytes(),
            layout_keys=[full_pipeline.owner_pem],
            artifacts_dir=full_pipeline.work,
            cache=cache,
        )
        assert report.ok, report.text()
        assert {row.check for row in report.results} == {
            "layout",
            "links",
            "rules",
            "tee",
            "c2pa",
            "tlog",
            "artifacts",
        }
        assert all("not required" not in row.reason for row in report.results), report.text()


def test_attack_catalogue_is_broad() -> None:
    assert len({a.name for a in ATTACKS}) == len(ATTACKS) >= 20
    assert len({a.error for a in ATTACKS}) >= 18
    assert {a.check for a in ATTACKS} == {
        "layout",
        "links",
        "rules",
        "tee",
        "c2pa",
        "tlog",
        "artifacts",
    }


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_is_detected_by_its_check(
    attack: Attack, full_pipeline: Pipeline, attack_ctx: Callable[[Pipeline], Ctx]
) -> None:
    ctx = attack_ctx(full_pipeline)
    case = attack.build(ctx)
    report = verify_bundle(
        case.bundle, layout_keys=case.layout_keys, artifacts_dir=case.artifacts, now=case.now
    )
    assert not report.ok
    first = report.first_failure
    assert first is not None
    assert (first.check, first.error) == (attack.check, attack.error), report.text()
    assert first.reason and "\n" not in first.reason

"""verify-batch: same verdicts as one-by-one, shared evidence verified once, bad files reported."""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from bundle_builder import Pipeline

from atlas_intoto.verify import batch, verify_bundle
from atlas_intoto.verify.batch import verify_batch


def test_batch_matches_single_verification(full_pipeline: Pipeline, tmp_path: Path) -> None:
    doc = full_pipeline.bundle_doc()
    del doc["steps"]["package"]
    bad = tmp_path / "bad.atlas.json"
    bad.write_text(json.dumps(doc))
    garbage = tmp_path / "garbage.atlas.json"
    garbage.write_text("{")
    paths = [full_pipeline.bundle_file, bad, full_pipeline.bundle_file, garbage, tmp_path / "nope"]
    reports = verify_batch(
        paths * 2, layout_keys=[full_pipeline.owner_pem], jobs=2, use_cache=False
    )
    singles = [
        verify_bundle(full_pipeline.bundle_bytes(), layout_keys=[full_pipeline.owner_pem]),
        verify_bundle(bad.read_bytes(), layout_keys=[full_pipeline.owner_pem]),
    ]
    for index in (0, 2, 5, 7):
        assert [r.passed for r in reports[index].results] == [r.passed for r in singles[0].results]
    for index in (1, 6):
        assert [r.passed for r in reports[index].results] == [r.passed for r in singles[1].results]
    for index in (3, 4, 8, 9):
        assert not reports[index].ok and reports[index].results[0].error == "InputError"


def test_shared_evidence_verified_once(full_pipeline: Pipeline, tmp_path: Path) -> None:
    paths = [full_pipeline.bundle_file] * 6
    reports = verify_batch(paths, layout_keys=[full_pipeline.owner_pem], jobs=1, cache_dir=tmp_path)
    assert reports[0].cache_hits == 0
    assert all(r.cache_hits > 0 for r in reports[1:])


def test_empty_batch() -> None:
    assert verify_batch([], layout_keys=[]) == []


def test_default_uses_every_core(
    full_pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools: list[int | None] = []

    def recording_pool(*args: Any, **kwargs: Any) -> Any:
        pools.append(kwargs.get("max_workers"))
        return ProcessPoolExecutor(*args, **kwargs)

    monkeypatch.setattr(batch, "ProcessPoolExecutor", recording_pool)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    paths = [full_pipeline.bundle_file] * 4
    reports = verify_batch(paths, layout_keys=[full_pipeline.owner_pem], cache_dir=tmp_path)
    assert pools == [3]
    assert all(r.ok for r in reports)

"""Digest algorithms end to end: the layout's ``digests``, MATCH over shared algorithms, check 7
by BLAKE3 (record_step → bundle → verify_bundle)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from bundle_builder import (
    Pipeline,
    layout_source,
    make_bundle,
    new_pipeline,
    record,
    sign_source,
)

from atlas_intoto.verify import verify_bundle
from atlas_intoto.verify.checks.rules import SharedDigests
from atlas_intoto.verify.report import VerificationReport

SHA = ("sha256",)
B3 = ("blake3",)
BOTH = ("sha256", "blake3")


def _run(
    root: Path,
    *,
    layout_digests: Sequence[str] | None,
    steps: Mapping[str, Sequence[str]],
    before_train: Callable[[Path], None] | None = None,
) -> tuple[Pipeline, VerificationReport]:
    pipeline = new_pipeline(root)
    doc: dict[str, Any] = layout_source()
    if layout_digests is not None:
        doc["digests"] = list(layout_digests)
    sign_source(root, doc)
    for step in ("prepare", "train", "package"):
        if step == "train" and before_train is not None:
            before_train(pipeline.work)
        pipeline.options["digests"] = tuple(steps.get(step, SHA))
        record(pipeline, step)
    make_bundle(pipeline)
    report = verify_bundle(
        pipeline.bundle_bytes(),
        layout_keys=[pipeline.owner_pem],
        artifacts_dir=pipeline.work / "dist",
    )
    return pipeline, report


def _failed(report: VerificationReport) -> set[tuple[str, str | None, str | None]]:
    return {(row.check, row.step, row.error) for row in report.failures}


def test_blake3_pipeline_verifies_with_mixed_steps_and_blake3_artifacts(tmp_path: Path) -> None:
    pipeline, report = _run(
        tmp_path, layout_digests=B3, steps={"prepare": B3, "train": BOTH, "package": B3}
    )
    assert report.ok, report.text()
    (pipeline.work / "dist" / "model.npz").write_bytes(b"swapped")
    swapped = verify_bundle(
        pipeline.bundle_bytes(),
        layout_keys=[pipeline.owner_pem],
        artifacts_dir=pipeline.work / "dist",
    )
    assert _failed(swapped) == {("artifacts", None, "FinalArtifactError")}
    assert "blake3" in next(row.reason for row in swapped.failures)


def test_match_compares_the_algorithms_both_links_share(tmp_path: Path) -> None:
    _, report = _run(tmp_path, layout_digests=None, steps={"prepare": SHA, "train": BOTH})
    assert report.ok, report.text()


def test_a_link_without_a_required_algorithm_fails_check_3(tmp_path: Path) -> None:
    _, report = _run(tmp_path, layout_digests=BOTH, steps={"prepare": BOTH, "train": B3})
    assert _failed(report) == {
        ("rules", "train", "ArtifactDigestError"),
        ("rules", "package", "ArtifactDigestError"),
    }
    row = next(r for r in report.failures if r.step == "train")
    assert "has no sha256 digest" in row.reason


def test_default_layout_requires_sha256(tmp_path: Path) -> None:
    _, report = _run(
        tmp_path, layout_digests=None, steps={"prepare": B3, "train": B3, "package": B3}
    )
    assert ("rules", "prepare", "ArtifactDigestError") in _failed(report)


def test_a_dataset_changed_between_blake3_steps_breaks_match(tmp_path: Path) -> None:
    def modify(work: Path) -> None:
        path = work / "data" / "train.csv"
        path.write_text(path.read_text() + "9,999\n")

    _, report = _run(
        tmp_path,
        layout_digests=B3,
        steps={"prepare": BOTH, "train": B3, "package": B3},
        before_train=modify,
    )
    assert _failed(report) == {("rules", "train", "ArtifactRuleError")}


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        ({"sha256": "a", "blake3": "b"}, {"blake3": "b"}, True),
        ({"sha256": "a"}, {"sha256": "a", "blake3": "x"}, True),
        ({"sha256": "a", "blake3": "b"}, {"sha256": "a", "blake3": "c"}, False),
        ({"sha256": "a"}, {"blake3": "a"}, False),  # nothing shared: never equal
        ({}, {}, False),
    ],
)
def test_shared_digests(left: dict[str, str], right: dict[str, str], equal: bool) -> None:
    assert (SharedDigests(left) == SharedDigests(right)) is equal
    assert (SharedDigests(left) != right) is not equal
    assert (left == SharedDigests(right)) is equal


def test_reports_show_a_digest_for_blake3_only_artifacts(tmp_path: Path) -> None:
    import blake3

    pipeline, report = _run(
        tmp_path, layout_digests=B3, steps={"prepare": B3, "train": B3, "package": B3}
    )
    assert report.ok, report.text()
    model = (pipeline.work / "dist" / "model.npz").read_bytes()
    package = next(step for step in report.steps if step.step == "package")
    assert package.products == {"dist/model.npz": f"blake3:{blake3.blake3(model).hexdigest()}"}

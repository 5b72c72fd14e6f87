"""Exports name each digest by its own algorithm: a BLAKE3-only artifact is never labelled
SHA-256 in a VSA subject or a SLSA resolved dependency."""

from __future__ import annotations

from atlas_intoto.measure import digest_set, display_digest
from atlas_intoto.slsa import resolved_dependencies
from atlas_intoto.verify.report import StepLineage, VerificationReport
from atlas_intoto.vsa import final_products

SHA = "a" * 64
B3 = "b" * 64


def _report() -> VerificationReport:
    prepare = StepLineage(
        step="prepare",
        materials={"raw/data.csv": display_digest({"blake3": B3})},
        products={"data/train.csv": display_digest({"sha256": SHA, "blake3": B3})},
        passed=True,
    )
    package = StepLineage(
        step="package",
        materials={"data/train.csv": display_digest({"sha256": SHA, "blake3": B3})},
        products={"dist/model.bin": display_digest({"blake3": B3})},
        passed=True,
    )
    return VerificationReport(results=(), steps=(prepare, package))


def test_digest_set_inverts_display_digest() -> None:
    assert digest_set(display_digest({"sha256": SHA, "blake3": B3})) == {"sha256": SHA}
    assert digest_set(display_digest({"blake3": B3})) == {"blake3": B3}


def test_vsa_subject_keeps_a_blake3_only_product_blake3() -> None:
    assert final_products(_report()) == {"dist/model.bin": {"blake3": B3}}


def test_slsa_inputs_keep_their_algorithm() -> None:
    assert resolved_dependencies(_report()) == {"raw/data.csv": {"blake3": B3}}

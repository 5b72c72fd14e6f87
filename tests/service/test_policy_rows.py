"""A policy's requirements count only verified evidence (never a skipped row), and a witness
requirement is met only by layouts whose logs demand that many cosignatures."""

from __future__ import annotations

from bundle_builder import Pipeline

from atlas_intoto.service.config import Policy, Requirements
from atlas_intoto.service.verifier import policy_rows
from atlas_intoto.verify.report import CheckResult, StepLineage, VerificationReport


def _report(tee_status: str) -> VerificationReport:
    rows = (
        CheckResult(check="layout", step=None, passed=True, reason="ok"),
        CheckResult(check="tee", step="train", passed=True, reason="x", status=tee_status),
        CheckResult(check="tlog", step="train", passed=True, reason="x", status="pass"),
    )
    return VerificationReport(
        results=rows, steps=(StepLineage(step="train", tee_type="tdx", passed=True),)
    )


def _policy(*, tee: bool = False, witnesses: int = 0) -> Policy:
    return Policy(name="p", layout_keys=(b"k",), require=Requirements(tee=tee, witnesses=witnesses))


def test_tee_requirement_needs_a_verified_quote_not_a_claimed_one() -> None:
    assert policy_rows(_policy(tee=True), _report("pass"))[0].passed
    (row,) = policy_rows(_policy(tee=True), _report("skip"))
    assert not row.passed and "no verified TEE evidence" in row.reason


def test_witness_requirement_against_a_layout_without_witnesses(attested: Pipeline) -> None:
    (row,) = policy_rows(_policy(witnesses=1), _report("pass"), attested.bundle_bytes())
    assert not row.passed and row.error == "PolicyRequirementError"
    assert "witness cosignature" in row.reason

"""The report model: rows resolve their error classes; reports round-trip through JSON."""

from __future__ import annotations

import inspect
import json

from atlas_intoto import errors
from atlas_intoto.errors import AtlasError, LogEntryFormatError
from atlas_intoto.verify.report import CheckResult, StepLineage, VerificationReport


def test_every_error_class_lives_in_the_errors_package_and_resolves() -> None:
    import atlas_intoto

    names = {n for n, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, AtlasError)}
    assert "LogEntryFormatError" in names and "StepCommandFailed" in names
    row = CheckResult(check="tlog", step="s", passed=False, reason="x", error="LogEntryFormatError")
    assert row.error_class is LogEntryFormatError
    # No AtlasError subclass is defined outside atlas_intoto.errors.
    import pkgutil

    for module in pkgutil.walk_packages(atlas_intoto.__path__, "atlas_intoto."):
        if module.name.startswith("atlas_intoto.integrations.") or module.name.endswith("__main__"):
            continue
        mod = __import__(module.name, fromlist=["_"])
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if issubclass(cls, AtlasError):
                assert cls.__module__.startswith("atlas_intoto.errors."), cls


def test_report_round_trips_through_json() -> None:
    report = VerificationReport(
        results=(
            CheckResult(check="layout", step=None, passed=True, reason="ok"),
            CheckResult(
                check="tee",
                step="train",
                passed=False,
                reason="bad",
                error="TcbStatusError",
                code="tee.tcb",
            ),
        ),
        steps=(
            StepLineage(
                step="train",
                signers=("ab",),
                functionaries=("trainer",),
                materials={"d": "00"},
                products={"m": "11"},
                command=("python", "t.py"),
                tee_type="tdx",
                mrtd="22",
                tcb_status="UpToDate",
                log_index=3,
                log_uuid="e",
                integrated_time=5,
                c2pa_products=("m",),
                passed=False,
            ),
        ),
        layout_digest="dd",
        layout_readme="r",
        verified_at=9,
        cache_hits=1,
    )
    again = VerificationReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report and again.ok is False

"""The checks of a bundle verification, one module per check, in report order:
layout (:mod:`atlas_intoto.verify.engine`), links (:mod:`.links`), rules (:mod:`.rules`),
tee/evidence (:mod:`.evidence`), c2pa (:mod:`.c2pa`), tlog (:mod:`.tlog`) and artifacts
(:mod:`.artifacts`).

The contract: a check is a function of the :class:`~atlas_intoto.verify.state.VerificationState`
that returns report rows and fills the state fields it owns. Bad evidence is a failed row,
never an exception; only operational faults (exit 2) propagate. An unexpected exception inside
a check (a crash on hostile input) is caught per step and reported as a failed row of that check
(fail closed), never a pass.
"""

from __future__ import annotations

from collections.abc import Callable

from atlas_intoto.errors import AtlasError, OperationalError
from atlas_intoto.verify.report import CheckResult


def passed(check: str, step: str | None, reason: str) -> CheckResult:
    """A passing row."""
    return CheckResult(check=check, step=step, passed=True, reason=reason)


def skipped(check: str, step: str | None, reason: str) -> CheckResult:
    """A row for a check that did not run (nothing to check, or nothing to check it with): it
    fails nothing, and the report never calls it passed."""
    return CheckResult(check=check, step=step, passed=True, reason=reason, status="skip")


def failed(check: str, step: str | None, exc: BaseException) -> CheckResult:
    """A failing row for ``exc`` (its class name and check code, or an internal error)."""
    if isinstance(exc, AtlasError):
        return CheckResult(
            check=check,
            step=step,
            passed=False,
            reason=str(exc) or type(exc).__name__,
            error=type(exc).__name__,
            code=exc.check,
        )
    # A crash inside a check is not a pass: report it as a failure of that check.
    return CheckResult(
        check=check,
        step=step,
        passed=False,
        reason=f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
        error=type(exc).__name__,
        code="internal",
    )


def row(check: str, step: str | None, body: Callable[[], CheckResult]) -> CheckResult:
    """``body()``'s row, or a failed row for anything it raises except operational errors."""
    try:
        return body()
    except OperationalError:
        raise
    except Exception as exc:
        return failed(check, step, exc)


__all__ = ["failed", "passed", "row", "skipped"]

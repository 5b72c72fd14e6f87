"""The verification report: one row per check (docs/ARCHITECTURE.md), plus the lineage it established."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atlas_intoto import errors
from atlas_intoto.errors import AtlasError

#: The seven checks, in order (docs/ARCHITECTURE.md).
CHECKS = ("layout", "links", "rules", "tee", "c2pa", "tlog", "artifacts")


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """One report row."""

    #: one of :data:`CHECKS`
    check: str
    #: the step the row is about, or None for bundle-wide checks (layout, artifacts)
    step: str | None
    passed: bool
    reason: str
    #: error class name (errors.py) when failed, e.g. "ReportDataMismatchError"
    error: str | None = None
    #: the error's machine-readable check code, e.g. "tee.binding"
    code: str | None = None

    @property
    def error_class(self) -> type[AtlasError] | None:
        """The errors.py class named by :attr:`error`, for ``issubclass`` tests in library code.

        ``error`` stays a name so reports serialize; this resolves it back to the class.
        """
        if self.error is None:
            return None
        found = getattr(errors, self.error, None)
        # None for classes defined elsewhere, and for internal errors (a crash inside a check)
        return found if isinstance(found, type) and issubclass(found, AtlasError) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "step": self.step,
            "passed": self.passed,
            "reason": self.reason,
            "error": self.error,
            "code": self.code,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CheckResult:
        return cls(
            check=str(doc["check"]),
            step=doc.get("step"),
            passed=bool(doc["passed"]),
            reason=str(doc["reason"]),
            error=doc.get("error"),
            code=doc.get("code"),
        )


@dataclass(frozen=True, kw_only=True)
class StepLineage:
    """What the evidence says about one step (only from verified or, if failed, claimed data)."""

    step: str
    signers: tuple[str, ...] = ()
    #: functionary names (from the layout) of the signers
    functionaries: tuple[str, ...] = ()
    materials: Mapping[str, str] = field(default_factory=dict)
    products: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    tee_type: str | None = None
    mrtd: str | None = None
    tcb_status: str | None = None
    log_index: int | None = None
    log_uuid: str | None = None
    integrated_time: int | None = None
    c2pa_products: tuple[str, ...] = ()
    passed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "signers": list(self.signers),
            "functionaries": list(self.functionaries),
            "materials": dict(self.materials),
            "products": dict(self.products),
            "command": list(self.command),
            "tee": {"type": self.tee_type, "mrtd": self.mrtd, "tcb_status": self.tcb_status},
            "log": {
                "index": self.log_index,
                "uuid": self.log_uuid,
                "integrated_time": self.integrated_time,
            },
            "c2pa_products": list(self.c2pa_products),
            "passed": self.passed,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> StepLineage:
        tee, log = doc.get("tee") or {}, doc.get("log") or {}
        return cls(
            step=str(doc["step"]),
            signers=tuple(doc.get("signers", ())),
            functionaries=tuple(doc.get("functionaries", ())),
            materials=dict(doc.get("materials", {})),
            products=dict(doc.get("products", {})),
            command=tuple(doc.get("command", ())),
            tee_type=tee.get("type"),
            mrtd=tee.get("mrtd"),
            tcb_status=tee.get("tcb_status"),
            log_index=log.get("index"),
            log_uuid=log.get("uuid"),
            integrated_time=log.get("integrated_time"),
            c2pa_products=tuple(doc.get("c2pa_products", ())),
            passed=bool(doc.get("passed", False)),
        )


@dataclass(frozen=True, kw_only=True)
class VerificationReport:
    """The outcome of verifying one bundle: every check's rows, in order, and the lineage."""

    results: tuple[CheckResult, ...]
    steps: tuple[StepLineage, ...] = ()
    layout_digest: str | None = None
    layout_readme: str = ""
    #: the reference time used (unix seconds)
    verified_at: int = 0
    cache_hits: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(row.passed for row in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(row for row in self.results if not row.passed)

    @property
    def first_failure(self) -> CheckResult | None:
        failures = self.failures
        return failures[0] if failures else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "layout": {"digest": self.layout_digest, "readme": self.layout_readme},
            "verified_at": self.verified_at,
            "results": [row.to_dict() for row in self.results],
            "steps": [step.to_dict() for step in self.steps],
            "cache_hits": self.cache_hits,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> VerificationReport:
        """The report :meth:`to_dict` wrote (``ok`` is recomputed, never trusted)."""
        layout = doc.get("layout") or {}
        return cls(
            results=tuple(CheckResult.from_dict(r) for r in doc.get("results", ())),
            steps=tuple(StepLineage.from_dict(s) for s in doc.get("steps", ())),
            layout_digest=layout.get("digest"),
            layout_readme=str(layout.get("readme", "")),
            verified_at=int(doc.get("verified_at", 0)),
            cache_hits=int(doc.get("cache_hits", 0)),
        )

    def text(self) -> str:
        """One line per check, for people."""
        lines = []
        for row in self.results:
            mark = "PASS" if row.passed else "FAIL"
            where = f" [{row.step}]" if row.step else ""
            error = f" ({row.error})" if row.error else ""
            number = f"{CHECKS.index(row.check) + 1}. " if row.check in CHECKS else ""
            lines.append(f"{mark} {number}{row.check}{where}: {row.reason}{error}")
        verdict = "VERIFIED" if self.ok else f"NOT VERIFIED: {len(self.failures)} check(s) failed"
        lines.append(verdict)
        return "\n".join(lines)

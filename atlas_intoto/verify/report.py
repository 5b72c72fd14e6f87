"""The verification report: one row per check (docs/ARCHITECTURE.md), plus the lineage it established."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atlas_intoto import errors
from atlas_intoto.errors import AtlasError

#: The seven checks, in order (docs/ARCHITECTURE.md).
CHECKS = ("layout", "links", "rules", "tee", "c2pa", "tlog", "artifacts")
#: What a row says: the check ran and held, ran and failed, or did not run (nothing to check,
#: or the verifier was not given what it needs). A skip never counts as a pass.
STATUSES = ("pass", "fail", "skip")


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """One report row."""

    #: one of :data:`CHECKS`
    check: str
    #: the step the row is about, or None for bundle-wide checks (layout, artifacts)
    step: str | None
    passed: bool
    reason: str
    #: error class name (atlas_intoto.errors) when failed, e.g. "ReportDataMismatchError"
    error: str | None = None
    #: the error's machine-readable check code, e.g. "tee.binding"
    code: str | None = None
    #: "pass", "fail" or "skip" (:data:`STATUSES`); "" means derived from ``passed``. A
    #: skipped row has ``passed`` true (it fails nothing) but proves nothing either.
    status: str = ""
    #: for a failure that follows from another one: the row it follows from, as
    #: "CHECK [STEP]" (e.g. "links [train]"); None for a root cause
    consequence_of: str | None = None

    def __post_init__(self) -> None:
        status = self.status or ("pass" if self.passed else "fail")
        if status not in STATUSES or (status == "fail") == self.passed:
            raise ValueError(f"report row: status {status!r} contradicts passed={self.passed}")
        object.__setattr__(self, "status", status)

    @property
    def error_class(self) -> type[AtlasError] | None:
        """The atlas_intoto.errors class named by :attr:`error`, for ``issubclass`` tests in library code.

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
            "status": self.status,
            "consequence_of": self.consequence_of,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CheckResult:
        """A row :meth:`to_dict` wrote (reports without ``status`` derive it from ``passed``)."""
        return cls(
            check=str(doc["check"]),
            step=doc.get("step"),
            passed=bool(doc["passed"]),
            reason=str(doc["reason"]),
            error=doc.get("error"),
            code=doc.get("code"),
            status=str(doc.get("status") or ""),
            consequence_of=doc.get("consequence_of"),
        )

    @property
    def label(self) -> str:
        """``CHECK [STEP]``: how other rows and people refer to this row."""
        return f"{self.check} [{self.step}]" if self.step else self.check


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
    #: links judged at ``verified_at`` because no time source gave them a trusted time (a
    #: verdict over such a link must not be reused later: their evidence ages)
    untimed_links: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(row.passed for row in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(row for row in self.results if not row.passed)

    @property
    def first_failure(self) -> CheckResult | None:
        """The first failed row that is a root cause (not a consequence of another failure)."""
        failures = self.root_causes or self.failures
        return failures[0] if failures else None

    @property
    def root_causes(self) -> tuple[CheckResult, ...]:
        """The failures that do not follow from another failure."""
        return tuple(row for row in self.failures if row.consequence_of is None)

    @property
    def skipped(self) -> tuple[CheckResult, ...]:
        return tuple(row for row in self.results if row.status == "skip")

    @property
    def artifacts_compared(self) -> bool:
        """Whether the consumer's files were compared with the evidence (check 7 ran). A step's
        row of check 7 (its private artifacts opened) compares no file."""
        return any(
            row.check == "artifacts" and row.step is None and row.status != "skip"
            for row in self.results
        )

    @property
    def verdict(self) -> str:
        """The one-line human verdict: it never says VERIFIED of files it did not compare."""
        if not self.ok:
            causes = len(self.root_causes)
            return (
                f"NOT VERIFIED: {len(self.failures)} check(s) failed"
                f" ({causes} root cause(s); the others follow from them)"
                if causes != len(self.failures)
                else f"NOT VERIFIED: {len(self.failures)} check(s) failed"
            )
        # other skips are rows of their own (SKIP): a layout that requires nothing more
        notes = [] if self.artifacts_compared else ["artifacts not compared"]
        hidden = self.private_steps
        if hidden:
            # a public bundle of confidential provenance: say what could not be seen
            notes.append(f"private artifacts of {', '.join(hidden)} not visible")
        return f"VERIFIED ({'; '.join(notes)})" if notes else "VERIFIED"

    @property
    def private_steps(self) -> tuple[str, ...]:
        """The steps whose private artifacts the verifier could not see (no openings): their
        check 7 rows are skips (docs/confidentiality.md)."""
        return tuple(
            row.step
            for row in self.results
            if row.check == "artifacts" and row.step is not None and row.status == "skip"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "layout": {"digest": self.layout_digest, "readme": self.layout_readme},
            "verified_at": self.verified_at,
            "artifacts_compared": self.artifacts_compared,
            "private_not_visible": list(self.private_steps),
            "results": [row.to_dict() for row in self.results],
            "steps": [step.to_dict() for step in self.steps],
            "cache_hits": self.cache_hits,
            "untimed_links": self.untimed_links,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> VerificationReport:
        """The report :meth:`to_dict` wrote (``ok`` and ``artifacts_compared`` are recomputed,
        never trusted)."""
        layout = doc.get("layout") or {}
        return cls(
            results=tuple(CheckResult.from_dict(r) for r in doc.get("results", ())),
            steps=tuple(StepLineage.from_dict(s) for s in doc.get("steps", ())),
            layout_digest=layout.get("digest"),
            layout_readme=str(layout.get("readme", "")),
            verified_at=int(doc.get("verified_at", 0)),
            cache_hits=int(doc.get("cache_hits", 0)),
            untimed_links=int(doc.get("untimed_links", 0)),
        )

    def text(self) -> str:
        """One line per check, for people."""
        lines = []
        for row in self.results:
            mark = row.status.upper()
            where = f" [{row.step}]" if row.step else ""
            error = f" ({row.error})" if row.error else ""
            number = f"{CHECKS.index(row.check) + 1}. " if row.check in CHECKS else ""
            after = f" [consequence of {row.consequence_of}]" if row.consequence_of else ""
            lines.append(f"{mark} {number}{row.check}{where}: {row.reason}{error}{after}")
        lines.append(self.verdict)
        return "\n".join(lines)

"""The options of recording a step, shared by the library (:mod:`atlas_intoto.step`), the CLI
(``run`` / ``record``) and the ML integrations (torch, Hugging Face, Kubeflow)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from atlas_intoto.errors import UsageError
from atlas_intoto.measure import DEFAULT_ALGORITHMS, check_algorithms

#: ``--tee`` choices: no TEE, the simulated TDX platform, a real TD (configfs-tsm).
TEE_CHOICES = ("none", "simulated", "tdx")
#: The log backend ``--log URL`` publishes to unless told otherwise.
DEFAULT_LOG_BACKEND = "rekor-v1"
#: Bytes of stdout/stderr kept per stream with ``record_output`` (runner.DEFAULT_OUTPUT_CAP).
DEFAULT_OUTPUT_CAP = 64 * 1024
#: Publishing retries after the first attempt, and the first wait between them (doubling).
DEFAULT_LOG_RETRIES = 3
DEFAULT_LOG_BACKOFF = 1.0
#: The largest log request assumed acceptable (``log serve --max-body``'s default).
DEFAULT_LOG_MAX_ENTRY = 128 * 1024


@dataclass(frozen=True, kw_only=True)
class EvidenceRequest:
    """Record evidence of a registered kind (:mod:`atlas_intoto.evidence.registry`)."""

    kind: str
    options: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> EvidenceRequest:
        return cls(kind=str(doc["kind"]), options=dict(doc.get("options") or {}))


@dataclass(frozen=True, kw_only=True)
class RecordingOptions:
    """How a step is recorded: who signs, what is measured where, which evidence is added.

    ``base_path``/``exclude`` of None mean ``.`` and no patterns — except for ``record stop``,
    where they mean "as given to record start".
    """

    #: the functionary's private key (PEM; encrypted keys read ATLAS_INTOTO_KEY_PASSWORD)
    key_path: Path
    base_path: Path | None = None
    out_dir: Path = Path(".atlas")
    exclude: tuple[str, ...] | None = None
    #: TDX evidence: none, simulated or tdx (shorthand for an ``EvidenceRequest("tdx", ...)``)
    tee: str = "none"
    #: PCCS/PCS URL, file:// URL or file with collateral, for ``tee="tdx"``
    tee_collateral_url: str | None = None
    #: further evidence kinds to record (plug-ins)
    evidence: tuple[EvidenceRequest, ...] = ()
    c2pa: bool = False
    log_url: str | None = None
    log_backend: str = DEFAULT_LOG_BACKEND
    #: RFC 3161 TSA timestamping the link's signature (Rekor v2 logs; None: the log's own)
    tsa_url: str | None = None
    #: keep stdout/stderr in the link (capped at ``output_cap`` bytes each); by default only
    #: their SHA-256 and size are recorded
    record_output: bool = False
    output_cap: int = DEFAULT_OUTPUT_CAP
    #: publishing: retries after a failed attempt (unreachable log or 5xx), first wait in
    #: seconds (doubling, at most 30 s), and the largest request the log accepts
    log_retries: int = DEFAULT_LOG_RETRIES
    log_backoff: float = DEFAULT_LOG_BACKOFF
    log_max_entry: int = DEFAULT_LOG_MAX_ENTRY
    #: a signed layout to check the step against before anything runs (pre-flight)
    layout: Path | None = None
    #: the C2PA signing certificate chain (PEM, leaf first); None: beside the key (NAME.crt)
    cert_path: Path | None = None
    #: digest algorithms recorded for every artifact (``--digest``; the layout's ``digests``)
    digests: tuple[str, ...] = DEFAULT_ALGORITHMS
    #: reuse digests of files unchanged since measured on this machine (``--no-digest-cache``)
    digest_cache: bool = True

    def __post_init__(self) -> None:
        if self.tee not in TEE_CHOICES:
            raise UsageError(f"--tee {self.tee!r}: expected one of {', '.join(TEE_CHOICES)}")
        if self.output_cap < 0:
            raise UsageError(f"--output-cap {self.output_cap}: must not be negative")
        if self.log_retries < 0 or self.log_backoff < 0:
            raise UsageError("--log-retries/--log-backoff: must not be negative")
        if self.log_max_entry < 1:
            raise UsageError(f"--log-max-entry {self.log_max_entry}: must be positive")
        object.__setattr__(self, "digests", check_algorithms(self.digests))
        if self.c2pa and "sha256" not in self.digests:
            raise UsageError("--c2pa needs --digest sha256 (C2PA binds each product by SHA-256)")

    @property
    def base(self) -> Path:
        return self.base_path if self.base_path is not None else Path(".")

    @property
    def patterns(self) -> tuple[str, ...]:
        return self.exclude if self.exclude is not None else ()

    def evidence_requests(self) -> tuple[EvidenceRequest, ...]:
        """Every evidence kind to record, ``tee`` first."""
        requests: list[EvidenceRequest] = []
        if self.tee != "none":
            options = {"platform": self.tee}
            if self.tee_collateral_url is not None:
                options["collateral_url"] = self.tee_collateral_url
            requests.append(EvidenceRequest(kind="tdx", options=options))
        requests.extend(self.evidence)
        return tuple(requests)

    def with_changes(self, **changes: Any) -> RecordingOptions:
        """A copy with some fields changed (e.g. another ``out_dir`` for checkpoints)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (e.g. to hand the options to a pipeline component)."""
        return {
            "key_path": str(self.key_path),
            "base_path": None if self.base_path is None else str(self.base_path),
            "out_dir": str(self.out_dir),
            "exclude": None if self.exclude is None else list(self.exclude),
            "tee": self.tee,
            "tee_collateral_url": self.tee_collateral_url,
            "evidence": [request.to_dict() for request in self.evidence],
            "c2pa": self.c2pa,
            "log_url": self.log_url,
            "log_backend": self.log_backend,
            "tsa_url": self.tsa_url,
            "record_output": self.record_output,
            "output_cap": self.output_cap,
            "log_retries": self.log_retries,
            "log_backoff": self.log_backoff,
            "log_max_entry": self.log_max_entry,
            "layout": None if self.layout is None else str(self.layout),
            "cert_path": None if self.cert_path is None else str(self.cert_path),
            "digests": list(self.digests),
            "digest_cache": self.digest_cache,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> RecordingOptions:
        base, exclude = doc.get("base_path"), doc.get("exclude")
        return cls(
            key_path=Path(doc["key_path"]),
            base_path=None if base is None else Path(base),
            out_dir=Path(doc.get("out_dir", ".atlas")),
            exclude=None if exclude is None else tuple(str(p) for p in exclude),
            tee=str(doc.get("tee", "none")),
            tee_collateral_url=doc.get("tee_collateral_url"),
            evidence=tuple(EvidenceRequest.from_dict(r) for r in doc.get("evidence", ())),
            c2pa=bool(doc.get("c2pa", False)),
            log_url=doc.get("log_url"),
            log_backend=str(doc.get("log_backend", DEFAULT_LOG_BACKEND)),
            tsa_url=doc.get("tsa_url"),
            record_output=bool(doc.get("record_output", False)),
            output_cap=int(doc.get("output_cap", DEFAULT_OUTPUT_CAP)),
            log_retries=int(doc.get("log_retries", DEFAULT_LOG_RETRIES)),
            log_backoff=float(doc.get("log_backoff", DEFAULT_LOG_BACKOFF)),
            log_max_entry=int(doc.get("log_max_entry", DEFAULT_LOG_MAX_ENTRY)),
            layout=None if doc.get("layout") is None else Path(doc["layout"]),
            cert_path=None if doc.get("cert_path") is None else Path(doc["cert_path"]),
            digests=_algorithms(doc.get("digests", DEFAULT_ALGORITHMS)),
            digest_cache=bool(doc.get("digest_cache", True)),
        )


def _algorithms(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise UsageError("recording options: field digests must be a list of algorithm names")
    return tuple(str(a) for a in value)

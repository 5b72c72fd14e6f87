"""The service's verification logic, independent of HTTP: requests in, verdicts out.

A request names a policy, a bundle (the document itself, or a path under the configured
``bundle_root``) and the caller's artifacts as a path → SHA-256 map; the service never needs the
model bytes. The answer is the report ``verify --json`` prints (``status`` on every row), plus
the policy's rows, and a signed VSA when the policy has a VSA key.

Verdicts that pass are reused for ``verdict_ttl`` seconds through the shared verify cache,
keyed by the bundle's digest, the policy's digest and the artifacts map; never past the
layout's expiry, and never when a link had no trusted time (its time-dependent evidence, e.g.
TDX collateral, was judged at the verifier's clock).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_intoto.bom import FORMATS
from atlas_intoto.errors import (
    AtlasError,
    OperationalError,
    PolicyRequirementError,
    ServiceRequestError,
)
from atlas_intoto.service.config import Policy, ServiceConfig
from atlas_intoto.verify.cache import VerifyCache, json_digest
from atlas_intoto.verify.checks import failed, passed
from atlas_intoto.verify.report import CheckResult, VerificationReport

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_REQUEST_KEYS = {"policy", "bundle", "bundle_path", "bundle_url", "artifacts", "export"}
_BUNDLE_SOURCES = ("bundle", "bundle_path", "bundle_url")
#: max artifacts in one request (paths are compared one by one)
MAX_ARTIFACTS = 100_000


@dataclass(frozen=True, kw_only=True)
class VerifyRequest:
    """One verification asked of the service."""

    policy: str
    bundle: bytes
    artifacts: Mapping[str, str]
    source: str = "bundle"
    #: the bundle travelled in the request body (not named by path or URL): only then does the
    #: body identify the bundle, so only then may a verdict be filed under the body
    inline: bool = True
    #: an AI-BOM format (``atlas_intoto.bom.FORMATS``) to return with a passing verdict
    export: str | None = None

    @property
    def bundle_digest(self) -> str:
        return hashlib.sha256(self.bundle).hexdigest()


def _artifacts(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ServiceRequestError(f"{where}: must be an object mapping path to sha256 hex")
    if len(value) > MAX_ARTIFACTS:
        raise ServiceRequestError(f"{where}: more than {MAX_ARTIFACTS} artifacts")
    held = {}
    for path, digest in value.items():
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise ServiceRequestError(f"{where}.{path}: must be a SHA-256 hex digest")
        held[str(path)] = digest.lower()
    return held


def _bundle_from_root(value: Any, root: Path | None, where: str, limit: int) -> bytes:
    """The bytes of a bundle named by path under ``root`` (regular files only, no escape)."""
    if root is None:
        raise ServiceRequestError(f"{where}: this service reads no bundles by path", status=400)
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ServiceRequestError(f"{where}: must be a relative path")
    base = root.resolve()
    target = (base / value).resolve()
    if Path(value).is_absolute() or not target.is_relative_to(base):
        raise ServiceRequestError(f"{where}: {value!r} is outside the bundle root", status=403)
    try:
        if not target.is_file():
            raise ServiceRequestError(f"{where}: {value!r}: no such bundle", status=404)
        if target.stat().st_size > limit:
            raise ServiceRequestError(f"{where}: {value!r}: larger than {limit} bytes", status=413)
        return target.read_bytes()
    except OSError as exc:
        raise ServiceRequestError(f"{where}: {value!r}: cannot read ({exc.strerror})") from exc


def _bundle_from_url(
    value: Any, prefixes: tuple[str, ...], where: str, *, limit: int, timeout: float
) -> bytes:
    """The bytes of a bundle fetched from a URL under one of the configured ``prefixes``
    (no redirects: a redirect could leave the prefix; at most ``limit`` bytes)."""
    import httpx

    if not prefixes:
        raise ServiceRequestError(f"{where}: this service fetches no bundles by URL")
    if not isinstance(value, str) or any(c in value for c in "\x00\r\n") or ".." in value:
        raise ServiceRequestError(f"{where}: must be an http(s) URL")
    if not any(value.startswith(prefix) for prefix in prefixes):
        raise ServiceRequestError(f"{where}: {value!r} is not under an allowed URL", status=403)
    try:
        with httpx.stream("GET", value, timeout=timeout, follow_redirects=False) as response:
            if response.status_code != 200:
                raise ServiceRequestError(
                    f"{where}: {value!r} answered HTTP {response.status_code}", status=502
                )
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise ServiceRequestError(
                        f"{where}: {value!r}: larger than {limit} bytes", status=413
                    )
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ServiceRequestError(f"{where}: {value!r}: cannot fetch ({exc})", status=502) from exc
    return b"".join(chunks)


def parse_verify_request(
    doc: Any, *, config: ServiceConfig, where: str = "request", default_policy: str | None = None
) -> VerifyRequest:
    """A :class:`VerifyRequest` from a request document; ServiceRequestError names the field."""
    if not isinstance(doc, Mapping):
        raise ServiceRequestError(f"{where}: must be a JSON object")
    unknown = sorted(set(doc) - _REQUEST_KEYS)
    if unknown:
        raise ServiceRequestError(f"{where}.{unknown[0]}: unknown field")
    policy = doc.get("policy", default_policy)
    if not isinstance(policy, str):
        raise ServiceRequestError(f"{where}.policy: must name a policy")
    if policy not in config.policies:
        raise ServiceRequestError(f"{where}.policy: unknown policy {policy!r}", status=404)
    if sum(name in doc for name in _BUNDLE_SOURCES) != 1:
        raise ServiceRequestError(
            f"{where}: give exactly one of bundle, bundle_path and bundle_url"
        )
    if "bundle" in doc:
        if not isinstance(doc["bundle"], Mapping):
            raise ServiceRequestError(f"{where}.bundle: must be the bundle document (an object)")
        data = json.dumps(doc["bundle"], separators=(",", ":")).encode()
        source = f"{where}.bundle"
    elif "bundle_url" in doc:
        data = _bundle_from_url(
            doc["bundle_url"],
            config.bundle_urls,
            f"{where}.bundle_url",
            limit=config.limits.max_body,
            timeout=config.limits.timeout,
        )
        source = str(doc["bundle_url"])
    else:
        limit = config.limits.max_body
        data = _bundle_from_root(
            doc["bundle_path"], config.bundle_root, f"{where}.bundle_path", limit
        )
        source = str(doc["bundle_path"])
    if "artifacts" not in doc:
        raise ServiceRequestError(f"{where}.artifacts: required (path → sha256 of the model files)")
    artifacts = _artifacts(doc["artifacts"], f"{where}.artifacts")
    export = doc.get("export")
    if export is not None and export not in FORMATS:
        raise ServiceRequestError(f"{where}.export: must be one of {', '.join(FORMATS)}")
    return VerifyRequest(
        policy=policy,
        bundle=data,
        artifacts=artifacts,
        source=source,
        inline="bundle" in doc,
        export=export,
    )


def _verified_steps(report: VerificationReport, check: str) -> set[str | None]:
    """Steps with a passing row of ``check`` (a skip — "not required", "no key pinned" — is
    not evidence that was verified)."""
    return {row.step for row in report.results if row.check == check and row.status == "pass"}


def _witness_problems(policy: Policy, bundle: bytes) -> list[str]:
    """Every log the (verified) layout pins must demand at least ``require.witnesses``
    cosignatures: check 6 then verified that many on every logged checkpoint."""
    from atlas_intoto.bundle import parse_bundle
    from atlas_intoto.layout import layout_payload

    layout = layout_payload(parse_bundle(bundle).layout)
    if not layout.logs:
        return ["the layout pins no log, so no witness cosignature was verified"]
    return [
        f"log {log.origin or log.url or index}: the layout requires "
        f"{log.witness_threshold} witness cosignature(s), the policy {policy.require.witnesses}"
        for index, log in enumerate(layout.logs)
        if log.witness_threshold < policy.require.witnesses
    ]


def policy_rows(
    policy: Policy, report: VerificationReport, bundle: bytes | None = None
) -> list[CheckResult]:
    """The policy's own checks on a report whose bundle verified.

    Steps:
      1. the layout is one the policy allows (when it lists layouts);
      2. every step carries the evidence the policy requires, verified (a passing TEE, C2PA or
         log row for that step: evidence present but not checked does not count);
      3. with ``require.witnesses`` N, every pinned log demands at least N cosignatures.
    """
    problems = []
    if policy.layouts and report.layout_digest not in policy.layouts:
        problems.append(f"layout {str(report.layout_digest)[:16]}… is not allowed")
    demanded = [
        (policy.require.tee, "tee", "no verified TEE evidence"),
        (policy.require.c2pa, "c2pa", "no verified C2PA manifests"),
        (policy.require.log or policy.require.witnesses > 0, "tlog", "not in a transparency log"),
    ]
    for wanted, check, problem in demanded:
        if wanted:
            verified = _verified_steps(report, check)
            problems.extend(
                f"step {s.step}: {problem}" for s in report.steps if s.step not in verified
            )
    if policy.require.witnesses > 0:
        problems.extend(_witness_problems(policy, bundle or b"{}"))
    if problems:
        error = PolicyRequirementError(f"policy {policy.name}: " + "; ".join(problems))
        return [failed("policy", None, error)]
    return [passed("policy", None, f"meets policy {policy.name}")]


def report_document(report: VerificationReport, extra: list[CheckResult]) -> dict[str, Any]:
    """``verify --json``'s document with the policy rows, ``ok`` over all rows and a
    ``status`` on every row (pass/fail) where the report does not give one."""
    doc = report.to_dict()
    doc["results"] = [*doc["results"], *(r.to_dict() for r in extra)]
    for row in doc["results"]:
        row.setdefault("status", "pass" if row["passed"] else "fail")
    doc["ok"] = report.ok and all(r.passed for r in extra)
    return doc


class Verifier:
    """Verifies requests under a configuration, with a cache shared by threads and workers."""

    def __init__(
        self,
        config: ServiceConfig,
        *,
        cache: VerifyCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.cache = cache
        self.clock = clock

    def verify(
        self, request: VerifyRequest, *, request_digest: str | None = None
    ) -> dict[str, Any]:
        """The answer to one request: the report document (+ ``policy``, ``cached``, ``vsa``).

        ``request_digest`` (SHA-256 of the exact request body) also files a passing verdict
        under the body itself, so the same body again skips parsing (:meth:`cached_answer`).
        """
        policy = self.config.policies[request.policy]
        now = int(self.clock())
        inputs = {
            "bundle": request.bundle_digest,
            "policy": policy.digest,
            "artifacts": json_digest(dict(request.artifacts)),
        }
        hit = self._cached("service-verdict", inputs, policy, now)
        if hit is not None:
            return self._with_export(request, self._answer(hit, policy, cached=True), policy)
        doc = self._verify_now(request, policy, now)
        value: dict[str, Any] = {
            "report": doc,
            "bundle": request.bundle_digest,
            "artifacts": dict(request.artifacts),
        }
        until = self._valid_until(request, policy, doc, now)
        if until is not None:
            value.update(verified_at=now, valid_until=until)
            self.cache.put("service-verdict", inputs, value)
            # an answer with an export is made per request, never reused by body
            if request_digest is not None and request.inline and request.export is None:
                self.cache.put("service-request", _by_body(request_digest, policy), value)
            self.cache.flush()
        return self._with_export(request, self._answer(value, policy, cached=False), policy)

    @staticmethod
    def _with_export(
        request: VerifyRequest, answer: dict[str, Any], policy: Policy
    ) -> dict[str, Any]:
        """``answer`` with the requested AI-BOM: only of a passing verdict, signed as an
        in-toto Statement (DSSE) when the policy signs VSAs."""
        if request.export is None:
            return answer
        if not answer["ok"]:
            answer["export"] = {
                "format": request.export,
                "exported": False,
                "reason": "not exported: the bundle does not verify",
            }
            return answer
        from atlas_intoto import __version__, dsse
        from atlas_intoto.bom import bom_export, bom_statement
        from atlas_intoto.bundle import parse_bundle
        from atlas_intoto.statement import PAYLOAD_TYPE

        report = VerificationReport.from_dict(answer)
        bundle = parse_bundle(request.bundle, source=request.source)
        document = bom_export(
            request.export, report, bundle, source=request.source, version=__version__
        )
        export: dict[str, Any] = {"format": request.export, "exported": True, "document": document}
        if policy.vsa_signer is not None:
            statement = bom_statement(request.export, document, report)
            payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
            export["statement"] = dsse.sign(PAYLOAD_TYPE, payload, [policy.vsa_signer]).to_dict()
        answer["export"] = export
        return answer

    def cached_answer(self, request_digest: str, policy_name: str) -> dict[str, Any] | None:
        """The reusable verdict filed under this exact request body, or None."""
        policy = self.config.policies.get(policy_name)
        if policy is None:
            return None
        now = int(self.clock())
        hit = self._cached("service-request", _by_body(request_digest, policy), policy, now)
        return self._answer(hit, policy, cached=True) if hit is not None else None

    def _cached(
        self, kind: str, inputs: Mapping[str, Any], policy: Policy, now: int
    ) -> dict[str, Any] | None:
        if policy.verdict_ttl <= 0:
            return None
        hit = self.cache.get(kind, inputs)
        if hit is None or not int(hit["verified_at"]) <= now < int(hit["valid_until"]):
            return None
        return hit

    def _verify_now(self, request: VerifyRequest, policy: Policy, now: int) -> dict[str, Any]:
        from atlas_intoto.verify import verify_bundle

        report = verify_bundle(
            request.bundle,
            layout_keys=list(policy.layout_keys),
            artifact_digests=request.artifacts,
            now=now,
            cache=self.cache,
            source=request.source,
        )
        extra = policy_rows(policy, report, request.bundle) if report.ok else []
        return report_document(report, extra)

    @staticmethod
    def _valid_until(
        request: VerifyRequest, policy: Policy, doc: Mapping[str, Any], now: int
    ) -> int | None:
        """Until when a passing verdict may be reused, or None (failures: never)."""
        if not doc["ok"] or policy.verdict_ttl <= 0:
            return None
        # Evidence of a link without a trusted time was judged at ``now``: judge it again. Every
        # link counts, not only the one a step's lineage shows (a threshold step has several).
        if doc.get("untimed_links", 1) or any(
            step["log"]["integrated_time"] is None for step in doc["steps"]
        ):
            return None
        from atlas_intoto.layout import layout_payload

        try:
            layout = layout_payload(json.loads(request.bundle)["layout"])
        except (AtlasError, ValueError, KeyError):
            return None
        return min(now + policy.verdict_ttl, int(layout.expires_at))

    def _answer(self, value: Mapping[str, Any], policy: Policy, *, cached: bool) -> dict[str, Any]:
        doc = value["report"]
        answer = {**doc, "policy": policy.name, "cached": cached}
        if policy.vsa_signer is not None:
            from atlas_intoto.service.vsa import dsse_vsa_signer

            answer["vsa"] = dsse_vsa_signer(policy.vsa_signer)(
                report=doc,
                policy=policy.name,
                policy_digest=policy.digest,
                bundle_digest=value["bundle"],
                artifacts=value["artifacts"],
                verifier=policy.vsa_verifier,
            )
        return answer

    def verify_document(
        self,
        doc: Any,
        *,
        where: str,
        default_policy: str | None = None,
        request_digest: str | None = None,
    ) -> dict[str, Any]:
        """Parse and verify; an unreadable bundle is an error document, not an exception."""
        request = parse_verify_request(
            doc, config=self.config, where=where, default_policy=default_policy
        )
        try:
            return self.verify(request, request_digest=request_digest)
        except OperationalError as exc:
            # A bundle that does not parse says nothing about the evidence: 4xx, not a verdict.
            raise ServiceRequestError(f"{where}: {exc}", status=422) from exc


def _by_body(request_digest: str, policy: Policy) -> dict[str, str]:
    return {"request": request_digest, "policy": policy.digest}

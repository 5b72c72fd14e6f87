"""End-to-end bundle verification: the seven checks, in order, as report rows."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from atlas_intoto.bundle import Bundle, parse_bundle
from atlas_intoto.confidential.openings import Openings
from atlas_intoto.errors import AtlasError, InputError, LayoutError, LayoutSignatureError
from atlas_intoto.layout import Layout, verify_signed_layout
from atlas_intoto.measure import display_digest
from atlas_intoto.verify.cache import VerifyCache
from atlas_intoto.verify.causes import mark_consequences
from atlas_intoto.verify.checks import failed, passed, row, skipped
from atlas_intoto.verify.checks.artifacts import (
    HeldArtifacts,
    check_artifacts,
    final_algorithm,
    hash_artifacts,
)
from atlas_intoto.verify.checks.c2pa import check_c2pa
from atlas_intoto.verify.checks.evidence import check_evidence
from atlas_intoto.verify.checks.identity import check_certificate_times
from atlas_intoto.verify.checks.links import check_links, check_replay
from atlas_intoto.verify.checks.rules import check_rules
from atlas_intoto.verify.checks.tlog import ConsistencyChecker, check_tlog
from atlas_intoto.verify.report import CHECKS, CheckResult, StepLineage, VerificationReport
from atlas_intoto.verify.state import VerificationState, VerifiedLink
from atlas_intoto.verify.timesource import DEFAULT_TIME_SOURCES, TimeSource

__all__ = ["ConsistencyChecker", "hash_artifacts", "verify_bundle"]


def _layout_keys(layout_keys: Sequence[bytes | Any]) -> list[Any]:
    from atlas_intoto.keys import load_public_key_pem, sslib_key

    keys = []
    for index, key in enumerate(layout_keys):
        if isinstance(key, bytes | bytearray):
            keys.append(
                sslib_key(load_public_key_pem(bytes(key), source=f"layout key {index + 1}"))
            )
        else:
            keys.append(key)
    return keys


def _verified_layout(
    envelope: Mapping[str, Any],
    keys: Sequence[Any],
    now: int,
    cache: VerifyCache | None,
    source: str,
) -> Layout:
    """Check 1, with the signature and schema result remembered in this process (a batch shares
    one layout); the expiry is checked against ``now`` every time."""
    from atlas_intoto.errors import LayoutExpiredError
    from atlas_intoto.verify.cache import json_digest

    if cache is None:
        return verify_signed_layout(envelope, layout_keys=keys, now=now, source=f"{source}: layout")
    memo = "layout:" + json_digest(
        {"envelope": dict(envelope), "keys": sorted(f"{k.keyid}:{k.keyval}" for k in keys)}
    )
    layout = cache.objects.get(memo)
    if layout is None:
        layout = verify_signed_layout(
            envelope, layout_keys=keys, now=now, source=f"{source}: layout"
        )
        cache.objects[memo] = layout
    elif now >= layout.expires_at:
        raise LayoutExpiredError(f"{source}: layout: layout expired at {layout.expires}")
    assert isinstance(layout, Layout)
    return layout


def _check_layout(
    bundle_layout: Any, keys: Sequence[Any], now: int, cache: VerifyCache | None, source: str
) -> tuple[Layout | None, CheckResult]:
    """Check 1, layout: owner signature(s), schema, expiry."""
    try:
        layout = _verified_layout(bundle_layout, keys, now, cache, source)
    except LayoutError as exc:
        return None, failed("layout", None, exc)
    except AtlasError as exc:
        return None, failed("layout", None, LayoutSignatureError(f"{source}: layout: {exc}"))
    reason = f"signed by {len(keys)} owner key(s), schema valid, expires {layout.expires}"
    return layout, passed("layout", None, reason)


def verify_bundle(
    bundle_bytes: bytes,
    *,
    layout_keys: Sequence[bytes | Any],
    artifacts_dir: Path | None = None,
    artifact_digests: Mapping[str, str] | None = None,
    now: int | None = None,
    cache: VerifyCache | None = None,
    consistency: ConsistencyChecker | None = None,
    time_sources: Sequence[TimeSource] = DEFAULT_TIME_SOURCES,
    source: str = "bundle",
    allow_unattested: bool = False,
    model_dir: Path | None = None,
    openings: Openings | None = None,
) -> VerificationReport:
    """Verify a bundle end to end and return the report (never just a boolean).

    ``layout_keys`` are the owner's public keys (SPKI PEM bytes or securesystemslib keys);
    ``time_sources`` establish each logged link's trusted time (default: the time the log
    signed). Pure except the optional hashing of ``artifacts_dir`` and the optional ``cache``.
    A malformed bundle file raises InputError (exit 2); everything about the evidence is a row.

    Steps (rows appear in this order):
      1. layout: owner signature(s), schema, expiry — on failure nothing else can be trusted
         and verification stops;
      2. links: per declared step, threshold of valid functionary signatures and expected
         command; evidence for undeclared steps fails; a step logged before the steps it
         consumes fails as a replay;
      3. artifact rules with in-toto's engine;
      4. attestation evidence (TEE quotes, other kinds) at each link's trusted time;
      5. C2PA manifests;
      6. transparency-log entries and trusted times (plus ``consistency``: --online);
      7. final artifacts, when ``artifacts_dir`` (a directory or one file) is given: every file
         equals the digest the pipeline recorded for its path, files no step recorded fail
         unless ``allow_unattested``; without it the row is a skip and the report says
         ``artifacts_compared: false``;
         with ``artifact_digests`` (the caller's path → SHA-256 hex map) compared the same way
         without reading files;
         and the model directory against the bundle's OMS model signatures, when
         ``model_dir`` is given;
         private artifacts (docs/confidentiality.md): a skip row per step naming the committed
         artifacts a public verifier cannot see, or, with ``openings`` (given, or carried by an
         auditor bundle), each one opened and checked, and the held files against the opened
         digests.
    Check 6 runs before 4 and the replay part of 2, which use the trusted times it establishes.
    """
    reference = int(time.time()) if now is None else int(now)
    # Own counters per verification: a cache shared by threads counts everyone's hits.
    cache = cache.session() if cache is not None else None
    bundle = parse_bundle(bundle_bytes, source=source)
    try:
        keys = _layout_keys(layout_keys)
    except AtlasError as exc:
        raise InputError(f"--layout-key: {exc}") from exc
    layout, layout_row = _check_layout(bundle.layout, keys, reference, cache, source)
    if layout is None:
        return VerificationReport(results=(layout_row,), verified_at=reference)
    state = VerificationState(
        bundle=bundle,
        layout=layout,
        cache=cache,
        reference_time=reference,
        time_sources=tuple(time_sources),
    )
    rows = _run_checks(state, consistency)
    rows["layout"].append(layout_row)
    rows["artifacts"].extend(
        _artifacts_rows(
            state, artifacts_dir, allow_unattested, artifact_digests, _openings(bundle, openings)
        )
    )
    if model_dir is not None:
        from atlas_intoto.verify.checks.model_dir import check_model_dir

        rows["artifacts"].extend(check_model_dir(state, model_dir))
    return _report(state, rows)


def _report(state: VerificationState, rows: dict[str, list[CheckResult]]) -> VerificationReport:
    """The report of every check's rows, in check order, with the lineage."""
    if state.cache is not None:
        state.cache.flush()
    results = mark_consequences([r for check in CHECKS for r in rows[check]], state.layout)
    return VerificationReport(
        results=results,
        steps=_lineage(state, {r.step for r in results if not r.passed}),
        layout_digest=state.layout.digest,
        layout_readme=state.layout.readme,
        verified_at=state.reference_time,
        cache_hits=state.cache.hits if state.cache is not None else 0,
        untimed_links=sum(1 for link in state.all_links() if link.key not in state.times),
    )


def _run_checks(
    state: VerificationState, consistency: ConsistencyChecker | None
) -> dict[str, list[CheckResult]]:
    """Checks 2-6 in dependency order (6 establishes the times 4 and replay use); the rows are
    filed by check, so the report lists them in check order."""
    rows: dict[str, list[CheckResult]] = {check: [] for check in CHECKS}
    rows["links"].extend(check_links(state))
    rows["rules"].extend(check_rules(state))
    rows["tlog"].extend(check_tlog(state, consistency))
    rows["links"].extend(check_certificate_times(state))
    rows["links"].extend(check_replay(state))
    rows["tee"].extend(check_evidence(state))
    rows["c2pa"].extend(check_c2pa(state))
    return rows


def _openings(bundle: Bundle, given: Openings | None) -> Openings | None:
    """The openings an auditor verifies with: given ones plus an auditor bundle's."""
    from atlas_intoto.confidential.openings import Openings as _Openings

    carried = bundle.openings
    if carried is None:
        return given
    parsed = _Openings.from_dict(carried, source="bundle: openings")
    return parsed if given is None else given + parsed


def _artifacts_rows(
    state: VerificationState,
    artifacts: Path | None,
    allow_unattested: bool,
    artifact_digests: Mapping[str, str] | None = None,
    openings: Openings | None = None,
) -> list[CheckResult]:
    """Check 7, or its skip row: never a silent absence. ``artifact_digests`` (path → SHA-256,
    sent by a caller that holds the files, e.g. the verification service) is compared like the
    files of a directory. Private artifacts: :func:`check_private`'s rows come first."""
    from atlas_intoto.verify.checks.confidential import check_private

    held: HeldArtifacts | None = None
    if artifacts is not None:
        held = hash_artifacts(artifacts, algorithm=final_algorithm(state))
    elif artifact_digests is not None:
        held = HeldArtifacts(root="the given digests", files=dict(artifact_digests))
    rows, opened = check_private(state, openings, held)
    if held is None:
        return [*rows, skipped("artifacts", None, "not compared (no --artifacts)")]
    covered = frozenset(o.path for o in opened.values()) if opened else frozenset()
    final = held
    return [
        *rows,
        row(
            "artifacts",
            None,
            lambda: check_artifacts(
                state, final, allow_unattested=allow_unattested, covered=covered
            ),
        ),
    ]


def _lineage(state: VerificationState, failed_steps: set[str | None]) -> tuple[StepLineage, ...]:
    names = {f.keyid: f.name for f in state.layout.functionaries.values()}
    names.update({c.keyid: c.functionary for li in state.all_links() for c in li.certified})
    return tuple(
        _step_lineage(state, spec.name, state.links.get(spec.name, []), names, failed_steps)
        for spec in state.layout.steps
    )


def _step_lineage(
    state: VerificationState,
    name: str,
    links: Sequence[VerifiedLink],
    names: Mapping[str, str],
    failed_steps: set[str | None],
) -> StepLineage:
    if not links:
        return StepLineage(step=name, passed=False)
    link = links[0]
    log = state.log.get(link.key)
    trusted = state.times.get(link.key)
    facts = next((dict(r.facts) for r in state.evidence.get(link.key, []) if r.kind == "tdx"), {})
    return StepLineage(
        step=name,
        signers=tuple(k for li in links for k in li.signed_by),
        functionaries=tuple(names.get(k, k[:8]) for li in links for k in li.signed_by),
        materials={p: display_digest(d) for p, d in link.materials.items()},
        products={p: display_digest(d) for p, d in link.products.items()},
        command=tuple(link.command),
        tee_type=facts.get("type") or _claimed_tee_type(link),
        mrtd=facts.get("mrtd"),
        tcb_status=facts.get("tcb_status"),
        log_index=log.log_index if log is not None else None,
        log_uuid=log.entry_id if log is not None else None,
        integrated_time=trusted.seconds if trusted is not None else None,
        c2pa_products=tuple(sorted(_c2pa_products(link))),
        passed=name not in failed_steps,
    )


def _claimed_tee_type(link: VerifiedLink) -> str | None:
    """The TDX type the signed link claims, for the lineage of a step whose quote failed."""
    from atlas_intoto.errors import EvidenceError
    from atlas_intoto.evidence.model import evidence_entries

    try:
        entries = evidence_entries(link.atlas)
    except EvidenceError:
        return None
    claimed = next((e.fields.get("type") for e in entries if e.kind == "tdx"), None)
    return claimed if isinstance(claimed, str) else None


def _c2pa_products(link: VerifiedLink) -> list[str]:
    entries = link.atlas.get("c2pa")
    return [str(p) for p in entries] if isinstance(entries, Mapping) else []

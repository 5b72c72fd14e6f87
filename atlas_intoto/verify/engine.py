"""End-to-end bundle verification: the seven checks of DESIGN.md §4, in order, as report rows."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from atlas_intoto.bundle import LinkEvidence, parse_bundle
from atlas_intoto.errors import AtlasError, InputError, LayoutError, LayoutSignatureError
from atlas_intoto.layout import Layout, verify_signed_layout
from atlas_intoto.verify.cache import VerifyCache
from atlas_intoto.verify.checks import (
    VerifiedLink,
    check_c2pa,
    check_final_artifacts,
    check_log_entry,
    check_replay,
    check_rules,
    check_step_links,
    check_tee,
    check_undeclared,
    failed,
    passed,
)
from atlas_intoto.verify.report import CHECKS, CheckResult, StepLineage, VerificationReport

#: Called with (verified layout, step, log entry summary) for --online; returns a tlog row.
ConsistencyChecker = Callable[[Layout, str, Mapping[str, Any]], CheckResult]


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


def hash_artifacts(directory: Path, paths: Sequence[str]) -> dict[str, str | None]:
    """SHA-256 of ``directory/<path>`` for each product path (None when absent). The only file
    reading the verifier does, and only with ``--artifacts``."""
    held: dict[str, str | None] = {}
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"{directory}: artifacts directory not found")
    for path in paths:
        target = root / path
        # A product path outside the directory (absolute, "..") is never the consumer's file.
        if Path(path).is_absolute() or ".." in Path(path).parts or not target.is_file():
            held[path] = None
            continue
        try:
            with target.open("rb") as handle:
                held[path] = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as exc:
            raise InputError(f"{target}: cannot read artifact ({exc.strerror})") from exc
    return held


def verify_bundle(
    bundle_bytes: bytes,
    *,
    layout_keys: Sequence[bytes | Any],
    artifacts_dir: Path | None = None,
    now: int | None = None,
    cache: VerifyCache | None = None,
    consistency: ConsistencyChecker | None = None,
    source: str = "bundle",
) -> VerificationReport:
    """Verify a bundle end to end and return the report (never just a boolean).

    ``layout_keys`` are the owner's public keys (SPKI PEM bytes or securesystemslib keys).
    Pure except the optional hashing of ``artifacts_dir`` and the optional ``cache``.
    A malformed bundle file raises InputError (exit 2); everything about the evidence is a row.

    Steps (DESIGN.md §4; rows appear in this order):
      1. layout: owner signature(s), schema, expiry — on failure nothing else can be trusted
         and verification stops;
      2. links: per declared step, threshold of valid functionary signatures and expected
         command; evidence for undeclared steps fails; a step logged before the steps it
         consumes fails as a replay;
      3. artifact rules with in-toto's engine;
      4. TEE quotes at the trusted time (the SET-proven integrated time, else ``now``);
      5. C2PA manifests;
      6. transparency-log entries (plus ``consistency`` for each, when given: --online);
      7. final artifacts, when ``artifacts_dir`` is given.
    The transparency entries are verified before the TEE rows are produced because their
    integrated time is the trusted time of the quote collateral.
    """
    reference = int(time.time()) if now is None else int(now)
    hits_before = cache.hits if cache is not None else 0
    bundle = parse_bundle(bundle_bytes, source=source)
    try:
        keys = _layout_keys(layout_keys)
    except AtlasError as exc:
        raise InputError(f"--layout-key: {exc}") from exc

    # 1. layout
    try:
        layout = _verified_layout(bundle.layout, keys, reference, cache, source)
    except LayoutError as exc:
        return VerificationReport(results=(failed("layout", None, exc),), verified_at=reference)
    except AtlasError as exc:
        wrapped = LayoutSignatureError(f"{source}: layout: {exc}")
        return VerificationReport(results=(failed("layout", None, wrapped),), verified_at=reference)
    rows: dict[str, list[CheckResult]] = {check: [] for check in CHECKS}
    rows["layout"].append(
        passed(
            "layout",
            None,
            f"signed by {len(keys)} owner key(s), schema valid, expires {layout.expires}",
        )
    )

    # 2. links
    by_step: dict[str, list[LinkEvidence]] = {}
    for item in bundle.links:
        by_step.setdefault(item.step, []).append(item)
    verified: dict[str, list[VerifiedLink]] = {}
    for spec in layout.steps:
        step_rows, links = check_step_links(layout, spec, by_step.get(spec.name, []), cache)
        rows["links"].extend(step_rows)
        if links:
            verified[spec.name] = links
    rows["links"].extend(check_undeclared(layout, bundle.links))

    # 3. rules
    rows["rules"].extend(check_rules(layout, verified))

    # 6 (computed early: it yields the trusted time for 4)
    log_info: dict[int, dict[str, Any]] = {}
    for spec in layout.steps:
        for link in verified.get(spec.name, ()):
            try:
                row, summary = check_log_entry(layout, spec, link, cache=cache)
            except Exception as exc:
                row, summary = failed("tlog", spec.name, exc), None
            rows["tlog"].append(row)
            if summary is not None:
                log_info[id(link)] = summary
                if consistency is not None:
                    rows["tlog"].append(_consistency(consistency, layout, spec.name, summary))
    times = {key: int(info["integrated_time"]) for key, info in log_info.items()}
    positions = {
        key: (str(info["origin"]), int(info["log_index"]))
        for key, info in log_info.items()
        if info.get("origin") is not None
    }
    rows["links"].extend(check_replay(layout, verified, times, positions))

    # 4. TEE, 5. C2PA
    tee_info: dict[int, dict[str, Any]] = {}
    for spec in layout.steps:
        for link in verified.get(spec.name, ()):
            at = times.get(id(link), reference)
            try:
                row, summary = check_tee(layout, spec, link, at=at, cache=cache)
            except Exception as exc:
                row, summary = failed("tee", spec.name, exc), None
            rows["tee"].append(row)
            if summary is not None:
                tee_info[id(link)] = summary
            try:
                rows["c2pa"].append(check_c2pa(layout, spec, link, verified, cache=cache))
            except Exception as exc:
                rows["c2pa"].append(failed("c2pa", spec.name, exc))

    # 7. final artifacts
    if artifacts_dir is not None:
        last = verified.get(layout.steps[-1].name)
        paths = sorted(last[0].products) if last else []
        held = hash_artifacts(artifacts_dir, paths)
        try:
            rows["artifacts"].append(check_final_artifacts(layout, verified, held))
        except Exception as exc:
            rows["artifacts"].append(failed("artifacts", None, exc))

    if cache is not None:
        cache.flush()
    results = tuple(row for check in CHECKS for row in rows[check])
    failed_steps = {row.step for row in results if not row.passed}
    lineage = tuple(
        _lineage(layout, spec.name, verified.get(spec.name, []), log_info, tee_info, failed_steps)
        for spec in layout.steps
    )
    return VerificationReport(
        results=results,
        steps=lineage,
        layout_digest=layout.digest,
        layout_readme=layout.readme,
        verified_at=reference,
        cache_hits=(cache.hits - hits_before) if cache is not None else 0,
    )


def _consistency(
    checker: ConsistencyChecker, layout: Layout, step: str, summary: Mapping[str, Any]
) -> CheckResult:
    try:
        return checker(layout, step, summary)
    except AtlasError as exc:
        if exc.exit_code == 2:
            raise
        return failed("tlog", step, exc)


def _lineage(
    layout: Layout,
    name: str,
    links: Sequence[VerifiedLink],
    log_info: Mapping[int, Mapping[str, Any]],
    tee_info: Mapping[int, Mapping[str, Any]],
    failed_steps: set[str | None],
) -> StepLineage:
    if not links:
        return StepLineage(step=name, passed=False)
    link = links[0]
    names = {f.keyid: f.name for f in layout.functionaries.values()}
    log = log_info.get(id(link), {})
    tee = tee_info.get(id(link), {})
    return StepLineage(
        step=name,
        signers=tuple(k for li in links for k in li.signed_by),
        functionaries=tuple(names.get(k, k[:8]) for li in links for k in li.signed_by),
        materials={p: str(d.get("sha256", "")) for p, d in link.materials.items()},
        products={p: str(d.get("sha256", "")) for p, d in link.products.items()},
        command=tuple(link.command),
        tee_type=tee.get("type") or (link.atlas.get("tee") or {}).get("type"),
        mrtd=tee.get("mrtd"),
        tcb_status=tee.get("tcb_status"),
        log_index=log.get("log_index"),
        log_uuid=log.get("uuid"),
        integrated_time=log.get("integrated_time"),
        c2pa_products=tuple(sorted((link.atlas.get("c2pa") or {}).keys())),
        passed=name not in failed_steps,
    )

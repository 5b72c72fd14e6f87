"""Check 6, transparency log: each link's saved entry through its log backend, then its trusted
time through the time sources (and, with ``--online``, consistency with the live log)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from atlas_intoto.errors import AtlasError, MissingLogEntryError
from atlas_intoto.layout import Layout, StepSpec
from atlas_intoto.tlog.backend import VerifiedEntry, backend_for_document
from atlas_intoto.verify.cache import digest, json_digest
from atlas_intoto.verify.checks import failed, passed, row
from atlas_intoto.verify.checks.witnesses import check_witnesses
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import VerificationState, VerifiedLink
from atlas_intoto.verify.timesource import TimeContext, establish_time

#: Called with (verified layout, step, entry summary) for --online; returns a tlog row.
ConsistencyChecker = Callable[[Layout, str, Mapping[str, Any]], CheckResult]


def _verified_entry(
    state: VerificationState, link: VerifiedLink, document: Mapping[str, Any]
) -> VerifiedEntry:
    log_keys = [log.pem.encode() for log in state.layout.logs]
    # Resolved before the cache: a saved entry of a backend no longer registered fails closed.
    backend = backend_for_document(document)
    inputs = {
        "backend": f"{backend.name}/{backend.version}",
        "entry": json_digest(dict(document)),
        "envelope": digest(link.evidence.envelope),
        "log_keys": sorted(digest(k) for k in log_keys),
    }
    hit = state.cache.get("tlog", inputs) if state.cache is not None else None
    if hit is not None:
        return VerifiedEntry.from_dict(hit)
    entry = backend.verify(document, envelope=link.evidence.envelope, log_keys=log_keys)
    if state.cache is not None:
        state.cache.put("tlog", inputs, entry.to_dict())
    return entry


def check_log_entry(state: VerificationState, spec: StepSpec, link: VerifiedLink) -> CheckResult:
    """Check 6 for one link.

    Steps:
      1. a log entry is present when the layout pins a required log (MissingLogEntryError);
      2. the entry's log backend (:func:`~atlas_intoto.tlog.backend.backend_for_document`)
         verifies it offline with the pinned log keys and the exact link envelope: the entry
         records this envelope, its inclusion proof reaches a checkpoint signed by a pinned key
         (for Rekor v1 also the SET);
      3. the checkpoint carries the witness cosignatures the layout requires of its log
         (:func:`~atlas_intoto.verify.checks.witnesses.check_witnesses`);
      4. the time sources establish the link's trusted time from the verified entry (a source
         whose proof does not verify fails the entry: TrustedTimeError).
    Fills ``state.log`` and ``state.times``.
    """
    name = spec.name
    document = link.evidence.log_entry
    if document is None:
        if state.layout.log_required:
            raise MissingLogEntryError(f"step {name}: the layout requires a log entry; none")
        return passed("tlog", name, "not required; no log entry")
    if not state.layout.logs:
        return passed("tlog", name, "log entry present but no log key pinned; not checked")
    entry = _verified_entry(state, link, document)
    check_witnesses(state.layout, document)
    context = TimeContext(
        step=name,
        entry=entry,
        document=document,
        envelope=link.evidence.envelope,
        tsa_roots=state.layout.tsa_roots,
    )
    trusted = establish_time(state.time_sources, context)
    state.log[link.key] = entry
    if trusted is not None:
        state.times[link.key] = trusted
    when = f", time {trusted.seconds} ({trusted.source})" if trusted is not None else ""
    return passed(
        "tlog",
        name,
        f"entry {entry.log_index} included in tree of size {entry.tree_size}, checkpoint "
        f"{'and SET ' if entry.signed_time is not None else ''}signed by a pinned log key{when}",
    )


def summary(entry: VerifiedEntry, trusted_time: int | None) -> dict[str, Any]:
    """The entry as the ``--online`` consistency checker reads it."""
    return {
        **entry.to_dict(),
        "uuid": entry.entry_id,
        "integrated_time": trusted_time,
    }


def _consistency(
    checker: ConsistencyChecker, state: VerificationState, step: str, link: VerifiedLink
) -> CheckResult:
    trusted = state.times.get(link.key)
    facts = summary(state.log[link.key], trusted.seconds if trusted is not None else None)
    try:
        return checker(state.layout, step, facts)
    except AtlasError as exc:
        if exc.exit_code == 2:
            raise
        return failed("tlog", step, exc)


def check_tlog(
    state: VerificationState, consistency: ConsistencyChecker | None = None
) -> list[CheckResult]:
    """Check 6 for every verified link, in layout order (plus ``consistency`` rows)."""
    rows: list[CheckResult] = []
    for spec in state.layout.steps:
        for link in state.links.get(spec.name, ()):
            rows.append(row("tlog", spec.name, partial(check_log_entry, state, spec, link)))
            if consistency is not None and link.key in state.log:
                rows.append(_consistency(consistency, state, spec.name, link))
    return rows

"""Check 6, transparency log: each link's saved entry through its log backend, then its trusted
time through the time sources (and, with ``--online``, consistency with the live log)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from atlas_intoto.errors import (
    AtlasError,
    CheckpointError,
    LogEntryMismatchError,
    MissingLogEntryError,
)
from atlas_intoto.layout import Layout, LogTrust, StepSpec
from atlas_intoto.tlog.backend import VerifiedEntry, backend_for_document
from atlas_intoto.verify.cache import digest, json_digest
from atlas_intoto.verify.checks import failed, passed, row, skipped
from atlas_intoto.verify.checks.log_visibility import check_visibility
from atlas_intoto.verify.checks.witnesses import check_witnesses
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import VerificationState, VerifiedLink
from atlas_intoto.verify.timesource import TimeContext, establish_time

#: Called with (verified layout, step, entry summary) for --online; returns a tlog row.
ConsistencyChecker = Callable[[Layout, str, Mapping[str, Any]], CheckResult]


def _pinned_entry(
    state: VerificationState, name: str, link: VerifiedLink, document: Mapping[str, Any]
) -> tuple[VerifiedEntry, LogTrust]:
    """The entry verified under ONE pinned log (the first whose key verifies it), with that
    log: which instance holds the entry matters (origin, required), not just whose key."""
    logs = state.layout.logs
    failure: AtlasError | None = None
    for log in logs:
        try:
            return _verified_entry(state, link, document, [log.pem.encode()]), log
        except AtlasError as exc:
            if exc.exit_code == 2:
                raise
            failure = failure or exc
    assert failure is not None
    raise failure


#: Rekor entry kinds that commit to the link's exact envelope bytes (envelope hash), which is
#: how links are logged. A ``hashedrekord`` entry only signs a digest with whatever key its
#: submitter chose: anyone can log an old envelope that way, at a later time.
_ENVELOPE_KINDS = frozenset({"dsse", "intoto"})


def _check_pinned(name: str, entry: VerifiedEntry, log: LogTrust, logs: Sequence[LogTrust]) -> None:
    """The entry is of a kind over the exact envelope, its checkpoint carries the pinned
    origin, and every required log holds it."""
    if (
        entry.backend == "rekor-v1"
        and entry.visibility != "digest"
        and entry.entry_kind not in _ENVELOPE_KINDS
    ):
        raise LogEntryMismatchError(
            f"step {name}: the log entry is a {entry.entry_kind!r} entry; links are logged as "
            "dsse entries over their exact envelope bytes"
        )
    if log.origin is not None and entry.origin != log.origin:
        raise CheckpointError(
            f"step {name}: checkpoint origin {entry.origin!r} is not the pinned log's origin "
            f"{log.origin!r}: the entry is in another log instance under the same key"
        )
    for index, other in enumerate(logs):
        if other.required and other is not log:
            where = other.origin or other.url or f"trust.logs[{index}]"
            raise MissingLogEntryError(
                f"step {name}: the layout requires an entry in log {where}; the link's entry "
                f"is in {entry.origin!r}"
            )


def _check_one_instance(
    name: str, entry: VerifiedEntry, log: int, origins: dict[int, str] | None
) -> None:
    """All of a bundle's entries under one pinned log key come from one log instance."""
    if origins is None:
        return
    first = origins.setdefault(log, entry.origin)
    if entry.origin != first:
        raise CheckpointError(
            f"step {name}: checkpoint origin {entry.origin!r}, but the bundle's other entries "
            f"under the same log key are in {first!r}: entries of two log instances"
        )


def _verified_entry(
    state: VerificationState,
    link: VerifiedLink,
    document: Mapping[str, Any],
    log_keys: Sequence[bytes],
) -> VerifiedEntry:
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


def _bundle_timestamps(
    name: str, link: VerifiedLink, document: Mapping[str, Any]
) -> tuple[bytes, ...]:
    """The RFC 3161 timestamps of the link's Sigstore bundle when its entry document keeps
    none of its own (Rekor v1; a rekor-v2 document already holds the bundle's)."""
    from atlas_intoto.errors import FormatError, TimestampError
    from atlas_intoto.sigstore_bundle import bundle_timestamps

    bundle = link.evidence.sigstore_bundle
    if bundle is None or "timestamps" in document:
        return ()
    try:
        return tuple(bundle_timestamps(bundle, source=f"step {name}: Sigstore bundle"))
    except FormatError as exc:
        raise TimestampError(str(exc)) from exc


def _functionary_signatures(state: VerificationState, link: VerifiedLink) -> tuple[bytes, ...]:
    """The link's signatures made by the keys check 2 accepted (what timestamps may cover)."""
    from atlas_intoto import dsse
    from atlas_intoto.keys import load_public_key_pem, sslib_key

    pems = {f.keyid: f.pem for f in state.layout.functionaries.values()}
    keys = [
        sslib_key(load_public_key_pem(pems[k].encode(), source=k))
        for k in link.signed_by
        if k in pems
    ]
    # a keyless signature: the key its certificate certified (check 2 verified it)
    keys.extend(
        sslib_key(load_public_key_pem(c.pem.encode(), source=c.functionary)) for c in link.certified
    )
    return dsse.verifying_signatures(dsse.parse(link.evidence.envelope), keys)


def check_log_entry(
    state: VerificationState,
    spec: StepSpec,
    link: VerifiedLink,
    origins: dict[int, str] | None = None,
) -> CheckResult:
    """Check 6 for one link.

    Steps:
      1. a log entry is present when the layout pins a required log (MissingLogEntryError);
      2. the entry's log backend (:func:`~atlas_intoto.tlog.backend.backend_for_document`)
         verifies it offline with a pinned log's key and the exact link envelope: the entry
         records this envelope, its inclusion proof reaches a checkpoint signed by that key
         (for Rekor v1 also the SET);
      3. the log accepts the entry's visibility, and a digest entry is signed by a functionary
         key that signed the link
         (:func:`~atlas_intoto.verify.checks.log_visibility.check_visibility`);
      4. the checkpoint carries that log's pinned ``origin`` (two instances sharing a key are
         different logs: CheckpointError) — without a pinned origin, the one origin the
         bundle's other entries under that key have (``origins``: a bundle never mixes log
         instances) — and every other log marked ``required`` holds the entry too
         (MissingLogEntryError: an optional log never stands in for a required one), and the
         witness cosignatures the layout requires of its log
         (:func:`~atlas_intoto.verify.checks.witnesses.check_witnesses`);
      5. the time sources establish the link's trusted time from the verified entry (a source
         whose proof does not verify fails the entry: TrustedTimeError).
    Fills ``state.log`` and ``state.times``.
    """
    name = spec.name
    document = link.evidence.log_entry
    if document is None:
        if state.layout.log_required:
            raise MissingLogEntryError(f"step {name}: the layout requires a log entry; none")
        return skipped("tlog", name, "not required; no log entry")
    if not state.layout.logs:
        return skipped("tlog", name, "log entry present but no log key pinned; not checked")
    entry, log = _pinned_entry(state, name, link, document)
    _check_pinned(name, entry, log, state.layout.logs)
    _check_one_instance(name, entry, state.layout.logs.index(log), origins)
    digest_signatures = check_visibility(state, name, link, entry, log)
    check_witnesses(state.layout, document)
    context = TimeContext(
        step=name,
        entry=entry,
        document=document,
        envelope=link.evidence.envelope,
        tsa_roots=state.layout.tsa_roots,
        timestamps=_bundle_timestamps(name, link, document),
        signatures=_functionary_signatures(state, link) + digest_signatures,
    )
    trusted = establish_time(state.time_sources, context)
    state.log[link.key] = entry
    if trusted is not None:
        state.times[link.key] = trusted
    when = f", time {trusted.seconds} ({trusted.source})" if trusted is not None else ""
    # Without a pinned origin any instance under this key is accepted: say so, never quietly.
    where = "" if log.origin is not None else f", log {entry.origin!r} (the layout pins no origin)"
    return passed(
        "tlog",
        name,
        f"{'digest-only ' if entry.visibility == 'digest' else ''}"
        f"entry {entry.log_index} included in tree of size {entry.tree_size}, checkpoint "
        f"{'and SET ' if entry.signed_time is not None else ''}signed by a pinned log key"
        f"{where}{when}",
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
    origins: dict[int, str] = {}
    for spec in state.layout.steps:
        for link in state.links.get(spec.name, ()):
            check = partial(check_log_entry, state, spec, link, origins)
            rows.append(row("tlog", spec.name, check))
            if consistency is not None and link.key in state.log:
                rows.append(_consistency(consistency, state, spec.name, link))
    return rows

"""Recording a step: ``run`` / ``record start`` / ``record stop`` → signed link + evidence.

Order: measure materials → pre-flight against ``--layout`` → run the command → measure
products → signer key id → binding B → evidence of every requested kind
(:mod:`atlas_intoto.evidence`) → C2PA sidecars → build and sign the link → write blobs, the
pending-publication marker and, last, the link → publish to the log backend
(:mod:`atlas_intoto.publishing`: retried; on failure everything stays, with the marker). An error
before the link is written leaves no new file behind; a previous link of the same step and key
is moved to ``.superseded/`` (:mod:`atlas_intoto.rerun`) and restored if recording fails.

Evidence kinds, C2PA and the log backend are resolved before any work starts (so a missing one
fails before an hour-long command runs, not after) and imported only when their option is used.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from atlas_intoto.binding import step_binding_digest
from atlas_intoto.digestcache import default_cache
from atlas_intoto.errors import (
    StepCommandFailed,
    UsageError,
)
from atlas_intoto.evidence.model import EvidenceEntry
from atlas_intoto.fileio import atomic_write, ensure_writable_dir
from atlas_intoto.link import EVIDENCE_KEY, link_file_name, sign_link
from atlas_intoto.measure import ArtifactDigests, ProgressCallback, exclude_pattern_for, measure
from atlas_intoto.pending import PENDING_DIR, pending_path, read_state, remove_state, write_state
from atlas_intoto.preflight import check_recording
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.runner import execute_command
from atlas_intoto.step_plan import RecordingPlan, check_step_name, load_functionary, prepare
from atlas_intoto.upstream import upstream_record

if TYPE_CHECKING:
    from atlas_intoto.confidential.recording import CommittedArtifacts
    from atlas_intoto.evidence.recording import StepEvidence
    from atlas_intoto.publishing import PendingMarker

__all__ = [
    "PENDING_DIR",
    "RecordedStep",
    "RecordingOptions",
    "execute_command",
    "pending_path",
    "record_start",
    "record_step",
    "record_stop",
    "run_step",
]

#: The pending-record key of a keyless ``record start`` (its key is made at ``record stop``).
KEYLESS_PENDING = "keyless"


@dataclass(frozen=True, kw_only=True)
class RecordedStep:
    """What recording a step wrote (paths relative to the caller's working directory)."""

    link_path: Path
    envelope: bytes = field(repr=False)
    keyid: str
    materials: ArtifactDigests
    products: ArtifactDigests
    binding: bytes
    log_entry_path: Path | None = None
    #: the TDX collateral file, when the step carries a TDX quote
    collateral_path: Path | None = None
    #: every evidence blob written, by kind and name
    blob_paths: Mapping[str, Mapping[str, Path]] = field(default_factory=dict)
    sidecars: dict[str, dict[str, str]] = field(default_factory=dict)
    evidence: tuple[EvidenceEntry, ...] = ()
    #: where the previous run of this step and key was moved (a re-run), if any
    superseded: Path | None = None
    #: the step's Statement v1 as a Sigstore bundle (``NAME.KEYID8.sigstore.json``)
    sigstore_bundle_path: Path | None = None
    #: the openings of its private artifacts (``NAME.KEYID8.openings.json``), if any were
    #: committed; ``materials``/``products`` above stay the clear, measured ones
    openings_path: Path | None = None


def _excludes(options: RecordingOptions, *, base_path: Path, exclude: Sequence[str]) -> list[str]:
    """The user's patterns plus the evidence directory, so evidence never measures itself."""
    patterns = list(exclude)
    own = exclude_pattern_for(options.out_dir, base_path=base_path)
    if own is not None:
        patterns.append(own)
    return patterns


# ---------------------------------------------------------------------------------------------
# Completing a step: products → binding → evidence → C2PA → link → log → files
# ---------------------------------------------------------------------------------------------


def _remove_quietly(paths: Sequence[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def _record_evidence(plan: RecordingPlan, binding: bytes, stem: str) -> StepEvidence:
    """Ask every requested kind for evidence (:mod:`atlas_intoto.evidence.recording`)."""
    from atlas_intoto.evidence.recording import record_evidence
    from atlas_intoto.home import atlas_home

    return record_evidence(
        plan.kinds,
        step=plan.step,
        binding=binding,
        keyid=plan.functionary.keyid,
        out_dir=plan.options.out_dir,
        stem=stem,
        home=atlas_home(),
    )


def _sign_products(
    plan: RecordingPlan,
    *,
    binding: bytes,
    manifest_digest: str | None,
    materials: ArtifactDigests,
    products: ArtifactDigests,
    base_path: Path,
    written: list[Path],
    private_ingredients: Sequence[str] = (),
) -> dict[str, dict[str, str]]:
    from atlas_intoto.keys import certificate_chain_path

    if plan.sign_products is None:
        return {}
    out_dir = plan.options.out_dir
    # Registered before the call: a hook failing half-way must not leave sidecars.
    written.extend(out_dir / "c2pa" / f"{product}.c2pa" for product in products)
    # private materials are named by commitment only (given only when there are some)
    extra = {"private_ingredients": tuple(private_ingredients)} if private_ingredients else {}
    sidecars = plan.sign_products(
        **extra,
        step=plan.step,
        binding=binding,
        quote_digest=manifest_digest,
        products=products,
        materials=materials,
        base_path=base_path,
        evidence_dir=out_dir,
        key_path=plan.functionary.key_path,
        cert_chain_path=plan.options.cert_path or certificate_chain_path(plan.functionary.key_path),
        key_signer=plan.functionary.signer if plan.functionary.uri is not None else None,
    )
    written.extend(out_dir / entry["sidecar"] for entry in sidecars.values())
    return sidecars


def _marker(plan: RecordingPlan, stem: str, envelope: bytes) -> PendingMarker:
    from atlas_intoto.publishing import recording_marker

    signatures: tuple[str | None, str | None] = (None, None)
    if plan.options.log_visibility == "digest":
        from atlas_intoto.publishing_visibility import recording_signatures

        signatures = recording_signatures(
            plan.functionary.signer, envelope, plan.options.out_dir, stem
        )
    return recording_marker(
        plan.options, stem, plan.functionary.verifier_pem, signatures=signatures
    )


def _certified(plan: RecordingPlan) -> RecordingPlan:
    from dataclasses import replace

    functionary = plan.functionary.certified()
    return plan if functionary is plan.functionary else replace(plan, functionary=functionary)


def _write_all(
    plan: RecordingPlan,
    stem: str,
    writes: Sequence[tuple[Path, bytes]],
    envelope: bytes,
    written: list[Path],
) -> Path:
    """Blobs, the pending marker (when publishing) and, last, the link."""
    from atlas_intoto.publishing import write_marker

    out_dir = plan.options.out_dir
    for path, data in writes:
        written.append(path)
        atomic_write(path, data)
    if plan.publisher is not None:
        written.append(write_marker(out_dir, _marker(plan, stem, envelope)))
    link_path = out_dir / f"{stem}.link"
    written.append(link_path)
    atomic_write(link_path, envelope)
    return link_path


def _measure(
    options: RecordingOptions,
    paths: Sequence[str],
    *,
    base: Path,
    patterns: Sequence[str],
    progress: ProgressCallback | None,
) -> ArtifactDigests:
    """Measure with the options' digest algorithms and, unless turned off, the digest cache."""
    cache = default_cache(enabled=options.digest_cache)
    try:
        return measure(
            paths,
            base_path=base,
            exclude=patterns,
            progress=progress,
            algorithms=options.digests,
            cache=cache,
        )
    finally:
        if cache is not None:
            cache.close()


@dataclass(frozen=True, kw_only=True)
class _Signed:
    link_path: Path
    envelope: bytes
    sidecars: dict[str, dict[str, str]]
    statement_path: Path


def _sign_and_write(
    plan: RecordingPlan,
    *,
    stem: str,
    evidence: StepEvidence,
    materials: ArtifactDigests,
    products: ArtifactDigests,
    command: Sequence[str],
    byproducts: Mapping[str, Any],
    base_path: Path,
    written: list[Path],
    private: CommittedArtifacts | None = None,
) -> _Signed:
    """C2PA sidecars → the link (evidence, sidecars, upstream record) and its Statement v1 →
    blobs, the Statement, the openings, the pending marker and, last, the link on disk.

    With ``private``, C2PA covers the public artifacts only and the link, Statement and upstream
    record carry the committed names (docs/confidentiality.md)."""
    clear_materials, clear_products = materials, products
    if private is not None:
        from atlas_intoto.confidential.recording import committed_names, public_only

        clear_materials = public_only(materials, private.private_paths)
        clear_products = public_only(products, private.private_paths)
        materials, products = private.materials, private.products
    sidecars = _sign_products(
        plan,
        binding=bytes.fromhex(evidence.environment["binding"]),
        manifest_digest=evidence.manifest_digest,
        materials=clear_materials,
        products=clear_products,
        base_path=base_path,
        written=written,
        private_ingredients=committed_names(materials) if private is not None else (),
    )
    environment = dict(evidence.environment)
    if sidecars:
        environment["c2pa"] = {product: dict(entry) for product, entry in sidecars.items()}
    environment.update(upstream_record(plan.options.out_dir, step=plan.step, materials=materials))
    if plan.functionary.certificate_chain:
        from atlas_intoto.keyless import CERTIFICATES_KEY, chain_field

        environment[CERTIFICATES_KEY] = chain_field(plan.functionary.certificate_chain)
    envelope = sign_link(
        name=plan.step,
        materials=materials,
        products=products,
        command=command,
        byproducts=byproducts,
        environment={EVIDENCE_KEY: environment},
        signer=plan.functionary.signer,
    )
    statement_path, statement = _statement_bundle(
        plan, materials, products, command, byproducts, environment
    )
    writes = [*evidence.writes, (statement_path, statement)]
    if private is not None:
        from atlas_intoto.confidential.recording import openings_write

        # private evidence: readable by its owner only
        for path, data in openings_write(plan.options.out_dir, stem, private):
            written.append(path)
            atomic_write(path, data, mode=0o600)
    link_path = _write_all(plan, stem, writes, envelope, written)
    return _Signed(
        link_path=link_path, envelope=envelope, sidecars=sidecars, statement_path=statement_path
    )


def _measure_materials(
    options: RecordingOptions, materials: Sequence[str], progress: ProgressCallback | None
) -> ArtifactDigests:
    """The materials, measured relative to the options' base path."""
    patterns = _excludes(options, base_path=options.base, exclude=options.patterns)
    return _measure(options, materials, base=options.base, patterns=patterns, progress=progress)


def _complete(
    plan: RecordingPlan,
    *,
    materials: ArtifactDigests,
    product_paths: Sequence[str],
    command: Sequence[str],
    byproducts: Mapping[str, Any],
    progress: ProgressCallback | None,
    base_path: Path | None = None,
    exclude: Sequence[str] | None = None,
) -> RecordedStep:
    """Products → binding → evidence → C2PA → link → files → log. ``base_path``/``exclude``
    default to the options' (record stop passes those given at start)."""
    from atlas_intoto.confidential.recording import (
        commit_step_artifacts,
        openings_path,
        redact_public,
    )
    from atlas_intoto.rerun import supersede

    base_path = plan.options.base if base_path is None else base_path
    exclude = plan.options.patterns if exclude is None else exclude
    patterns = _excludes(plan.options, base_path=base_path, exclude=exclude)
    products = _measure(
        plan.options, product_paths, base=base_path, patterns=patterns, progress=progress
    )
    keyid = plan.functionary.keyid
    private = commit_step_artifacts(plan.options, materials=materials, products=products)
    command, byproducts = redact_public(private, command, byproducts)
    binding = step_binding_digest(
        step=plan.step,
        materials=private.materials if private is not None else materials,
        products=private.products if private is not None else products,
        command=command,
        keyid=keyid,
    )
    stem = link_file_name(plan.step, keyid)[: -len(".link")]
    evidence = _record_evidence(plan, binding, stem)
    # Keyless: certify the ephemeral key now, after the command, so a long step cannot
    # outlive the short-lived certificate before it signs (atlas_intoto.keyless).
    plan = _certified(plan)
    written: list[Path] = []
    # A re-run: the previous link and its evidence move to .superseded/ (restored on failure).
    previous = supersede(plan.options.out_dir, stem)
    try:
        signed = _sign_and_write(
            plan,
            stem=stem,
            evidence=evidence,
            materials=materials,
            products=products,
            command=command,
            byproducts=byproducts,
            base_path=base_path,
            written=written,
            private=private,
        )
    except BaseException:
        _remove_quietly(written)
        if previous is not None:
            previous.restore()
        raise
    recorded = RecordedStep(
        link_path=signed.link_path,
        envelope=signed.envelope,
        keyid=keyid,
        materials=materials,
        products=products,
        binding=binding,
        collateral_path=evidence.blob_paths.get("tdx", {}).get("collateral"),
        blob_paths=evidence.blob_paths,
        sidecars=signed.sidecars,
        evidence=evidence.entries,
        superseded=previous.directory if previous is not None else None,
        sigstore_bundle_path=signed.statement_path,
        openings_path=openings_path(plan.options.out_dir, stem, private),
    )
    return _publish(plan, stem, recorded)


def _publish(plan: RecordingPlan, stem: str, recorded: RecordedStep) -> RecordedStep:
    """Publish a written step to the log (when one is configured)."""
    if plan.publisher is None:
        return recorded
    from dataclasses import replace

    from atlas_intoto.publishing import marker_path, publish_step, read_marker

    # Offline-first: everything is on disk before the log is contacted; the marker written
    # is what is published (with digest visibility, its signature over the envelope).
    marker = read_marker(marker_path(plan.options.out_dir, stem))
    entry = publish_step(plan.options, marker, plan.publisher, recorded=recorded)
    return replace(recorded, log_entry_path=entry)


def _statement_bundle(
    plan: RecordingPlan,
    materials: ArtifactDigests,
    products: ArtifactDigests,
    command: Sequence[str],
    byproducts: Mapping[str, Any],
    environment: Mapping[str, Any],
) -> tuple[Path, bytes]:
    """The step's Statement v1 in a Sigstore bundle (:mod:`atlas_intoto.step_statement`)."""
    from atlas_intoto.step_statement import statement_bundle

    return statement_bundle(
        step=plan.step,
        materials=materials,
        products=products,
        command=command,
        byproducts=byproducts,
        environment={EVIDENCE_KEY: environment},
        signer=plan.functionary.signer,
        public_pem=plan.functionary.public_pem,
        key_path=plan.functionary.key_path,
        out_dir=plan.options.out_dir,
        certificate=(plan.functionary.certificate_chain or (None,))[0],
    )


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def record_step(
    *,
    step: str,
    options: RecordingOptions,
    materials: Sequence[str],
    products: Sequence[str],
    command: Sequence[str] = (),
    byproducts: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> RecordedStep:
    """Record a step whose work happened elsewhere (e.g. inside a training loop).

    Measures materials and products now and records ``command``/``byproducts`` as given.
    """
    plan = prepare(step, options)
    measured = _measure_materials(options, materials, progress)
    return _complete(
        plan,
        materials=measured,
        product_paths=products,
        command=command,
        byproducts=byproducts or {},
        progress=progress,
    )


def run_step(
    *,
    step: str,
    command: Sequence[str],
    options: RecordingOptions,
    materials: Sequence[str] = (),
    products: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    echo_stdout: IO[str] | IO[bytes] | None = None,
    echo_stderr: IO[str] | IO[bytes] | None = None,
) -> RecordedStep:
    """Measure materials, run ``command``, and record the step if it succeeds.

    The command's output is echoed to ``echo_stdout``/``echo_stderr`` (default: our stdout and
    stderr) and recorded as byproducts. A non-zero exit raises :class:`StepCommandFailed` and
    writes nothing; keys, evidence kinds, C2PA, the log backend and the output directory are
    checked before the command runs.
    """
    if not command:
        raise UsageError("no command given (use: run ... -- CMD [ARG ...])")
    plan = prepare(step, options)
    measured = _measure_materials(options, materials, progress)
    check_recording(
        options, step=step, keyid=plan.functionary.keyid, command=command, materials=measured
    )
    # fail before a long command when private artifacts cannot be committed
    from atlas_intoto.confidential.recording import plan_private

    plan_private(options)
    byproducts = execute_command(
        command,
        echo_stdout=echo_stdout if echo_stdout is not None else sys.stdout,
        echo_stderr=echo_stderr if echo_stderr is not None else sys.stderr,
        record_output=options.record_output,
        output_cap=options.output_cap,
    )
    if byproducts["return-value"] != 0:
        raise StepCommandFailed(step=step, command=command, returncode=byproducts["return-value"])
    return _complete(
        plan,
        materials=measured,
        product_paths=products,
        progress=progress,
        command=command,
        byproducts=byproducts,
    )


def record_start(
    *,
    step: str,
    options: RecordingOptions,
    materials: Sequence[str],
    command: Sequence[str] = (),
    progress: ProgressCallback | None = None,
) -> Path:
    """Measure the materials and keep them in ``out_dir/.pending/``; return that file's path.

    ``command`` is the step's declared command (``record start --command``): ``record stop``
    records it unless given another. Only ``key_path``, ``base_path``, ``out_dir``, ``exclude``
    and ``layout`` (pre-flight) of ``options`` matter here.
    """
    check_step_name(step)
    keyid = _pending_keyid(options)
    ensure_writable_dir(options.out_dir)
    measured = _measure_materials(options, materials, progress)
    check_recording(options, step=step, keyid=keyid, command=command, materials=measured)
    state = {
        "step": step,
        "keyid": keyid,
        "base_path": os.path.abspath(options.base),
        "exclude": list(options.patterns),
        "materials": measured,
        "command": [str(arg) for arg in command],
    }
    path = pending_path(options.out_dir, step, keyid)
    write_state(path, state)
    return path


def _pending_keyid(options: RecordingOptions) -> str:
    """The key a pending record is filed under: the functionary's, or — keyless, where the
    ephemeral key only exists at ``record stop`` — :data:`KEYLESS_PENDING`."""
    if options.keyless:
        return KEYLESS_PENDING
    return load_functionary(options.key_path).keyid


def record_stop(
    *,
    step: str,
    options: RecordingOptions,
    products: Sequence[str],
    command: Sequence[str] = (),
    byproducts: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> RecordedStep:
    """Measure the products and write the link for a step begun with :func:`record_start`.

    ``command``/``byproducts`` describe work done in-process (e.g. a pipeline component
    and its parameters); without ``command`` the one declared at start is recorded.
    ``options.base_path``/``exclude`` of None mean those given at start. The pending record is
    removed once the link is written (also when only publishing is left to do).
    """
    from atlas_intoto.errors import PublishPendingError

    plan = prepare(step, options)
    keyid = KEYLESS_PENDING if options.keyless else plan.functionary.keyid
    path = pending_path(options.out_dir, step, keyid)
    state = read_state(path, step=step, keyid=keyid)
    try:
        recorded = _complete(
            plan,
            materials=state["materials"],
            product_paths=products,
            command=command or state.get("command", []),
            byproducts=byproducts or {},
            base_path=options.base_path
            if options.base_path is not None
            else Path(state["base_path"]),
            exclude=options.exclude
            if options.exclude is not None
            else [str(p) for p in state["exclude"]],
            progress=progress,
        )
    except PublishPendingError:
        remove_state(path, step=step, keyid=keyid)
        raise
    remove_state(path, step=step, keyid=keyid)
    return recorded

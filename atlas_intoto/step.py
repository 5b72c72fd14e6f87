"""Recording a step: ``run`` / ``record start`` / ``record stop`` → signed link + evidence.

Order: measure materials → run the command → measure products → signer key id → binding B →
evidence of every requested kind (:mod:`atlas_intoto.evidence`) → C2PA sidecars → build and
sign the link → publish to the log backend → write blobs, log entry and, last, the link. Any
error leaves no new file behind (the link is written last; everything this call wrote before is
removed again).

Evidence kinds, C2PA and the log backend are resolved before any work starts (so a missing one
fails before an hour-long command runs, not after) and imported only when their option is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from atlas_intoto.binding import step_binding_digest
from atlas_intoto.errors import (
    FeatureUnavailableError,
    InputError,
    StepCommandFailed,
    UsageError,
)
from atlas_intoto.evidence.model import EVIDENCE_VERSION, BlobRef, EvidenceEntry
from atlas_intoto.fileio import atomic_write, ensure_writable_dir, read_json
from atlas_intoto.link import EVIDENCE_KEY, link_file_name, sign_link
from atlas_intoto.measure import ArtifactDigests, ProgressCallback, exclude_pattern_for, measure
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.runner import execute_command

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner

    from atlas_intoto.evidence.kind import EvidenceKind
    from atlas_intoto.tlog.backend import LogPublisher

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

PENDING_DIR = ".pending"
_PENDING_VERSION = 1


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
    #: the step's Statement v1 as a Sigstore bundle (``NAME.KEYID8.sigstore.json``)
    sigstore_bundle_path: Path | None = None


@dataclass(frozen=True, kw_only=True)
class _Functionary:
    signer: CryptoSigner
    keyid: str
    public_pem: bytes
    key_path: Path


@dataclass(frozen=True, kw_only=True)
class _Plan:
    """Everything resolved before the command runs."""

    step: str
    options: RecordingOptions
    functionary: _Functionary
    kinds: tuple[tuple[EvidenceKind, Mapping[str, str]], ...]
    sign_products: Callable[..., dict[str, dict[str, str]]] | None
    publisher: LogPublisher | None


@dataclass(frozen=True, kw_only=True)
class _Evidence:
    environment: dict[str, Any]
    entries: tuple[EvidenceEntry, ...]
    writes: tuple[tuple[Path, bytes], ...]
    blob_paths: Mapping[str, Mapping[str, Path]]
    manifest_digest: str | None


# ---------------------------------------------------------------------------------------------
# Preparation (everything that can fail before the command runs)
# ---------------------------------------------------------------------------------------------


def _check_step_name(step: str) -> None:
    if not step or "/" in step or "\\" in step or step.startswith(".") or "\x00" in step:
        raise UsageError(f"--step {step!r}: must be a plain name (no '/', not starting with '.')")


def _load_functionary(key_path: Path) -> _Functionary:
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.signer import CryptoSigner

    from atlas_intoto.keys import load_private_key, sslib_key

    private = load_private_key(Path(key_path))
    public = private.public_key()
    signer = CryptoSigner(private, sslib_key(public))
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _Functionary(
        signer=signer, keyid=signer.public_key.keyid, public_pem=pem, key_path=Path(key_path)
    )


def _available(option: str, resolve: Callable[[], Any]) -> Any:
    try:
        return resolve()
    except ImportError as exc:
        raise FeatureUnavailableError(
            f"{option}: not available in this installation ({exc})"
        ) from exc


def _resolve_kinds(
    step: str, options: RecordingOptions
) -> tuple[tuple[EvidenceKind, Mapping[str, str]], ...]:
    from atlas_intoto.errors import UnknownEvidenceKindError
    from atlas_intoto.evidence import registry
    from atlas_intoto.evidence.kind import RecordRequest

    resolved = []
    for request in options.evidence_requests():
        option = f"--tee {options.tee}" if request.kind == "tdx" else f"evidence {request.kind}"
        probe = RecordRequest(step=step, binding=b"", keyid="", options=request.options)
        try:
            kind = registry.get(request.kind)
            kind.check_available(probe)
        except UnknownEvidenceKindError as exc:
            raise UsageError(f"{option}: {exc}") from exc
        except ImportError as exc:
            raise FeatureUnavailableError(
                f"{option}: not available in this installation ({exc})"
            ) from exc
        resolved.append((kind, request.options))
    return tuple(resolved)


def _prepare(step: str, options: RecordingOptions) -> _Plan:
    from atlas_intoto.tlog import backend

    _check_step_name(step)
    kinds = _resolve_kinds(step, options)
    sign_products = None
    if options.c2pa:
        sign_products = _available(
            "--c2pa",
            lambda: importlib.import_module("atlas_intoto.c2pa").sign_products,
        )
    publisher = None
    if options.log_url is not None:
        log = backend.get(options.log_backend)
        url = options.log_url
        publisher = _available("--log", lambda: log.publisher(url))
    functionary = _load_functionary(options.key_path)
    ensure_writable_dir(options.out_dir)
    return _Plan(
        step=step,
        options=options,
        functionary=functionary,
        kinds=kinds,
        sign_products=sign_products,
        publisher=publisher,
    )


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


def _record_evidence(plan: _Plan, binding: bytes, stem: str) -> _Evidence:
    """Ask every requested kind for evidence; file its blobs under ``<blob_dir>/<stem>.*``."""
    from atlas_intoto.evidence.kind import RecordRequest
    from atlas_intoto.home import atlas_home

    environment: dict[str, Any] = {"version": EVIDENCE_VERSION, "binding": binding.hex()}
    entries: list[EvidenceEntry] = []
    writes: list[tuple[Path, bytes]] = []
    blob_paths: dict[str, dict[str, Path]] = {}
    manifest_digest: str | None = None
    for kind, kind_options in plan.kinds:
        request = RecordRequest(
            step=plan.step,
            binding=binding,
            keyid=plan.functionary.keyid,
            options=kind_options,
            home=atlas_home(),
        )
        recorded = kind.record(request)
        refs: dict[str, BlobRef] = {}
        for name, blob in sorted(recorded.blobs.items()):
            rel = f"{kind.blob_dir}/{stem}.{name}{blob.suffix}"
            refs[name] = BlobRef(path=rel, sha256=hashlib.sha256(blob.data).hexdigest())
            path = plan.options.out_dir / rel
            writes.append((path, blob.data))
            blob_paths.setdefault(kind.name, {})[name] = path
        entries.append(EvidenceEntry(kind=kind.name, fields=dict(recorded.fields), blobs=refs))
        manifest_digest = manifest_digest or recorded.manifest_digest
    if entries:
        environment["evidence"] = [entry.to_dict() for entry in entries]
    return _Evidence(
        environment=environment,
        entries=tuple(entries),
        writes=tuple(writes),
        blob_paths=blob_paths,
        manifest_digest=manifest_digest,
    )


def _sign_products(
    plan: _Plan,
    *,
    binding: bytes,
    manifest_digest: str | None,
    materials: ArtifactDigests,
    products: ArtifactDigests,
    base_path: Path,
    written: list[Path],
) -> dict[str, dict[str, str]]:
    from atlas_intoto.keys import certificate_chain_path

    if plan.sign_products is None:
        return {}
    out_dir = plan.options.out_dir
    # Registered before the call: a hook failing half-way must not leave sidecars.
    written.extend(out_dir / "c2pa" / f"{product}.c2pa" for product in products)
    sidecars = plan.sign_products(
        step=plan.step,
        binding=binding,
        quote_digest=manifest_digest,
        products=products,
        materials=materials,
        base_path=base_path,
        evidence_dir=out_dir,
        key_path=plan.functionary.key_path,
        cert_chain_path=certificate_chain_path(plan.functionary.key_path),
    )
    written.extend(out_dir / entry["sidecar"] for entry in sidecars.values())
    return sidecars


def _complete(
    plan: _Plan,
    *,
    materials: ArtifactDigests,
    product_paths: Sequence[str],
    command: Sequence[str],
    byproducts: Mapping[str, Any],
    base_path: Path,
    exclude: Sequence[str],
    progress: ProgressCallback | None,
) -> RecordedStep:
    patterns = _excludes(plan.options, base_path=base_path, exclude=exclude)
    products = measure(product_paths, base_path=base_path, exclude=patterns, progress=progress)
    keyid, out_dir = plan.functionary.keyid, plan.options.out_dir
    binding = step_binding_digest(
        step=plan.step, materials=materials, products=products, command=command, keyid=keyid
    )
    stem = f"{plan.step}.{keyid[:8]}"
    evidence = _record_evidence(plan, binding, stem)
    written: list[Path] = []
    try:
        sidecars = _sign_products(
            plan,
            binding=binding,
            manifest_digest=evidence.manifest_digest,
            materials=materials,
            products=products,
            base_path=base_path,
            written=written,
        )
        environment = dict(evidence.environment)
        if sidecars:
            environment["c2pa"] = {product: dict(entry) for product, entry in sidecars.items()}
        envelope = sign_link(
            name=plan.step,
            materials=materials,
            products=products,
            command=command,
            byproducts=byproducts,
            environment={EVIDENCE_KEY: environment},
            signer=plan.functionary.signer,
        )
        writes = list(evidence.writes)
        log_entry_path: Path | None = None
        if plan.publisher is not None:
            document = plan.publisher.publish(envelope, plan.functionary.public_pem)
            log_entry_path = out_dir / f"{stem}.logentry.json"
            writes.append((log_entry_path, json.dumps(document, indent=2).encode() + b"\n"))
        statement_path, statement = _statement_bundle(
            plan, materials, products, command, byproducts, environment
        )
        writes.append((statement_path, statement))
        link_path = out_dir / link_file_name(plan.step, keyid)
        for path, data in [*writes, (link_path, envelope)]:
            written.append(path)
            atomic_write(path, data)
        if plan.publisher is not None:
            _publish_statement(plan, statement_path)
    except BaseException:
        _remove_quietly(written)
        raise
    return RecordedStep(
        link_path=link_path,
        envelope=envelope,
        keyid=keyid,
        materials=materials,
        products=products,
        binding=binding,
        log_entry_path=log_entry_path,
        collateral_path=evidence.blob_paths.get("tdx", {}).get("collateral"),
        blob_paths=evidence.blob_paths,
        sidecars=sidecars,
        evidence=evidence.entries,
        sigstore_bundle_path=statement_path,
    )


def _statement_bundle(
    plan: _Plan,
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
    )


def _publish_statement(plan: _Plan, path: Path) -> None:
    """Log the step's Statement too, once its link is logged."""
    from atlas_intoto.step_statement import publish_statement

    assert plan.publisher is not None
    publish_statement(
        path,
        publisher=plan.publisher,
        public_pem=plan.functionary.public_pem,
        log_backend=plan.options.log_backend,
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
    plan = _prepare(step, options)
    base, exclude = options.base, options.patterns
    patterns = _excludes(options, base_path=base, exclude=exclude)
    measured = measure(materials, base_path=base, exclude=patterns, progress=progress)
    return _complete(
        plan,
        materials=measured,
        product_paths=products,
        command=command,
        byproducts=byproducts or {},
        base_path=base,
        exclude=exclude,
        progress=progress,
    )


def run_step(
    *,
    step: str,
    options: RecordingOptions,
    command: Sequence[str],
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
    plan = _prepare(step, options)
    base, exclude = options.base, options.patterns
    patterns = _excludes(options, base_path=base, exclude=exclude)
    measured = measure(materials, base_path=base, exclude=patterns, progress=progress)
    byproducts = execute_command(
        command,
        echo_stdout=echo_stdout if echo_stdout is not None else sys.stdout,
        echo_stderr=echo_stderr if echo_stderr is not None else sys.stderr,
    )
    if byproducts["return-value"] != 0:
        raise StepCommandFailed(step=step, command=command, returncode=byproducts["return-value"])
    return _complete(
        plan,
        materials=measured,
        product_paths=products,
        command=command,
        byproducts=byproducts,
        base_path=base,
        exclude=exclude,
        progress=progress,
    )


def pending_path(out_dir: Path, step: str, keyid: str) -> Path:
    return out_dir / PENDING_DIR / f"{step}.{keyid[:8]}.json"


def record_start(
    *,
    step: str,
    options: RecordingOptions,
    materials: Sequence[str],
    progress: ProgressCallback | None = None,
) -> Path:
    """Measure the materials and keep them in ``out_dir/.pending/``; return that file's path.

    Only ``key_path``, ``base_path``, ``out_dir`` and ``exclude`` of ``options`` matter here.
    """
    _check_step_name(step)
    functionary = _load_functionary(options.key_path)
    ensure_writable_dir(options.out_dir)
    base, exclude = options.base, options.patterns
    patterns = _excludes(options, base_path=base, exclude=exclude)
    measured = measure(materials, base_path=base, exclude=patterns, progress=progress)
    state = {
        "version": _PENDING_VERSION,
        "step": step,
        "keyid": functionary.keyid,
        "base_path": os.path.abspath(base),
        "exclude": list(exclude),
        "materials": measured,
    }
    path = pending_path(options.out_dir, step, functionary.keyid)
    atomic_write(path, json.dumps(state, indent=2, sort_keys=True).encode() + b"\n")
    return path


def _read_pending(path: Path, *, step: str, keyid: str) -> dict[str, Any]:
    if not path.exists():
        raise InputError(f"{path}: no pending record for step {step!r} (run 'record start' first)")
    state = read_json(path, what="pending record")
    if not isinstance(state, dict) or state.get("version") != _PENDING_VERSION:
        raise InputError(f"{path}: not a pending record of this version")
    if state.get("step") != step or state.get("keyid") != keyid:
        raise InputError(f"{path}: pending record is for another step or key")
    materials = state.get("materials")
    if not isinstance(materials, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in materials.values()
    ):
        raise InputError(f"{path}: field materials is malformed")
    if not isinstance(state.get("base_path"), str) or not isinstance(state.get("exclude"), list):
        raise InputError(f"{path}: fields base_path/exclude are malformed")
    return state


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
    and its parameters); the CLI leaves them empty. ``options.base_path``/``exclude`` of None
    mean those given at start. The pending record is removed only after the link is written.
    """
    plan = _prepare(step, options)
    path = pending_path(options.out_dir, step, plan.functionary.keyid)
    state = _read_pending(path, step=step, keyid=plan.functionary.keyid)
    recorded = _complete(
        plan,
        materials=state["materials"],
        product_paths=products,
        command=command,
        byproducts=byproducts or {},
        base_path=options.base_path if options.base_path is not None else Path(state["base_path"]),
        exclude=options.exclude
        if options.exclude is not None
        else [str(p) for p in state["exclude"]],
        progress=progress,
    )
    with contextlib.suppress(OSError):
        path.unlink()
    return recorded

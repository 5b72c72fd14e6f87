"""Recording a step: ``run`` / ``record start`` / ``record stop`` → signed link + evidence.

Order (docs/INTERFACES.md "Recording order"): measure materials → run the command → measure
products → signer key id → binding B → TEE quote → C2PA sidecars → build and sign the link →
publish to the log → write collateral, log entry and, last, the link. Any error leaves no new
file behind (the link is written last, everything this call wrote before is removed again).

The TEE, C2PA and log integrations are resolved before any work starts (so a missing one fails
before an hour-long command runs, not after) and imported only when their option is used.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from atlas_intoto.binding import step_binding_digest
from atlas_intoto.errors import (
    CommandError,
    FeatureUnavailableError,
    InputError,
    StepCommandFailed,
    UsageError,
)
from atlas_intoto.fileio import atomic_write, ensure_writable_dir, read_json
from atlas_intoto.link import EVIDENCE_KEY, link_file_name, sign_link
from atlas_intoto.measure import ArtifactDigests, ProgressCallback, exclude_pattern_for, measure

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner

TEE_KINDS = ("none", "simulated", "tdx")
EVIDENCE_VERSION = 1
PENDING_DIR = ".pending"
_PENDING_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class RecordedStep:
    link_path: Path
    envelope: bytes
    keyid: str
    materials: ArtifactDigests
    products: ArtifactDigests
    binding: bytes
    log_entry_path: Path | None = None
    collateral_path: Path | None = None
    sidecars: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class _Functionary:
    signer: CryptoSigner
    keyid: str
    public_pem: bytes
    key_path: Path


@dataclass(frozen=True, kw_only=True)
class _Hooks:
    attest: Callable[..., Any] | None
    sign_products: Callable[..., dict[str, dict[str, str]]] | None
    rekor_client: Callable[[str], Any] | None


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


def _hook(module: str, name: str, option: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise FeatureUnavailableError(
            f"{option}: {module}.{name} is not available in this installation ({exc})"
        ) from exc


def _resolve_hooks(*, tee: str, c2pa: bool, log_url: str | None) -> _Hooks:
    if tee not in TEE_KINDS:
        raise UsageError(f"--tee {tee!r}: expected one of {', '.join(TEE_KINDS)}")
    return _Hooks(
        attest=_hook("atlas_intoto.tee", "attest", f"--tee {tee}") if tee != "none" else None,
        sign_products=_hook("atlas_intoto.c2pa", "sign_products", "--c2pa") if c2pa else None,
        rekor_client=_hook("atlas_intoto.tlog.client", "RekorClient", "--log") if log_url else None,
    )


def _excludes(exclude: Sequence[str], *, out_dir: Path, base_path: Path) -> list[str]:
    """The user's patterns plus the evidence directory, so evidence never measures itself."""
    patterns = list(exclude)
    own = exclude_pattern_for(out_dir, base_path=base_path)
    if own is not None:
        patterns.append(own)
    return patterns


# ---------------------------------------------------------------------------------------------
# Running the command
# ---------------------------------------------------------------------------------------------


def _pump(fd: int, sink: Any, chunks: list[bytes]) -> None:
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
        if sink is None:
            continue
        with contextlib.suppress(OSError, ValueError):
            buffer = getattr(sink, "buffer", None)
            if buffer is not None:
                buffer.write(chunk)
                buffer.flush()
            elif isinstance(sink, io.TextIOBase):
                sink.write(chunk.decode("utf-8", "replace"))
                sink.flush()
            else:
                sink.write(chunk)
                sink.flush()


def execute_command(
    command: Sequence[str],
    *,
    echo_stdout: IO[str] | IO[bytes] | None = None,
    echo_stderr: IO[str] | IO[bytes] | None = None,
) -> dict[str, Any]:
    """Run ``command``, echoing and capturing its output; return in-toto byproducts.

    Same result shape as in-toto's ``runlib.execute_link`` (``stdout``, ``stderr``,
    ``return-value``). Not that function itself: it polls the child in a busy loop (a whole core
    while a training job runs), has a default 10 s timeout and decodes output as locale text.
    Here two threads block on pipes and output is decoded as UTF-8 with replacement.
    """
    if not command:
        raise UsageError("no command given (use: run ... -- CMD [ARG ...])")
    argv = [os.fspath(part) for part in command]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise CommandError(f"{argv[0]}: command not found") from exc
    except PermissionError as exc:
        raise CommandError(f"{argv[0]}: command is not executable") from exc
    except OSError as exc:
        raise CommandError(f"{argv[0]}: cannot start command ({exc.strerror or exc})") from exc
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(
            target=_pump, args=(proc.stdout.fileno(), echo_stdout, out_chunks), daemon=True
        ),
        threading.Thread(
            target=_pump, args=(proc.stderr.fileno(), echo_stderr, err_chunks), daemon=True
        ),
    ]
    for pump in pumps:
        pump.start()
    try:
        returncode = proc.wait()
        for pump in pumps:
            pump.join()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        proc.stdout.close()
        proc.stderr.close()
    return {
        "stdout": b"".join(out_chunks).decode("utf-8", "replace"),
        "stderr": b"".join(err_chunks).decode("utf-8", "replace"),
        "return-value": returncode,
    }


# ---------------------------------------------------------------------------------------------
# Completing a step: products → binding → TEE → C2PA → link → log → files
# ---------------------------------------------------------------------------------------------


def _remove_quietly(paths: Sequence[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def _complete(
    *,
    step: str,
    functionary: _Functionary,
    hooks: _Hooks,
    materials: ArtifactDigests,
    product_paths: Sequence[str],
    command: Sequence[str],
    byproducts: Mapping[str, Any],
    base_path: Path,
    out_dir: Path,
    exclude: Sequence[str],
    tee: str,
    tee_collateral_url: str | None,
    log_url: str | None,
    progress: ProgressCallback | None,
) -> RecordedStep:
    from atlas_intoto.home import atlas_home
    from atlas_intoto.keys import certificate_chain_path

    products = measure(
        product_paths,
        base_path=base_path,
        exclude=_excludes(exclude, out_dir=out_dir, base_path=base_path),
        progress=progress,
    )
    keyid = functionary.keyid
    binding = step_binding_digest(
        step=step, materials=materials, products=products, command=command, keyid=keyid
    )
    evidence: dict[str, Any] = {"version": EVIDENCE_VERSION, "binding": binding.hex()}
    stem = f"{step}.{keyid[:8]}"
    pending_writes: list[tuple[Path, bytes]] = []
    collateral_path: Path | None = None
    quote_digest: str | None = None

    if hooks.attest is not None:
        tee_evidence = hooks.attest(
            tee, binding=binding, home=atlas_home(), collateral_url=tee_collateral_url
        )
        if tee_evidence is None:
            raise FeatureUnavailableError(f"--tee {tee}: the TEE provider returned no evidence")
        collateral_rel = f"tee/{stem}.collateral.json"
        collateral_path = out_dir / collateral_rel
        quote_digest = hashlib.sha256(tee_evidence.quote).hexdigest()
        evidence["tee"] = {
            "type": tee_evidence.type,
            "quote": base64.b64encode(tee_evidence.quote).decode("ascii"),
            "nonce": tee_evidence.nonce.hex(),
            "collateral": {
                "path": collateral_rel,
                "sha256": hashlib.sha256(tee_evidence.collateral).hexdigest(),
            },
        }
        pending_writes.append((collateral_path, tee_evidence.collateral))

    written: list[Path] = []
    sidecars: dict[str, dict[str, str]] = {}
    try:
        if hooks.sign_products is not None:
            # Registered before the call: a hook failing half-way must not leave sidecars.
            written.extend(out_dir / "c2pa" / f"{product}.c2pa" for product in products)
            sidecars = hooks.sign_products(
                step=step,
                binding=binding,
                quote_digest=quote_digest,
                products=products,
                materials=materials,
                base_path=base_path,
                evidence_dir=out_dir,
                key_path=functionary.key_path,
                cert_chain_path=certificate_chain_path(functionary.key_path),
            )
            written.extend(out_dir / entry["sidecar"] for entry in sidecars.values())
            evidence["c2pa"] = {product: dict(entry) for product, entry in sidecars.items()}

        envelope = sign_link(
            name=step,
            materials=materials,
            products=products,
            command=command,
            byproducts=byproducts,
            environment={EVIDENCE_KEY: evidence},
            signer=functionary.signer,
        )

        log_entry_path: Path | None = None
        if hooks.rekor_client is not None and log_url is not None:
            entry = hooks.rekor_client(log_url).publish_dsse(envelope, functionary.public_pem)
            log_entry_path = out_dir / f"{stem}.logentry.json"
            pending_writes.append((log_entry_path, json.dumps(entry, indent=2).encode() + b"\n"))

        link_path = out_dir / link_file_name(step, keyid)
        for path, data in [*pending_writes, (link_path, envelope)]:
            written.append(path)
            atomic_write(path, data)
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
        collateral_path=collateral_path,
        sidecars=sidecars,
    )


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def record_step(
    *,
    step: str,
    key_path: Path,
    materials: Sequence[str],
    products: Sequence[str],
    command: Sequence[str] = (),
    base_path: Path = Path("."),
    out_dir: Path = Path(".atlas"),
    exclude: Sequence[str] = (),
    tee: str = "none",
    tee_collateral_url: str | None = None,
    c2pa: bool = False,
    log_url: str | None = None,
    byproducts: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> RecordedStep:
    """Record a step whose work happened elsewhere (e.g. inside a training loop).

    Measures materials and products now and records ``command``/``byproducts`` as given.
    """
    _check_step_name(step)
    hooks = _resolve_hooks(tee=tee, c2pa=c2pa, log_url=log_url)
    functionary = _load_functionary(key_path)
    ensure_writable_dir(out_dir)
    patterns = _excludes(exclude, out_dir=out_dir, base_path=base_path)
    measured = measure(materials, base_path=base_path, exclude=patterns, progress=progress)
    return _complete(
        step=step,
        functionary=functionary,
        hooks=hooks,
        materials=measured,
        product_paths=products,
        command=command,
        byproducts=byproducts or {},
        base_path=base_path,
        out_dir=out_dir,
        exclude=exclude,
        tee=tee,
        tee_collateral_url=tee_collateral_url,
        log_url=log_url,
        progress=progress,
    )


def run_step(
    *,
    step: str,
    key_path: Path,
    command: Sequence[str],
    materials: Sequence[str] = (),
    products: Sequence[str] = (),
    base_path: Path = Path("."),
    out_dir: Path = Path(".atlas"),
    exclude: Sequence[str] = (),
    tee: str = "none",
    tee_collateral_url: str | None = None,
    c2pa: bool = False,
    log_url: str | None = None,
    progress: ProgressCallback | None = None,
    echo_stdout: IO[str] | IO[bytes] | None = None,
    echo_stderr: IO[str] | IO[bytes] | None = None,
) -> RecordedStep:
    """Measure materials, run ``command``, and record the step if it succeeds.

    The command's output is echoed to ``echo_stdout``/``echo_stderr`` (default: our stdout and
    stderr) and recorded as byproducts. A non-zero exit raises :class:`StepCommandFailed` and
    writes nothing; keys, hooks and the output directory are checked before the command runs.
    """
    _check_step_name(step)
    if not command:
        raise UsageError("no command given (use: run ... -- CMD [ARG ...])")
    hooks = _resolve_hooks(tee=tee, c2pa=c2pa, log_url=log_url)
    functionary = _load_functionary(key_path)
    ensure_writable_dir(out_dir)
    patterns = _excludes(exclude, out_dir=out_dir, base_path=base_path)
    measured = measure(materials, base_path=base_path, exclude=patterns, progress=progress)
    byproducts = execute_command(
        command,
        echo_stdout=echo_stdout if echo_stdout is not None else sys.stdout,
        echo_stderr=echo_stderr if echo_stderr is not None else sys.stderr,
    )
    if byproducts["return-value"] != 0:
        raise StepCommandFailed(step=step, command=command, returncode=byproducts["return-value"])
    return _complete(
        step=step,
        functionary=functionary,
        hooks=hooks,
        materials=measured,
        product_paths=products,
        command=command,
        byproducts=byproducts,
        base_path=base_path,
        out_dir=out_dir,
        exclude=exclude,
        tee=tee,
        tee_collateral_url=tee_collateral_url,
        log_url=log_url,
        progress=progress,
    )


def pending_path(out_dir: Path, step: str, keyid: str) -> Path:
    return out_dir / PENDING_DIR / f"{step}.{keyid[:8]}.json"


def record_start(
    *,
    step: str,
    key_path: Path,
    materials: Sequence[str],
    base_path: Path = Path("."),
    out_dir: Path = Path(".atlas"),
    exclude: Sequence[str] = (),
    progress: ProgressCallback | None = None,
) -> Path:
    """Measure the materials and keep them in ``out_dir/.pending/``; return that file's path."""
    _check_step_name(step)
    functionary = _load_functionary(key_path)
    ensure_writable_dir(out_dir)
    patterns = _excludes(exclude, out_dir=out_dir, base_path=base_path)
    measured = measure(materials, base_path=base_path, exclude=patterns, progress=progress)
    state = {
        "version": _PENDING_VERSION,
        "step": step,
        "keyid": functionary.keyid,
        "base_path": os.path.abspath(base_path),
        "exclude": list(exclude),
        "materials": measured,
    }
    path = pending_path(out_dir, step, functionary.keyid)
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
    key_path: Path,
    products: Sequence[str],
    base_path: Path | None = None,
    out_dir: Path = Path(".atlas"),
    exclude: Sequence[str] | None = None,
    tee: str = "none",
    tee_collateral_url: str | None = None,
    c2pa: bool = False,
    log_url: str | None = None,
    progress: ProgressCallback | None = None,
    command: Sequence[str] = (),
    byproducts: Mapping[str, Any] | None = None,
) -> RecordedStep:
    """Measure the products and write the link for a step begun with :func:`record_start`.

    ``command``/``byproducts`` describe work done in-process (e.g. a pipeline component
    and its parameters); the CLI leaves them empty.
    ``base_path``/``exclude`` default to those given at start. The pending record is removed
    only after the link is written.
    """
    _check_step_name(step)
    hooks = _resolve_hooks(tee=tee, c2pa=c2pa, log_url=log_url)
    functionary = _load_functionary(key_path)
    path = pending_path(out_dir, step, functionary.keyid)
    state = _read_pending(path, step=step, keyid=functionary.keyid)
    ensure_writable_dir(out_dir)
    recorded = _complete(
        step=step,
        functionary=functionary,
        hooks=hooks,
        materials=state["materials"],
        product_paths=products,
        command=command,
        byproducts=byproducts or {},
        base_path=base_path if base_path is not None else Path(state["base_path"]),
        out_dir=out_dir,
        exclude=exclude if exclude is not None else [str(p) for p in state["exclude"]],
        tee=tee,
        tee_collateral_url=tee_collateral_url,
        log_url=log_url,
        progress=progress,
    )
    with contextlib.suppress(OSError):
        path.unlink()
    return recorded

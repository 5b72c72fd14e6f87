"""Check 7, final artifacts: every file the consumer holds against the digest the pipeline
recorded for its path. The only file reading the verifier does, and only with ``--artifacts``.

:func:`hash_artifacts` (I/O) reads the consumer's files; :func:`check_artifacts` (pure) judges
them against the verified links.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from atlas_intoto.errors import FinalArtifactError, InputError
from atlas_intoto.verify.checks import passed
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import VerificationState

#: Never the consumer's artifacts (as in measurement: ``.git/`` is always excluded).
_IGNORED_DIRS = frozenset({".git"})


@dataclass(frozen=True, kw_only=True)
class HeldArtifacts:
    """The consumer's files: what ``--artifacts`` named and the SHA-256 of each file under it.

    ``files`` maps each path relative to ``root`` (``/``-separated) to its digest; for a single
    file it is the file's name. ``prefixes`` are the trailing parts of the directory's path
    (``dist`` for ``--artifacts dist/`` or ``/home/me/run/dist``, then ``run/dist``, ...), so a
    file can be found under the path the pipeline recorded relative to its base path
    (``dist/model.npz``).
    """

    root: str
    prefixes: tuple[str, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)
    single_file: bool = False
    #: the digest algorithm of ``files`` (:func:`final_algorithm`)
    algorithm: str = "sha256"


#: what a held path that is not a regular file "hashes" to, and what a path whose step recorded
#: no digest of the compared algorithm has: they differ from each other and from every digest
NOT_A_FILE = "<not a regular file>"
NOT_RECORDED = "<no digest of this algorithm recorded>"


def _hash_factory(algorithm: str) -> Any:
    if algorithm == "blake3":
        import blake3

        return blake3.blake3
    return algorithm


def final_algorithm(state: VerificationState) -> str:
    """The algorithm the consumer's files are compared by: sha256, or blake3 when the last
    step's products do not all record sha256 (a ``digests: [blake3]`` layout)."""
    products = final_products(state).values()
    if products and all("sha256" not in d and "blake3" in d for d in products):
        return "blake3"
    return "sha256"


def final_products(state: VerificationState) -> dict[str, dict[str, str]]:
    """The products of the last step's verified link ({} when it did not verify)."""
    items = state.links.get(state.layout.steps[-1].name)
    return {p: dict(d) for p, d in items[0].products.items()} if items else {}


def _digest(path: Path, algorithm: str) -> str:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, _hash_factory(algorithm)).hexdigest()
    except OSError as exc:
        raise InputError(f"{path}: cannot read artifact ({exc.strerror or exc})") from exc


def _prefixes(path: Path, depth: int = 8) -> tuple[str, ...]:
    """The trailing parts of ``path``'s absolute form: ``a/b/dist`` → (dist, b/dist, a/b/dist)."""
    parts = [part for part in PurePosixPath(path.resolve().as_posix()).parts if part != "/"]
    return tuple("/".join(parts[-n:]) for n in range(1, min(depth, len(parts)) + 1))


def hash_artifacts(path: Path, *, algorithm: str = "sha256") -> HeldArtifacts:
    """The ``algorithm`` digest of every regular file under ``path`` (or of ``path`` itself when
    it is a file); never the digest cache: verification reads the bytes.

    Symbolic links are reported as files that cannot be matched (their target is not what the
    pipeline recorded); ``.git/`` is skipped. InputError when ``path`` does not exist.
    """
    path = Path(path)
    try:
        mode = path.lstat().st_mode
    except OSError as exc:
        raise InputError(f"{path}: artifacts directory not found (nor a file)") from exc
    if stat.S_ISREG(mode):
        return HeldArtifacts(
            root=str(path),
            prefixes=_prefixes(path.parent),
            files={path.name: _digest(path, algorithm)},
            single_file=True,
            algorithm=algorithm,
        )
    if not path.is_dir():
        raise InputError(f"{path}: artifacts path is neither a directory nor a regular file")
    files: dict[str, str] = {}

    def _fail(exc: OSError) -> None:
        raise InputError(f"{path}: cannot list artifacts ({exc.strerror or exc})") from exc

    for directory, dirs, names in os.walk(path, onerror=_fail):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED_DIRS)
        here = Path(directory)
        for name in sorted(names + [d for d in dirs if (here / d).is_symlink()]):
            target = here / name
            rel = target.relative_to(path).as_posix()
            # a symlink or special file is never a recorded artifact: the sentinel matches nothing
            regular = target.is_file() and not target.is_symlink()
            files[rel] = _digest(target, algorithm) if regular else NOT_A_FILE
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
    return HeldArtifacts(root=str(path), prefixes=_prefixes(path), files=files, algorithm=algorithm)


def recorded_artifacts(
    state: VerificationState, algorithm: str = "sha256"
) -> dict[str, tuple[str, str]]:
    """path → (digest, "product of STEP" / "material of STEP") from the verified links.

    A path's digest is the one recorded by the latest step (layout order) that produced it; a
    path no step produced but a step consumed (a pipeline input, e.g. source code) has the
    digest the latest consuming step signed for it.
    """
    recorded: dict[str, tuple[str, str]] = {}
    produced: set[str] = set()
    for spec in state.layout.steps:
        for link in state.links.get(spec.name, ())[:1]:
            for path, digests in link.products.items():
                recorded[path] = (
                    str(digests.get(algorithm, NOT_RECORDED)),
                    f"product of {spec.name}",
                )
                produced.add(path)
            for path, digests in link.materials.items():
                if path not in produced:
                    recorded[path] = (
                        str(digests.get(algorithm, NOT_RECORDED)),
                        f"material of {spec.name}",
                    )
    return recorded


def _choose_prefix(held: HeldArtifacts, recorded: Mapping[str, object]) -> str:
    """Whether the consumer's paths are relative to the pipeline's base path (""), or the
    directory named is itself a recorded directory (``dist/model.npz`` found as ``model.npz``
    under ``--artifacts dist/``): the reading under which most files are recorded paths
    (ties: the shortest)."""
    best, best_count = "", sum(path in recorded for path in held.files)
    for prefix in held.prefixes:
        count = sum(f"{prefix}/{path}" in recorded for path in held.files)
        if count > best_count:
            best, best_count = prefix, count
    return best


def _public(products: Mapping[str, Any]) -> list[str]:
    """The products a consumer can be asked to hold: committed ones are checked by their
    openings (check 7, private artifacts), not by name."""
    from atlas_intoto.confidential.commitment import is_committed

    return [path for path in products if not is_committed(path)]


def check_artifacts(
    state: VerificationState,
    held: HeldArtifacts,
    *,
    allow_unattested: bool = False,
    covered: Collection[str] = (),
) -> CheckResult:
    """Check 7: the consumer's files are the ones the pipeline recorded.

    Steps:
      1. the last step has a verified link that records at least one product (otherwise there
         is nothing the consumer's files could be compared with);
      2. every file under the directory equals the digest recorded for its path by the latest
         step that produced it (or, for a pipeline input no step produced, the digest the
         consuming step signed); a swapped earlier product fails, not only the last step's;
      3. a file for which no step recorded a digest (an added ``backdoor.py``) fails unless
         ``allow_unattested``;
      4. every product of the last step is present (given a directory); a committed private
         product (``private/<hex>``) is looked for by its opened path, or not at all.
    ``covered``: the clear paths of private artifacts an auditor's openings compared
    (:mod:`atlas_intoto.verify.checks.confidential`): attested, not compared again.
    """
    last = state.layout.steps[-1].name
    items = state.links.get(last)
    if not items:
        raise FinalArtifactError(f"step {last}: no verified link, final products unknown")
    if not items[0].products:
        raise FinalArtifactError(
            f"step {last}: records no products, the artifacts cannot be compared with anything"
        )
    recorded = recorded_artifacts(state, held.algorithm)
    recorded.update((path, ("", "")) for path in covered if path not in recorded)
    prefix = _choose_prefix(held, recorded)
    unattested: list[str] = []
    for rel, have in sorted(held.files.items()):
        path = f"{prefix}/{rel}" if prefix else rel
        # reasons start with the recorded path (the lineage marks that artifact)
        where = held.root if held.single_file else f"{held.root}/{rel}"
        if path not in recorded:
            unattested.append(path)
            continue
        if path in covered:
            continue
        want, what = recorded[path]
        if have != want:
            shown = (
                "is not a regular file"
                if have == NOT_A_FILE
                else f"has {held.algorithm} {have[:16]}…"
            )
            raise FinalArtifactError(f"{path}: {where} {shown}; the {what} has {want[:16]}…")
    if unattested and not allow_unattested:
        more = f" (and {len(unattested) - 1} more)" if len(unattested) > 1 else ""
        raise FinalArtifactError(
            f"{unattested[0]}{more}: in {held.root}, but no step of the pipeline recorded this "
            "file (--allow-unattested accepts files the evidence does not cover)"
        )
    if not held.single_file:
        for path in sorted(_public(items[0].products)):
            rel = path.removeprefix(f"{prefix}/") if prefix else path
            if rel not in held.files:
                raise FinalArtifactError(
                    f"{path}: final product of {last} not among the artifacts in {held.root}"
                )
    compared = len(held.files) - len(unattested)
    extra = f"; {len(unattested)} unattested file(s) allowed" if unattested else ""
    return passed(
        "artifacts",
        None,
        f"{compared} file(s) under {held.root} equal the digests the pipeline recorded{extra}",
    )

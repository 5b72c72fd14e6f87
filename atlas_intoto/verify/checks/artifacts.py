"""Check 7, final artifacts: the consumer's files against the last step's products. The only
file reading the verifier does, and only with ``--artifacts``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from atlas_intoto.errors import FinalArtifactError, InputError
from atlas_intoto.verify.checks import passed
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import VerificationState


def hash_artifacts(
    directory: Path, paths: Sequence[str], *, algorithm: str = "sha256"
) -> dict[str, str | None]:
    """The ``algorithm`` digest (:func:`final_algorithm`) of ``directory/<path>`` for each
    product path (None when absent). Never the digest cache: verification reads the bytes."""
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
                held[path] = hashlib.file_digest(handle, _hash_factory(algorithm)).hexdigest()
        except OSError as exc:
            raise InputError(f"{target}: cannot read artifact ({exc.strerror})") from exc
    return held


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


def check_final_artifacts(state: VerificationState, held: Mapping[str, str | None]) -> CheckResult:
    """Check 7: the consumer's files equal the last step's products.

    ``held`` maps each product path of the last step to the :func:`final_algorithm` digest of
    the consumer's file (None: absent). Every product must be present with the same digest, and there must be at
    least one: a last step that records no products would compare the consumer's files with
    nothing and pass.
    """
    last = state.layout.steps[-1].name
    if not state.links.get(last):
        raise FinalArtifactError(f"step {last}: no verified link, final products unknown")
    products = final_products(state)
    algorithm = final_algorithm(state)
    if not products:
        raise FinalArtifactError(
            f"step {last}: records no products, the artifacts cannot be compared with anything"
        )
    for path, digests in sorted(products.items()):
        have = held.get(path)
        if have is None:
            raise FinalArtifactError(f"{path}: final product of {last} not among the artifacts")
        if have != digests.get(algorithm):
            raise FinalArtifactError(
                f"{path}: {algorithm} {have[:16]}… differs from the product of {last} "
                f"({str(digests.get(algorithm))[:16]}…)"
            )
    return passed("artifacts", None, f"{len(products)} file(s) equal the products of {last}")

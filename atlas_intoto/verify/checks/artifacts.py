"""Check 7, final artifacts: the consumer's files against the last step's products. The only
file reading the verifier does, and only with ``--artifacts``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from atlas_intoto.errors import FinalArtifactError, InputError
from atlas_intoto.verify.checks import passed
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import VerificationState


def hash_artifacts(directory: Path, paths: Sequence[str]) -> dict[str, str | None]:
    """SHA-256 of ``directory/<path>`` for each product path (None when absent)."""
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


def final_products(state: VerificationState) -> dict[str, dict[str, str]]:
    """The products of the last step's verified link ({} when it did not verify)."""
    items = state.links.get(state.layout.steps[-1].name)
    return {p: dict(d) for p, d in items[0].products.items()} if items else {}


def check_final_artifacts(state: VerificationState, held: Mapping[str, str | None]) -> CheckResult:
    """Check 7: the consumer's files equal the last step's products.

    ``held`` maps each product path of the last step to the SHA-256 of the consumer's file
    (None: absent). Every product must be present with the same digest, and there must be at
    least one: a last step that records no products would compare the consumer's files with
    nothing and pass.
    """
    last = state.layout.steps[-1].name
    if not state.links.get(last):
        raise FinalArtifactError(f"step {last}: no verified link, final products unknown")
    products = final_products(state)
    if not products:
        raise FinalArtifactError(
            f"step {last}: records no products, the artifacts cannot be compared with anything"
        )
    for path, digests in sorted(products.items()):
        have = held.get(path)
        if have is None:
            raise FinalArtifactError(f"{path}: final product of {last} not among the artifacts")
        if have != digests.get("sha256"):
            raise FinalArtifactError(
                f"{path}: sha256 {have[:16]}… differs from the product of {last} "
                f"({str(digests.get('sha256'))[:16]}…)"
            )
    return passed("artifacts", None, f"{len(products)} file(s) equal the products of {last}")

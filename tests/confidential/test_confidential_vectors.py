"""Replay the committed confidential vectors (tests/confidential/vectors/*.json, made by
generate.py with fixed keys and secret): each fails first at its expected check with its
expected error class; the untampered public and auditor bundles verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confidential_attacks import ATTACKS
from helpers import check_bundle_vector

VECTORS = sorted((Path(__file__).parent / "vectors").glob("*.json"))


def test_vectors_present() -> None:
    names = {p.stem for p in VECTORS}
    assert names == {"untampered-public", "untampered-auditor", *(a.name for a in ATTACKS)}


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_confidential_vector(path: Path, tmp_path: Path) -> None:
    vector = json.loads(path.read_text())
    check_bundle_vector(vector, tmp_path)

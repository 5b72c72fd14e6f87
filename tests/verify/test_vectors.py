"""Replay the committed failing vectors (tests/verify/vectors/*.json, made by generate.py with
fixed keys): each fails at its expected check with its expected error class; the untampered
vector verifies."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import check_bundle_vector

VECTORS = sorted((Path(__file__).parent / "vectors").glob("*.json"))


def test_vectors_present() -> None:
    names = {p.stem for p in VECTORS}
    assert "untampered" in names and len(names) >= 21


def _apply(bundle: Any, patch: list[dict[str, Any]]) -> Any:
    doc = copy.deepcopy(bundle)
    for op in patch:
        *parents, last = op["path"]
        target = doc
        for key in parents:
            target = target[key]
        if op["op"] == "delete":
            del target[last]
        else:
            target[last] = op["value"]
    return doc


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vector(path: Path, tmp_path: Path) -> None:
    vector = json.loads(path.read_text())
    if "patch" in vector:
        base = json.loads((path.parent / "untampered.json").read_text())["bundle"]
        vector["bundle"] = _apply(base, vector["patch"])
    check_bundle_vector(vector, tmp_path)

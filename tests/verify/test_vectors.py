"""Replay the committed failing vectors (tests/verify/vectors/*.json, made by generate.py with
fixed keys): each fails at its expected check with its expected error class; the untampered
vector verifies."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto.verify import verify_bundle

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
    artifacts = None
    if vector["artifacts"] is not None:
        artifacts = tmp_path / "artifacts"
        for rel, data in vector["artifacts"].items():
            target = artifacts / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(data))
    report = verify_bundle(
        json.dumps(vector["bundle"]).encode(),
        layout_keys=[key.encode() for key in vector["layout_keys"]],
        artifacts_dir=artifacts,
        now=vector["now"],
    )
    expected = vector["expected"]
    if expected.get("ok"):
        assert report.ok, report.text()
        return
    first = report.first_failure
    assert first is not None, report.text()
    assert (first.check, first.error) == (expected["check"], expected["error"]), report.text()

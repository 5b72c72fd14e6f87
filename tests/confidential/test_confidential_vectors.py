"""Replay the committed confidential vectors (tests/confidential/vectors/*.json, made by
generate.py with fixed keys and secret): each fails first at its expected check with its
expected error class; the untampered public and auditor bundles verify."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from confidential_attacks import ATTACKS

from atlas_intoto.verify import verify_bundle

VECTORS = sorted((Path(__file__).parent / "vectors").glob("*.json"))


def test_vectors_present() -> None:
    names = {p.stem for p in VECTORS}
    assert names == {"untampered-public", "untampered-auditor", *(a.name for a in ATTACKS)}


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_confidential_vector(path: Path, tmp_path: Path) -> None:
    vector = json.loads(path.read_text())
    artifacts = None
    if vector["artifacts"] is not None:
        artifacts = tmp_path / "artifacts"
        artifacts.mkdir()
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

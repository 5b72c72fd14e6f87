"""The committed failing (and one passing) TEE verification vectors (tests/tee/vectors/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto import errors
from atlas_intoto.tee import TeePolicy, roots_from_layout, verify_tee_evidence

VECTORS = sorted((Path(__file__).parent / "vectors").glob("*.json"))


def _run(vector: dict[str, Any]) -> Any:
    return verify_tee_evidence(
        vector["tee_env"],
        collateral=vector["collateral"].encode(),
        binding=bytes.fromhex(vector["binding"]),
        policy=TeePolicy.from_layout(vector["step_tee"], vector["trust_tee"]),
        roots=roots_from_layout(vector["trust_tee"]),
        at=vector["at"],
    )


def test_vectors_present() -> None:
    assert len(VECTORS) >= 20


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    expected = vector["expected_error"]
    if expected is None:
        result = _run(vector)
        assert result.tcb_status == "UpToDate"
        assert result.type == "simulated-tdx"
        return
    error_class = getattr(errors, expected)
    with pytest.raises(error_class) as caught:
        _run(vector)
    # The exact class, not a parent or sibling: each check has its own.
    assert type(caught.value) is error_class, caught.value
    assert "\n" not in str(caught.value)

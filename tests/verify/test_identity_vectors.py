"""The identity verification vectors (tests/verify/identity_vectors, made by its generate.py
with fixed keys): each certificate-signed envelope is accepted or refused with its own error
class and check code."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto import errors
from atlas_intoto.layout.identity import CaTrust, FunctionaryIdentity
from atlas_intoto.verify.identity import check_certificate_time, verify_certified_signature

VECTORS = Path(__file__).resolve().parent / "identity_vectors"
NAMES = sorted(p.stem for p in VECTORS.glob("*.json"))


def _run(vector: dict[str, Any]) -> None:
    identities = [
        FunctionaryIdentity.from_dict(item["name"], item, source="vector")
        for item in vector["identities"]
    ]
    ca = CaTrust(roots=tuple(vector["ca"]["roots"]), ct_keys=tuple(vector["ca"]["ct_keys"]))
    signer = verify_certified_signature(
        base64.b64decode(vector["envelope"]),
        base64.b64decode(vector["certificate"]),
        identities=identities,
        ca=ca,
        source=vector["name"],
        intermediates=[base64.b64decode(der) for der in vector.get("intermediates", [])],
    )
    check_certificate_time(signer, ca=ca, at=vector["at"], source=vector["name"])


def test_every_case_of_the_generator_is_committed() -> None:
    assert len(NAMES) >= 12
    assert "valid" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_identity_vector(name: str) -> None:
    vector = json.loads((VECTORS / f"{name}.json").read_text())
    expected = vector["expected"]
    if expected.get("ok"):
        _run(vector)
        return
    error = getattr(errors, expected["error"])
    with pytest.raises(error) as caught:
        _run(vector)
    assert type(caught.value) is error
    assert caught.value.check == expected["check"]
    assert caught.value.exit_code == 1

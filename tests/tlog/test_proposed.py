"""Proposed entries as the client builds them: Rekor's shapes, accepted by the kinds."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from helpers import STATEMENT, pem, sign_envelope

from atlas_intoto.errors import EntryFormatError
from atlas_intoto.tlog.kinds import canonical_entry
from atlas_intoto.tlog.proposed import (
    dsse_proposed_entry,
    hashedrekord_proposed_entry,
    intoto_proposed_entry,
)


def test_dsse_carries_the_envelope_text_and_every_verifier(key: Any, other_key: Any) -> None:
    envelope = sign_envelope(STATEMENT, key, other_key)
    doc = dsse_proposed_entry(envelope, [pem(key), pem(other_key)])
    assert (doc["kind"], doc["apiVersion"]) == ("dsse", "0.0.1")
    content = doc["spec"]["proposedContent"]
    assert content["envelope"] == envelope.decode()
    assert [base64.b64decode(v) for v in content["verifiers"]] == [pem(key), pem(other_key)]
    assert canonical_entry(doc).kind == "dsse"


def test_intoto_double_encodes_and_hashes_the_exact_bytes(key: Any) -> None:
    envelope = json.dumps(json.loads(sign_envelope(STATEMENT, key)), indent=3).encode()
    env = json.loads(envelope)
    env["signatures"][0]["keyid"] = "k1"
    envelope = json.dumps(env).encode()
    doc = intoto_proposed_entry(envelope, pem(key))
    content = doc["spec"]["content"]
    assert content["hash"] == {"algorithm": "sha256", "value": hashlib.sha256(envelope).hexdigest()}
    sig = content["envelope"]["signatures"][0]
    assert list(sig) == ["keyid", "sig", "publicKey"] and sig["keyid"] == "k1"
    assert base64.b64decode(sig["sig"]).decode() == env["signatures"][0]["sig"]
    assert base64.b64decode(content["envelope"]["payload"]).decode() == env["payload"]
    assert canonical_entry(doc).kind == "intoto"


@pytest.mark.parametrize("envelope", [b"{", b"[]", b'{"payload": "e30="}', b"\xff"])
def test_intoto_refuses_what_is_not_an_envelope(envelope: bytes) -> None:
    with pytest.raises(EntryFormatError, match="not a DSSE envelope"):
        intoto_proposed_entry(envelope, b"pem")


def test_hashedrekord_shape() -> None:
    doc = hashedrekord_proposed_entry(
        signature=b"sig", public_key_pem=b"pem", digest=b"\x01" * 48, algorithm="sha384"
    )
    assert doc == {
        "kind": "hashedrekord",
        "apiVersion": "0.0.1",
        "spec": {
            "signature": {"content": "c2ln", "publicKey": {"content": "cGVt"}},
            "data": {"hash": {"algorithm": "sha384", "value": "01" * 48}},
        },
    }

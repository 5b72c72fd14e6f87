"""The ``intoto`` 0.0.2 kind: body as public Rekor stores it, round trip, every rejection reason,
and body matching."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import STATEMENT, conformance_bundle, pem, sign_envelope

from atlas_intoto.errors import EntryFormatError, EntrySignatureError, LogEntryMismatchError
from atlas_intoto.tlog.kinds import canonical_entry, intoto
from atlas_intoto.tlog.kinds.match import envelope_facts
from atlas_intoto.tlog.proposed import intoto_proposed_entry


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_intoto_body_matches_public_rekor_without_payload(shared_testdata: Path) -> None:
    bundle = conformance_bundle(shared_testdata, "intoto-with-custom-trust-root")
    env = bundle["dsseEnvelope"]
    expected = json.loads(
        base64.b64decode(bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"])
    )
    content = expected["spec"]["content"]
    proposed = {
        "kind": "intoto",
        "apiVersion": "0.0.2",
        "spec": {
            "content": {
                "envelope": {
                    "payload": _b64(env["payload"].encode()),
                    "payloadType": env["payloadType"],
                    "signatures": content["envelope"]["signatures"],
                },
                "hash": content["hash"],
            }
        },
    }
    ours = json.loads(canonical_entry(proposed).body)
    # Current Rekor no longer stores the payload in intoto 0.0.2 bodies; this 2023 entry does.
    del content["envelope"]["payload"]
    assert ours == expected


def test_intoto_roundtrip(key: Any) -> None:
    envelope = sign_envelope(STATEMENT, key)
    entry = canonical_entry(intoto_proposed_entry(envelope, pem(key)))
    body = json.loads(entry.body)
    content = body["spec"]["content"]
    assert "payload" not in content["envelope"]
    assert content["hash"] == {"algorithm": "sha256", "value": hashlib.sha256(envelope).hexdigest()}
    assert content["payloadHash"]["value"] == hashlib.sha256(STATEMENT).hexdigest()
    sig = json.loads(envelope)["signatures"][0]["sig"]
    assert content["envelope"]["signatures"] == [
        {"publicKey": _b64(pem(key)), "sig": _b64(sig.encode())}
    ]
    assert "sha256:" + "ab" * 32 in entry.index_keys


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda c: c.pop("hash"), EntryFormatError, "missing envelope digest"),
        (lambda c: c["envelope"].pop("payload"), EntryFormatError, "missing envelope content"),
        (lambda c: c["envelope"].update(payloadType=""), EntryFormatError, "payloadType"),
        (
            lambda c: c["envelope"]["signatures"][0].update(sig=_b64(b"AAAA")),
            EntrySignatureError,
            "verifies no signature",
        ),
        (
            lambda c: c["envelope"]["signatures"][0].update(sig="not base64!"),
            EntryFormatError,
            "base64",
        ),
        (lambda c: c["envelope"].update(signatures=[]), EntryFormatError, "signatures"),
        (lambda c: c["envelope"]["signatures"][0].pop("publicKey"), EntryFormatError, "publicKey"),
    ],
)
def test_intoto_rejections(key: Any, mutate: Any, error: type[Exception], match: str) -> None:
    doc = intoto_proposed_entry(sign_envelope(STATEMENT, key), pem(key))
    mutate(doc["spec"]["content"])
    with pytest.raises(error, match=match):
        canonical_entry(doc)


# --------------------------------------------------------------------------------------------
# Offline body matching (intoto.match_envelope)
# --------------------------------------------------------------------------------------------


def test_body_matches_its_envelope_only(key: Any, other_key: Any) -> None:
    envelope = sign_envelope(STATEMENT, key)
    spec = json.loads(canonical_entry(intoto_proposed_entry(envelope, pem(key))).body)["spec"]
    intoto.match_envelope(spec, envelope_facts(envelope))
    reserialised = json.dumps(json.loads(envelope), indent=2).encode()
    with pytest.raises(LogEntryMismatchError, match=r"content\.hash"):
        intoto.match_envelope(spec, envelope_facts(reserialised))
    intoto.match_envelope(spec, envelope_facts(reserialised), check_envelope_hash=False)
    other = sign_envelope(STATEMENT, other_key)
    with pytest.raises(LogEntryMismatchError, match="signatures differ"):
        intoto.match_envelope(spec, envelope_facts(other), check_envelope_hash=False)
    retyped = sign_envelope(STATEMENT, key, payload_type="text/plain")
    with pytest.raises(LogEntryMismatchError, match="payloadType differs"):
        intoto.match_envelope(spec, envelope_facts(retyped), check_envelope_hash=False)
    # A signature stored once-encoded (not Rekor's double base64) never matches.
    once = json.loads(json.dumps(spec))
    once["content"]["envelope"]["signatures"][0]["sig"] = json.loads(envelope)["signatures"][0][
        "sig"
    ]
    with pytest.raises(LogEntryMismatchError, match="signatures differ"):
        intoto.match_envelope(once, envelope_facts(envelope))

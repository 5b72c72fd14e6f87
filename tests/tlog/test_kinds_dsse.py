"""The ``dsse`` 0.0.1 kind: canonical body byte-identical to public Rekor's (but for the envelope
hash), stored fields, signature checks, index keys, every rejection reason, and body matching."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from helpers import STATEMENT, conformance_bundle, leaf_cert_pem, pem, sign_envelope

from atlas_intoto.dsse import pae
from atlas_intoto.errors import EntryFormatError, EntrySignatureError, LogEntryMismatchError
from atlas_intoto.tlog.kinds import canonical_entry, parse_proposed_entry
from atlas_intoto.tlog.kinds import dsse as kind_dsse
from atlas_intoto.tlog.kinds.match import envelope_facts
from atlas_intoto.tlog.proposed import dsse_proposed_entry


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_dsse_body_equals_public_rekor_except_envelope_hash(shared_testdata: Path) -> None:
    bundle = conformance_bundle(shared_testdata, "happy-path-intoto-in-dsse-v3")
    env = bundle["dsseEnvelope"]
    # The exact envelope bytes sigstore-python sent are not in the bundle, so envelopeHash is
    # the one field that cannot match; everything else must be byte-identical.
    envelope = json.dumps(
        {
            "payload": env["payload"],
            "payloadType": env["payloadType"],
            "signatures": [{"sig": s["sig"]} for s in env["signatures"]],
        }
    ).encode()
    entry = canonical_entry(dsse_proposed_entry(envelope, [leaf_cert_pem(bundle)]))
    expected = json.loads(
        base64.b64decode(bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"])
    )
    ours = json.loads(entry.body)
    assert ours["spec"]["envelopeHash"]["value"] == hashlib.sha256(envelope).hexdigest()
    ours["spec"]["envelopeHash"] = expected["spec"]["envelopeHash"]
    import rfc8785

    assert rfc8785.dumps(ours) == base64.b64decode(
        bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
    )
    # The in-toto statement's subject digest is indexed, as Rekor does.
    statement = json.loads(base64.b64decode(env["payload"]))
    for subject in statement["subject"]:
        for alg, value in subject["digest"].items():
            assert f"{alg}:{value}" in entry.index_keys


def test_dsse_stores_hashes_and_verifiers_not_envelope(key: ec.EllipticCurvePrivateKey) -> None:
    envelope = sign_envelope(STATEMENT, key)
    entry = parse_proposed_entry(json.dumps(dsse_proposed_entry(envelope, [pem(key)])).encode())
    body = json.loads(entry.body)
    assert entry.body == json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    assert (entry.kind, entry.api_version) == ("dsse", "0.0.1")
    assert set(body) == {"apiVersion", "kind", "spec"}
    spec = body["spec"]
    assert set(spec) == {"envelopeHash", "payloadHash", "signatures"}
    assert spec["envelopeHash"] == {
        "algorithm": "sha256",
        "value": hashlib.sha256(envelope).hexdigest(),
    }
    assert spec["payloadHash"] == {
        "algorithm": "sha256",
        "value": hashlib.sha256(STATEMENT).hexdigest(),
    }
    sig = json.loads(envelope)["signatures"][0]["sig"]
    assert spec["signatures"] == [{"signature": sig, "verifier": _b64(pem(key))}]
    key_hash = "sha256:" + hashlib.sha256(pem(key)).hexdigest()
    assert entry.index_keys == (
        key_hash,
        "sha256:" + hashlib.sha256(STATEMENT).hexdigest(),
        "sha256:" + hashlib.sha256(envelope).hexdigest(),
        "sha256:" + "ab" * 32,
        "sha1:" + "cd" * 20,
    )


def test_dsse_two_signers_sorted_by_signature(key: Any, other_key: Any) -> None:
    envelope = sign_envelope(b"{}", key, other_key)
    entry = canonical_entry(dsse_proposed_entry(envelope, [pem(key), pem(other_key)]))
    sigs = json.loads(entry.body)["spec"]["signatures"]
    assert [s["signature"] for s in sigs] == sorted(
        s["sig"] for s in json.loads(envelope)["signatures"]
    )
    by_sig = {
        s["sig"]: pem
        for s, pem in zip(
            json.loads(envelope)["signatures"], [pem(key), pem(other_key)], strict=True
        )
    }
    for s in sigs:
        assert base64.b64decode(s["verifier"]) == by_sig[s["signature"]]


def test_dsse_ed25519_and_url_safe_base64() -> None:
    k = ed25519.Ed25519PrivateKey.generate()
    payload = b"\xff\xfe" * 40
    sig = k.sign(pae("text/plain", payload))
    envelope = json.dumps(
        {
            "payload": base64.urlsafe_b64encode(payload).decode(),
            "payloadType": "text/plain",
            "signatures": [{"sig": base64.urlsafe_b64encode(sig).decode()}],
        }
    ).encode()
    entry = canonical_entry(dsse_proposed_entry(envelope, [pem(k)]))
    assert (
        json.loads(entry.body)["spec"]["payloadHash"]["value"]
        == hashlib.sha256(payload).hexdigest()
    )


def test_dsse_canonical_form_accepted_for_search_only(key: Any) -> None:
    envelope = sign_envelope(b"{}", key)
    stored = json.loads(canonical_entry(dsse_proposed_entry(envelope, [pem(key)])).body)
    again = canonical_entry(stored, for_insert=False)
    assert again.body == canonical_entry(dsse_proposed_entry(envelope, [pem(key)])).body
    with pytest.raises(EntryFormatError, match="proposedContent"):
        canonical_entry(stored)


def _dsse_spec(envelope: bytes, pems: list[bytes]) -> dict[str, Any]:
    return dsse_proposed_entry(envelope, pems)


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (
            lambda d, k, o: d["spec"]["proposedContent"].update(verifiers=[_b64(pem(o))]),
            EntrySignatureError,
            "verifies no signature",
        ),
        (
            lambda d, k, o: d["spec"]["proposedContent"].update(
                verifiers=[_b64(pem(k)), _b64(pem(o))]
            ),
            EntrySignatureError,
            "key 1 verifies no signature",
        ),
        (
            lambda d, k, o: d["spec"]["proposedContent"].update(verifiers=[]),
            EntryFormatError,
            "verifiers",
        ),
        (
            lambda d, k, o: d["spec"]["proposedContent"].update(verifiers=["%%%"]),
            EntryFormatError,
            "base64",
        ),
        (
            lambda d, k, o: d["spec"]["proposedContent"].update(verifiers=[_b64(b"not pem")]),
            EntryFormatError,
            "PEM",
        ),
        (
            lambda d, k, o: d["spec"]["proposedContent"].update(envelope="{"),
            EntryFormatError,
            "not a JSON DSSE envelope",
        ),
        (
            lambda d, k, o: d["spec"]["proposedContent"].update(envelope="[]"),
            EntryFormatError,
            "expected a JSON object",
        ),
        (
            lambda d, k, o: d["spec"]["proposedContent"].update(
                envelope='{"payload":"e30=","payloadType":"x","signatures":[]}'
            ),
            EntrySignatureError,
            "no signatures",
        ),
        (
            lambda d, k, o: d["spec"]["proposedContent"].update(
                envelope='{"payload":"!!","payloadType":"x","signatures":[{"sig":"AA=="}]}'
            ),
            EntryFormatError,
            "payload: not valid base64",
        ),
        (
            lambda d, k, o: d["spec"]["proposedContent"].update(envelope=7),
            EntryFormatError,
            "envelope: expected a string",
        ),
        (
            lambda d, k, o: d["spec"].update(payloadHash={"algorithm": "sha256", "value": "00"}),
            EntryFormatError,
            "but not both",
        ),
        (lambda d, k, o: d["spec"].pop("proposedContent"), EntryFormatError, "proposedContent"),
        (lambda d, k, o: d.update(apiVersion="0.0.2"), EntryFormatError, "unsupported dsse 0.0.2"),
        (lambda d, k, o: d.update(kind="rekord"), EntryFormatError, "unsupported rekord"),
        (lambda d, k, o: d.update(spec=[]), EntryFormatError, "spec: expected a JSON object"),
        (lambda d, k, o: d.pop("kind"), EntryFormatError, "kind: expected a string"),
    ],
)
def test_dsse_rejections(
    key: Any, other_key: Any, mutate: Any, error: type[Exception], match: str
) -> None:
    doc = _dsse_spec(sign_envelope(b"{}", key), [pem(key)])
    mutate(doc, key, other_key)
    with pytest.raises(error, match=match):
        canonical_entry(doc)


def test_dsse_tampered_payload_rejected(key: Any) -> None:
    env = json.loads(sign_envelope(b'{"a":1}', key))
    env["payload"] = _b64(b'{"a":2}')
    with pytest.raises(EntrySignatureError):
        canonical_entry(dsse_proposed_entry(json.dumps(env).encode(), [pem(key)]))


def test_dsse_unverified_second_signature_rejected(key: Any, other_key: Any) -> None:
    envelope = sign_envelope(b"{}", key, other_key)
    with pytest.raises(EntrySignatureError, match="all signatures must have a key"):
        canonical_entry(dsse_proposed_entry(envelope, [pem(key)]))


# --------------------------------------------------------------------------------------------
# Offline body matching (dsse.match_envelope)
# --------------------------------------------------------------------------------------------


def _stored_spec(envelope: bytes, key: Any) -> dict[str, Any]:
    entry = canonical_entry(dsse_proposed_entry(envelope, [pem(key)]))
    return json.loads(entry.body)["spec"]  # type: ignore[no-any-return]


def test_body_matches_its_envelope_only(key: Any, other_key: Any) -> None:
    envelope = sign_envelope(STATEMENT, key)
    spec = _stored_spec(envelope, key)
    kind_dsse.match_envelope(spec, envelope_facts(envelope))
    # The same envelope re-serialised: only the envelope hash tells, and it can be skipped.
    reserialised = json.dumps(json.loads(envelope), indent=2).encode()
    with pytest.raises(LogEntryMismatchError, match="envelopeHash"):
        kind_dsse.match_envelope(spec, envelope_facts(reserialised))
    kind_dsse.match_envelope(spec, envelope_facts(reserialised), check_envelope_hash=False)
    with pytest.raises(LogEntryMismatchError, match="payloadHash"):
        kind_dsse.match_envelope(
            spec, envelope_facts(sign_envelope(b"{}", key)), check_envelope_hash=False
        )
    # One more signature in the envelope than the body records.
    doubled = sign_envelope(STATEMENT, key, other_key)
    with pytest.raises(LogEntryMismatchError, match="signatures differ"):
        kind_dsse.match_envelope(spec, envelope_facts(doubled), check_envelope_hash=False)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda s: s.pop("payloadHash"), "missing payloadHash"),
        (lambda s: s["payloadHash"].update(algorithm="sha512"), "not a sha256 hash"),
        (lambda s: s.update(signatures={}), "not a list"),
        (lambda s: s["signatures"][0].update(signature=7), "not a base64 string"),
        (lambda s: s["signatures"][0].update(signature="!!"), "not base64"),
    ],
)
def test_malformed_stored_bodies_are_mismatches(key: Any, mutate: Any, match: str) -> None:
    envelope = sign_envelope(STATEMENT, key)
    spec = _stored_spec(envelope, key)
    mutate(spec)
    with pytest.raises(LogEntryMismatchError, match=match):
        kind_dsse.match_envelope(spec, envelope_facts(envelope))

"""atlas_intoto.dsse: PAE, parsing, signing, and verification with distinct-key thresholds."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner, SSlibKey

from atlas_intoto import dsse
from atlas_intoto.errors import DsseFormatError, DsseSignatureError
from atlas_intoto.keys import generate_keypair, load_public_key, load_signer

PAYLOAD_TYPE = "application/vnd.example+json"
PAYLOAD = b'{"hello": "world"}'


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[CryptoSigner, SSlibKey]]:
    """Signer and public key of alice, bob and carol (ECDSA P-256, as ``key generate`` makes)."""
    directory = tmp_path_factory.mktemp("dsse-keys")
    out = {}
    for name in ("alice", "bob", "carol"):
        paths = generate_keypair(name, directory=directory)
        out[name] = (load_signer(paths.private_key), load_public_key(paths.public_key))
    return out


def _signed(keys: dict[str, tuple[CryptoSigner, SSlibKey]], *names: str) -> dsse.Envelope:
    return dsse.sign(PAYLOAD_TYPE, PAYLOAD, [keys[name][0] for name in names])


def _doc(envelope: dsse.Envelope) -> dict[str, Any]:
    return envelope.to_dict()


# --- PAE ------------------------------------------------------------------------------------------


def test_pae_vector_from_the_dsse_spec() -> None:
    assert (
        dsse.pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert dsse.pae("t/é", b"") == "DSSEv1 4 t/é 0 ".encode()


# --- sign / verify ----------------------------------------------------------------------------


def test_sign_verify_round_trip(keys: dict[str, tuple[CryptoSigner, SSlibKey]]) -> None:
    envelope = _signed(keys, "alice", "bob")
    assert envelope.keyids == (keys["alice"][1].keyid, keys["bob"][1].keyid)
    parsed = dsse.parse(json.dumps(_doc(envelope)), source="e.json")
    assert parsed == envelope and parsed.payload == PAYLOAD
    accepted = dsse.verify(parsed, [keys["alice"][1], keys["bob"][1]], threshold=2)
    assert accepted == tuple(sorted((keys["alice"][1].keyid, keys["bob"][1].keyid)))
    # serialised field order: payload, payloadType, signatures[{keyid, sig}]
    assert list(_doc(envelope)) == ["payload", "payloadType", "signatures"]
    assert list(_doc(envelope)["signatures"][0]) == ["keyid", "sig"]


def test_threshold_counts_distinct_keys(keys: dict[str, tuple[CryptoSigner, SSlibKey]]) -> None:
    alice, bob = keys["alice"][1], keys["bob"][1]
    envelope = _signed(keys, "alice")
    # alice given twice is one key
    with pytest.raises(DsseSignatureError, match=r"^e: 1 of the expected key\(s\) signed, 2"):
        dsse.verify(envelope, [alice, alice], threshold=2, source="e")
    # alice's signature copied under no key id is still one key
    doc = _doc(envelope)
    doc["signatures"].append({"keyid": "", "sig": doc["signatures"][0]["sig"]})
    twice = dsse.Envelope.from_dict(doc)
    assert dsse.verify(twice, [alice, bob]) == (alice.keyid,)
    with pytest.raises(DsseSignatureError):
        dsse.verify(twice, [alice, bob], threshold=2)
    with pytest.raises(ValueError, match="threshold"):
        dsse.verify(envelope, [alice], threshold=0)


def test_keyid_hints(keys: dict[str, tuple[CryptoSigner, SSlibKey]]) -> None:
    alice, bob = keys["alice"][1], keys["bob"][1]
    doc = _doc(_signed(keys, "alice"))
    # a signature naming a key id is tried only with the key of that id
    doc["signatures"][0]["keyid"] = bob.keyid
    with pytest.raises(DsseSignatureError, match="0 of the expected"):
        dsse.verify(dsse.Envelope.from_dict(doc), [alice, bob])
    # a signature without a key id (empty or absent) is tried with every key
    doc["signatures"][0]["keyid"] = ""
    assert dsse.verify(dsse.Envelope.from_dict(doc), [bob, alice]) == (alice.keyid,)
    del doc["signatures"][0]["keyid"]
    assert dsse.verify(dsse.Envelope.from_dict(doc), [bob, alice]) == (alice.keyid,)


def test_tampered_payload_or_type_is_signature_error(
    keys: dict[str, tuple[CryptoSigner, SSlibKey]],
) -> None:
    alice = keys["alice"][1]
    doc = _doc(_signed(keys, "alice"))
    tampered = {**doc, "payload": base64.b64encode(b'{"hello": "w0rld"}').decode()}
    with pytest.raises(DsseSignatureError, match=r"^t: 0 of the expected"):
        dsse.verify(dsse.Envelope.from_dict(tampered), [alice], source="t")
    retyped = {**doc, "payloadType": "application/other"}
    with pytest.raises(DsseSignatureError):
        dsse.verify(dsse.Envelope.from_dict(retyped), [alice])
    # a key of the wrong kind verifies nothing rather than raising
    ed25519 = CryptoSigner.generate_ed25519().public_key
    with pytest.raises(DsseSignatureError):
        dsse.verify(dsse.Envelope.from_dict(doc), [ed25519])


# --- parsing ----------------------------------------------------------------------------------


def test_url_safe_base64_is_accepted(keys: dict[str, tuple[CryptoSigner, SSlibKey]]) -> None:
    payload = b"\xfb\xff\xfe" * 10  # standard base64 of this has '+' and '/'
    envelope = dsse.sign(PAYLOAD_TYPE, payload, [keys["alice"][0]])
    doc = envelope.to_dict()
    assert "+" in doc["payload"] or "/" in doc["payload"]
    doc["payload"] = base64.urlsafe_b64encode(payload).decode()
    doc["signatures"][0]["sig"] = base64.urlsafe_b64encode(envelope.signatures[0].sig).decode()
    parsed = dsse.Envelope.from_dict(doc)
    assert parsed.payload == payload
    dsse.verify(parsed, [keys["alice"][1]])


def test_duplicate_keyids_rejected(keys: dict[str, tuple[CryptoSigner, SSlibKey]]) -> None:
    doc = _doc(_signed(keys, "alice"))
    doc["signatures"].append(dict(doc["signatures"][0]))
    with pytest.raises(DsseFormatError, match=r"^d\.json: signatures\[1\]: a second signature"):
        dsse.parse(json.dumps(doc), source="d.json")
    # several signatures without a key id are fine
    for sig in doc["signatures"]:
        sig["keyid"] = ""
    assert len(dsse.parse(json.dumps(doc)).signatures) == 2


def test_too_many_signatures_rejected(keys: dict[str, tuple[CryptoSigner, SSlibKey]]) -> None:
    doc = _doc(_signed(keys, "alice"))
    sig = doc["signatures"][0]["sig"]
    doc["signatures"] = [{"keyid": "", "sig": sig}] * dsse.MAX_SIGNATURES
    assert len(dsse.Envelope.from_dict(doc).signatures) == dsse.MAX_SIGNATURES
    doc["signatures"].append({"keyid": "", "sig": sig})
    with pytest.raises(DsseFormatError, match=f"^m: {dsse.MAX_SIGNATURES + 1} signatures"):
        dsse.Envelope.from_dict(doc, source="m")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "not a JSON DSSE envelope"),
        (b"\xff\xfe", "not a JSON DSSE envelope"),
        (b"[" * 100_000 + b"]" * 100_000, "not a JSON DSSE envelope"),
        (b"[]", "must be a JSON object"),
        (b'{"payloadType": "t", "signatures": []}', "lacks field 'payload'"),
        (b'{"payload": "", "signatures": []}', "lacks field 'payloadType'"),
        (b'{"payload": "", "payloadType": "t"}', "lacks field 'signatures'"),
        (b'{"payload": "", "payloadType": 1, "signatures": []}', "payloadType must be a string"),
        (b'{"payload": "!!", "payloadType": "t", "signatures": []}', "payload: not valid base64"),
        (b'{"payload": 5, "payloadType": "t", "signatures": []}', "payload: not a base64 string"),
        (b'{"payload": "", "payloadType": "t", "signatures": {}}', "signatures must be a list"),
        (b'{"payload": "", "payloadType": "t", "signatures": [1]}', r"signatures\[0\]: must be"),
        (
            b'{"payload": "", "payloadType": "t", "signatures": [{"keyid": 1, "sig": ""}]}',
            r"signatures\[0\]\.keyid: must be a string",
        ),
        (
            b'{"payload": "", "payloadType": "t", "signatures": [{"keyid": ""}]}',
            r"signatures\[0\]: not a base64 string",
        ),
    ],
)
def test_malformed_envelopes_name_the_source(data: bytes, reason: str) -> None:
    with pytest.raises(DsseFormatError, match=f"^bad.json: .*{reason}"):
        dsse.parse(data, source="bad.json")


def test_empty_envelope_parses_and_verifies_nothing() -> None:
    envelope = dsse.parse('{"payload": "", "payloadType": "", "signatures": []}')
    assert envelope == dsse.Envelope(payload_type="", payload=b"")
    key = CryptoSigner.generate_ed25519().public_key
    with pytest.raises(DsseSignatureError):
        dsse.verify(envelope, [key])

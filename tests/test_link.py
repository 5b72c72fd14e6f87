"""Verified loading of DSSE-enveloped in-toto links: every failing step has its own error."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from atlas_intoto.errors import FormatError, LinkSignatureError
from atlas_intoto.keys import generate_keypair, load_public_key, load_signer
from atlas_intoto.link import PAYLOAD_TYPE, link_file_name, load_link, sign_link


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    generate_keypair("alice", directory=directory)
    generate_keypair("bob", directory=directory)
    return directory


def make(keys: Path, **overrides: object) -> bytes:
    fields: dict[str, object] = {
        "name": "train",
        "materials": {"a": {"sha256": "0" * 64}},
        "products": {"b": {"sha256": "1" * 64}},
        "command": ["python", "train.py"],
        "byproducts": {"return-value": 0},
        "environment": {"atlas-intoto": {"version": 1}},
        "signer": load_signer(keys / "alice.key"),
    }
    fields.update(overrides)
    return sign_link(**fields)  # type: ignore[arg-type]


def resign(keys: Path, payload: bytes, payload_type: str = PAYLOAD_TYPE) -> bytes:
    from securesystemslib.dsse import Envelope

    envelope = Envelope(payload=payload, payload_type=payload_type, signatures={})
    envelope.sign(load_signer(keys / "alice.key"))
    return json.dumps(envelope.to_dict()).encode()


def test_round_trip(keys: Path) -> None:
    alice = load_public_key(keys / "alice.pub")
    loaded = load_link(make(keys), [alice, load_public_key(keys / "bob.pub")])
    assert loaded.name == "train" and loaded.signed_by == (alice.keyid,)
    assert loaded.command == ["python", "train.py"]
    assert loaded.evidence == {"version": 1}
    assert link_file_name("train", alice.keyid) == f"train.{alice.keyid[:8]}.link"


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        (b"\xff\xfe", "not a JSON DSSE envelope"),
        (b"[]", "must be a JSON object"),
        (b"[" * 100000 + b"]" * 100000, "not a JSON DSSE envelope"),
        (b'{"payload": ' + b"9" * 5000 + b"}", "not a JSON DSSE envelope"),
        (b'{"payloadType": "x", "signatures": []}', "lacks field 'payload'"),
        (b'{"payload": "!!", "payloadType": "x", "signatures": []}', "malformed DSSE"),
        (b'{"payload": "", "payloadType": "x", "signatures": [{"sig": 5}]}', "malformed DSSE"),
    ],
)
def test_malformed_envelopes(keys: Path, envelope: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        load_link(envelope, [load_public_key(keys / "alice.pub")])


def test_wrong_payload_type(keys: Path) -> None:
    envelope = resign(keys, b"{}", payload_type="application/json")
    with pytest.raises(FormatError, match="payloadType"):
        load_link(envelope, [load_public_key(keys / "alice.pub")])


def test_signature_by_other_key_or_tampered_payload(keys: Path) -> None:
    envelope = make(keys)
    with pytest.raises(LinkSignatureError):
        load_link(envelope, [load_public_key(keys / "bob.pub")])
    document = json.loads(envelope)
    payload = json.loads(base64.b64decode(document["payload"]))
    payload["command"] = ["evil"]
    document["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(LinkSignatureError):
        load_link(json.dumps(document).encode(), [load_public_key(keys / "alice.pub")])
    with pytest.raises(LinkSignatureError):
        load_link(envelope, [load_public_key(keys / "alice.pub")], threshold=2)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "payload is not JSON"),
        (b"[" * 100000 + b"]" * 100000, "payload is not JSON"),
        (b"9" * 5000, "payload is not JSON"),
        (json.dumps({"_type": "layout"}).encode(), "_type must be 'link'"),
        (json.dumps({"_type": "link", "name": "x", "extra": 1}).encode(), "unknown link fields"),
        (json.dumps({"_type": "link", "name": ""}).encode(), "name must be"),
        (json.dumps({"_type": "link", "name": "x", "materials": []}).encode(), "invalid link"),
        (json.dumps({"_type": "link", "name": "x", "command": [1]}).encode(), "list of strings"),
    ],
)
def test_signed_but_invalid_payloads(keys: Path, payload: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        load_link(resign(keys, payload), [load_public_key(keys / "alice.pub")])


def test_sign_link_rejects_malformed_fields(keys: Path) -> None:
    with pytest.raises(FormatError, match="link train"):
        make(keys, materials={"a": {"sha256": "not hex"}})


def test_deeply_nested_payload_is_a_format_error(keys: Path) -> None:
    from atlas_intoto import dsse
    from atlas_intoto.link import read_unverified_link

    envelope = sign_link(
        name="train",
        materials={},
        products={},
        command=[],
        byproducts={},
        environment={"deep": "placeholder"},
        signer=load_signer(keys / "alice.key"),
    )
    doc = json.loads(envelope)
    payload = json.loads(base64.b64decode(doc["payload"]))
    text = json.dumps(payload).replace('"placeholder"', "[" * 900 + "]" * 900)
    forged = dsse.sign(PAYLOAD_TYPE, text.encode(), [load_signer(keys / "alice.key")])
    data = json.dumps(forged.to_dict()).encode()
    with pytest.raises(FormatError, match="nested too deeply"):
        load_link(data, [load_public_key(keys / "alice.pub")])
    with pytest.raises(FormatError, match="nested too deeply"):
        read_unverified_link(data)


def test_signature_without_keyid_is_not_a_functionary_signature(keys: Path) -> None:
    envelope = sign_link(
        name="train",
        materials={},
        products={},
        command=[],
        byproducts={},
        environment={},
        signer=load_signer(keys / "alice.key"),
    )
    doc = json.loads(envelope)
    doc["signatures"][0]["keyid"] = ""
    with pytest.raises(LinkSignatureError, match="0 of the expected"):
        load_link(json.dumps(doc).encode(), [load_public_key(keys / "alice.pub")])

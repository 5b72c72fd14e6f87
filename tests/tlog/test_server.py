"""The Rekor v1 API: every route, LogEntry shape and proofs checked independently, every
error status, and malformed input that must never produce a 500."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from helpers import link_envelope, pem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from atlas_intoto.tlog import checkpoint, kinds, merkle
from atlas_intoto.tlog.proposed import (
    dsse_proposed_entry,
    hashedrekord_proposed_entry,
    intoto_proposed_entry,
)
from atlas_intoto.tlog.server import create_app
from atlas_intoto.tlog.store import LogStore

API = "/api/v1"
# Fixed test keys (P-256 scalars) so failures are reproducible.
LOG_KEY = ec.derive_private_key(0x5EED_106, ec.SECP256R1())
SIGNER = ec.derive_private_key(0x5EED_51, ec.SECP256R1())
NOW = 1_750_000_000


@functools.cache
def envelope(n: int, key: ec.EllipticCurvePrivateKey = SIGNER) -> bytes:
    return link_envelope(key, f"step-{n}")


def dsse(n: int) -> dict[str, Any]:
    return dsse_proposed_entry(envelope(n), [pem(SIGNER)])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    s = LogStore(tmp_path / "log.db", tree_id=0x1234_5678_9ABC_DEF0)
    yield s
    s.close()


@pytest.fixture
def client(store: LogStore) -> TestClient:
    return TestClient(create_app(store, LOG_KEY, "log.test", 4096, clock=lambda: NOW))


def check_log_entry(doc: dict[str, Any], *, expected_body: bytes | None = None) -> dict[str, Any]:
    """Verify a {uuid: LogEntry} with nothing but the RFCs and the log key."""
    ((uuid, entry),) = doc.items()
    assert set(entry) == {"body", "integratedTime", "logID", "logIndex", "verification"}
    body = base64.b64decode(entry["body"])
    if expected_body is not None:
        assert body == expected_body
    leaf = merkle.leaf_hash(body)
    assert uuid == f"{0x1234_5678_9ABC_DEF0:016x}" + leaf.hex()
    der = LOG_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert entry["logID"] == hashlib.sha256(der).hexdigest()
    assert entry["integratedTime"] == NOW
    set_payload = rfc8785.dumps(
        {k: entry[k] for k in ("body", "integratedTime", "logID", "logIndex")}
    )
    LOG_KEY.public_key().verify(
        base64.b64decode(entry["verification"]["signedEntryTimestamp"]),
        set_payload,
        ec.ECDSA(hashes.SHA256()),
    )
    proof = entry["verification"]["inclusionProof"]
    assert set(proof) == {"checkpoint", "hashes", "logIndex", "rootHash", "treeSize"}
    assert proof["logIndex"] == entry["logIndex"]
    merkle.verify_inclusion(
        leaf,
        proof["logIndex"],
        proof["treeSize"],
        [bytes.fromhex(h) for h in proof["hashes"]],
        bytes.fromhex(proof["rootHash"]),
    )
    cp = checkpoint.verify(proof["checkpoint"], [pem(LOG_KEY)])
    assert cp.origin == f"log.test - {0x1234_5678_9ABC_DEF0}"
    assert (cp.size, cp.root_hash.hex()) == (proof["treeSize"], proof["rootHash"])
    assert proof["checkpoint"].endswith("\n")
    return entry


# --------------------------------------------------------------------------------------------
# POST /log/entries
# --------------------------------------------------------------------------------------------


def test_create_entry_201_with_etag_location_and_verifiable_entry(client: TestClient) -> None:
    for n in range(5):
        r = client.post(f"{API}/log/entries", json=dsse(n))
        assert r.status_code == 201, r.text
        ((uuid, _),) = r.json().items()
        assert r.headers["ETag"] == uuid
        assert r.headers["Location"] == f"{API}/log/entries/{uuid}"
        entry = check_log_entry(r.json(), expected_body=kinds.canonical_entry(dsse(n)).body)
        assert entry["logIndex"] == n
    assert r.headers["content-type"] == "application/json"


def test_duplicate_409_names_existing_entry(client: TestClient) -> None:
    first = client.post(f"{API}/log/entries", json=dsse(1))
    (uuid,) = first.json()
    again = client.post(f"{API}/log/entries", json=dsse(1))
    assert again.status_code == 409
    assert again.headers["Location"] == f"{API}/log/entries/{uuid}"
    assert again.json() == {
        "code": 409,
        "message": f"An equivalent entry already exists in the transparency log with UUID {uuid}",
    }


def test_intoto_and_hashedrekord_entries(client: TestClient) -> None:
    r = client.post(f"{API}/log/entries", json=intoto_proposed_entry(envelope(7), pem(SIGNER)))
    assert r.status_code == 201, r.text
    body = json.loads(base64.b64decode(next(iter(r.json().values()))["body"]))
    assert (body["kind"], body["apiVersion"]) == ("intoto", "0.0.2")
    digest = hashlib.sha256(b"model weights").digest()
    sig = SIGNER.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    proposed = hashedrekord_proposed_entry(signature=sig, public_key_pem=pem(SIGNER), digest=digest)
    r = client.post(f"{API}/log/entries", json=proposed)
    assert r.status_code == 201, r.text
    check_log_entry(r.json())


def test_bad_signature_400(client: TestClient) -> None:
    other = ec.derive_private_key(0xBAD, ec.SECP256R1())
    r = client.post(
        f"{API}/log/entries", json=dsse_proposed_entry(envelope(1, other), [pem(SIGNER)])
    )
    assert r.status_code == 400
    assert r.json()["code"] == 400
    assert "verifies no signature" in r.json()["message"]


def test_body_over_limit_413(client: TestClient) -> None:
    big = {"kind": "dsse", "apiVersion": "0.0.1", "spec": {"x": "a" * 5000}}
    r = client.post(f"{API}/log/entries", json=big)
    assert r.status_code == 413
    assert r.json() == {"code": 413, "message": "request body larger than 4096 bytes"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        for _ in range(10):
            yield b"x" * 1000

    r = client.post(f"{API}/log/entries", content=chunks())
    assert r.status_code == 413
    r = client.post(f"{API}/log/entries/retrieve", content=b"[" * 5000)
    assert r.status_code == 413


MALFORMED: list[bytes] = [
    b"",
    b"{",
    b"\xff\xfe",
    b"null",
    b"[]",
    b'"dsse"',
    b"1e999999",
    b"[" * 3000,
    b'{"kind":"dsse"}',
    b'{"kind":"dsse","apiVersion":"0.0.1"}',
    b'{"kind":"dsse","apiVersion":"0.0.1","spec":null}',
    b'{"kind":"dsse","apiVersion":"0.0.1","spec":{"proposedContent":{}}}',
    b'{"kind":"dsse","apiVersion":"0.0.1","spec":{"proposedContent":{"envelope":"{}","verifiers":["AA=="]}}}',
    b'{"kind":"dsse","apiVersion":"0.0.1","spec":{"proposedContent":{"envelope":"{\\"signatures\\":{}}","verifiers":["AA=="]}}}',
    b'{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"signature":{"content":"AA==","publicKey":{"content":"AA=="}},"data":{}}}',
    b'{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"signature":{"content":1},"data":{"hash":{"algorithm":"sha256","value":"00"}}}}',
    b'{"kind":"intoto","apiVersion":"0.0.2","spec":{"content":{"envelope":{"signatures":[{}]}}}}',
    b'{"kind":"intoto","apiVersion":"0.0.1","spec":{}}',
    b'{"kind":"rekord","apiVersion":"0.0.1","spec":{}}',
    b'{"kind":["dsse"],"apiVersion":{},"spec":{}}',
    b'{"kind":"dsse","apiVersion":"0.0.1","spec":{"proposedContent":{"envelope":"\\ud800","verifiers":["\\u0000"]}}}',
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_entries_400_never_500(client: TestClient, raw: bytes) -> None:
    r = client.post(f"{API}/log/entries", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["code"] == 400 and doc["message"]


@pytest.mark.parametrize(
    "raw",
    [
        # Past Python's integer digit limit json.loads raises a bare ValueError (was a 500).
        b'{"kind": ' + b"9" * 5000 + b"}",
        b"[" * 60000 + b"]" * 60000,
    ],
)
def test_pathological_json_400_never_500(store: LogStore, raw: bytes) -> None:
    client = TestClient(create_app(store, LOG_KEY, "log.test", 128 * 1024, clock=lambda: NOW))
    for path in ("/log/entries", "/log/entries/retrieve", "/index/retrieve"):
        r = client.post(API + path, content=raw)
        assert r.status_code == 400, (path, r.text)


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_searches_never_500(client: TestClient, raw: bytes) -> None:
    for path in ("/log/entries/retrieve", "/index/retrieve"):
        r = client.post(API + path, content=raw)
        assert 400 <= r.status_code < 500 or r.status_code == 200, (path, r.text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
entry_like = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["dsse", "intoto", "hashedrekord", "x"]),
        "apiVersion": st.sampled_from(["0.0.1", "0.0.2"]),
        "spec": json_values,
    }
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=json_values | entry_like)
def test_fuzzed_json_never_500(client: TestClient, doc: Any) -> None:
    for path in ("/log/entries", "/log/entries/retrieve", "/index/retrieve"):
        r = client.post(API + path, json=doc)
        assert r.status_code < 500, (path, r.text)


# --------------------------------------------------------------------------------------------
# Reading entries
# --------------------------------------------------------------------------------------------


@pytest.fixture
def filled(client: TestClient) -> list[str]:
    return [next(iter(client.post(f"{API}/log/entries", json=dsse(n)).json())) for n in range(6)]


def test_get_by_uuid_80_and_64_hex(client: TestClient, filled: list[str]) -> None:
    for n, uuid in enumerate(filled):
        for key in (uuid, uuid[16:], uuid.upper()):
            r = client.get(f"{API}/log/entries/{key}")
            assert r.status_code == 200, r.text
            entry = check_log_entry(r.json())
            assert next(iter(r.json())) == uuid
            assert entry["logIndex"] == n
            assert entry["verification"]["inclusionProof"]["treeSize"] == 6


def test_get_by_uuid_errors(client: TestClient, filled: list[str]) -> None:
    assert client.get(f"{API}/log/entries/{'0' * 64}").status_code == 404
    other_tree = "0" * 16 + filled[0][16:]
    assert client.get(f"{API}/log/entries/{other_tree}").status_code == 404
    for bad in ("abc", "g" * 64, "0" * 65, "0" * 81):
        r = client.get(f"{API}/log/entries/{bad}")
        assert r.status_code == 400
        assert r.json()["message"].startswith("incorrectly formatted uuid")


def test_get_by_index(client: TestClient, filled: list[str]) -> None:
    r = client.get(f"{API}/log/entries", params={"logIndex": 3})
    assert r.status_code == 200
    assert next(iter(r.json())) == filled[3]
    assert client.get(f"{API}/log/entries", params={"logIndex": 6}).status_code == 404
    assert client.get(f"{API}/log/entries", params={"logIndex": -1}).status_code == 404
    # Beyond SQLite's integer range: still a 404, not a 500.
    assert client.get(f"{API}/log/entries", params={"logIndex": "9" * 19}).status_code == 404
    r = client.post(f"{API}/log/entries/retrieve", json={"logIndexes": [10**30, 2**63]})
    assert (r.status_code, r.json()) == (200, [])
    for bad in ("x", "1.5", "9" * 30, ""):
        assert client.get(f"{API}/log/entries", params={"logIndex": bad}).status_code == 400
    assert client.get(f"{API}/log/entries").status_code == 400


@pytest.mark.parametrize("path", ["/log/entries/retrieve", "/log/entries/retrieve/"])
def test_retrieve(client: TestClient, filled: list[str], path: str) -> None:
    r = client.post(API + path, json={"entryUUIDs": [filled[0], filled[1][16:], "0" * 64]})
    assert [next(iter(d)) for d in r.json()] == filled[:2]
    r = client.post(API + path, json={"logIndexes": [5, 99]})
    assert [next(iter(d)) for d in r.json()] == [filled[5]]
    # By content: a proposed entry, and the stored (canonical) form of the same entry.
    stored = json.loads(kinds.canonical_entry(dsse(2)).body)
    r = client.post(API + path, json={"entries": [dsse(2), stored]})
    assert [next(iter(d)) for d in r.json()] == [filled[2], filled[2]]
    for d in r.json():
        check_log_entry(d)
    r = client.post(API + path, json={"logIndexes": list(range(11))})
    assert r.status_code == 422
    assert client.post(API + path, json={"entryUUIDs": ["zz"]}).status_code == 400
    assert client.post(API + path, json={"logIndexes": [True]}).status_code == 400
    assert client.post(API + path, json={}).json() == []


# --------------------------------------------------------------------------------------------
# The tree
# --------------------------------------------------------------------------------------------


def test_log_info_and_consistency_proofs(client: TestClient, filled: list[str]) -> None:
    info = client.get(f"{API}/log").json()
    assert set(info) == {"rootHash", "signedTreeHead", "treeID", "treeSize"}
    assert info["treeID"] == str(0x1234_5678_9ABC_DEF0)
    assert info["treeSize"] == 6
    cp = checkpoint.verify(info["signedTreeHead"], [pem(LOG_KEY)])
    assert cp.root_hash.hex() == info["rootHash"]
    # One checkpoint per size: the same note is handed out again.
    assert client.get(f"{API}/log").json()["signedTreeHead"] == info["signedTreeHead"]
    roots = {}
    for size in range(1, 7):
        roots[size] = client.get(
            f"{API}/log/proof", params={"firstSize": size, "lastSize": size}
        ).json()["rootHash"]
    for first in range(1, 7):
        r = client.get(f"{API}/log/proof", params={"firstSize": first, "lastSize": 6})
        assert r.status_code == 200
        doc = r.json()
        merkle.verify_consistency(
            first,
            6,
            [bytes.fromhex(h) for h in doc["hashes"]],
            bytes.fromhex(roots[first]),
            bytes.fromhex(doc["rootHash"]),
        )
    default_first = client.get(f"{API}/log/proof", params={"lastSize": 6}).json()
    assert (
        default_first
        == client.get(f"{API}/log/proof", params={"firstSize": 1, "lastSize": 6}).json()
    )
    for params in (
        {"firstSize": 4, "lastSize": 3},
        {"firstSize": 1, "lastSize": 7},
        {"firstSize": 0, "lastSize": 3},
        {"firstSize": 1},
        {"firstSize": "a", "lastSize": 2},
    ):
        r = client.get(f"{API}/log/proof", params=params)
        assert r.status_code == 400, params
        assert r.json()["code"] == 400


def test_public_key(client: TestClient) -> None:
    r = client.get(f"{API}/log/publicKey")
    assert r.status_code == 200
    assert r.content == pem(LOG_KEY)
    assert r.headers["content-type"].startswith("application/x-pem-file")


def test_unknown_routes_and_methods_are_json(client: TestClient) -> None:
    r = client.get(f"{API}/nothing")
    assert (r.status_code, r.json()["code"]) == (404, 404)
    r = client.delete(f"{API}/log")
    assert (r.status_code, r.json()["code"]) == (405, 405)


# --------------------------------------------------------------------------------------------
# Index search
# --------------------------------------------------------------------------------------------


def test_index_search(client: TestClient, filled: list[str]) -> None:
    payload_hash = json.loads(kinds.canonical_entry(dsse(3)).body)["spec"]["payloadHash"]["value"]
    for query in ({"hash": f"sha256:{payload_hash}"}, {"hash": payload_hash.upper()}):
        assert client.post(f"{API}/index/retrieve", json=query).json() == [filled[3]]
    key = {"format": "x509", "content": base64.b64encode(pem(SIGNER)).decode()}
    assert client.post(f"{API}/index/retrieve", json={"publicKey": key}).json() == filled
    both = {"publicKey": key, "hash": payload_hash, "operator": "and"}
    assert client.post(f"{API}/index/retrieve", json=both).json() == [filled[3]]
    either = {"publicKey": key, "hash": "00" * 32, "operator": "or"}
    assert client.post(f"{API}/index/retrieve", json=either).json() == filled
    assert client.post(f"{API}/index/retrieve", json={"email": "nobody@example.com"}).json() == []
    for bad in (
        {"hash": "xyz"},
        {"publicKey": {"format": "pgp", "content": "AA=="}},
        {"publicKey": {"format": "x509", "content": "!!"}},
        {"email": "not-an-email"},
        {"hash": payload_hash, "operator": "xor"},
    ):
        r = client.post(f"{API}/index/retrieve", json=bad)
        assert r.status_code == 400, bad


@pytest.mark.parametrize("index", [0, 7, 2**40, 2**53 - 1])
def test_set_payload_is_rfc8785(store: LogStore, index: int) -> None:
    from atlas_intoto.tlog.server import set_payload
    from atlas_intoto.tlog.store import StoredEntry

    entry = StoredEntry(
        index=index,
        leaf_hash=b"\0" * 32,
        body=b'{"a":"<\\u00e9>"}' * 3,
        integrated_time=NOW,
        tree_id=1,
    )
    doc = {
        "body": base64.b64encode(entry.body).decode(),
        "integratedTime": NOW,
        "logID": "ab" * 32,
        "logIndex": index,
    }
    assert set_payload(entry, "ab" * 32) == rfc8785.dumps(doc)


def test_our_entries_pass_the_offline_verifier(client: TestClient) -> None:
    """logentry.verify_log_entry (written independently from the server) accepts every kind."""
    from atlas_intoto.tlog.logentry import verify_log_entry

    digest = hashlib.sha256(b"weights").digest()
    sig = SIGNER.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    cases = [
        (dsse(11), envelope(11)),
        (intoto_proposed_entry(envelope(12), pem(SIGNER)), envelope(12)),
        (
            hashedrekord_proposed_entry(signature=sig, public_key_pem=pem(SIGNER), digest=digest),
            None,
        ),
    ]
    for proposed, env in cases:
        doc = client.post(f"{API}/log/entries", json=proposed).json()
        verified = verify_log_entry(doc, log_keys=[pem(LOG_KEY)], envelope=env)
        assert verified.uuid == next(iter(doc))
    # Entries fetched later carry proofs against the grown tree; they verify too.
    for index in range(3):
        doc = client.get(f"{API}/log/entries", params={"logIndex": index}).json()
        assert verify_log_entry(doc, log_keys=[pem(LOG_KEY)]).tree_size == 3

"""The Rekor v2 write API and tile reads served beside v1 (one server, two shards)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import link_envelope, pem
from v2_servers import V2Log

from atlas_intoto.tlog import checkpoint, merkle
from atlas_intoto.tlog.v2 import hashedrekord, tiles
from atlas_intoto.tlog.v2.entry import verify_entry


def _post(log: V2Log, request: object) -> httpx.Response:
    return httpx.post(f"{log.url}/api/v2/log/entries", json=request)


def test_write_returns_a_verifiable_entry_and_duplicates_are_409(
    v2_log: V2Log, key: ec.EllipticCurvePrivateKey
) -> None:
    envelope = link_envelope(key, "train")
    response = _post(v2_log, hashedrekord.dsse_request(envelope, pem(key)))
    assert response.status_code == 201
    entry = response.json()
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}
    assert "integratedTime" not in entry and "inclusionPromise" not in entry
    verified = verify_entry(entry, envelope=envelope, log_keys=[v2_log.public_pem])
    assert verified.checkpoint.origin == "test.log"
    again = _post(v2_log, hashedrekord.dsse_request(envelope, pem(key)))
    assert again.status_code == 409
    assert again.headers["x-log-index"] == entry["logIndex"]
    assert again.json()["entry"]["canonicalizedBody"] == entry["canonicalizedBody"]
    # the v1 tree is a separate shard: still empty
    assert httpx.get(f"{v2_log.url}/api/v1/log").json()["treeSize"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"hashedRekordRequestV002": {}}',
        json.dumps({"dsseRequestV002": {}}).encode(),
    ],
)
def test_bad_requests_get_400_json(v2_log: V2Log, body: bytes) -> None:
    response = httpx.post(f"{v2_log.url}/api/v2/log/entries", content=body)
    assert response.status_code == 400
    assert response.json()["code"] == 400 and response.json()["message"]


def test_oversized_requests_get_413(v2_log: V2Log) -> None:
    response = httpx.post(f"{v2_log.url}/api/v2/log/entries", content=b"x" * (200 * 1024))
    assert response.status_code == 413


def test_tiles_checkpoint_and_cache_headers(v2_log: V2Log, key: ec.EllipticCurvePrivateKey) -> None:
    bodies = []
    for i in range(3):
        entry = _post(
            v2_log, hashedrekord.dsse_request(link_envelope(key, f"s{i}"), pem(key))
        ).json()
        bodies.append(base64.b64decode(entry["canonicalizedBody"]))
    cp_response = httpx.get(f"{v2_log.url}/checkpoint")
    assert cp_response.headers["cache-control"] == "no-cache"
    cp = checkpoint.verify(cp_response.text, [v2_log.public_pem])
    assert cp.size == 3
    tile = httpx.get(f"{v2_log.url}/tile/0/000.p/3")
    assert tile.headers["cache-control"] != "no-cache"
    assert tile.content == b"".join(merkle.leaf_hash(b) for b in bodies)
    assert merkle.root_from_leaves(bodies) == cp.root_hash
    bundle = httpx.get(f"{v2_log.url}/tile/entries/000.p/3")
    assert tiles.decode_bundle(bundle.content) == bodies
    assert httpx.get(f"{v2_log.url}/tile/0/000.p/4").status_code == 404
    assert httpx.get(f"{v2_log.url}/tile/0/000").status_code == 404  # not full yet
    assert httpx.get(f"{v2_log.url}/tile/0/0000").status_code == 404

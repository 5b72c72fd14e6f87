"""The C2SP witness: cosigns consistent checkpoints only; the v2 log collects cosignatures and
verifiers count them k of n."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from helpers import link_envelope, pem

from atlas_intoto.errors import WitnessCosignatureError
from atlas_intoto.tlog import checkpoint as checkpoints
from atlas_intoto.tlog import merkle
from atlas_intoto.tlog.cosignature import WitnessKey, count_cosignatures, require_cosignatures
from atlas_intoto.tlog.store import LogStore
from atlas_intoto.tlog.v2 import hashedrekord
from atlas_intoto.tlog.v2.service import V2LogService, WitnessEndpoint
from atlas_intoto.tlog.witness import Witness

ORIGIN = "log.example"


def _cp(signer: ec.EllipticCurvePrivateKey, leaves: list[bytes]) -> checkpoints.Checkpoint:
    cp = checkpoints.Checkpoint(
        origin=ORIGIN, size=len(leaves), root_hash=merkle.root_from_leaves(leaves)
    )
    return checkpoints.sign(cp, key=signer, name=ORIGIN)


def _request(old: int, proof: list[bytes], cp: checkpoints.Checkpoint) -> bytes:
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old}\n{lines}\n{cp.text}".encode()


@pytest.fixture
def witness(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> Witness:
    return Witness(
        key=ed25519.Ed25519PrivateKey.generate(),
        name="witness.example/w1",
        logs={ORIGIN: [pem(key)]},
        state=tmp_path / "witness.db",
        clock=lambda: 1_700_000_000,
    )


def test_cosigns_consistent_checkpoints(witness: Witness, key: ec.EllipticCurvePrivateKey) -> None:
    leaves = [b"a", b"b", b"c"]
    first = _cp(key, leaves)
    reply = witness.add_checkpoint(_request(0, [], first))
    assert reply.status == 200
    cosigned = checkpoints.parse(first.text + reply.body)
    assert count_cosignatures(cosigned, [witness.public_key]) == {"witness.example/w1"}
    grown = [*leaves, b"d", b"e"]
    second = _cp(key, grown)
    proof = merkle.consistency_proof_from_leaves([merkle.leaf_hash(x) for x in grown], 3)
    assert witness.add_checkpoint(_request(3, proof, second)).status == 200
    assert witness.latest(ORIGIN) == (5, second.root_hash)


def test_refuses_what_it_must(witness: Witness, key: ec.EllipticCurvePrivateKey) -> None:
    leaves = [b"a", b"b", b"c"]
    assert witness.add_checkpoint(_request(0, [], _cp(key, leaves))).status == 200
    # wrong old size: 409 with the witness's size
    stale = witness.add_checkpoint(_request(1, [], _cp(key, [*leaves, b"d"])))
    assert (stale.status, stale.body, stale.content_type) == (409, "3\n", "text/x.tlog.size")
    # a tree that does not extend the cosigned one (split view): 422
    other = [b"x", b"y", b"z", b"w"]
    proof = merkle.consistency_proof_from_leaves([merkle.leaf_hash(x) for x in other], 3)
    assert witness.add_checkpoint(_request(3, proof, _cp(key, other))).status == 422
    # same size, other root: 422; rollback (old above the size): 400
    assert witness.add_checkpoint(_request(3, [], _cp(key, [b"x", b"y", b"z"]))).status == 422
    assert witness.add_checkpoint(_request(3, [], _cp(key, [b"a"]))).status == 400
    # unknown origin 404, unsigned by the log 403, malformed 400
    foreign = checkpoints.sign(
        replace(_cp(key, leaves), origin="other", signatures=()), key=key, name="other"
    )
    assert witness.add_checkpoint(_request(3, [], foreign)).status == 404
    impostor = _cp(ec.generate_private_key(ec.SECP256R1()), leaves)
    assert witness.add_checkpoint(_request(3, [], impostor)).status == 403
    assert witness.add_checkpoint(b"garbage").status == 400
    assert witness.add_checkpoint(b"old 01\n\n" + _cp(key, leaves).text.encode()).status == 400
    # nothing was rolled back or replaced
    assert witness.latest(ORIGIN) == (3, merkle.root_from_leaves(leaves))


def test_state_survives_a_restart(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    wkey = ed25519.Ed25519PrivateKey.generate()
    first = Witness(key=wkey, name="w", logs={ORIGIN: [pem(key)]}, state=tmp_path / "s.db")
    assert first.add_checkpoint(_request(0, [], _cp(key, [b"a", b"b"]))).status == 200
    first.close()
    again = Witness(key=wkey, name="w", logs={ORIGIN: [pem(key)]}, state=tmp_path / "s.db")
    assert again.add_checkpoint(_request(0, [], _cp(key, [b"a"]))).status == 409


def test_v2_log_collects_cosignatures_k_of_n(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    signer = ec.generate_private_key(ec.SECP256R1())
    witnesses = [
        Witness(
            key=ed25519.Ed25519PrivateKey.generate(),
            name=f"w{i}",
            logs={ORIGIN: [pem(signer)]},
            state=tmp_path / f"w{i}.db",
        )
        for i in range(2)
    ]
    by_url = {f"http://w{i}": w for i, w in enumerate(witnesses)}

    def post(endpoint: WitnessEndpoint, body: bytes) -> tuple[int, bytes]:
        reply = by_url[endpoint.url].add_checkpoint(body)
        return reply.status, reply.body.encode()

    endpoints = [WitnessEndpoint(url=u, key=w.public_key) for u, w in by_url.items()]
    store = LogStore(tmp_path / "v2.db")
    try:
        service = V2LogService(store, signer, origin=ORIGIN, witnesses=endpoints, post=post)
        for name in ("a", "b", "c"):
            entry = service.add(
                _json(hashedrekord.dsse_request(link_envelope(key, name), pem(key)))
            )
        cp = checkpoints.verify(entry["inclusionProof"]["checkpoint"]["envelope"], [pem(signer)])
        keys = [w.public_key for w in witnesses]
        assert require_cosignatures(cp, keys, 2) == {"w0", "w1"}
        only_one = replace(cp, signatures=cp.signatures[:2])
        with pytest.raises(WitnessCosignatureError, match="1 of the 2"):
            require_cosignatures(only_one, keys, 2)
        forged = replace(
            cp,
            signatures=(
                *cp.signatures[:1],
                replace(cp.signatures[1], signature=bytes(8) + bytes(64)),
            ),
        )
        with pytest.raises(WitnessCosignatureError):
            count_cosignatures(forged, keys)
        unknown = WitnessKey(
            name="w9", public_key=ed25519.Ed25519PrivateKey.generate().public_key()
        )
        assert count_cosignatures(cp, [unknown]) == set()
    finally:
        store.close()
        for w in witnesses:
            w.close()


def _json(doc: object) -> bytes:
    import json

    return json.dumps(doc).encode()


def test_a_witness_outage_is_a_503_and_the_entry_stays_committed(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    from atlas_intoto.errors import NetworkError
    from atlas_intoto.tlog.v2.service import V2ApiError

    signer = ec.generate_private_key(ec.SECP256R1())
    witness = Witness(
        key=ed25519.Ed25519PrivateKey.generate(),
        name="w0",
        logs={ORIGIN: [pem(signer)]},
        state=tmp_path / "w.db",
    )
    up = {"yes": False}

    def post(endpoint: WitnessEndpoint, body: bytes) -> tuple[int, bytes]:
        if not up["yes"]:
            raise NetworkError("witness unreachable")
        reply = witness.add_checkpoint(body)
        return reply.status, reply.body.encode()

    store = LogStore(tmp_path / "v2.db")
    try:
        endpoint = WitnessEndpoint(url="http://w0", key=witness.public_key)
        service = V2LogService(store, signer, origin=ORIGIN, witnesses=[endpoint], post=post)
        request = _json(hashedrekord.dsse_request(link_envelope(key, "a"), pem(key)))
        with pytest.raises(V2ApiError) as failed:
            service.add(request)
        assert failed.value.status == 503 and store.size == 1
        up["yes"] = True
        with pytest.raises(V2ApiError) as duplicate:
            service.add(request)
        assert duplicate.value.status == 409 and duplicate.value.entry is not None
        note = duplicate.value.entry["inclusionProof"]["checkpoint"]["envelope"]
        cp = checkpoints.verify(note, [pem(signer)])
        assert require_cosignatures(cp, [witness.public_key], 1) == {"w0"}
    finally:
        store.close()
        witness.close()

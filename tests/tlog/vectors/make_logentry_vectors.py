"""Generate the LogEntry verification vectors in this directory (fixed keys, reproducible shape).

Run from the repository root: ``.venv/bin/python tests/tlog/vectors/make_logentry_vectors.py``.
Each ``logentry-*.json`` holds a Rekor ``{uuid: LogEntry}``, the DSSE envelope it is checked
against, the pinned log key and the error class :func:`verify_log_entry` must raise (``null``
for the valid vector). ECDSA signatures are randomised, so regenerating changes bytes but not
meaning; keys are derived from fixed scalars/seeds.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from atlas_intoto.dsse import pae
from atlas_intoto.tlog import checkpoint as cpmod
from atlas_intoto.tlog import merkle
from atlas_intoto.tlog.ids import entry_id

HERE = Path(__file__).resolve().parent
TREE_ID = 0x1234_5678_9ABC
ORIGIN_NAME = "atlas-vectors.example"
INTEGRATED_TIME = 1_760_000_000
TREE_SIZE = 11
INDEX = 6


def _ec_key(label: str) -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % (2**255)
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


LOG_KEY = _ec_key("atlas-intoto test vectors: log key")
OTHER_LOG_KEY = _ec_key("atlas-intoto test vectors: another log")
FUNCTIONARY = ed25519.Ed25519PrivateKey.from_private_bytes(
    hashlib.sha256(b"atlas-intoto test vectors: functionary").digest()
)


def _envelope(payload: bytes) -> bytes:
    ptype = "application/vnd.in-toto+json"
    sig = FUNCTIONARY.sign(pae(ptype, payload))
    env = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": ptype,
        "signatures": [{"keyid": "vectors", "sig": base64.b64encode(sig).decode()}],
    }
    return json.dumps(env, indent=1).encode()


def _dsse_body(envelope: bytes) -> bytes:
    env = json.loads(envelope)
    payload = base64.b64decode(env["payload"])
    return rfc8785.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(envelope).hexdigest(),
                },
                "payloadHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(payload).hexdigest(),
                },
                "signatures": [
                    {
                        "signature": s["sig"],
                        "verifier": base64.b64encode(_pem(FUNCTIONARY)).decode(),
                    }
                    for s in env["signatures"]
                ],
            },
        }
    )


def _checkpoint(size: int, root: bytes, key: ec.EllipticCurvePrivateKey = LOG_KEY) -> str:
    cp = cpmod.Checkpoint(origin=cpmod.origin_for(ORIGIN_NAME, TREE_ID), size=size, root_hash=root)
    return cpmod.sign(cp, key=key, name=ORIGIN_NAME).text


def _set(entry: dict[str, Any], key: ec.EllipticCurvePrivateKey = LOG_KEY) -> str:
    payload = rfc8785.dumps({k: entry[k] for k in ("body", "integratedTime", "logID", "logIndex")})
    return base64.b64encode(cpmod.sign_data(key, payload)).decode()


def build() -> tuple[bytes, dict[str, Any], list[bytes]]:
    envelope = _envelope(b'{"_type": "link", "name": "vectors"}')
    body = _dsse_body(envelope)
    leaves = [merkle.leaf_hash(f"other entry {i}".encode()) for i in range(TREE_SIZE)]
    leaves[INDEX] = merkle.leaf_hash(body)
    root = merkle.root_from_leaves(leaves, hashed=True)
    proof = merkle.inclusion_proof_from_leaves(leaves, INDEX)
    log_id = cpmod.log_id(LOG_KEY.public_key()).hex()
    entry: dict[str, Any] = {
        "body": base64.b64encode(body).decode(),
        "integratedTime": INTEGRATED_TIME,
        "logID": log_id,
        "logIndex": INDEX,
        "verification": {
            "inclusionProof": {
                "logIndex": INDEX,
                "rootHash": root.hex(),
                "treeSize": TREE_SIZE,
                "hashes": [h.hex() for h in proof],
                "checkpoint": _checkpoint(TREE_SIZE, root),
            }
        },
    }
    entry["verification"]["signedEntryTimestamp"] = _set(entry)
    uuid = entry_id(TREE_ID, leaves[INDEX])
    return envelope, {uuid: entry}, leaves


def main() -> None:
    envelope, doc, leaves = build()
    ((uuid, good),) = doc.items()
    vectors: dict[str, tuple[str, str | None, bytes, dict[str, Any]]] = {}

    def variant(name: str, error: str | None, desc: str, env: bytes = envelope) -> dict[str, Any]:
        e = copy.deepcopy(good)
        vectors[name] = (desc, error, env, {uuid: e})
        return e

    variant("valid", None, "a valid dsse entry")
    # 1. body vs envelope
    other = _envelope(b'{"_type": "link", "name": "something else"}')
    variant("body-other-envelope", "LogEntryMismatchError", "entry is for another envelope", other)
    reserialised = json.dumps(json.loads(envelope)).encode()
    variant(
        "body-envelope-reserialised",
        "LogEntryMismatchError",
        "same envelope content but not the bytes that were logged (envelopeHash differs)",
        reserialised,
    )
    env2 = json.loads(envelope)
    env2["signatures"].append(
        {"keyid": "extra", "sig": base64.b64encode(FUNCTIONARY.sign(b"x")).decode()}
    )
    variant(
        "body-extra-signature",
        "LogEntryMismatchError",
        "envelope carries a signature the entry does not record",
        json.dumps(env2, indent=1).encode(),
    )
    # 2. inclusion proof
    e = variant("proof-flipped-bit", "InclusionProofError", "one proof hash has a flipped bit")
    h = bytearray(bytes.fromhex(e["verification"]["inclusionProof"]["hashes"][1]))
    h[0] ^= 1
    e["verification"]["inclusionProof"]["hashes"][1] = h.hex()
    e = variant("proof-wrong-index", "InclusionProofError", "proof logIndex off by one")
    e["verification"]["inclusionProof"]["logIndex"] = INDEX + 1
    e = variant("proof-truncated", "InclusionProofError", "last proof hash missing")
    e["verification"]["inclusionProof"]["hashes"].pop()
    e = variant("proof-smaller-size", "InclusionProofError", "treeSize too small for the proof")
    e["verification"]["inclusionProof"]["treeSize"] = INDEX + 1
    e = variant(
        "proof-larger-size",
        "CheckpointError",
        "treeSize 12 chains to the same root as 11 (same path shape): only the checkpoint's "
        "size catches it",
    )
    e["verification"]["inclusionProof"]["treeSize"] = TREE_SIZE + 1
    e = variant("uuid-other-leaf", "LogEntryMismatchError", "uuid names a different leaf")
    vectors["uuid-other-leaf"] = (
        vectors["uuid-other-leaf"][0],
        "LogEntryMismatchError",
        envelope,
        {f"{TREE_ID:016x}{leaves[0].hex()}": e},
    )
    # 3. checkpoint vs proof
    bigger = [*leaves, merkle.leaf_hash(b"later")]
    e = variant(
        "checkpoint-other-tree",
        "CheckpointError",
        "validly signed checkpoint for a later tree, not the proof's",
    )
    e["verification"]["inclusionProof"]["checkpoint"] = _checkpoint(
        len(bigger), merkle.root_from_leaves(bigger, hashed=True)
    )
    # 4. checkpoint signature
    e = variant("checkpoint-unpinned-key", "CheckpointError", "checkpoint signed by another log")
    root = bytes.fromhex(good["verification"]["inclusionProof"]["rootHash"])
    e["verification"]["inclusionProof"]["checkpoint"] = _checkpoint(TREE_SIZE, root, OTHER_LOG_KEY)
    e = variant("checkpoint-bad-signature", "CheckpointError", "checkpoint signature corrupted")
    text = good["verification"]["inclusionProof"]["checkpoint"]
    head, sigline = text.rstrip("\n").rsplit("\n", 1)
    dash, name, b64 = sigline.split(" ")
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    e["verification"]["inclusionProof"]["checkpoint"] = (
        f"{head}\n{dash} {name} {base64.b64encode(bytes(raw)).decode()}\n"
    )
    e = variant("checkpoint-malformed", "CheckpointError", "checkpoint without signature lines")
    e["verification"]["inclusionProof"]["checkpoint"] = text.split("\n\n")[0] + "\n\n"
    # 5. SET
    e = variant("set-other-time", "SetError", "integratedTime changed after signing")
    e["integratedTime"] = INTEGRATED_TIME + 1
    e = variant("set-other-index", "SetError", "global logIndex changed after signing")
    e["logIndex"] = INDEX + 100
    e = variant("set-missing", "SetError", "no signedEntryTimestamp")
    del e["verification"]["signedEntryTimestamp"]
    e = variant("set-by-other-key", "SetError", "SET signed by a key that is not the logID")
    e["verification"]["signedEntryTimestamp"] = _set(good, OTHER_LOG_KEY)
    e = variant("set-logid-unpinned", "SetError", "logID names a log that is not pinned")
    e["logID"] = cpmod.log_id(OTHER_LOG_KEY.public_key()).hex()
    # malformed
    e = variant("malformed-body", "LogEntryFormatError", "body is not base64")
    e["body"] = "%%%"
    e = variant("malformed-hash", "LogEntryFormatError", "proof hash is not hex")
    e["verification"]["inclusionProof"]["hashes"][0] = "zz"

    for old in HERE.glob("logentry-*.json"):
        old.unlink()
    for name, (desc, error, env, entry_doc) in vectors.items():
        doc = {
            "description": desc,
            "expected_error": error,
            "log_key": _pem(LOG_KEY).decode(),
            "envelope": env.decode(),
            "entry": entry_doc,
        }
        (HERE / f"logentry-{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(vectors)} vectors to {HERE}")


if __name__ == "__main__":
    main()

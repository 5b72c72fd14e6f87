"""Generate the digest-visibility vectors in this directory (fixed keys, reproducible shape).

Run from the repository root: ``.venv/bin/python tests/tlog/vectors/make_visibility_vectors.py``.
Each ``visibility-*.json`` holds a Rekor v1 ``{uuid: LogEntry}``, the DSSE envelope of the link
it is checked against, the pinned log key, the functionary keys that signed the link, the
visibility the layout accepts for the log (``trust.logs[].visibility``) and the error class
check 6 must raise (``null``: the entry is accepted). The log key, the functionary and the
intruder are derived from fixed labels; ECDSA signatures are randomised, so regenerating
changes bytes but not meaning.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_logentry_vectors import (  # noqa: E402
    INDEX,
    INTEGRATED_TIME,
    LOG_KEY,
    TREE_ID,
    TREE_SIZE,
    _checkpoint,
    _dsse_body,
    _ec_key,
    _pem,
    _set,
)

from atlas_intoto.dsse import pae  # noqa: E402
from atlas_intoto.tlog import checkpoint as cpmod  # noqa: E402
from atlas_intoto.tlog import merkle  # noqa: E402
from atlas_intoto.tlog.ids import entry_id  # noqa: E402

FUNCTIONARY = _ec_key("atlas-intoto visibility vectors: functionary")
INTRUDER = _ec_key("atlas-intoto visibility vectors: intruder")
PAYLOAD = b'{"_type": "link", "name": "train", "materials": {"data/private.csv": {}}}'


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def _envelope(payload: bytes) -> bytes:
    ptype = "application/vnd.in-toto+json"
    env = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": ptype,
        "signatures": [
            {
                "keyid": "functionary",
                "sig": base64.b64encode(_sign(FUNCTIONARY, pae(ptype, payload))).decode(),
            }
        ],
    }
    return json.dumps(env, indent=1).encode()


def _hashedrekord_body(digest: bytes, signature: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    return rfc8785.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                "signature": {
                    "content": base64.b64encode(signature).decode(),
                    "publicKey": {"content": base64.b64encode(_pem(key)).decode()},
                },
            },
        }
    )


def _digest_body(data: bytes, key: ec.EllipticCurvePrivateKey = FUNCTIONARY) -> bytes:
    """The digest entry of ``data``: SHA-256 of the bytes, ``key``'s signature over them."""
    return _hashedrekord_body(hashlib.sha256(data).digest(), _sign(key, data), key)


def _logged(body: bytes) -> dict[str, Any]:
    """``body`` included at INDEX of a tree of TREE_SIZE with checkpoint and SET."""
    leaves = [merkle.leaf_hash(f"other entry {i}".encode()) for i in range(TREE_SIZE)]
    leaves[INDEX] = merkle.leaf_hash(body)
    root = merkle.root_from_leaves(leaves, hashed=True)
    proof = merkle.inclusion_proof_from_leaves(leaves, INDEX)
    entry: dict[str, Any] = {
        "body": base64.b64encode(body).decode(),
        "integratedTime": INTEGRATED_TIME,
        "logID": cpmod.log_id(LOG_KEY.public_key()).hex(),
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
    return {entry_id(TREE_ID, leaves[INDEX]): entry}


def _flip_signature(body: bytes) -> bytes:
    doc = json.loads(body)
    sig = bytearray(base64.b64decode(doc["spec"]["signature"]["content"]))
    sig[-1] ^= 1
    doc["spec"]["signature"]["content"] = base64.b64encode(bytes(sig)).decode()
    return rfc8785.dumps(doc)


def vectors() -> dict[str, tuple[str, str | None, str, bytes, dict[str, Any]]]:
    """name → (description, expected error, layout visibility, envelope, entry document)."""
    envelope = _envelope(PAYLOAD)
    digest_entry = _logged(_digest_body(envelope))
    other = _envelope(PAYLOAD.replace(b"private", b"swapped"))
    reserialised = json.dumps(json.loads(envelope)).encode()
    set_changed = copy.deepcopy(digest_entry)
    next(iter(set_changed.values()))["integratedTime"] = INTEGRATED_TIME + 1
    return {
        "digest-valid": ("a digest entry, layout accepts digest", None, "digest", envelope, digest_entry),
        "digest-valid-any": ("a digest entry, layout accepts any", None, "any", envelope, digest_entry),
        "full-valid-any": (
            "a dsse entry, layout accepts any", None, "any", envelope, _logged(_dsse_body_ec(envelope))
        ),
        "digest-layout-full": (
            "a digest entry, but the layout accepts only full entries (the default)",
            "LogVisibilityNotAllowedError", "full", envelope, digest_entry,
        ),
        "full-layout-digest": (
            "a dsse entry (the log read the whole link), but the layout accepts digest entries only",
            "LogVisibilityNotAllowedError", "digest", envelope, _logged(_dsse_body_ec(envelope)),
        ),
        "digest-other-envelope": (
            "the digest entry of another link by the same functionary",
            "LogDigestMismatchError", "digest", other, digest_entry,
        ),
        "digest-envelope-reserialised": (
            "the same envelope re-serialised: the digest is over the exact bytes logged",
            "LogDigestMismatchError", "digest", reserialised, digest_entry,
        ),
        "digest-over-payload": (
            "a digest of the payload only (it binds no signature of the envelope)",
            "LogDigestMismatchError", "digest", envelope, _logged(_digest_body(PAYLOAD)),
        ),
        "digest-signer-intruder": (
            "the envelope's digest logged under another key (anyone can log a digest)",
            "LogSignerNotFunctionaryError", "digest", envelope,
            _logged(_digest_body(envelope, INTRUDER)),
        ),
        "digest-bad-signature": (
            "a logged signature that does not verify over the digest with the logged key",
            "LogDigestSignatureError", "digest", envelope,
            _logged(_flip_signature(_digest_body(envelope))),
        ),
        "digest-set-other-time": (
            "a digest entry whose integratedTime changed after the log signed it",
            "SetError", "digest", envelope, set_changed,
        ),
    }  # fmt: skip


def _dsse_body_ec(envelope: bytes) -> bytes:
    """A dsse 0.0.1 body with the ECDSA functionary as verifier."""
    doc = json.loads(_dsse_body(envelope))
    for sig in doc["spec"]["signatures"]:
        sig["verifier"] = base64.b64encode(_pem(FUNCTIONARY)).decode()
    return rfc8785.dumps(doc)


def main() -> None:
    for old in HERE.glob("visibility-*.json"):
        old.unlink()
    made = vectors()
    for name, (desc, error, visibility, envelope, entry) in made.items():
        doc = {
            "description": desc,
            "expected_error": error,
            "log_key": _pem(LOG_KEY).decode(),
            "functionaries": [_pem(FUNCTIONARY).decode()],
            "layout_visibility": visibility,
            "envelope": envelope.decode(),
            "entry": entry,
        }
        (HERE / f"visibility-{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(made)} vectors to {HERE}")


if __name__ == "__main__":
    main()

"""The ``hashedrekord`` 0.0.1 kind: canonical bodies byte-identical to public Rekor's, signature
checks over digests, index keys, every rejection reason, and body matching."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from helpers import CONFORMANCE, conformance_bundle, leaf_cert_pem, pem, sign_envelope

from atlas_intoto.dsse import pae
from atlas_intoto.errors import EntryFormatError, EntrySignatureError, LogEntryMismatchError
from atlas_intoto.tlog.kinds import canonical_entry, hashedrekord
from atlas_intoto.tlog.kinds.match import envelope_facts
from atlas_intoto.tlog.proposed import hashedrekord_proposed_entry


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("case", ["happy-path-v0.1", "happy-path-v0.2", "happy-path-v0.3"])
def test_hashedrekord_body_equals_public_rekor(shared_testdata: Path, case: str) -> None:
    bundle = conformance_bundle(shared_testdata, case)
    sig = bundle["messageSignature"]
    proposed = hashedrekord_proposed_entry(
        signature=base64.b64decode(sig["signature"]),
        public_key_pem=leaf_cert_pem(bundle),
        digest=base64.b64decode(sig["messageDigest"]["digest"]),
    )
    entry = canonical_entry(proposed)
    expected = base64.b64decode(
        bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
    )
    assert entry.body == expected


def test_hashedrekord_with_public_key_equals_public_rekor(shared_testdata: Path) -> None:
    case = shared_testdata / CONFORMANCE / "managed-key-happy-path"
    bundle = conformance_bundle(shared_testdata, "managed-key-happy-path")
    sig = bundle["messageSignature"]
    key_pem = (case / "key.pub").read_bytes()
    entry = canonical_entry(
        hashedrekord_proposed_entry(
            signature=base64.b64decode(sig["signature"]),
            public_key_pem=key_pem,
            digest=base64.b64decode(sig["messageDigest"]["digest"]),
        )
    )
    expected = base64.b64decode(
        bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
    )
    assert entry.body == expected
    # Rekor indexes the raw key bytes' hash (no prefix) and the artifact hash.
    assert hashlib.sha256(key_pem).hexdigest() in entry.index_keys
    assert "sha256:" + base64.b64decode(sig["messageDigest"]["digest"]).hex() in entry.index_keys


def test_hashedrekord_ecdsa_and_rsa(key: Any) -> None:
    digest = hashlib.sha384(b"artifact").digest()
    sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA384())))
    entry = canonical_entry(
        hashedrekord_proposed_entry(
            signature=sig, public_key_pem=pem(key), digest=digest, algorithm="sha384"
        )
    )
    assert json.loads(entry.body)["spec"]["data"]["hash"] == {
        "algorithm": "sha384",
        "value": digest.hex(),
    }
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    digest = hashlib.sha256(b"artifact").digest()
    sig = rsa_key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    canonical_entry(
        hashedrekord_proposed_entry(signature=sig, public_key_pem=pem(rsa_key), digest=digest)
    )


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (
            lambda s: s["data"]["hash"].update(value="ab" * 31),
            EntryFormatError,
            "invalid value for hash",
        ),
        (lambda s: s["data"]["hash"].update(value="zz" * 32), EntryFormatError, "not hexadecimal"),
        (
            lambda s: s["data"]["hash"].update(algorithm="md5"),
            EntryFormatError,
            "unsupported 'md5'",
        ),
        (
            lambda s: s["data"]["hash"].update(value="00" * 32),
            EntrySignatureError,
            "verifying signature",
        ),
        (lambda s: s["signature"].update(content="@@@"), EntryFormatError, "base64"),
        (
            lambda s: s["signature"].pop("publicKey"),
            EntryFormatError,
            "publicKey: expected a JSON object",
        ),
        (lambda s: s.pop("data"), EntryFormatError, "spec.data"),
        (
            lambda s: s["signature"]["publicKey"].update(
                content=_b64(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
            ),
            EntryFormatError,
            "invalid public key",
        ),
        (
            lambda s: s["signature"]["publicKey"].update(
                content=_b64(b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n")
            ),
            EntryFormatError,
            "cannot handle type FOO",
        ),
    ],
)
def test_hashedrekord_rejections(key: Any, mutate: Any, error: type[Exception], match: str) -> None:
    digest = hashlib.sha256(b"x").digest()
    sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    doc = hashedrekord_proposed_entry(signature=sig, public_key_pem=pem(key), digest=digest)
    mutate(doc["spec"])
    with pytest.raises(error, match=match):
        canonical_entry(doc)


def test_hashedrekord_ed25519_refused() -> None:
    k = ed25519.Ed25519PrivateKey.generate()
    digest = hashlib.sha512(b"x").digest()
    doc = hashedrekord_proposed_entry(
        signature=k.sign(digest), public_key_pem=pem(k), digest=digest, algorithm="sha512"
    )
    with pytest.raises(EntrySignatureError, match="Ed25519ph"):
        canonical_entry(doc)


# --------------------------------------------------------------------------------------------
# Offline body matching (hashedrekord.match_envelope): a signature over the envelope's PAE
# --------------------------------------------------------------------------------------------


def _pae_entry(envelope: bytes, key: Any) -> dict[str, Any]:
    env = json.loads(envelope)
    message = pae(env["payloadType"], base64.b64decode(env["payload"]))
    # An ECDSA signature over the PAE is a signature over its SHA-256 digest.
    sig = base64.b64decode(env["signatures"][0]["sig"])
    proposed = hashedrekord_proposed_entry(
        signature=sig, public_key_pem=pem(key), digest=hashlib.sha256(message).digest()
    )
    return json.loads(canonical_entry(proposed).body)["spec"]  # type: ignore[no-any-return]


def test_body_matches_the_envelope_it_signs(key: Any, other_key: Any) -> None:
    envelope = sign_envelope(b'{"a":1}', key)
    spec = _pae_entry(envelope, key)
    hashedrekord.match_envelope(spec, envelope_facts(envelope))
    # No envelope hash is stored: a re-serialised envelope matches too.
    hashedrekord.match_envelope(spec, envelope_facts(json.dumps(json.loads(envelope)).encode()))
    with pytest.raises(LogEntryMismatchError, match="PAE"):
        hashedrekord.match_envelope(spec, envelope_facts(sign_envelope(b'{"a":2}', key)))
    # Same payload, another signer: the digest matches, the signature is not the envelope's.
    with pytest.raises(LogEntryMismatchError, match="not one of this envelope's signatures"):
        hashedrekord.match_envelope(spec, envelope_facts(sign_envelope(b'{"a":1}', other_key)))

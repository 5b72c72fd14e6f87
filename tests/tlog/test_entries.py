"""Rekor entry kinds: canonical bodies byte-identical to public Rekor's, signature checks, index
keys, and every rejection reason."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from helpers import pem

from atlas_intoto.errors import EntryFormatError, EntrySignatureError
from atlas_intoto.tlog import entries
from atlas_intoto.tlog.entries import (
    canonical_entry,
    dsse_proposed_entry,
    hashedrekord_proposed_entry,
    intoto_proposed_entry,
    parse_proposed_entry,
)

CONFORMANCE = "sigstore-conformance/bundle-verify"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sign_envelope(
    payload: bytes, *keys: Any, payload_type: str = "application/vnd.in-toto+json"
) -> bytes:
    message = entries.pae(payload_type, payload)
    sigs = []
    for key in keys:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            sig = key.sign(message, ec.ECDSA(hashes.SHA256()))
        else:
            sig = key.sign(message)
        sigs.append({"keyid": "", "sig": _b64(sig)})
    return json.dumps(
        {"payload": _b64(payload), "payloadType": payload_type, "signatures": sigs}
    ).encode()


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


STATEMENT = json.dumps(
    {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "m.bin", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "predicate": {"materials": [{"uri": "git", "digest": {"sha1": "cd" * 20}}]},
    }
).encode()


# --------------------------------------------------------------------------------------------
# Byte-identical to entries in the public Rekor (sigstore-conformance bundles)
# --------------------------------------------------------------------------------------------


def _bundle(shared: Path, case: str) -> dict[str, Any]:
    return json.loads((shared / CONFORMANCE / case / "bundle.sigstore.json").read_text())


def _leaf_cert_pem(bundle: dict[str, Any]) -> bytes:
    vm = bundle["verificationMaterial"]
    raw = (
        vm["certificate"]["rawBytes"]
        if "certificate" in vm
        else vm["x509CertificateChain"]["certificates"][0]["rawBytes"]
    )
    b64 = _b64(base64.b64decode(raw))
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (
        "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
    ).encode()


@pytest.mark.parametrize("case", ["happy-path-v0.1", "happy-path-v0.2", "happy-path-v0.3"])
def test_hashedrekord_body_equals_public_rekor(shared_testdata: Path, case: str) -> None:
    bundle = _bundle(shared_testdata, case)
    sig = bundle["messageSignature"]
    proposed = hashedrekord_proposed_entry(
        signature=base64.b64decode(sig["signature"]),
        public_key_pem=_leaf_cert_pem(bundle),
        digest=base64.b64decode(sig["messageDigest"]["digest"]),
    )
    entry = canonical_entry(proposed)
    expected = base64.b64decode(
        bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
    )
    assert entry.body == expected


def test_hashedrekord_with_public_key_equals_public_rekor(shared_testdata: Path) -> None:
    case = shared_testdata / CONFORMANCE / "managed-key-happy-path"
    bundle = _bundle(shared_testdata, "managed-key-happy-path")
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


def test_dsse_body_equals_public_rekor_except_envelope_hash(shared_testdata: Path) -> None:
    bundle = _bundle(shared_testdata, "happy-path-intoto-in-dsse-v3")
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
    entry = canonical_entry(dsse_proposed_entry(envelope, [_leaf_cert_pem(bundle)]))
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


def test_intoto_body_matches_public_rekor_without_payload(shared_testdata: Path) -> None:
    bundle = _bundle(shared_testdata, "intoto-with-custom-trust-root")
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


# --------------------------------------------------------------------------------------------
# dsse 0.0.1
# --------------------------------------------------------------------------------------------


def test_dsse_stores_hashes_and_verifiers_not_envelope(key: ec.EllipticCurvePrivateKey) -> None:
    envelope = _sign_envelope(STATEMENT, key)
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
    envelope = _sign_envelope(b"{}", key, other_key)
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
    sig = k.sign(entries.pae("text/plain", payload))
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
    envelope = _sign_envelope(b"{}", key)
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
    doc = _dsse_spec(_sign_envelope(b"{}", key), [pem(key)])
    mutate(doc, key, other_key)
    with pytest.raises(error, match=match):
        canonical_entry(doc)


def test_dsse_tampered_payload_rejected(key: Any) -> None:
    env = json.loads(_sign_envelope(b'{"a":1}', key))
    env["payload"] = _b64(b'{"a":2}')
    with pytest.raises(EntrySignatureError):
        canonical_entry(dsse_proposed_entry(json.dumps(env).encode(), [pem(key)]))


def test_dsse_unverified_second_signature_rejected(key: Any, other_key: Any) -> None:
    envelope = _sign_envelope(b"{}", key, other_key)
    with pytest.raises(EntrySignatureError, match="all signatures must have a key"):
        canonical_entry(dsse_proposed_entry(envelope, [pem(key)]))


def test_certificate_verifier_indexes_subjects(key: Any) -> None:
    import datetime

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.RFC822Name("dev@example.com"),
                    x509.UniformResourceIdentifier("https://ci.example/wf"),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    entry = canonical_entry(dsse_proposed_entry(_sign_envelope(b"{}", key), [cert_pem]))
    assert "dev@example.com" in entry.index_keys
    assert "https://ci.example/wf" in entry.index_keys
    assert "sha256:" + hashlib.sha256(cert_pem).hexdigest() in entry.index_keys
    # A chain (leaf first) is kept whole as the verifier; the leaf's key verifies.
    chain = cert_pem + cert_pem
    entry2 = canonical_entry(dsse_proposed_entry(_sign_envelope(b"{}", key), [chain]))
    assert base64.b64decode(json.loads(entry2.body)["spec"]["signatures"][0]["verifier"]) == chain


# --------------------------------------------------------------------------------------------
# hashedrekord 0.0.1
# --------------------------------------------------------------------------------------------


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
# intoto 0.0.2
# --------------------------------------------------------------------------------------------


def test_intoto_roundtrip(key: Any) -> None:
    envelope = _sign_envelope(STATEMENT, key)
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
    doc = intoto_proposed_entry(_sign_envelope(STATEMENT, key), pem(key))
    mutate(doc["spec"]["content"])
    with pytest.raises(error, match=match):
        canonical_entry(doc)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"\xff",
        b"[1]",
        b"null",
        b'"x"',
        b"[" * 100000,
        b"[" * 60000 + b"]" * 60000,
        b"9" * 5000,
    ],
)
def test_garbage_request_bodies(raw: bytes) -> None:
    with pytest.raises(EntryFormatError):
        parse_proposed_entry(raw)

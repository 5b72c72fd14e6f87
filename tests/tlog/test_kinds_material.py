"""Verification material as Rekor handles it: keys, certificates and chains, signature checks,
Rekor's envelope rule (every key verifies, every signature is verified)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa, utils
from helpers import pem, sign_envelope

from atlas_intoto.dsse import pae
from atlas_intoto.errors import EntryFormatError, EntrySignatureError
from atlas_intoto.tlog.kinds import canonical_entry
from atlas_intoto.tlog.kinds.material import (
    key_index,
    load_verifier,
    parse_envelope,
    verify_envelope,
    verify_message,
    verify_prehashed,
)
from atlas_intoto.tlog.proposed import dsse_proposed_entry


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
    entry = canonical_entry(dsse_proposed_entry(sign_envelope(b"{}", key), [cert_pem]))
    assert "dev@example.com" in entry.index_keys
    assert "https://ci.example/wf" in entry.index_keys
    assert "sha256:" + hashlib.sha256(cert_pem).hexdigest() in entry.index_keys
    # A chain (leaf first) is kept whole as the verifier; the leaf's key verifies.
    chain = cert_pem + cert_pem
    entry2 = canonical_entry(dsse_proposed_entry(sign_envelope(b"{}", key), [chain]))
    assert base64.b64decode(json.loads(entry2.body)["spec"]["signatures"][0]["verifier"]) == chain


# --------------------------------------------------------------------------------------------
# Keys and certificates
# --------------------------------------------------------------------------------------------


def test_bare_keys_are_reencoded_and_cached(key: Any) -> None:
    messy = pem(key).replace(b"\n", b"\r\n", 1)
    verifier = load_verifier(messy)
    assert verifier.canonical_pem == pem(key) and verifier.subjects == ()
    assert load_verifier(messy) is verifier  # parsed once
    assert key_index(verifier) == ["sha256:" + hashlib.sha256(pem(key)).hexdigest()]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "failure decoding PEM"),
        (b"-----BEGIN PUBLIC KEY-----\nProc-Type: 4\nAAAA\n-----END PUBLIC KEY-----\n", "headers"),
        (b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n", "base64"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "invalid certificate"),
    ],
)
def test_bad_material_names_the_field(data: bytes, match: str) -> None:
    with pytest.raises(EntryFormatError, match=match) as info:
        load_verifier(data, field="spec.x")
    assert str(info.value).startswith("spec.x: ")


def test_a_chain_holds_only_certificates(key: Any) -> None:
    with pytest.raises(EntryFormatError, match="may only hold certificates"):
        load_verifier(pem(key) + pem(key))


def test_unsupported_key_types_are_refused() -> None:
    dsa_key = dsa.generate_private_key(key_size=2048)
    with pytest.raises(EntryFormatError, match="unsupported key type"):
        load_verifier(pem(dsa_key))


# --------------------------------------------------------------------------------------------
# Signatures
# --------------------------------------------------------------------------------------------


def test_message_signatures_per_key_type(key: Any) -> None:
    message = b"message"
    ed = ed25519.Ed25519PrivateKey.generate()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = [
        (key, key.sign(message, ec.ECDSA(hashes.SHA256()))),
        (ed, ed.sign(message)),
        (rsa_key, rsa_key.sign(message, padding.PKCS1v15(), hashes.SHA256())),
    ]
    for private, sig in cases:
        public = load_verifier(pem(private)).key
        assert verify_message(public, sig, message)
        assert not verify_message(public, sig, b"other")
        assert not verify_message(public, b"garbage", message)


def test_prehashed_signatures(key: Any) -> None:
    digest = hashlib.sha512(b"artifact").digest()
    sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA512())))
    public = load_verifier(pem(key)).key
    assert verify_prehashed(public, sig, digest, "sha512")
    assert not verify_prehashed(public, sig, digest[::-1], "sha512")
    ed = ed25519.Ed25519PrivateKey.generate()
    assert not verify_prehashed(load_verifier(pem(ed)).key, ed.sign(digest), digest, "sha512")


# --------------------------------------------------------------------------------------------
# Rekor's envelope rule
# --------------------------------------------------------------------------------------------


def test_every_key_verifies_and_every_signature_is_verified(key: Any, other_key: Any) -> None:
    both = parse_envelope(sign_envelope(b"{}", key, other_key).decode(), "env")
    verifiers = [load_verifier(pem(key)), load_verifier(pem(other_key))]
    by_sig = verify_envelope(verifiers, both, "env")
    assert sorted(v.canonical_pem for v in by_sig.values()) == sorted([pem(key), pem(other_key)])
    # A key that signed nothing fails, even though the envelope has a valid signature:
    # stricter than a DSSE threshold of one.
    one = parse_envelope(sign_envelope(b"{}", key).decode(), "env")
    with pytest.raises(EntrySignatureError, match="key 1 verifies no signature"):
        verify_envelope(verifiers, one, "env")
    with pytest.raises(EntrySignatureError, match="all signatures must have a key"):
        verify_envelope(verifiers[:1], both, "env")


def test_envelopes_parse_as_go_unmarshals_them() -> None:
    env = parse_envelope('{"payloadType": "t", "signatures": [{"sig": "AA=="}]}', "env")
    assert (env.payload_b64, env.payload_type, env.signatures) == ("", "t", (("", "AA=="),))
    assert parse_envelope("{}", "env").signatures == ()
    for bad, match in (("[", "not a JSON"), ('{"signatures": {}}', "expected an array")):
        with pytest.raises(EntryFormatError, match=match):
            parse_envelope(bad, "env")
    with pytest.raises(EntrySignatureError, match="no signatures"):
        verify_envelope([], parse_envelope("{}", "env"), "env")


def test_url_safe_base64_as_dsse_allows(key: Any) -> None:
    payload = b"\xfb\xff" * 10
    sig = key.sign(pae("t", payload), ec.ECDSA(hashes.SHA256()))
    text = json.dumps(
        {
            "payload": base64.urlsafe_b64encode(payload).decode(),
            "payloadType": "t",
            "signatures": [{"sig": base64.urlsafe_b64encode(sig).decode()}],
        }
    )
    verify_envelope([load_verifier(pem(key))], parse_envelope(text, "env"), "env")

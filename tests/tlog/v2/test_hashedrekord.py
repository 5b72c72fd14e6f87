"""hashedrekord 0.0.2: requests, canonical entries and DSSE envelopes logged over their PAE."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from helpers import link_envelope, pem

from atlas_intoto import dsse
from atlas_intoto.errors import EntryFormatError, EntrySignatureError, LogEntryMismatchError
from atlas_intoto.tlog.v2 import hashedrekord


def test_dsse_envelope_is_logged_over_its_pae(key: ec.EllipticCurvePrivateKey) -> None:
    envelope = link_envelope(key, "train")
    entry = hashedrekord.entry_for_envelope(envelope, pem(key))
    parsed = dsse.parse(envelope)
    assert entry.digest == hashlib.sha256(dsse.pae(parsed.payload_type, parsed.payload)).digest()
    assert entry.signature == parsed.signatures[0].sig
    assert entry.key_details == "PKIX_ECDSA_P256_SHA_256"
    # the server accepts exactly what the client proposes, and stores the canonical body
    accepted = hashedrekord.parse_request(json.loads(json.dumps(entry.request())))
    assert accepted == entry
    body = json.loads(entry.canonical_body())
    assert body["kind"] == "hashedrekord" and body["apiVersion"] == "0.0.2"
    assert body["spec"]["hashedRekordV002"]["data"]["algorithm"] == "SHA2_256"
    assert hashedrekord.parse_entry_body(entry.canonical_body()) == entry
    hashedrekord.match_envelope(entry, envelope)


def _request(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    return hashedrekord.dsse_request(link_envelope(key, "x"), pem(key))


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda r: r.update(extra=1), "unknown field"),
        (lambda r: r.pop("hashedRekordRequestV002"), "invalid type"),
        (lambda r: r["hashedRekordRequestV002"].update(digest="!!"), "base64"),
        (
            lambda r: r["hashedRekordRequestV002"].update(
                digest=base64.b64encode(b"x" * 31).decode()
            ),
            "digest",
        ),
        (
            lambda r: r["hashedRekordRequestV002"]["signature"]["verifier"].update(
                keyDetails="PKIX_ECDSA_P384_SHA_384"
            ),
            "does not match",
        ),
        (
            lambda r: r["hashedRekordRequestV002"]["signature"]["verifier"].update(
                keyDetails="PKIX_ED25519"
            ),
            "unsupported keyDetails",
        ),
        (
            lambda r: r["hashedRekordRequestV002"]["signature"]["verifier"].update(
                x509Certificate={"rawBytes": "AAAA"}
            ),
            "either",
        ),
        (
            lambda r: r["hashedRekordRequestV002"]["signature"]["verifier"]["publicKey"].update(
                rawBytes="AAAA"
            ),
            "DER",
        ),
    ],
)
def test_malformed_requests_are_refused(
    key: ec.EllipticCurvePrivateKey, mutate: Any, error: str
) -> None:
    request = copy.deepcopy(_request(key))
    mutate(request)
    with pytest.raises(EntryFormatError, match=error):
        hashedrekord.parse_request(request)


def test_a_signature_over_another_digest_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    request = _request(key)
    request["hashedRekordRequestV002"]["digest"] = base64.b64encode(b"\x01" * 32).decode()
    with pytest.raises(EntrySignatureError):
        hashedrekord.parse_request(request)


def test_ed25519_functionaries_cannot_use_rekor_v2() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    payload = b"{}"
    sig = key.sign(dsse.pae("application/vnd.in-toto+json", payload))
    envelope = json.dumps(
        {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}],
        }
    ).encode()
    with pytest.raises(EntryFormatError, match="ECDSA"):
        hashedrekord.entry_for_envelope(envelope, pem(key))


def test_entry_of_another_envelope_does_not_match(key: ec.EllipticCurvePrivateKey) -> None:
    entry = hashedrekord.entry_for_envelope(link_envelope(key, "a"), pem(key))
    with pytest.raises(LogEntryMismatchError, match="PAE"):
        hashedrekord.match_envelope(entry, link_envelope(key, "b"))


def test_non_canonical_bodies_are_refused(key: ec.EllipticCurvePrivateKey) -> None:
    entry = hashedrekord.entry_for_envelope(link_envelope(key, "a"), pem(key))
    spaced = json.dumps(entry.to_dict(), indent=1).encode()
    with pytest.raises(EntryFormatError, match="canonical"):
        hashedrekord.parse_entry_body(spaced)


def _self_signed(key: ec.EllipticCurvePrivateKey) -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trainer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_a_certificate_becomes_the_entry_verifier(key: ec.EllipticCurvePrivateKey) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    envelope = link_envelope(key, "train")
    cert_pem = _self_signed(key)
    entry = hashedrekord.entry_for_envelope(envelope, cert_pem)
    assert entry.verifier_kind == "x509Certificate"
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    assert entry.verifier_der == der
    # the server accepts it, and the verifier's match holds with the certificate's key
    assert hashedrekord.parse_request(json.loads(json.dumps(entry.request()))) == entry
    hashedrekord.match_envelope(entry, envelope)


def test_a_malformed_certificate_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(EntryFormatError, match="certificate"):
        hashedrekord.entry_for_envelope(link_envelope(key, "train"), garbage)


def test_a_certificate_of_another_key_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(EntrySignatureError):
        hashedrekord.entry_for_envelope(link_envelope(key, "train"), _self_signed(other))

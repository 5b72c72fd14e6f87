"""The CA's Fulcio v2 API on loopback: certificates for valid requests (public key + proof of
possession, or a CSR), 4xx JSON errors for every bad one, the trust bundle, JWKS by URL."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import ThreadedServer

from atlas_intoto.ca.client import request_certificate
from atlas_intoto.ca.keys import create_authority
from atlas_intoto.ca.oidc_dev import DevIssuer, create_issuer_app
from atlas_intoto.ca.server import MAX_BODY, JwksSource, create_ca_app
from atlas_intoto.errors import KeylessSigningError

DEV = DevIssuer()
EMAIL = "alice@example.com"
CA = create_authority()


def _token(**kw: Any) -> str:
    claims = {"email": EMAIL, "email_verified": True}
    return DEV.mint_token(subject="alice", claims=claims, **kw)


@pytest.fixture
def ca_url() -> Iterator[str]:
    config = DEV.config("email")
    issuers = {DEV.url: config}
    app = create_ca_app(CA, issuers=issuers, jwks=JwksSource(issuers, inline={DEV.url: DEV.jwks()}))
    with ThreadedServer(app) as server:
        yield server.url


def _pop_body(key: ec.EllipticCurvePrivateKey, token: str, signed: bytes) -> dict[str, Any]:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    proof = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    return {
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": pem.decode()},
            "proofOfPossession": base64.b64encode(proof).decode(),
        },
    }


def _post(url: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{url}/api/v2/signingCert", content=content, headers=headers)


def test_public_key_request_with_proof_of_possession(ca_url: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    response = _post(ca_url, _pop_body(key, _token(), EMAIL.encode()))
    assert response.status_code == 201, response.text
    pems = response.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    leaf, intermediate, root = (x509.load_pem_x509_certificate(p.encode()) for p in pems)
    assert leaf.public_key() == key.public_key()
    assert (intermediate, root) == CA.chain
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == [EMAIL]


def test_csr_with_bearer_token_via_our_client(ca_url: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    chain = request_certificate(ca_url, _token(), key)
    assert chain[0].public_key() == key.public_key() and len(chain) == 3


@pytest.mark.parametrize(
    ("make", "status", "match"),
    [
        (lambda k: b"{not json", 400, "not JSON"),
        (lambda k: b"[]", 400, "object"),
        (lambda k: {"credentials": {"oidcIdentityToken": _token()}}, 400, "publicKeyRequest"),
        (lambda k: _pop_body(k, _token(), b"someone else"), 400, "proofOfPossession"),
        (lambda k: _pop_body(k, "garbage", EMAIL.encode()), 401, "JWT"),
        (lambda k: _pop_body(k, _token(now=1_000_000), EMAIL.encode()), 401, "expired"),
        (
            lambda k: _pop_body(k, DEV.mint_token(subject="x", issuer="https://evil"), b"x"),
            401,
            "not trusted",
        ),
        (lambda k: {"publicKeyRequest": {}}, 401, "identity token"),
        (
            lambda k: {
                "credentials": {"oidcIdentityToken": _token()},
                "publicKeyRequest": {
                    "publicKey": {"content": "not a key"},
                    "proofOfPossession": "AAAA",
                },
            },
            400,
            "not a public key",
        ),
        (
            lambda k: {
                "credentials": {"oidcIdentityToken": _token()},
                "certificateSigningRequest": "%%%",
            },
            400,
            "base64",
        ),
        (lambda k: b"x" * (MAX_BODY + 1), 413, "larger"),
    ],
    ids=[
        "malformed-json",
        "not-object",
        "no-key",
        "bad-pop",
        "bad-token",
        "expired",
        "unknown-issuer",
        "no-token",
        "bad-key",
        "bad-csr",
        "too-large",
    ],
)
def test_bad_requests_get_4xx_json(ca_url: str, make: Any, status: int, match: str) -> None:
    response = _post(ca_url, make(ec.generate_private_key(ec.SECP256R1())))
    assert response.status_code == status
    doc = response.json()
    assert doc["code"] == status and match in doc["message"]


def test_csr_with_a_broken_signature_is_refused(ca_url: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 1  # inside the signature
    body = {"certificateSigningRequest": base64.b64encode(bytes(der)).decode()}
    response = _post(ca_url, body, Authorization=f"Bearer {_token()}")
    assert response.status_code in (400,)
    assert "certificateSigningRequest" in response.json()["message"]


def test_our_client_reports_refusals(ca_url: str) -> None:
    with pytest.raises(KeylessSigningError, match="HTTP 401"):
        request_certificate(ca_url, "garbage", ec.generate_private_key(ec.SECP256R1()))


def test_trust_bundle(ca_url: str) -> None:
    doc = httpx.get(f"{ca_url}/api/v2/trustBundle").json()
    chain = [x509.load_pem_x509_certificate(p.encode()) for p in doc["chains"][0]["certificates"]]
    assert tuple(chain) == CA.chain


def test_jwks_by_url_from_a_loopback_issuer(tmp_path: Path) -> None:
    with ThreadedServer(create_issuer_app(DEV)) as issuer_server:
        issuer = DevIssuer(url=issuer_server.url)
        config = issuer.config("email", jwks_url=f"{issuer_server.url}/jwks")
        issuers = {issuer.url: config}
        app = create_ca_app(CA, issuers=issuers, jwks=JwksSource(issuers))
        with ThreadedServer(app) as server:
            token = issuer.mint_token(
                subject="bob", claims={"email": "bob@example.com", "email_verified": True}
            )
            chain = request_certificate(server.url, token, ec.generate_private_key(ec.SECP256R1()))
            assert chain[0].extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            ).value.get_values_for_type(x509.RFC822Name) == ["bob@example.com"]


def test_arbitrary_request_shapes_never_get_a_5xx(ca_url: str) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    values = st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )
    keys = st.sampled_from(
        [
            "credentials",
            "publicKeyRequest",
            "certificateSigningRequest",
            "oidcIdentityToken",
            "publicKey",
            "content",
            "proofOfPossession",
        ]
    )
    bodies = st.dictionaries(keys, values, max_size=3)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(bodies)
    def check(body: dict[str, Any]) -> None:
        response = _post(ca_url, body, Authorization=f"Bearer {_token()}")
        assert 400 <= response.status_code < 500, response.text
        assert "message" in response.json()

    check()


def test_a_weak_key_in_a_valid_csr_is_refused(ca_url: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(weak, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM)
    body = {"certificateSigningRequest": base64.b64encode(pem).decode()}
    response = _post(ca_url, body, Authorization=f"Bearer {_token()}")
    assert response.status_code == 400 and "publicKey" in response.json()["message"]

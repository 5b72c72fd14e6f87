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


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        [part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)]
    )


def _claims(**over: Any) -> dict[str, Any]:
    import time

    now = int(time.time())
    claims = {
        "iss": DEV.url,
        "sub": "alice",
        "aud": "sigstore",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "email": EMAIL,
        "email_verified": True,
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _hs256_with_public_key() -> str:
    import hmac

    import jwt

    public = DEV.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "atlas-intoto-dev-1"}
    unsigned = _unsigned(header, _claims()).rsplit(".", 1)[0]
    mac = hmac.new(public, unsigned.encode(), "sha256").digest()
    token = unsigned + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    return token


def _es256(claims: dict[str, Any], **headers: Any) -> str:
    import jwt

    return jwt.encode(claims, DEV.key, algorithm="ES256", headers=headers or None)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: _unsigned({"alg": "none", "typ": "JWT"}, _claims()), "alg"),
        (_hs256_with_public_key, "alg"),
        (lambda: _es256(_claims(), kid="another-key"), "key"),
        (lambda: _es256(_claims(exp=1_000_000, iat=999_000, nbf=999_000)), "expired"),
        (lambda: _es256(_claims(nbf=4_000_000_000)), "not valid yet"),
        (lambda: _es256(_claims(aud="atlas-intoto")), "(?i)audience"),
        (lambda: _es256(_claims(email_verified=None)), "email_verified"),
        (lambda: _es256(_claims(email_verified="true")), "email_verified"),
        (lambda: _es256(_claims(sub=None)), "sub"),
        (lambda: _unsigned({"alg": "ES256"}, {"iss": 5}), "iss"),
    ],
    ids=[
        "alg-none",
        "hs256-public-key-as-secret",
        "kid-unknown",
        "expired",
        "nbf-future",
        "wrong-aud",
        "no-email-verified",
        "email-verified-string",
        "no-sub",
        "iss-not-a-string",
    ],
)
def test_forged_or_unfit_tokens_get_401_json_and_no_certificate(
    ca_url: str, make: Any, match: str
) -> None:
    import re

    key = ec.generate_private_key(ec.SECP256R1())
    response = _post(ca_url, _pop_body(key, make(), EMAIL.encode()))
    assert response.status_code == 401, response.text
    doc = response.json()
    assert doc["code"] == 401 and re.search(match, doc["message"]), doc
    assert "signedCertificateEmbeddedSct" not in doc


@pytest.mark.parametrize(
    ("body", "headers", "status", "match"),
    [
        (b"[" * 60_000, {}, 400, "nested too deeply"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, {}, 400, "nested too deeply"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "Content-Type"),
        (b"a=b", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "Content-Type"),
        (b'{"a": "\xff"}', {}, 400, "not JSON"),
    ],
    ids=["deep-array", "deep-object", "text-plain", "form", "not-utf8"],
)
def test_malformed_bodies_get_4xx_json(
    ca_url: str, body: bytes, headers: dict[str, str], status: int, match: str
) -> None:
    response = _post(ca_url, body, **headers)
    assert response.status_code == status, response.text
    assert response.json()["code"] == status and match in response.json()["message"]


def test_unknown_paths_and_methods_get_json(ca_url: str) -> None:
    for response, status in (
        (httpx.get(f"{ca_url}/api/v2/signingCert"), 405),
        (httpx.post(f"{ca_url}/api/v2/trustBundle"), 405),
        (httpx.get(f"{ca_url}/api/v1/nope"), 404),
    ):
        assert response.status_code == status
        assert response.json()["code"] == status


def test_a_jwks_url_serving_junk_is_a_503_not_a_500() -> None:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def junk(request: Any) -> Response:
        return Response(b"<html>not a jwks</html>", media_type="text/html")

    with ThreadedServer(Starlette(routes=[Route("/jwks", junk)])) as issuer_server:
        issuer = DevIssuer(url=issuer_server.url)
        config = issuer.config("email", jwks_url=f"{issuer_server.url}/jwks")
        issuers = {issuer.url: config}
        with ThreadedServer(create_ca_app(CA, issuers=issuers, jwks=JwksSource(issuers))) as ca:
            token = issuer.mint_token(
                subject="bob", claims={"email": "bob@example.com", "email_verified": True}
            )
            key = ec.generate_private_key(ec.SECP256R1())
            response = _post(ca.url, _pop_body(key, token, b"bob@example.com"))
            assert response.status_code == 503
            assert "JWKS" in response.json()["message"]


def test_bad_requests_under_concurrency_never_get_a_certificate(
    ca_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    good_token = _token()
    bad_tokens = [_hs256_with_public_key(), _unsigned({"alg": "none"}, _claims())]

    def attempt(index: int) -> tuple[bool, int]:
        key = ec.generate_private_key(ec.SECP256R1())
        if index % 3 == 0:
            response = _post(ca_url, _pop_body(key, good_token, EMAIL.encode()))
            return True, response.status_code
        token = bad_tokens[index % 2]
        response = _post(ca_url, _pop_body(key, token, EMAIL.encode()))
        return False, response.status_code

    with caplog.at_level("DEBUG"), ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(48)))
    assert all(status == 201 for good, status in results if good)
    assert all(status == 401 for good, status in results if not good)
    # tokens never reach a log line
    for token in (good_token, *bad_tokens):
        assert token.split(".")[1] not in caplog.text


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: ec.generate_private_key(ec.SECP256K1()),
        lambda: ec.generate_private_key(ec.SECP224R1()),
        lambda: __import__(
            "cryptography.hazmat.primitives.asymmetric.dsa", fromlist=["dsa"]
        ).generate_private_key(2048),
        lambda: __import__(
            "cryptography.hazmat.primitives.asymmetric.ed448", fromlist=["ed448"]
        ).Ed448PrivateKey.generate(),
    ],
    ids=["secp256k1", "p224", "dsa", "ed448"],
)
def test_unsupported_keys_in_a_valid_csr_are_400(ca_url: str, make_key: Any) -> None:
    key = make_key()
    algorithm = None if "ed448" in type(key).__module__ else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, algorithm)
    pem = csr.public_bytes(serialization.Encoding.PEM)
    body = {"certificateSigningRequest": base64.b64encode(pem).decode()}
    response = _post(ca_url, body, Authorization=f"Bearer {_token()}")
    assert response.status_code == 400, response.text
    assert "signedCertificateEmbeddedSct" not in response.json()


def test_a_body_token_of_another_identity_than_the_bearer_is_refused(ca_url: str) -> None:
    # behind `ca serve --auth` the guard admits the bearer's identity: the body must not
    # smuggle another identity's token past it
    key = ec.generate_private_key(ec.SECP256R1())
    admitted = DEV.mint_token(
        subject="bob", claims={"email": "bob@example.com", "email_verified": True}
    )
    body = _pop_body(key, _token(), EMAIL.encode())
    response = _post(ca_url, body, Authorization=f"Bearer {admitted}")
    assert response.status_code == 400
    assert "Authorization" in response.json()["message"]
    same = _post(ca_url, body, Authorization=f"Bearer {body['credentials']['oidcIdentityToken']}")
    assert same.status_code == 201

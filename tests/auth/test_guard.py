"""Who may read and write: tokens (hashed, scoped, revoked), OIDC identities, 401 vs 403."""

from __future__ import annotations

from pathlib import Path

import pytest
from auth_helpers import (
    AUDIENCE,
    READ_TOKEN,
    REVOKED_TOKEN,
    ROGUE_KEY,
    WRITE_TOKEN,
    id_token,
    write_config,
)

from atlas_intoto.auth import Guard, scope_of
from atlas_intoto.errors import AuthRejectedError


@pytest.fixture
def guard(tmp_path: Path) -> Guard:
    return Guard.from_file(write_config(tmp_path))


def _status(guard: Guard, authorization: str | None, scope: str) -> int:
    try:
        guard.authorize(authorization, scope)
    except AuthRejectedError as exc:
        assert WRITE_TOKEN not in str(exc) and READ_TOKEN not in str(exc)
        return exc.status
    return 200


def test_scopes_of_requests() -> None:
    assert scope_of("GET", "/api/v1/log/entries/x") == "read"
    assert scope_of("POST", "/api/v1/log/entries/retrieve") == "read"
    assert scope_of("POST", "/api/v1/index/retrieve") == "read"
    for path in ("/api/v1/log/entries", "/api/v2/log/entries", "/api/v1/timestamp", "/new"):
        assert scope_of("POST", path) == "write"
    assert scope_of("DELETE", "/api/v1/log") == "write"


def test_tokens(guard: Guard) -> None:
    assert guard.authorize(f"Bearer {WRITE_TOKEN}", "write").name == "token:ci"
    assert _status(guard, None, "write") == 401
    assert _status(guard, "Bearer wrong-token", "write") == 401
    assert _status(guard, f"Basic {WRITE_TOKEN}", "write") == 401
    assert _status(guard, "Bearer ", "write") == 401
    assert _status(guard, f"Bearer {REVOKED_TOKEN}", "write") == 403
    assert _status(guard, f"Bearer {READ_TOKEN}", "write") == 403
    # Public reads: anyone, whatever the header says.
    assert guard.authorize(None, "read").name == "anonymous"


def test_token_reads(tmp_path: Path) -> None:
    guard = Guard.from_file(write_config(tmp_path, reads="token"))
    assert _status(guard, None, "read") == 401
    assert guard.authorize(f"Bearer {READ_TOKEN}", "read").name == "token:reader"
    assert guard.authorize(f"bearer  {WRITE_TOKEN} ", "read").name == "token:ci"  # write ⇒ read
    assert _status(guard, f"Bearer {REVOKED_TOKEN}", "read") == 403


def test_oidc_identities(tmp_path: Path) -> None:
    guard = Guard.from_file(write_config(tmp_path, reads="token"))
    assert guard.authorize(f"Bearer {id_token()}", "write").name == "oidc:main"
    # Another branch matches only the read pattern.
    feature = id_token(subject="repo:org/app:ref:refs/heads/feature")
    assert guard.authorize(f"Bearer {feature}", "read").name == "oidc:any-branch"
    assert _status(guard, f"Bearer {feature}", "write") == 403
    assert _status(guard, f"Bearer {id_token(subject='repo:evil/app:ref:x')}", "write") == 403
    assert (
        _status(guard, f"Bearer {id_token(subject='repo:org/old:ref:refs/heads/main')}", "write")
        == 403
    )


@pytest.mark.parametrize(
    "token",
    [
        id_token(key=ROGUE_KEY),  # signed by a key not in the issuer's JWKS
        id_token(issuer="https://other.test"),
        id_token(audience="sigstore"),
        id_token(expires_in=-3600),
        id_token()[:-4] + "AAAA",  # signature tampered
        "not.a.jwt",
    ],
    ids=["rogue-key", "other-issuer", "wrong-audience", "expired", "tampered", "garbage"],
)
def test_bad_id_tokens_are_401(guard: Guard, token: str) -> None:
    assert _status(guard, f"Bearer {token}", "write") == 401


def test_audience_constant() -> None:
    assert AUDIENCE == "atlas-intoto"


def test_an_algorithm_the_key_was_not_made_for_is_401_not_a_crash(guard: Guard) -> None:
    import time

    import jwt
    from auth_helpers import ISSUER, KID, SUBJECT
    from cryptography.hazmat.primitives.asymmetric import rsa

    # RS256 is an allowed algorithm, but the issuer's key for this kid is an EC key
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": SUBJECT, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": KID})
    assert _status(guard, f"Bearer {token}", "write") == 401


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (f"bearer {WRITE_TOKEN}", 200),
        (f"BEARER {WRITE_TOKEN}", 200),
        (f"Bearer   {WRITE_TOKEN}  ", 200),
        (f"Bearer\t{WRITE_TOKEN}", 401),
        (f"Basic {WRITE_TOKEN}", 401),
        ("Bearer", 401),
        ("Bearer ", 401),
        ("Bearer \u00e9\u00e9", 401),
        (f"Bearer {WRITE_TOKEN}\u00e9", 401),
    ],
)
def test_authorization_header_forms(guard: Guard, header: str, status: int) -> None:
    assert _status(guard, header, "write") == status


def test_a_revoked_grant_of_the_same_token_wins(tmp_path: Path) -> None:
    from atlas_intoto.auth.config import AuthConfig, TokenGrant, hash_token

    digest = hash_token(WRITE_TOKEN)
    grants = [
        TokenGrant(name="old", algorithm="sha256", digest=digest, scopes=("write",), revoked=True),
        TokenGrant(name="new", algorithm="sha256", digest=digest, scopes=("write",)),
    ]
    for order in (grants, grants[::-1]):
        guard = Guard(AuthConfig(tokens=tuple(order)))
        assert _status(guard, f"Bearer {WRITE_TOKEN}", "write") == 403


def test_several_authorization_headers_are_refused(guard: Guard) -> None:
    import asyncio

    from atlas_intoto.auth import protect

    reached: list[bool] = []

    async def app(scope: object, receive: object, send: object) -> None:
        reached.append(True)

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/log/entries",
        "headers": [
            (b"authorization", f"Bearer {READ_TOKEN}".encode()),
            (b"authorization", f"Bearer {WRITE_TOKEN}".encode()),
        ],
    }
    asyncio.run(protect(app, guard)(scope, receive, send))  # type: ignore[arg-type]
    assert not reached
    assert sent[0]["status"] == 401
    assert b"more than one" in sent[1]["body"]  # type: ignore[operator]

"""A local OIDC issuer (a fixed test key, its JWKS) and auth configs for the auth tests."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from atlas_intoto.auth.config import hash_token

ISSUER = "https://oidc.test"
AUDIENCE = "atlas-intoto"
SUBJECT = "repo:org/app:ref:refs/heads/main"
# Fixed keys (P-256 scalars): the issuer's, and one nobody trusts.
ISSUER_KEY = ec.derive_private_key(0x01DC_0001, ec.SECP256R1())
ROGUE_KEY = ec.derive_private_key(0x01DC_0666, ec.SECP256R1())
KID = "test-1"

WRITE_TOKEN = "atlas-write-3f1c9e"
READ_TOKEN = "atlas-read-77ab02"
REVOKED_TOKEN = "atlas-old-0d0d0d"


def jwks() -> dict[str, Any]:
    doc = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ISSUER_KEY.public_key()))
    return {"keys": [{**doc, "kid": KID, "use": "sig", "alg": "ES256"}]}


def id_token(
    *,
    subject: str = SUBJECT,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    key: ec.EllipticCurvePrivateKey = ISSUER_KEY,
    expires_in: int = 600,
) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "sub": subject, "aud": audience, "iat": now, "exp": now + expires_in}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": KID})


def config_doc(*, reads: str = "public") -> dict[str, Any]:
    return {
        "version": 1,
        "reads": reads,
        "tokens": [
            {"name": "ci", "sha256": hash_token(WRITE_TOKEN), "scopes": ["write"]},
            {"name": "reader", "sha512": hash_token(READ_TOKEN, "sha512"), "scopes": ["read"]},
            {
                "name": "old-ci",
                "sha256": hash_token(REVOKED_TOKEN),
                "scopes": ["write"],
                "revoked": True,
            },
        ],
        "oidc": {
            "issuers": [{"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": "jwks.json"}],
            "identities": [
                {"name": "main", "issuer": ISSUER, "subject": SUBJECT, "scopes": ["write"]},
                {
                    "name": "any-branch",
                    "issuer": ISSUER,
                    "subject_pattern": "repo:org/app:ref:refs/heads/.+",
                    "scopes": ["read"],
                },
                {
                    "name": "gone",
                    "issuer": ISSUER,
                    "subject": "repo:org/old:ref:refs/heads/main",
                    "scopes": ["write"],
                    "revoked": True,
                },
            ],
        },
    }


def write_config(directory: Path, *, reads: str = "public") -> Path:
    """``auth.yaml`` (JSON is YAML) and ``jwks.json`` in ``directory``."""
    (directory / "jwks.json").write_text(json.dumps(jwks()))
    path = directory / "auth.yaml"
    path.write_text(json.dumps(config_doc(reads=reads), indent=2))
    return path

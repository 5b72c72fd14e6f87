"""A local OIDC issuer for tests and the demo (loopback only): a fixed test key, its JWKS and
``mint_token``. Its tokens prove nothing — the key is public — so a CA must only trust it in
tests and demos (``ca serve --dev-issuer``).

Optionally served over HTTP (:func:`create_issuer_app`: ``/.well-known/openid-configuration``
and ``/jwks``) so the CA can fetch the JWKS by URL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from atlas_intoto.ca.oidc import AUDIENCE, IssuerConfig

__all__ = ["DEV_ISSUER_URL", "DevIssuer", "create_issuer_app"]

#: The issuer URL the demo and tests use unless they serve the issuer over HTTP.
DEV_ISSUER_URL = "https://oidc.atlas-intoto.invalid"
# A fixed, published scalar: tests and demos get the same JWKS on every machine. Never secret.
_TEST_SCALAR = int.from_bytes(b"atlas-intoto local OIDC test key, not a secret", "big") % (2**255)
_KID = "atlas-intoto-dev-1"


def _test_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(_TEST_SCALAR, ec.SECP256R1())


@dataclass(frozen=True, kw_only=True)
class DevIssuer:
    """The local issuer: ``url`` (its ``iss``) and its signing key (the fixed test key)."""

    url: str = DEV_ISSUER_URL
    key: ec.EllipticCurvePrivateKey = field(default_factory=_test_key)

    def jwks(self) -> dict[str, Any]:
        """The issuer's JWKS document (one ES256 key)."""
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [jwk | {"kid": _KID, "alg": "ES256", "use": "sig"}]}

    def config(self, type: str = "email", **extra: str) -> IssuerConfig:
        """An :class:`IssuerConfig` trusting this issuer as ``type`` (the JWKS served at
        ``jwks_url`` or kept in ``jwks_file`` given in ``extra``; default: a file name the
        caller writes :meth:`jwks` to)."""
        if "jwks_url" not in extra and "jwks_file" not in extra:
            extra["jwks_file"] = "dev-issuer.jwks.json"
        return IssuerConfig(url=self.url, type=type, **extra)

    def mint_token(
        self,
        *,
        subject: str,
        issuer: str | None = None,
        claims: Mapping[str, Any] | None = None,
        audience: str = AUDIENCE,
        lifetime: int = 600,
        now: float | None = None,
    ) -> str:
        """A signed identity token for ``subject`` (``iss`` = ``issuer`` or this issuer's
        URL; ``claims`` added or overriding; valid ``lifetime`` seconds from ``now``)."""
        issued = int(time.time() if now is None else now)
        body: dict[str, Any] = {
            "iss": issuer or self.url,
            "sub": subject,
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "jti": str(uuid.uuid4()),
        }
        body.update(claims or {})
        return jwt.encode(body, self.key, algorithm="ES256", headers={"kid": _KID})


def create_issuer_app(issuer: DevIssuer) -> Starlette:
    """The issuer's discovery document and JWKS over HTTP (serve it on 127.0.0.1 only)."""

    async def discovery(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": issuer.url,
                "jwks_uri": f"{issuer.url.rstrip('/')}/jwks",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
            }
        )

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(issuer.jwks())

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
            Route("/jwks", jwks, methods=["GET"]),
        ]
    )

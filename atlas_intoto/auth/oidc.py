"""Verifying an OIDC ID token presented as a bearer token, with PyJWT, against the issuer's
keys (a JWKS file read at start-up, or the issuer's JWKS URL fetched and cached by PyJWT)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_intoto.auth.config import Issuer
from atlas_intoto.errors import AuthConfigError, AuthRejectedError

__all__ = ["IdentityClaims", "IdentityTokenVerifier", "looks_like_jwt"]

#: Clock skew tolerated on exp/nbf/iat, in seconds (CI runners' clocks drift a little).
LEEWAY = 60


@dataclass(frozen=True, kw_only=True)
class IdentityClaims:
    """The verified identity of an ID token."""

    issuer: str
    subject: str


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts: a JWS compact serialisation (worth trying as an ID token)."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts[:2])


def _rejected(reason: str) -> AuthRejectedError:
    # Never the token itself: only why it was refused.
    return AuthRejectedError(f"Authorization: identity token rejected ({reason})", status=401)


class IdentityTokenVerifier:
    """Verifies ID tokens of the configured issuers.

    Steps of :meth:`verify`: 1. read the (unverified) ``iss`` only to pick the configured
    issuer; 2. find the signing key by ``kid`` in that issuer's JWKS; 3. verify the signature
    with the issuer's allowed algorithms, the audience, the issuer, and exp/nbf/iat (with
    :data:`LEEWAY`); ``sub`` is required."""

    def __init__(self, issuers: Sequence[Issuer]) -> None:
        self._issuers = {issuer.issuer: issuer for issuer in issuers}
        self._keys: dict[str, Any] = {}
        for issuer in issuers:
            self._keys[issuer.issuer] = _key_source(issuer)

    def verify(self, token: str) -> IdentityClaims:
        import jwt

        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise _rejected("not a JWT") from exc
        issuer = self._issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise _rejected("issuer not accepted")
        try:
            key = self._signing_key(issuer, token)
            claims = jwt.decode(
                token,
                key,
                algorithms=list(issuer.algorithms),
                audience=issuer.audience,
                issuer=issuer.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise _rejected(type(exc).__name__) from exc
        except (TypeError, ValueError) as exc:
            # a key PyJWT cannot use with the header's algorithm: refused, never a 500
            raise _rejected("unusable key for the token's algorithm") from exc
        return IdentityClaims(issuer=issuer.issuer, subject=str(claims["sub"]))

    def _signing_key(self, issuer: Issuer, token: str) -> Any:
        import jwt

        source = self._keys[issuer.issuer]
        if isinstance(source, jwt.PyJWKClient):
            return source.get_signing_key_from_jwt(token)
        kid = jwt.get_unverified_header(token).get("kid")
        keys = [k for k in source.keys if kid is None or k.key_id == kid]
        if len(keys) != 1:
            raise jwt.InvalidKeyError("no single key in the issuer's JWKS for this kid")
        # the PyJWK, not its bare key: PyJWT then verifies with the JWK's own algorithm and
        # refuses a header naming another (algorithm confusion)
        return keys[0]


def _key_source(issuer: Issuer) -> Any:
    """A PyJWKSet from the JWKS file (read now), or a caching PyJWKClient for the URL."""
    import jwt

    if issuer.jwks_url is not None:
        return jwt.PyJWKClient(issuer.jwks_url, cache_keys=True, lifespan=300, timeout=10)
    assert issuer.jwks_file is not None
    path = Path(issuer.jwks_file)
    try:
        doc: Mapping[str, Any] = json.loads(path.read_bytes())
        return jwt.PyJWKSet.from_dict(dict(doc))
    except OSError as exc:
        raise AuthConfigError(f"{path}: cannot read the JWKS ({exc.strerror})") from exc
    except (ValueError, jwt.PyJWTError) as exc:
        raise AuthConfigError(f"{path}: not a JWKS ({exc})") from exc

"""Deciding who may read or write, and the ASGI middleware every server of ours wraps with it.

:class:`Guard` answers one question — may the caller with this ``Authorization`` header do a
``read`` or a ``write``? — from an :class:`~atlas_intoto.auth.config.AuthConfig`. 401 means no
valid credential (missing, malformed, unknown token, an ID token that does not verify); 403 a
valid credential that may not do this (revoked, wrong scope, identity not allowed). Errors
never hold the credential, and nothing here logs it.

:func:`protect` wraps any ASGI app (``log serve``, ``tsa serve``, ``ca serve``): requests that
change state (any method but GET/HEAD/OPTIONS, except the log's search POSTs) are writes.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_intoto.auth.config import (
    READ,
    WRITE,
    AuthConfig,
    TokenGrant,
    hash_token,
    load_auth_config,
)
from atlas_intoto.auth.oidc import IdentityTokenVerifier, looks_like_jwt
from atlas_intoto.errors import AuthRejectedError

__all__ = [
    "ANONYMOUS",
    "READ_POSTS",
    "Guard",
    "Principal",
    "protect",
    "rejection_body",
    "scope_of",
]

#: POST endpoints that only read (Rekor v1's searches): everything else but GET/HEAD/OPTIONS
#: writes, so an endpoint added later is protected unless it is listed here.
READ_POSTS = frozenset(
    {"/api/v1/log/entries/retrieve", "/api/v1/log/entries/retrieve/", "/api/v1/index/retrieve"}
)
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, kw_only=True)
class Principal:
    """An authorised caller: a name safe to log, and the service policies it may use."""

    name: str
    policies: tuple[str, ...] = ("*",)


ANONYMOUS = Principal(name="anonymous")


def scope_of(method: str, path: str) -> str:
    """``read`` or ``write`` for a request (fail closed: unknown POSTs write)."""
    if method.upper() in _READ_METHODS or path in READ_POSTS:
        return READ
    return WRITE


def _bearer(authorization: str) -> str:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthRejectedError("Authorization: expected 'Bearer <token>'", status=401)
    return value.strip()


class Guard:
    """Authorisation from an auth config (module docstring)."""

    def __init__(self, config: AuthConfig, verifier: IdentityTokenVerifier | None = None) -> None:
        self.config = config
        if verifier is None and config.issuers:
            verifier = IdentityTokenVerifier(config.issuers)
        self._verifier = verifier

    @classmethod
    def from_file(cls, path: Path) -> Guard:
        """Load ``--auth FILE`` (and the JWKS files it names)."""
        return cls(load_auth_config(path))

    @property
    def fetches_keys(self) -> bool:
        """Whether verifying may fetch an issuer's JWKS over the network (run it off-loop)."""
        return any(issuer.jwks_url is not None for issuer in self.config.issuers)

    def authorize(self, authorization: str | None, scope: str) -> Principal:
        """The caller, if it may do ``scope``; else :class:`AuthRejectedError` (401/403).

        Steps: 1. a read with public reads: anyone; 2. no header: 401; 3. not a bearer: 401;
        4. a configured token (its hash compared with every grant in constant time): revoked
        or without the scope is 403; 5. an ID token of a configured issuer that verifies:
        403 unless an identity grant (not revoked, with the scope) matches issuer + subject;
        6. anything else: 401."""
        if scope == READ and self.config.public_reads:
            return ANONYMOUS
        if authorization is None:
            raise AuthRejectedError("Authorization: a bearer token is required", status=401)
        token = _bearer(authorization)
        grant = self._token_grant(token)
        if grant is not None:
            if grant.revoked:
                raise AuthRejectedError(f"token {grant.name}: revoked", status=403)
            if not grant.allows(scope):
                raise AuthRejectedError(f"token {grant.name}: may not {scope}", status=403)
            return Principal(name=f"token:{grant.name}", policies=grant.policies)
        if self._verifier is not None and looks_like_jwt(token):
            return self._identity(token, scope)
        raise AuthRejectedError("Authorization: unknown token", status=401)

    def _token_grant(self, token: str) -> TokenGrant | None:
        digests = {alg: hash_token(token, alg) for alg in {t.algorithm for t in self.config.tokens}}
        found = None
        for grant in self.config.tokens:
            # Compare with every grant (constant time each): no early exit that times the match.
            if hmac.compare_digest(grant.digest, digests[grant.algorithm]) and (
                found is None or not found.revoked
            ):
                found = grant  # a revoked grant of the same token wins (fail closed)
        return found

    def _identity(self, token: str, scope: str) -> Principal:
        assert self._verifier is not None
        claims = self._verifier.verify(token)
        grants = [g for g in self.config.identities if g.matches(claims.issuer, claims.subject)]
        who = f"identity {claims.subject} of {claims.issuer}"
        if not grants:
            raise AuthRejectedError(f"{who}: not allowed", status=403)
        usable = [g for g in grants if not g.revoked]
        if not usable:
            raise AuthRejectedError(f"{who}: revoked", status=403)
        allowed = [g for g in usable if g.allows(scope)]
        if not allowed:
            raise AuthRejectedError(f"{who}: may not {scope}", status=403)
        policies = tuple(p for g in allowed for p in g.policies)
        return Principal(name=f"oidc:{allowed[0].name}", policies=policies)


def rejection_body(exc: AuthRejectedError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, JSON body (``{"code", "message"}``, as Rekor's errors) and headers of a refusal."""
    body = json.dumps({"code": exc.status, "message": str(exc)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if exc.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="atlas-intoto"'))
    return exc.status, body, headers


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def protect(app: App, guard: Guard) -> App:
    """``app`` behind ``guard``: refused requests get a 401/403 JSON answer and never reach the
    app; an allowed one carries its :class:`Principal` in ``scope["state"]["principal"]``."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        values = [v for n, v in scope.get("headers", ()) if n == b"authorization"]
        authorization = values[0].decode("latin-1") if values else None
        wanted = scope_of(scope["method"], scope["path"])
        try:
            if len(values) > 1:
                # which one a proxy in front checked is unknowable: refuse, never pick one
                raise AuthRejectedError("Authorization: more than one header", status=401)
            if guard.fetches_keys and authorization is not None:
                import anyio.to_thread

                principal = await anyio.to_thread.run_sync(guard.authorize, authorization, wanted)
            else:
                principal = guard.authorize(authorization, wanted)
        except AuthRejectedError as exc:
            status, body, headers = rejection_body(exc)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["principal"] = principal
        await app(scope, receive, send)

    return guarded

"""Who is asking, and which policies they may use: bearer tokens or mTLS client certificates.

Tokens are compared by their SHA-256 only (the config never holds a token), in constant time.
With ``mtls`` configured the service only accepts TLS connections presenting a certificate
issued by the configured CA (uvicorn enforces it), so a request that arrived over TLS carries a
verified client identity and may use ``mtls.policies``. A token's policies add to those.
Nothing secret is logged: errors name the header, never its value.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from atlas_intoto.errors import ServiceAuthError
from atlas_intoto.service.config import ServiceConfig, hash_token


@dataclass(frozen=True, kw_only=True)
class Principal:
    """An authenticated caller: a name for logs and metrics, and the policies it may use."""

    name: str
    policies: tuple[str, ...]

    def allows(self, policy: str) -> bool:
        return "*" in self.policies or policy in self.policies

    def require(self, policy: str) -> None:
        """403 unless this caller may use ``policy``."""
        if not self.allows(policy):
            raise ServiceAuthError(f"{self.name}: not allowed to use policy {policy!r}", status=403)


ANONYMOUS = Principal(name="anonymous", policies=("*",))


def _token_principal(config: ServiceConfig, authorization: str) -> Principal | None:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ServiceAuthError("Authorization: expected 'Bearer <token>'", status=401)
    digest = hash_token(value.strip())
    found = None
    for token in config.tokens:
        # Compare every token (constant time each): no early exit that times the match.
        if hmac.compare_digest(token.sha256, digest):
            found = token
    if found is None:
        return None
    return Principal(name=f"token:{found.name}", policies=found.policies)


def _guarded(
    config: ServiceConfig, authorization: str | None, client_certificate: bool
) -> Principal:
    """The caller under the shared auth config (``auth:``): verifying only reads, so a grant
    needs the read scope (or write) unless its reads are public; its policies apply."""
    from atlas_intoto.auth.config import READ

    if authorization is None and client_certificate and config.mtls_ca is not None:
        return Principal(name="mtls", policies=config.mtls_policies)
    granted = config.auth.authorize(authorization, READ)  # AuthRejectedError: 401/403
    return Principal(name=granted.name, policies=tuple(granted.policies))


def authenticate(
    config: ServiceConfig, *, authorization: str | None, client_certificate: bool
) -> Principal:
    """The caller of a request.

    Steps:
      1. ``allow_anonymous`` without credentials: anyone, any policy;
      2. a bearer token must match a configured token hash (401 otherwise);
      3. a verified client certificate (``client_certificate``) grants ``mtls.policies``;
      4. neither: 401.
    """
    if config.auth is not None:
        return _guarded(config, authorization, client_certificate)
    if authorization is None and config.allow_anonymous:
        return ANONYMOUS
    policies: list[str] = []
    names = []
    if client_certificate and config.mtls_ca is not None:
        policies.extend(config.mtls_policies)
        names.append("mtls")
    if authorization is not None:
        principal = _token_principal(config, authorization)
        if principal is None:
            raise ServiceAuthError("Authorization: unknown or revoked token", status=401)
        policies.extend(principal.policies)
        names.append(principal.name)
    if not names:
        raise ServiceAuthError("Authorization: a bearer token is required", status=401)
    return Principal(name="+".join(names), policies=tuple(policies))

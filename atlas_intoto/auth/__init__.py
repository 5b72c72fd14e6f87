"""Who may write to (and read from) our services: one auth config for ``log serve``,
``tsa serve``, ``ca serve`` and the verification service (docs/auth.md).

``config`` (the format), ``oidc`` (ID tokens verified against the issuer's JWKS with PyJWT),
``guard`` (the decision and the ASGI middleware), ``client`` (the token clients send).
"""

from atlas_intoto.auth.config import AuthConfig, hash_token, load_auth_config, parse_auth_config
from atlas_intoto.auth.guard import Guard, Principal, protect, scope_of

__all__ = [
    "AuthConfig",
    "Guard",
    "Principal",
    "hash_token",
    "load_auth_config",
    "parse_auth_config",
    "protect",
    "scope_of",
]

"""Identity errors (issue 16a): OIDC tokens, our Fulcio-compatible CA, keyless recording.

All are operational (exit 2): a refused token or certificate request says nothing about any
evidence. The CA server answers each with a 4xx JSON error (``status``).
"""

from __future__ import annotations

from atlas_intoto.errors.operational import InputError, NetworkError, UsageError

__all__ = [
    "CaConfigError",
    "CaRequestError",
    "IdentityTokenError",
    "KeylessSigningError",
    "ProofOfPossessionError",
    "UnknownIssuerError",
]


class CaRequestError(InputError):
    """A certificate request is malformed (HTTP 400 unless ``status`` says otherwise)."""

    check = "ca.request"

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class IdentityTokenError(CaRequestError):
    """An OIDC identity token is malformed, badly signed, expired or for another audience
    (HTTP 401)."""

    check = "ca.token"

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message, status=status)


class UnknownIssuerError(IdentityTokenError):
    """The token's issuer is not one the CA is configured to trust (HTTP 401)."""

    check = "ca.issuer"


class ProofOfPossessionError(CaRequestError):
    """The request does not prove possession of the key to certify (HTTP 400)."""

    check = "ca.proof_of_possession"


class CaConfigError(UsageError):
    """The CA's configuration (issuers, JWKS, key directory) is invalid."""

    check = "ca.config"


class KeylessSigningError(NetworkError):
    """Keyless recording could not get a certificate: no identity token, or the CA refused."""

    check = "keyless"

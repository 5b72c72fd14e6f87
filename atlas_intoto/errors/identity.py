"""Identity errors: OIDC tokens, our Fulcio-compatible CA, keyless recording.

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


# --- check 2, links signed by identity functionaries' certificates ----------------------------
# Evidence errors (exit 1): one class per step of
# atlas_intoto.verify.identity.verify_certified_signature, each with its own ``check`` code.

from atlas_intoto.errors.evidence import LinkError  # noqa: E402

__all__ += [
    "CertificateChainError",
    "CertificateFormatError",
    "CertificateSctError",
    "CertificateSignatureError",
    "CertificateTimeError",
    "IdentityError",
    "IdentityIssuerError",
    "IdentitySubjectError",
]


class IdentityError(LinkError):
    """Check 2: a link signed by a certificate does not prove an identity of its step."""

    check = "links.identity"


class CertificateFormatError(IdentityError):
    """A step of identity functionaries has an attestation without a (readable) X.509
    signing certificate: a v0.9 link, a Sigstore bundle with a public key, broken DER."""

    check = "links.identity.certificate"


class CertificateChainError(IdentityError):
    """Identity step 1: the signing certificate does not chain to a root pinned under
    ``trust.ca.roots`` (or is not a code-signing leaf)."""

    check = "links.identity.chain"


class CertificateSctError(IdentityError):
    """Identity step 2: the certificate carries no embedded SCT, or its SCT is not signed by
    a CT log key pinned under ``trust.ca.ct_keys``."""

    check = "links.identity.sct"


class CertificateTimeError(IdentityError):
    """Identity step 3: the signature was not made while the certificate (and its chain) was
    valid, judged at the link's trusted time; or the link has no trusted time at all."""

    check = "links.identity.time"


class IdentityIssuerError(IdentityError):
    """Identity step 4: the certificate's OIDC issuer extension is not the functionary's."""

    check = "links.identity.issuer"


class IdentitySubjectError(IdentityError):
    """Identity step 4: no subject alternative name of the certificate is the functionary's
    subject (or matches its ``subject_pattern``)."""

    check = "links.identity.subject"


class CertificateSignatureError(IdentityError):
    """Identity step 5: the DSSE signature does not verify with the certificate's key (the
    payload changed after signing, or the certificate belongs to another signature)."""

    check = "links.identity.signature"


class CertificateEntryError(IdentityError):
    """Identity step 3: the log entry covering the attestation records a certificate as its
    verifier, and it is not the signing certificate the bundle carries (Sigstore verifiers
    require the two to be the same)."""

    check = "links.identity.entry"


__all__ += ["CertificateEntryError"]

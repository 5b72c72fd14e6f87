"""Identity errors (exit 1): check 2 for links signed by a short-lived certificate (keyless).

One class per step of :func:`atlas_intoto.verify.identity.verify_certified_signature`; each
is a :class:`~atlas_intoto.errors.LinkError` (check 2, links) with its own ``check`` code.
"""

from __future__ import annotations

from atlas_intoto.errors.evidence import LinkError

__all__ = [
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

"""Fulcio's ``POST /api/v2/signingCert`` request (pure): parse it and check its proof of
possession.

The body (protobuf JSON, ``fulcio.v2.CreateSigningCertificateRequest``) is either::

    {"credentials": {"oidcIdentityToken": "<JWT>"},
     "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": "<PEM>"},
                          "proofOfPossession": "<b64 signature over the token's subject>"}}

or ``{"certificateSigningRequest": "<b64 PEM CSR>"}`` (what sigstore-python sends; the CSR's
self-signature is the proof). The token may instead come as ``Authorization: Bearer``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from atlas_intoto.ca.oidc import Principal
from atlas_intoto.errors import CaRequestError, IdentityTokenError, ProofOfPossessionError

__all__ = ["SigningCertRequest", "parse_request", "proven_key", "response_document"]


@dataclass(frozen=True, kw_only=True)
class SigningCertRequest:
    """A parsed request: the token, and either a public key with its proof or a CSR."""

    token: str
    public_key_pem: bytes | None = None
    proof: bytes | None = None
    csr: bytes | None = None


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise CaRequestError(f"{field}: expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CaRequestError(f"{field}: not base64") from exc


def _token(doc: Mapping[str, Any], authorization: str | None) -> str:
    bearer = None
    if authorization and authorization.lower().startswith("bearer "):
        bearer = authorization[7:].strip()
    credentials = doc.get("credentials")
    if credentials is not None:
        if not isinstance(credentials, Mapping) or not isinstance(
            credentials.get("oidcIdentityToken"), str
        ):
            raise CaRequestError("credentials.oidcIdentityToken: expected a string")
        token = str(credentials["oidcIdentityToken"])
        # `ca serve --auth` admits the bearer's identity: the certificate must be for that
        # identity, never for another ID token in the body (an opaque grant token may differ)
        if bearer is not None and bearer != token and bearer.count(".") == 2:
            raise CaRequestError(
                "credentials.oidcIdentityToken: not the identity token of the Authorization header"
            )
        return token
    if bearer:
        return bearer
    raise IdentityTokenError("no identity token (credentials.oidcIdentityToken or Bearer)")


def parse_request(body: bytes, *, authorization: str | None = None) -> SigningCertRequest:
    """Parse a signingCert request body (CaRequestError naming the field when malformed)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CaRequestError(f"request body: not JSON ({exc})") from exc
    except RecursionError as exc:
        raise CaRequestError("request body: JSON nested too deeply") from exc
    if not isinstance(doc, Mapping):
        raise CaRequestError("request body: expected a JSON object")
    token = _token(doc, authorization)
    if "certificateSigningRequest" in doc:
        csr = _b64(doc["certificateSigningRequest"], "certificateSigningRequest")
        return SigningCertRequest(token=token, csr=csr)
    request = doc.get("publicKeyRequest")
    if not isinstance(request, Mapping):
        raise CaRequestError("publicKeyRequest: missing (or give certificateSigningRequest)")
    key = request.get("publicKey")
    if not isinstance(key, Mapping) or not isinstance(key.get("content"), str):
        raise CaRequestError("publicKeyRequest.publicKey.content: expected a PEM string")
    proof = _b64(request.get("proofOfPossession"), "publicKeyRequest.proofOfPossession")
    return SigningCertRequest(token=token, public_key_pem=str(key["content"]).encode(), proof=proof)


def _load_key(pem: bytes) -> Any:
    try:
        return serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        try:
            return serialization.load_der_public_key(pem)
        except (ValueError, UnsupportedAlgorithm):
            raise CaRequestError("publicKeyRequest.publicKey.content: not a public key") from exc


def _verify_proof(key: Any, proof: bytes, message: bytes) -> None:
    if isinstance(key, ec.EllipticCurvePublicKey):
        digest = {384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size)
        key.verify(proof, message, ec.ECDSA(digest or hashes.SHA256()))
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(proof, message)
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(proof, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise CaRequestError("publicKeyRequest.publicKey: unsupported key type")


def _csr_key(data: bytes) -> Any:
    try:
        csr = (
            x509.load_pem_x509_csr(data)
            if data.lstrip().startswith(b"-----")
            else x509.load_der_x509_csr(data)
        )
    except ValueError as exc:
        raise CaRequestError("certificateSigningRequest: not a PEM or DER CSR") from exc
    if not csr.is_signature_valid:
        raise ProofOfPossessionError("certificateSigningRequest: its signature does not verify")
    return csr.public_key()


def proven_key(request: SigningCertRequest, principal: Principal) -> Any:
    """The public key to certify, once its holder proved possession (ProofOfPossessionError):
    the CSR's self-signature, or ``proofOfPossession`` over the principal's name (the token's
    subject, or email for email issuers), as Fulcio checks them."""
    if request.csr is not None:
        return _csr_key(request.csr)
    assert request.public_key_pem is not None and request.proof is not None
    key = _load_key(request.public_key_pem)
    try:
        _verify_proof(key, request.proof, principal.name.encode())
    except InvalidSignature as exc:
        raise ProofOfPossessionError(
            "publicKeyRequest.proofOfPossession: not a signature over the token's subject"
        ) from exc
    return key


def response_document(chain: list[x509.Certificate]) -> dict[str, Any]:
    """Fulcio's ``SigningCertificate`` response: the chain (PEM), leaf first, SCT embedded."""
    pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in chain]
    return {"signedCertificateEmbeddedSct": {"chain": {"certificates": pems}}}

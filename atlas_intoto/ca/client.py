"""Getting a certificate from a Fulcio-compatible CA (ours or Sigstore's) at the edge.

The request is a CSR (as sigstore-python sends): its self-signature proves possession of the
key whatever claim the CA signs proofs over. The token goes as ``Authorization: Bearer`` and
is never logged.
"""

from __future__ import annotations

import base64
import json

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atlas_intoto.errors import KeylessSigningError

__all__ = ["SIGNING_CERT_PATH", "request_certificate"]

SIGNING_CERT_PATH = "/api/v2/signingCert"


def _csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def _chain(doc: object, url: str) -> list[x509.Certificate]:
    try:
        pems = doc["signedCertificateEmbeddedSct"]["chain"]["certificates"]  # type: ignore[index]
        chain = [x509.load_pem_x509_certificate(str(p).encode()) for p in pems]
    except (KeyError, TypeError, ValueError) as exc:
        raise KeylessSigningError(f"{url}: response has no certificate chain") from exc
    if len(chain) < 2:
        raise KeylessSigningError(f"{url}: certificate chain is too short ({len(chain)})")
    return chain


def request_certificate(
    url: str, token: str, key: ec.EllipticCurvePrivateKey, *, timeout: float = 30.0
) -> list[x509.Certificate]:
    """A certificate for ``key``'s public key bound to ``token``'s identity, from the CA at
    ``url``: the chain, leaf first (KeylessSigningError naming the CA when refused)."""
    endpoint = url.rstrip("/") + SIGNING_CERT_PATH
    body = {"certificateSigningRequest": base64.b64encode(_csr(key)).decode()}
    try:
        response = httpx.post(
            endpoint,
            content=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise KeylessSigningError(f"{endpoint}: {exc}") from exc
    if response.status_code not in (200, 201):
        try:
            message = str(response.json().get("message", ""))
        except ValueError:
            message = response.text[:200]
        raise KeylessSigningError(f"{endpoint}: HTTP {response.status_code}: {message}")
    try:
        doc = response.json()
    except ValueError as exc:
        raise KeylessSigningError(f"{endpoint}: response is not JSON") from exc
    chain = _chain(doc, endpoint)
    if chain[0].public_key() != key.public_key():
        raise KeylessSigningError(f"{endpoint}: the certificate is not for our key")
    return chain

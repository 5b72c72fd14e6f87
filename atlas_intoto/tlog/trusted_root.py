"""A Sigstore ``trusted_root.json`` for one Rekor v1 log (pure), so standard Sigstore clients
(sigstore-js, sigstore-python, cosign) can verify the log entries in our Sigstore bundles.

The document is ``dev.sigstore.trustroot.v1.TrustedRoot`` in protobuf JSON
(sigstore/protobuf-specs ``sigstore_trustroot.proto``)::

    {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
     "tlogs": [{"baseUrl": "<log URL>", "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": "<b64 DER SPKI>", "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                              "validFor": {"start": "<RFC 3339>", "end": "<RFC 3339>"?}},
                "logId": {"keyId": "<b64 SHA-256 of the DER SPKI>"},
                "operator": "<checkpoint origin>"}],
     "certificateAuthorities": [<--ca chains>], "ctlogs": [<CT log keys>],
     "timestampAuthorities": [<TSA chains>]}

``logId`` is what Rekor v1 entries name their log by (and what checkpoint key hints and SETs
use). The trusted root has no field for a checkpoint origin; it is given as ``operator``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from atlas_intoto.errors import KeyLoadError
from atlas_intoto.tlog.checkpoint import log_id

#: Media type of the trusted roots we write.
MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"

__all__ = [
    "MEDIA_TYPE",
    "certificate_authority",
    "ct_log",
    "rfc3339",
    "timestamp_authority",
    "trusted_root",
]


def rfc3339(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of unix ``seconds`` (protobuf JSON Timestamp)."""
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_details(key: Any, *, source: str) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return "PKIX_ECDSA_P256_SHA_256"
        if isinstance(key.curve, ec.SECP384R1):
            return "PKIX_ECDSA_P384_SHA_384"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    raise KeyLoadError(f"{source}: log key type is not one Sigstore trusted roots describe")


def certificate_authority(
    chain: Sequence[x509.Certificate], *, uri: str | None = None
) -> dict[str, Any]:
    """A ``CertificateAuthority`` entry for a CA chain (issuing CA first): how clients verify
    bundles whose verification material is a certificate issued under it (keygen's dev CA, our
    Fulcio-compatible CA at ``uri``, or a TSA's chain)."""
    first = chain[0]

    def name(oid: x509.ObjectIdentifier) -> str:
        values = first.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else ""

    doc: dict[str, Any] = {
        "subject": {
            "organization": name(NameOID.ORGANIZATION_NAME),
            "commonName": name(NameOID.COMMON_NAME),
        },
        "certChain": {
            "certificates": [
                {"rawBytes": base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()}
                for c in chain
            ]
        },
        "validFor": {
            "start": rfc3339(int(first.not_valid_before_utc.timestamp())),
            "end": rfc3339(int(first.not_valid_after_utc.timestamp())),
        },
    }
    if uri is not None:
        doc["uri"] = uri.rstrip("/")
    return doc


def timestamp_authority(chain: Sequence[x509.Certificate], *, uri: str) -> dict[str, Any]:
    """A ``timestampAuthorities`` entry: a TSA's chain (TSA certificate first) and its URL."""
    return certificate_authority(chain, uri=uri)


def _public_key(pem: bytes, source: str) -> tuple[bytes, str, Any]:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise KeyLoadError(f"{source}: not a PEM public key") from exc
    details = _key_details(key, source=source)
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der, details, key


def ct_log(public_key_pem: bytes, *, url: str, valid_from: int, source: str) -> dict[str, Any]:
    """A ``ctlogs`` entry: the CT log key whose SCTs certificates embed (our CA's ``ct.pub``);
    its ``logId`` is the SHA-256 of the DER key, as RFC 6962 names logs."""
    der, details, _ = _public_key(public_key_pem, source)
    return {
        "baseUrl": url.rstrip("/"),
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": base64.b64encode(der).decode(),
            "keyDetails": details,
            "validFor": {"start": rfc3339(valid_from)},
        },
        "logId": {"keyId": base64.b64encode(hashlib.sha256(der).digest()).decode()},
    }


def trusted_root(
    *,
    public_key_pem: bytes,
    url: str,
    origin: str,
    valid_from: int,
    valid_until: int | None = None,
    certificate_authorities: Sequence[Sequence[x509.Certificate]] = (),
    source: str = "log public key",
    authorities: Sequence[dict[str, Any]] = (),
    ct_logs: Sequence[dict[str, Any]] = (),
    timestamp_authorities: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The trusted root of one log: its key (valid from ``valid_from``, until ``valid_until``
    when given), base URL and checkpoint origin (as ``operator``); plus the CA chains whose
    certificates signers may carry (``certificateAuthorities``; ``authorities`` adds
    :func:`certificate_authority` entries with their URL, e.g. our CA), the CT log keys their SCTs are signed with (``ct_logs``, :func:`ct_log`) and the TSAs
    (:func:`timestamp_authority`)."""
    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except ValueError as exc:
        raise KeyLoadError(f"{source}: not a PEM public key") from exc
    details = _key_details(key, source=source)
    assert isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    validity = {"start": rfc3339(valid_from)}
    if valid_until is not None:
        validity["end"] = rfc3339(valid_until)
    return {
        "mediaType": MEDIA_TYPE,
        "tlogs": [
            {
                "baseUrl": url.rstrip("/"),
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": base64.b64encode(der).decode(),
                    "keyDetails": details,
                    "validFor": validity,
                },
                "logId": {"keyId": base64.b64encode(log_id(key)).decode()},
                "operator": origin,
            }
        ],
        "certificateAuthorities": [
            *(certificate_authority(c) for c in certificate_authorities),
            *authorities,
        ],
        "ctlogs": list(ct_logs),
        "timestampAuthorities": list(timestamp_authorities),
    }

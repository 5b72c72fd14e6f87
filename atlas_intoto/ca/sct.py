"""Our certificate-transparency log key: RFC 6962 signed certificate timestamps (pure).

The CA does not run a CT log server; it holds a CT log key, as Fulcio's SCTs come from a CT log
whose key clients pin under ``ctlogs`` in their trusted root. An SCT here is what
RFC 6962 §3.2 describes for a precertificate entry: a v1 ``SignedCertificateTimestamp`` over
``issuer_key_hash ‖ TBSCertificate`` where the TBS is the precertificate's with the poison
extension removed (§3.1). The final certificate carries it in a
``SignedCertificateTimestampList`` (§3.3) in the poison's place, so that TBS minus the SCT
extension is again exactly the signed one (what sigstore-python checks).
"""

from __future__ import annotations

import datetime
import hashlib
import struct

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atlas_intoto.errors import CaRequestError

__all__ = ["POISON_OID", "log_id", "sct_list", "tbs_without_poison"]

POISON_OID = "1.3.6.1.4.1.11129.2.4.3"


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def log_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """RFC 6962 §3.2 LogID: SHA-256 of the log key's DER SubjectPublicKeyInfo."""
    return hashlib.sha256(_spki(key)).digest()


def tbs_without_poison(precertificate: x509.Certificate) -> bytes:
    """The precertificate's TBSCertificate (DER) without its poison extension (§3.1: what the
    SCT signs); CaRequestError when it carries no critical poison."""
    cert = asn1_x509.Certificate.load(precertificate.public_bytes(serialization.Encoding.DER))
    tbs = cert["tbs_certificate"]
    extensions = tbs["extensions"]
    kept = [e for e in extensions if e["extn_id"].dotted != POISON_OID]
    poison = [e for e in extensions if e["extn_id"].dotted == POISON_OID]
    if len(poison) != 1 or not poison[0]["critical"].native:
        raise CaRequestError("precertificate: no critical poison extension")
    stripped = tbs.copy()
    stripped["extensions"] = asn1_x509.Extensions(kept)
    return bytes(stripped.dump(force=True))


def sct_list(
    precertificate: x509.Certificate,
    *,
    issuer_key: ec.EllipticCurvePublicKey,
    log_key: ec.EllipticCurvePrivateKey,
    at: datetime.datetime,
) -> bytes:
    """The TLS ``SignedCertificateTimestampList`` (§3.3) holding one v1 SCT of
    ``precertificate`` (issued by the holder of ``issuer_key``), signed by ``log_key`` at
    ``at`` (ECDSA P-256, SHA-256)."""
    tbs = tbs_without_poison(precertificate)
    timestamp_ms = int(at.timestamp() * 1000)
    # §3.2 digitally-signed struct: version v1, certificate_timestamp, timestamp, precert_entry
    entry = hashlib.sha256(_spki(issuer_key)).digest() + len(tbs).to_bytes(3, "big") + tbs
    signed = struct.pack("!BBQH", 0, 0, timestamp_ms, 1) + entry + struct.pack("!H", 0)
    signature = log_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    sct = (
        struct.pack("!B", 0)
        + log_id(log_key.public_key())
        + struct.pack("!QH", timestamp_ms, 0)
        + struct.pack("!BBH", 4, 3, len(signature))  # hash sha256(4), signature ecdsa(3)
        + signature
    )
    return struct.pack("!HH", len(sct) + 2, len(sct)) + sct

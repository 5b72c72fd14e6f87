"""Verification material as Rekor handles it: keys, certificates and chains, signature checks,
Rekor's envelope rule (every key verifies, every signature is verified)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from helpers import sign_envelope

from atlas_intoto.tlog.kinds import canonical_entry
from atlas_intoto.tlog.proposed import dsse_proposed_entry


def test_certificate_verifier_indexes_subjects(key: Any) -> None:
    import datetime

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.RFC822Name("dev@example.com"),
                    x509.UniformResourceIdentifier("https://ci.example/wf"),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    entry = canonical_entry(dsse_proposed_entry(sign_envelope(b"{}", key), [cert_pem]))
    assert "dev@example.com" in entry.index_keys
    assert "https://ci.example/wf" in entry.index_keys
    assert "sha256:" + hashlib.sha256(cert_pem).hexdigest() in entry.index_keys
    # A chain (leaf first) is kept whole as the verifier; the leaf's key verifies.
    chain = cert_pem + cert_pem
    entry2 = canonical_entry(dsse_proposed_entry(sign_envelope(b"{}", key), [chain]))
    assert base64.b64decode(json.loads(entry2.body)["spec"]["signatures"][0]["verifier"]) == chain

"""Interoperability with an independent Rekor client and verifier: sigstore-python.

sigstore-python's own ``RekorClient`` (the one ``sigstore sign`` uses) talks to our server on
loopback: it creates ``hashedrekord`` and ``dsse`` entries, fetches them by UUID and by index,
retrieves them by content and reads the log info. Sigstore bundles built from the entries our
log returned then pass sigstore-python's ``Verifier`` under a custom trusted root listing our
log key — which checks our inclusion proof, our signed checkpoint and our SET, the integrated
time as the signing time, and the body against the signed content. The Fulcio and CT parts of
the trust root are a test CA and a test CT log key built here with ``cryptography``: the leaf
certificate carries an embedded SCT over its precertificate TBS, as Fulcio issues them.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from helpers import ThreadedServer
from sigstore._internal.rekor import _hashedrekord_from_parts
from sigstore._internal.rekor.client import RekorClient as SigstoreRekorClient
from sigstore.dsse import StatementBuilder, Subject, _sign
from sigstore.errors import VerificationError
from sigstore.hashes import HashAlgorithm, Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity, UnsafeNoOp
from sigstore_models.trustroot import v1 as trustroot_v1

from atlas_intoto.tlog.server import create_app
from atlas_intoto.tlog.store import LogStore

LOG_KEY = ec.derive_private_key(0x1A7_0001, ec.SECP256R1())
CA_KEY = ec.derive_private_key(0x1A7_0002, ec.SECP256R1())
CT_KEY = ec.derive_private_key(0x1A7_0003, ec.SECP256R1())
LEAF_KEY = ec.derive_private_key(0x1A7_0004, ec.SECP256R1())
IDENTITY = "functionary@example.com"
ISSUER = "https://issuer.example.com"
#: Fulcio's OIDC issuer extensions: v1 holds the raw string, v2 a DER UTF8String.
OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OIDC_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
SCT_LIST_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def _spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _der_octet_string(data: bytes) -> bytes:
    n = len(data)
    if n < 0x80:
        return b"\x04" + bytes([n]) + data
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x04" + bytes([0x80 | len(length)]) + length + data


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 0x80
    return b"\x0c" + bytes([len(raw)]) + raw


# --------------------------------------------------------------------------------------------
# A Fulcio-like CA and a CT log, enough for sigstore-python's certificate checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: x509.Certificate
    leaf: x509.Certificate


def _ca_certificate(now: datetime.datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "atlas-intoto test"),
            x509.NameAttribute(NameOID.COMMON_NAME, "test fulcio root"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(CA_KEY.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(CA_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(CA_KEY, hashes.SHA256())
    )


def _sct_list(tbs_precert: bytes, issuer: x509.Certificate, timestamp_ms: int) -> bytes:
    """RFC 6962 §3.2/3.3: a TLS SignedCertificateTimestampList holding one v1 SCT over the
    precertificate entry (issuer key hash ‖ TBS without the SCT extension), signed by CT_KEY."""
    issuer_key_hash = hashlib.sha256(_spki_der(issuer.public_key())).digest()  # type: ignore[arg-type]
    entry = issuer_key_hash + len(tbs_precert).to_bytes(3, "big") + tbs_precert
    signed = struct.pack("!BBQH", 0, 0, timestamp_ms, 1) + entry + struct.pack("!H", 0)
    signature = CT_KEY.sign(signed, ec.ECDSA(hashes.SHA256()))
    log_id = hashlib.sha256(_spki_der(CT_KEY.public_key())).digest()
    sct = (
        struct.pack("!B", 0)
        + log_id
        + struct.pack("!QH", timestamp_ms, 0)
        + struct.pack("!BBH", 4, 3, len(signature))
        + signature  # sha256, ecdsa
    )
    return struct.pack("!H", len(sct) + 2) + struct.pack("!H", len(sct)) + sct


def make_pki() -> Pki:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    ca = _ca_certificate(now)

    def leaf_builder() -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(ca.subject)
            .public_key(LEAF_KEY.public_key())
            .serial_number(0x5EED)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(minutes=30))
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(LEAF_KEY.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(CA_KEY.public_key()),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(IDENTITY)]), critical=True)
            .add_extension(
                x509.UnrecognizedExtension(OIDC_ISSUER_V2, _der_utf8(ISSUER)), critical=False
            )
            .add_extension(
                x509.UnrecognizedExtension(OIDC_ISSUER_V1, ISSUER.encode()), critical=False
            )
        )

    # The SCT signs the TBS of the certificate without the SCT extension; appending that
    # extension last makes the final certificate's precertificate TBS exactly this one.
    tbs = leaf_builder().sign(CA_KEY, hashes.SHA256()).tbs_certificate_bytes
    scts = _sct_list(tbs, ca, int(now.timestamp() * 1000))
    leaf = (
        leaf_builder()
        .add_extension(
            x509.UnrecognizedExtension(SCT_LIST_OID, _der_octet_string(scts)), critical=False
        )
        .sign(CA_KEY, hashes.SHA256())
    )
    assert leaf.tbs_precertificate_bytes == tbs
    return Pki(ca=ca, leaf=leaf)


def trusted_root(
    pki: Pki, log_url: str, *, log_key: ec.EllipticCurvePrivateKey = LOG_KEY
) -> TrustedRoot:
    def instance(key: ec.EllipticCurvePrivateKey, url: str) -> dict[str, Any]:
        der = _spki_der(key.public_key())
        return {
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": base64.b64encode(der).decode(),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            },
            "logId": {"keyId": base64.b64encode(hashlib.sha256(der).digest()).decode()},
        }

    doc = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [instance(log_key, log_url)],
        "certificateAuthorities": [
            {
                "subject": {"organization": "atlas-intoto test", "commonName": "test fulcio root"},
                "uri": "https://fulcio.invalid",
                "certChain": {
                    "certificates": [
                        {
                            "rawBytes": base64.b64encode(
                                pki.ca.public_bytes(serialization.Encoding.DER)
                            ).decode()
                        }
                    ]
                },
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            }
        ],
        "ctlogs": [instance(CT_KEY, "https://ct.invalid")],
        "timestampAuthorities": [],
    }
    return TrustedRoot(trustroot_v1.TrustedRoot.from_json(json.dumps(doc)))


# --------------------------------------------------------------------------------------------
# Our log on loopback
# --------------------------------------------------------------------------------------------


@pytest.fixture
def log_url(tmp_path: Path) -> Iterator[str]:
    store = LogStore(tmp_path / "log.db")
    try:
        with ThreadedServer(create_app(store, LOG_KEY, "interop.test")) as server:
            yield server.url
    finally:
        store.close()


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_test_pki_satisfies_sigstore_sct_check(pki: Pki) -> None:
    from sigstore._internal.sct import verify_sct
    from sigstore._internal.trust import KeyringPurpose

    root = trusted_root(pki, "http://unused")
    verify_sct(pki.leaf, [pki.ca], root.ct_keyring(KeyringPurpose.VERIFY))


def test_sigstore_client_hashedrekord_and_verifier(log_url: str, pki: Pki) -> None:
    client = SigstoreRekorClient(log_url)
    artifact = b"model.safetensors bytes"
    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=hashlib.sha256(artifact).digest())
    signature = LEAF_KEY.sign(artifact, ec.ECDSA(hashes.SHA256()))

    # Rekor v1 API through sigstore-python: create, then read back every way it can.
    entry = client.create_entry(client._build_hashed_rekord_request(hashed, signature, pki.leaf))
    assert entry._inner.kind_version.kind == "hashedrekord"
    assert entry._inner.log_index == 0
    by_index_0 = json.loads(entry._inner.to_json())
    info = client.log.get()
    assert info.tree_size == 1
    assert info.tree_id and info.signed_tree_head.startswith("interop.test - ")

    retrieved = client.log.entries.retrieve.post(
        _hashedrekord_from_parts(pki.leaf, signature, hashed)
    )
    assert retrieved is not None
    assert retrieved._inner.canonicalized_body == entry._inner.canonicalized_body

    # sigstore-python's own verifier, trusting our log key, accepts the bundle.
    bundle = Bundle.from_parts(pki.leaf, signature, entry)
    verifier = Verifier(trusted_root=trusted_root(pki, log_url))
    verifier.verify_artifact(artifact, bundle, Identity(identity=IDENTITY, issuer=ISSUER))
    # It round-trips through the bundle JSON a consumer would receive.
    verifier.verify_artifact(artifact, Bundle.from_json(bundle.to_json()), UnsafeNoOp())

    # A trust root with another log key rejects the same bundle: our log's signatures matter.
    other_log = ec.derive_private_key(0xBAD, ec.SECP256R1())
    with pytest.raises(VerificationError, match="invalid log entry"):
        Verifier(trusted_root=trusted_root(pki, log_url, log_key=other_log)).verify_artifact(
            artifact, bundle, UnsafeNoOp()
        )
    with pytest.raises(VerificationError, match=r"[Ss]ignature"):
        verifier.verify_artifact(b"another artifact", bundle, UnsafeNoOp())
    assert by_index_0["logIndex"] == "0"


def test_sigstore_client_dsse_and_verifier(log_url: str, pki: Pki) -> None:
    client = SigstoreRekorClient(log_url)
    statements = [
        StatementBuilder()
        .subjects(
            [
                Subject(
                    name=f"model-{n}.bin", digest={"sha256": hashlib.sha256(b"%d" % n).hexdigest()}
                )
            ]
        )
        .predicate_type("https://atlas-intoto.dev/step/v1")
        .predicate({"step": "train", "n": n})
        .build()
        for n in range(3)
    ]
    envelopes = [_sign(LEAF_KEY, s) for s in statements]
    entries = [client.create_entry(client._build_dsse_request(e, pki.leaf)) for e in envelopes]
    assert [e._inner.log_index for e in entries] == [0, 1, 2]
    assert all(e._inner.kind_version.kind == "dsse" for e in entries)

    # Fetch by UUID (from the body's leaf hash) and by index, as sigstore-python does.
    leaf_hash = hashlib.sha256(b"\x00" + entries[1]._inner.canonicalized_body).hexdigest()
    by_uuid = client.log.entries.get(uuid=leaf_hash)
    by_index = client.log.entries.get(
        log_index=1
    )  # index 0 is unreachable: sigstore tests truthiness
    assert (
        by_uuid._inner.canonicalized_body
        == by_index._inner.canonicalized_body
        == entries[1]._inner.canonicalized_body
    )
    assert by_index._inner.inclusion_proof.tree_size == 3
    info = client.log.get()
    assert (info.tree_size, info.root_hash) == (3, by_index._inner.inclusion_proof.root_hash.hex())

    verifier = Verifier(trusted_root=trusted_root(pki, log_url))
    for envelope, entry in [*zip(envelopes, entries, strict=True), (envelopes[1], by_index)]:
        bundle = Bundle._from_parts(pki.leaf, envelope, entry)
        payload_type, payload = verifier.verify_dsse(
            bundle, Identity(identity=IDENTITY, issuer=ISSUER)
        )
        assert payload_type == "application/vnd.in-toto+json"
        assert json.loads(payload) == json.loads(envelope._inner.payload)
    # A log entry of another envelope does not vouch for this one.
    with pytest.raises(VerificationError, match="payload hash does not match"):
        verifier.verify_dsse(Bundle._from_parts(pki.leaf, envelopes[0], entries[2]), UnsafeNoOp())

"""The CA issues Fulcio-profile certificates whose embedded SCT sigstore-python accepts."""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from sigstore._internal.sct import verify_sct
from sigstore._internal.trust import KeyringPurpose
from sigstore.errors import VerificationError
from sigstore.models import TrustedRoot
from sigstore_models.trustroot import v1 as trustroot_v1

from atlas_intoto.ca import oids
from atlas_intoto.ca.authority import LEAF_VALIDITY
from atlas_intoto.ca.keys import create_authority, load_or_create_ca
from atlas_intoto.ca.oidc import Principal
from atlas_intoto.ca.sct import tbs_without_poison
from atlas_intoto.errors import CaRequestError, KeyLoadError

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
PRINCIPAL = Principal(
    issuer="https://oidc.example", name="alice@example.com", email="alice@example.com"
)


def _ct_root(ct_key: ec.EllipticCurvePrivateKey) -> TrustedRoot:
    der = ct_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import hashlib

    instance = {
        "baseUrl": "https://ct.invalid",
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
        "tlogs": [instance],
        "certificateAuthorities": [],
        "ctlogs": [instance],
        "timestampAuthorities": [],
    }
    return TrustedRoot(trustroot_v1.TrustedRoot.from_json(json.dumps(doc)))


def _ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes:
    value = cert.extensions.get_extension_for_oid(oid).value
    assert isinstance(value, x509.UnrecognizedExtension)
    return value.value


def test_leaf_has_fulcio_profile_and_sct_sigstore_accepts() -> None:
    ca = create_authority(now=NOW)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf, intermediate, root = ca.issue(key.public_key(), PRINCIPAL, now=NOW)
    assert (intermediate, root) == ca.chain
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == LEAF_VALIDITY
    assert leaf.subject == x509.Name([])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.RFC822Name) == ["alice@example.com"]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CODE_SIGNING]
    assert core.UTF8String.load(_ext(leaf, oids.OIDC_ISSUER_V2)).native == "https://oidc.example"
    assert _ext(leaf, oids.OIDC_ISSUER_V1) == b"https://oidc.example"
    # the chain verifies: leaf under intermediate under root
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)
    # sigstore-python's own SCT check, with our CT key pinned
    verify_sct(leaf, [intermediate, root], _ct_root(ca.ct_key).ct_keyring(KeyringPurpose.VERIFY))
    # ... and refused under another CT key
    other = _ct_root(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(VerificationError):
        verify_sct(leaf, [intermediate, root], other.ct_keyring(KeyringPurpose.VERIFY))


def test_github_extensions_are_der_or_raw_as_fulcio_encodes_them() -> None:
    ca = create_authority(now=NOW)
    principal = Principal(
        issuer="https://token.actions.githubusercontent.com",
        name="repo:o/r:ref:refs/heads/main",
        uri="https://github.com/o/r/.github/workflows/ci.yml@refs/heads/main",
        extensions=(("github_workflow_sha", "abc"), ("source_repository_digest", "abc")),
    )
    leaf = ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), principal, now=NOW)[0]
    assert _ext(leaf, oids.by_name("github_workflow_sha")) == b"abc"
    raw = _ext(leaf, oids.by_name("source_repository_digest"))
    assert core.UTF8String.load(raw).native == "abc"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [principal.uri]


def test_sct_signs_the_precertificate_tbs() -> None:
    ca = create_authority(now=NOW)
    leaf = ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), PRINCIPAL, now=NOW)[0]
    assert leaf.tbs_precertificate_bytes  # has exactly one SCT extension
    with pytest.raises(CaRequestError, match="poison"):
        tbs_without_poison(leaf)  # a final certificate is no precertificate


def test_weak_keys_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    ca = create_authority(now=NOW)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    with pytest.raises(CaRequestError, match="publicKey"):
        ca.issue(weak, PRINCIPAL, now=NOW)
    with pytest.raises(CaRequestError):
        ca.issue(ec.generate_private_key(ec.SECP256K1()).public_key(), PRINCIPAL, now=NOW)


def test_load_or_create_ca_round_trips(tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path)) / "ca"
    first = load_or_create_ca(directory)
    again = load_or_create_ca(directory)
    assert again.root == first.root and again.intermediate == first.intermediate
    assert (directory / "ca-intermediate.key").stat().st_mode & 0o077 == 0
    with pytest.raises(KeyLoadError):
        load_or_create_ca(directory.parent / "missing", create=False)
    (directory / "ct.key").write_bytes(b"garbage")
    with pytest.raises(KeyLoadError, match="cannot load"):
        load_or_create_ca(directory)


def test_intermediate_signs_with_sha256() -> None:
    ca = create_authority(now=NOW)
    leaf = ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), PRINCIPAL, now=NOW)[0]
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)


def test_vector_knobs_make_certificates_sigstore_refuses() -> None:
    """``embed_sct=False`` and ``validity`` exist for verifiers' failing vectors."""
    ca = create_authority(now=NOW)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    unlogged, intermediate, root = ca.issue(key, PRINCIPAL, now=NOW, embed_sct=False)
    with pytest.raises(x509.ExtensionNotFound):
        unlogged.extensions.get_extension_for_oid(oids.SCT_LIST)
    with pytest.raises(VerificationError, match="signed certificate timestamp"):
        verify_sct(
            unlogged, [intermediate, root], _ct_root(ca.ct_key).ct_keyring(KeyringPurpose.VERIFY)
        )
    short = ca.issue(key, PRINCIPAL, now=NOW, validity=datetime.timedelta(seconds=1))[0]
    assert short.not_valid_after_utc == NOW + datetime.timedelta(seconds=1)

"""sigstore-python's verifier, under a trusted root naming our CA, CT key, Rekor v2 log and TSA,
refuses what our CA can be made to issue wrongly (the knobs verifiers' vectors use): a
certificate without an SCT, and one that had expired when the TSA timestamped the signature —
while the same signature under a proper certificate verifies."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import ThreadedServer
from sigstore._internal.rekor.client_v2 import RekorV2Client
from sigstore._internal.timestamp import TimestampAuthorityClient
from sigstore.errors import VerificationError
from sigstore.hashes import HashAlgorithm, Hashed
from sigstore.models import Bundle, ClientTrustConfig, MessageSignature
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity

from atlas_intoto.ca.embedded import keyless_trust_config
from atlas_intoto.ca.keys import create_authority
from atlas_intoto.ca.oidc import Principal
from atlas_intoto.tlog.logkey import load_or_create_log_key, public_key_pem
from atlas_intoto.tlog.v2.http import open_log_app
from atlas_intoto.tsa.keys import load_or_create_tsa

EMAIL = "trainer@example.com"
ISSUER = "https://oidc.example"
PRINCIPAL = Principal(issuer=ISSUER, name=EMAIL, email=EMAIL)
CA = create_authority()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Verifier]]:
    root = tmp_path_factory.mktemp("refusals")
    signer = load_or_create_log_key(root / "log.key")
    tsa = load_or_create_tsa(root / "tsa")
    with (
        open_log_app(
            db=root / "v1.db",
            signer=signer,
            origin="127.0.0.1",
            max_body=128 * 1024,
            v2_db=root / "v2.db",
            tsa=tsa,
        ) as app,
        ThreadedServer(app) as server,
    ):
        doc = keyless_trust_config(
            ca_url="http://ca.invalid",
            authority=CA,
            log_url=server.url,
            log_public_key_pem=public_key_pem(signer),
            log_origin="127.0.0.1",
            valid_from=int(time.time()) - 3600 * 24,
            log_version=2,
            tsa_url=server.url,
            tsa_chain=tsa.chain,
        )
        config = ClientTrustConfig.from_json(json.dumps(doc))
        yield server.url, Verifier(trusted_root=config.trusted_root)


def _bundle(url: str, leaf: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Bundle:
    artifact = b"model bytes"
    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=hashlib.sha256(artifact).digest())
    signature = key.sign(artifact, ec.ECDSA(hashes.SHA256()))
    client = RekorV2Client(url)
    entry = client.create_entry(client._build_hashed_rekord_request(hashed, signature, leaf))
    stamp = TimestampAuthorityClient(f"{url}/api/v1/timestamp").request_timestamp(signature)
    return Bundle._from_parts(
        leaf, MessageSignature(signature=base64.b64encode(signature)), entry, [stamp]
    )


def test_a_proper_certificate_verifies(deployment: tuple[str, Verifier]) -> None:
    url, verifier = deployment
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    leaf = CA.issue(key.public_key(), PRINCIPAL, now=now)[0]
    verifier.verify_artifact(
        b"model bytes", _bundle(url, leaf, key), Identity(identity=EMAIL, issuer=ISSUER)
    )


def test_a_certificate_without_sct_is_refused(deployment: tuple[str, Verifier]) -> None:
    url, verifier = deployment
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    leaf = CA.issue(key.public_key(), PRINCIPAL, now=now, embed_sct=False)[0]
    with pytest.raises(VerificationError, match="SCT"):
        verifier.verify_artifact(
            b"model bytes", _bundle(url, leaf, key), Identity(identity=EMAIL, issuer=ISSUER)
        )


def test_an_expired_certificate_is_refused(deployment: tuple[str, Verifier]) -> None:
    url, verifier = deployment
    key = ec.generate_private_key(ec.SECP256R1())
    issued = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    leaf = CA.issue(key.public_key(), PRINCIPAL, now=issued)[0]  # expired 50 minutes ago
    # the chain is judged at the TSA's time, when the leaf was no longer valid
    with pytest.raises(VerificationError, match="certificate"):
        verifier.verify_artifact(
            b"model bytes", _bundle(url, leaf, key), Identity(identity=EMAIL, issuer=ISSUER)
        )

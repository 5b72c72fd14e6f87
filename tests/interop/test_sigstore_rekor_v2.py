"""Interoperability of our Rekor v2 log and TSA with sigstore-python, independent code:

* sigstore-python's ``RekorV2Client`` writes hashedrekord 0.0.2 entries (a message signature,
  and a DSSE envelope over its PAE) to our ``/api/v2/log/entries``;
* its ``TimestampAuthorityClient`` gets RFC 3161 timestamps from our TSA;
* its ``Verifier``, under a trusted root naming our log key and our TSA chain (with the test
  Fulcio CA and CT log of the v1 interop test), accepts the bundles — checking our inclusion
  proof, our checkpoint and our timestamp as the signing time;
* a tampered timestamp, and a trusted root without our TSA, are refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import ThreadedServer
from rfc3161_client import decode_timestamp_response
from sigstore._internal.rekor.client_v2 import RekorV2Client
from sigstore._internal.timestamp import TimestampAuthorityClient
from sigstore.dsse import StatementBuilder, Subject, _sign
from sigstore.errors import VerificationError
from sigstore.hashes import HashAlgorithm, Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity, UnsafeNoOp
from sigstore_models.trustroot import v1 as trustroot_v1
from test_sigstore_rekor import IDENTITY, ISSUER, LEAF_KEY, LOG_KEY, Pki, make_pki, trusted_root

from atlas_intoto.tlog.v2.http import open_log_app
from atlas_intoto.tsa.authority import TimestampAuthority
from atlas_intoto.tsa.keys import load_or_create_tsa


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[str, TimestampAuthority]]:
    tsa = load_or_create_tsa(tmp_path / "tsa")
    with (
        open_log_app(
            db=tmp_path / "v1.db",
            signer=LOG_KEY,
            origin="interop-v2.test",
            max_body=128 * 1024,
            v2_db=tmp_path / "v2.db",
            tsa=tsa,
        ) as app,
        ThreadedServer(app) as server,
    ):
        yield server.url, tsa


def _root_with_tsa(pki: Pki, url: str, tsa: TimestampAuthority | None) -> TrustedRoot:
    doc: dict[str, Any] = json.loads(trusted_root(pki, url)._inner.to_json())
    doc["tlogs"][0]["baseUrl"] = url
    if tsa is not None:
        chain = [c.public_bytes(serialization.Encoding.DER) for c in tsa.chain]
        doc["timestampAuthorities"] = [
            {
                "subject": {"organization": "atlas-intoto", "commonName": "atlas-intoto TSA"},
                "uri": f"{url}/api/v1/timestamp",
                "certChain": {
                    "certificates": [{"rawBytes": base64.b64encode(c).decode()} for c in chain]
                },
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            }
        ]
    return TrustedRoot(trustroot_v1.TrustedRoot.from_json(json.dumps(doc)))


def test_sigstore_v2_client_hashedrekord_with_our_tsa(
    deployment: tuple[str, TimestampAuthority], pki: Pki
) -> None:
    url, tsa = deployment
    artifact = b"model.safetensors bytes"
    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=hashlib.sha256(artifact).digest())
    signature = LEAF_KEY.sign(artifact, ec.ECDSA(hashes.SHA256()))
    client = RekorV2Client(url)
    entry = client.create_entry(client._build_hashed_rekord_request(hashed, signature, pki.leaf))
    assert entry._inner.kind_version.kind == "hashedrekord"
    assert entry._inner.kind_version.version == "0.0.2"
    stamp = TimestampAuthorityClient(f"{url}/api/v1/timestamp").request_timestamp(signature)

    from sigstore.models import MessageSignature

    bundle = Bundle._from_parts(
        pki.leaf, MessageSignature(signature=base64.b64encode(signature)), entry, [stamp]
    )
    verifier = Verifier(trusted_root=_root_with_tsa(pki, url, tsa))
    verifier.verify_artifact(artifact, bundle, Identity(identity=IDENTITY, issuer=ISSUER))
    verifier.verify_artifact(artifact, Bundle.from_json(bundle.to_json()), UnsafeNoOp())

    # without our TSA in the trusted root there is no verified time: refused
    with pytest.raises(VerificationError):
        Verifier(trusted_root=_root_with_tsa(pki, url, None)).verify_artifact(
            artifact, bundle, UnsafeNoOp()
        )
    # a tampered timestamp is refused
    raw = bytearray(stamp.as_bytes())
    raw[-20] ^= 1
    bad = Bundle._from_parts(
        pki.leaf,
        MessageSignature(signature=base64.b64encode(signature)),
        entry,
        [decode_timestamp_response(bytes(raw))],
    )
    with pytest.raises(VerificationError):
        verifier.verify_artifact(artifact, bad, UnsafeNoOp())


def test_sigstore_v2_client_dsse_over_pae(
    deployment: tuple[str, TimestampAuthority], pki: Pki
) -> None:
    url, tsa = deployment
    statement = (
        StatementBuilder()
        .subjects([Subject(name="model.bin", digest={"sha256": hashlib.sha256(b"m").hexdigest()})])
        .predicate_type("https://atlas-intoto.dev/step/v1")
        .predicate({"step": "train"})
        .build()
    )
    envelope = _sign(LEAF_KEY, statement)
    client = RekorV2Client(url)
    entry = client.create_entry(client._build_dsse_request(envelope, pki.leaf))
    stamp = TimestampAuthorityClient(f"{url}/api/v1/timestamp").request_timestamp(
        envelope.signature
    )
    bundle = Bundle._from_parts(pki.leaf, envelope, entry, [stamp])
    verifier = Verifier(trusted_root=_root_with_tsa(pki, url, tsa))
    payload_type, payload = verifier.verify_dsse(bundle, Identity(identity=IDENTITY, issuer=ISSUER))
    assert payload_type == "application/vnd.in-toto+json"
    assert json.loads(payload) == json.loads(envelope._inner.payload)

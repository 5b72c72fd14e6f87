"""Interoperability of a step's Sigstore bundle made on our Rekor v2 log with sigstore-python,
independent code: the functionary key is the test CA's leaf (with SCTs, as the Fulcio-like PKI
of the v1 interop test), so the step's bundle carries that certificate; sigstore-python's
``Bundle.from_json`` reads the bundle (hashedrekord 0.0.2 entry over the DSSE PAE, RFC 3161
timestamp) and its ``Verifier`` — under a trusted root naming our log key and our TSA — accepts
it: inclusion proof, checkpoint, the timestamp as the signing time. A tampered timestamp and a
trusted root without our TSA are refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from helpers import ThreadedServer
from sigstore.errors import VerificationError
from sigstore.models import Bundle
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity, UnsafeNoOp
from test_sigstore_rekor import IDENTITY, ISSUER, LEAF_KEY, LOG_KEY, Pki, make_pki
from test_sigstore_rekor_v2 import _root_with_tsa

from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import record_step
from atlas_intoto.tlog.v2.http import open_log_app
from atlas_intoto.tsa.authority import TimestampAuthority
from atlas_intoto.tsa.keys import load_or_create_tsa


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("stmt-v2")
    pki = make_pki()
    keys = root / "keys"
    keys.mkdir()
    (keys / "trainer.key").write_bytes(
        LEAF_KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (keys / "trainer.crt").write_bytes(
        pki.leaf.public_bytes(serialization.Encoding.PEM)
        + pki.ca.public_bytes(serialization.Encoding.PEM)
    )
    (root / "data").mkdir()
    (root / "data" / "x.csv").write_text("1\n")
    tsa = load_or_create_tsa(root / "tsa")
    with (
        open_log_app(
            db=root / "v1.db",
            signer=LOG_KEY,
            origin="interop-v2.test",
            max_body=128 * 1024,
            v2_db=root / "v2.db",
            tsa=tsa,
        ) as app,
        ThreadedServer(app) as server,
    ):
        options = RecordingOptions(
            key_path=keys / "trainer.key",
            base_path=root,
            out_dir=root / ".atlas",
            log_url=server.url,
            log_backend="rekor-v2",
        )
        record_step(
            step="train", options=options, materials=["data"], products=[], command=["train"]
        )
        (path,) = (root / ".atlas").glob("train.*.sigstore.json")
        yield {"pki": pki, "url": server.url, "tsa": tsa, "bundle": path.read_bytes()}


def _verifier(p: dict[str, Any], tsa: TimestampAuthority | None) -> Verifier:
    pki: Pki = p["pki"]
    return Verifier(trusted_root=_root_with_tsa(pki, p["url"], tsa))


def test_sigstore_python_verifies_the_step_bundle(recorded: dict[str, Any]) -> None:
    bundle = Bundle.from_json(recorded["bundle"])
    assert bundle.log_entry._inner.kind_version.kind == "hashedrekord"
    assert bundle.log_entry._inner.kind_version.version == "0.0.2"
    stamps = bundle.verification_material.timestamp_verification_data.rfc3161_timestamps
    assert len(stamps) == 1
    payload_type, payload = _verifier(recorded, recorded["tsa"]).verify_dsse(
        bundle, Identity(identity=IDENTITY, issuer=ISSUER)
    )
    assert payload_type == "application/vnd.in-toto+json"
    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicate"]["name"] == "train"


def test_sigstore_python_refuses_without_our_tsa(recorded: dict[str, Any]) -> None:
    bundle = Bundle.from_json(recorded["bundle"])
    with pytest.raises(VerificationError):
        _verifier(recorded, None).verify_dsse(bundle, UnsafeNoOp())


def test_sigstore_python_refuses_a_tampered_timestamp(recorded: dict[str, Any]) -> None:
    doc = json.loads(recorded["bundle"])
    stamp = doc["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
    raw = bytearray(base64.b64decode(stamp["signedTimestamp"]))
    raw[-20] ^= 1
    stamp["signedTimestamp"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises((VerificationError, ValueError)):
        bundle = Bundle.from_json(json.dumps(doc))
        _verifier(recorded, recorded["tsa"]).verify_dsse(bundle, UnsafeNoOp())

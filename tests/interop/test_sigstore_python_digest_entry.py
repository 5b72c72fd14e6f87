"""Interoperability of digest entries (``--log-visibility digest``) with sigstore-python.

A digest entry is a plain Rekor v1 ``hashedrekord`` 0.0.1 over the SHA-256 of the link's
envelope bytes, so a Sigstore bundle for those bytes (a ``messageSignature`` with that digest and
signature, the functionary's keygen certificate, the saved entry as its ``tlogEntries[0]``) is
read by sigstore-python, whose own code verifies the entry against the keyring of the trusted
root ``log trusted-root`` writes (inclusion proof, signed checkpoint, SET) and parses its body
with the Rekor types it ships; tampering fails there.

Where the formats stop: sigstore-python's ``verify_artifact`` also requires a Fulcio-issued
certificate chaining to the trusted root and a log entry recording that certificate; a digest
entry records the functionary's public key, which is what the layout pins.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rekor_types
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore._internal.trust import KeyringPurpose
from sigstore.errors import VerificationError
from sigstore.models import Bundle, TrustedRoot

from atlas_intoto.cli import main
from atlas_intoto.demo import EmbeddedLog, embedded_log
from atlas_intoto.keys import generate_keypair
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.sigstore_bundle import tlog_entry
from atlas_intoto.step import record_step


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedLog]:
    with embedded_log(tmp_path_factory.mktemp("log")) as running:
        yield running


@pytest.fixture(scope="module")
def recorded(log: EmbeddedLog, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("digest")
    paths = generate_keypair("trainer", directory=root / "keys")
    (root / "data").mkdir()
    (root / "data" / "private.csv").write_text("secret\n")
    options = RecordingOptions(
        key_path=paths.private_key,
        base_path=root,
        out_dir=root / ".atlas",
        log_url=log.url,
        log_visibility="digest",
    )
    step = record_step(
        step="train", options=options, materials=["data"], products=[], command=["train"]
    )
    return {"step": step, "certificate": paths.certificate_chain.read_bytes()}


@pytest.fixture(scope="module")
def keyring(log: EmbeddedLog, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("root") / "trusted_root.json"
    assert main(["log", "trusted-root", "--url", log.url, "--out", str(path)]) == 0
    return TrustedRoot.from_file(str(path)).rekor_keyring(KeyringPurpose.VERIFY)


def _bundle_doc(recorded: dict[str, Any]) -> dict[str, Any]:
    """A Sigstore bundle v0.3 for the envelope bytes, carrying the saved digest entry."""
    step = recorded["step"]
    entry = json.loads(step.log_entry_path.read_bytes())
    body = json.loads(base64.b64decode(next(iter(entry.values()))["body"]))
    leaf = x509.load_pem_x509_certificate(recorded["certificate"])
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": {
                "rawBytes": base64.b64encode(leaf.public_bytes(serialization.Encoding.DER)).decode()
            },
            "tlogEntries": [tlog_entry(entry)],
        },
        "messageSignature": {
            "messageDigest": {
                "algorithm": "SHA2_256",
                "digest": base64.b64encode(hashlib.sha256(step.envelope).digest()).decode(),
            },
            "signature": body["spec"]["signature"]["content"],
        },
    }


def test_sigstore_python_verifies_the_digest_entry(recorded: dict[str, Any], keyring: Any) -> None:
    bundle = Bundle.from_json(json.dumps(_bundle_doc(recorded)))
    bundle.log_entry._verify(keyring)
    body = rekor_types.Hashedrekord.model_validate_json(bundle.log_entry._inner.canonicalized_body)
    spec = body.spec.root
    envelope = recorded["step"].envelope
    assert spec.data.hash is not None
    assert spec.data.hash.value == hashlib.sha256(envelope).hexdigest()
    # the logged key is the functionary's, and the bundle's signature is over the envelope bytes
    logged = serialization.load_pem_public_key(
        base64.b64decode(spec.signature.public_key.content)  # type: ignore[union-attr]
    )
    assert isinstance(logged, ec.EllipticCurvePublicKey)
    assert logged.public_numbers() == bundle.signing_certificate.public_key().public_numbers()
    signature = bundle._inner.message_signature.signature  # type: ignore[union-attr]
    logged.verify(signature, envelope, ec.ECDSA(hashes.SHA256()))
    # nothing of the link is in what the log holds
    assert b"private.csv" not in bundle.log_entry._inner.canonicalized_body


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(integratedTime=str(int(e["integratedTime"]) + 1)),
        lambda e: e["inclusionProof"].update(rootHash=base64.b64encode(b"\x01" * 32).decode()),
    ],
)
def test_sigstore_python_rejects_a_tampered_digest_entry(
    recorded: dict[str, Any], keyring: Any, mutate: Any, tmp_path: Path
) -> None:
    doc = _bundle_doc(recorded)
    mutate(doc["verificationMaterial"]["tlogEntries"][0])
    bundle = Bundle.from_json(json.dumps(doc))
    with pytest.raises(VerificationError):
        bundle.log_entry._verify(keyring)

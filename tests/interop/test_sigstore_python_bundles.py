"""Interoperability with sigstore-python: every step's Sigstore bundle (the functionaries' keys
have keygen's certificates, so the bundles carry them, as sigstore-python requires) parses with
``Bundle.from_json``, and its log entry verifies against the keyring of the trusted root
``log trusted-root`` writes: inclusion proof, signed checkpoint and SET. Tampering fails there."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sigstore._internal.trust import KeyringPurpose
from sigstore.errors import VerificationError
from sigstore.models import Bundle, InvalidBundle, TrustedRoot

from atlas_intoto.cli import main
from atlas_intoto.demo import EmbeddedLog, embedded_log

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "verify"))


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedLog]:
    with embedded_log(tmp_path_factory.mktemp("log")) as running:
        yield running


@pytest.fixture(scope="module")
def pipeline(log: EmbeddedLog, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from bundle_builder import build_pipeline

    root = tmp_path_factory.mktemp("py")
    log_key = root / "log.pub"
    log_key.write_bytes(log.public_key_pem)
    return build_pipeline(root / "p", log_url=log.url, log_key=log_key)


@pytest.fixture(scope="module")
def keyring(log: EmbeddedLog, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("root") / "trusted_root.json"
    assert main(["log", "trusted-root", "--url", log.url, "--out", str(path)]) == 0
    return TrustedRoot.from_file(str(path)).rekor_keyring(KeyringPurpose.VERIFY)


def test_sigstore_python_reads_and_verifies_every_step_bundle(pipeline: Any, keyring: Any) -> None:
    paths = sorted(pipeline.evidence.glob("*.sigstore.json"))
    assert len(paths) == 3
    for path in paths:
        bundle = Bundle.from_json(path.read_bytes())
        bundle.log_entry._verify(keyring)
        body = json.loads(bundle.log_entry._inner.canonicalized_body)
        assert body["kind"] == "dsse"
        # the entry logs exactly this bundle's envelope signature
        signature = bundle._inner.dsse_envelope.signatures[0].sig
        logged = body["spec"]["signatures"][0]["signature"]
        assert base64.b64decode(logged) == signature
        assert bundle.signing_certificate.public_key() is not None


def _mutated(path: Path, mutate: Any) -> bytes:
    doc = json.loads(path.read_bytes())
    mutate(doc["verificationMaterial"]["tlogEntries"][0])
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(integratedTime=str(int(e["integratedTime"]) + 1)),
        lambda e: e["inclusionProof"].update(rootHash=base64.b64encode(b"\x01" * 32).decode()),
        lambda e: e.update(logIndex=str(int(e["logIndex"]) + 7)),
    ],
)
def test_sigstore_python_rejects_a_tampered_log_entry(
    pipeline: Any, keyring: Any, mutate: Any
) -> None:
    path = sorted(pipeline.evidence.glob("train.*.sigstore.json"))[0]
    bundle = Bundle.from_json(_mutated(path, mutate))
    with pytest.raises(VerificationError):
        bundle.log_entry._verify(keyring)


def test_sigstore_python_refuses_public_key_bundles(pipeline: Any, tmp_path: Path) -> None:
    """By design (its documented limitation): the reason functionaries need a certificate."""
    path = sorted(pipeline.evidence.glob("train.*.sigstore.json"))[0]
    doc = json.loads(path.read_bytes())
    material = doc["verificationMaterial"]
    del material["certificate"]
    material["publicKey"] = {"hint": "x"}
    with pytest.raises(InvalidBundle):
        Bundle.from_json(json.dumps(doc))


def test_sigstore_python_reads_the_vsa(pipeline: Any, keyring: Any, log: EmbeddedLog) -> None:
    vsa = pipeline.root / "model.vsa.json"
    argv = ["verify", str(pipeline.bundle_file), "--layout-key", str(pipeline.keys / "owner.pub")]
    argv += ["--vsa-key", str(pipeline.keys / "owner.key"), "--vsa-out", str(vsa)]
    assert main([*argv, "--vsa-log-url", log.url]) == 0
    bundle = Bundle.from_json(vsa.read_bytes())
    bundle.log_entry._verify(keyring)
    statement = json.loads(bundle._inner.dsse_envelope.payload)
    assert statement["predicateType"] == "https://slsa.dev/verification_summary/v1"

"""Verifying bundles recorded on a Rekor v2 log: inclusion and checkpoint, the trusted time from
the TSA timestamp (pinned roots), and the witness cosignatures the layout requires (k of n)."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from helpers import ThreadedServer, pem

sys.path.insert(0, str(Path(__file__).parents[1] / "tlog" / "v2"))
from v2_servers import V2Log, run_log

from atlas_intoto.bundle import collect_evidence, serialize_bundle
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import load_and_pin, sign_layout
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import record_step
from atlas_intoto.tlog.cosignature import WitnessKey
from atlas_intoto.tlog.v2.service import WitnessEndpoint
from atlas_intoto.tlog.witness import Witness, create_witness_app
from atlas_intoto.verify import VerificationReport, verify_bundle


def _pem_text(key: Any) -> str:
    return pem(key).decode()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("v2pipeline")
    keys = root / "keys"
    for name in ("owner", "trainer"):
        generate_keypair(name, directory=keys)
    signer = ec.generate_private_key(ec.SECP256R1())
    wkey = ed25519.Ed25519PrivateKey.generate()
    witness = Witness(key=wkey, name="w1", logs={"test.log": [pem(signer)]}, state=root / "w.db")
    with ThreadedServer(create_witness_app(witness)) as wserver:
        endpoint = WitnessEndpoint(url=wserver.url, key=witness.public_key)
        for log in run_log(root / "log", signer, witnesses=[endpoint]):
            (root / "data").mkdir()
            (root / "data" / "x.csv").write_text("1\n")
            options = RecordingOptions(
                key_path=keys / "trainer.key",
                base_path=root,
                out_dir=root / ".atlas",
                log_url=log.url,
                log_backend="auto",
            )
            record_step(
                step="train", options=options, materials=["data"], products=[], command=["train"]
            )
            yield {"root": root, "keys": keys, "log": log, "witness": witness.public_key}
    witness.close()


def _layout(p: dict[str, Any], *, tsa: bool = True, witnesses: int = 1, threshold: int = 1) -> str:
    log: V2Log = p["log"]
    (p["root"] / "log.pub").write_bytes(log.public_pem)
    (p["root"] / "tsa-root.pem").write_bytes(log.tsa_root)
    wkeys = [p["witness"]] + [
        WitnessKey(name=f"other{i}", public_key=ed25519.Ed25519PrivateKey.generate().public_key())
        for i in range(witnesses - 1)
    ]
    for w in wkeys:
        (p["root"] / f"{w.name}.pub").write_text(w.pem())
    lines = [
        "apiVersion: atlas-intoto/v1",
        "kind: Layout",
        'expires: "2030-01-01T00:00:00Z"',
        "functionaries: {trainer: keys/trainer.pub}",
        "steps:",
        "  - {name: train, functionaries: [trainer], materials: ['ALLOW data/*'], products: []}",
        "trust:",
        "  logs:",
        "    - key: log.pub",
        f"      witnesses: {{threshold: {threshold}, keys: [{', '.join(f'{{name: {w.name}, key: {w.name}.pub}}' for w in wkeys)}]}}"
        if threshold
        else "      required: true",
    ]
    if tsa:
        lines.append("  tsa: {roots: [tsa-root.pem]}")
    return "\n".join(lines) + "\n"


def _bundle(p: dict[str, Any], layout: str, edit: Any = None) -> bytes:
    (p["root"] / "layout.yaml").write_text(layout)
    signed = sign_layout(
        load_and_pin(p["root"] / "layout.yaml"), [load_signer(p["keys"] / "owner.key")]
    )
    bundle = collect_evidence(
        layout_envelope=json.loads(signed), evidence_dirs=[p["root"] / ".atlas"]
    )
    data = serialize_bundle(bundle)
    if edit is not None:
        doc = json.loads(data)
        edit(doc["steps"]["train"]["links"][0]["log_entry"])
        data = json.dumps(doc).encode()
    return data


def _verify(p: dict[str, Any], data: bytes) -> VerificationReport:
    return verify_bundle(data, layout_keys=[(p["keys"] / "owner.pub").read_bytes()])


def _tlog(report: VerificationReport) -> Any:
    return next(r for r in report.results if r.check == "tlog")


def test_v2_bundle_verifies_with_tsa_time_and_cosignatures(pipeline: dict[str, Any]) -> None:
    data = _bundle(pipeline, _layout(pipeline))
    entry = json.loads(data)["steps"]["train"]["links"][0]["log_entry"]
    assert entry["backend"] == "rekor-v2" and entry["timestamps"]
    report = _verify(pipeline, data)
    assert report.ok, report.text()
    assert "(rfc3161)" in _tlog(report).reason


def test_without_pinned_tsa_roots_there_is_no_trusted_time(pipeline: dict[str, Any]) -> None:
    report = _verify(pipeline, _bundle(pipeline, _layout(pipeline, tsa=False)))
    assert report.ok, report.text()
    assert "rfc3161" not in _tlog(report).reason


def test_too_few_cosignatures_fail(pipeline: dict[str, Any]) -> None:
    report = _verify(pipeline, _bundle(pipeline, _layout(pipeline, witnesses=2, threshold=2)))
    row = _tlog(report)
    assert not row.passed and row.error == "WitnessCosignatureError" and row.code == "tlog.witness"


def test_tampered_timestamp_fails(pipeline: dict[str, Any]) -> None:
    def flip(entry: dict[str, Any]) -> None:
        raw = bytearray(base64.b64decode(entry["timestamps"][0]["signedTimestamp"]))
        raw[-20] ^= 1
        entry["timestamps"][0]["signedTimestamp"] = base64.b64encode(bytes(raw)).decode()

    row = _tlog(_verify(pipeline, _bundle(pipeline, _layout(pipeline), flip)))
    assert not row.passed and row.error == "TimestampError" and row.code == "tlog.timestamp"


def test_stripped_cosignature_fails(pipeline: dict[str, Any]) -> None:
    def strip(entry: dict[str, Any]) -> None:
        proof = entry["entry"]["inclusionProof"]["checkpoint"]
        proof["envelope"] = "\n".join(
            line for line in proof["envelope"].split("\n") if not line.startswith("— w1 ")
        )

    row = _tlog(_verify(pipeline, _bundle(pipeline, _layout(pipeline), strip)))
    assert not row.passed and row.error == "WitnessCosignatureError"


# Format v2 model bundles: the step's Statement in a Sigstore bundle with its v2 entry.


def _bundle_v2(p: dict[str, Any], layout: str, edit: Any = None) -> bytes:
    from atlas_intoto.bundle_v2 import collect_evidence_v2, serialize_bundle_v2

    (p["root"] / "layout.yaml").write_text(layout)
    signed = sign_layout(
        load_and_pin(p["root"] / "layout.yaml"), [load_signer(p["keys"] / "owner.key")]
    )
    bundle = collect_evidence_v2(
        layout_envelope=json.loads(signed), evidence_dirs=[p["root"] / ".atlas"]
    )
    data = serialize_bundle_v2(bundle)
    if edit is not None:
        doc = json.loads(data)
        edit(doc["steps"]["train"]["attestations"][0]["sigstore_bundle"]["verificationMaterial"])
        data = json.dumps(doc).encode()
    return data


def test_statement_bundle_holds_the_v2_entry_and_timestamp(pipeline: dict[str, Any]) -> None:
    from atlas_intoto.sigstore_bundle import parse_sigstore_bundle

    (path,) = (pipeline["root"] / ".atlas").glob("train.*.sigstore.json")
    doc = json.loads(path.read_bytes())
    material = doc["verificationMaterial"]
    (entry,) = material["tlogEntries"]
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}
    assert "inclusionPromise" not in entry and entry["inclusionProof"]["checkpoint"]["envelope"]
    (stamp,) = material["timestampVerificationData"]["rfc3161Timestamps"]
    # keygen gave the functionary a certificate: the entry's verifier is that certificate
    body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    verifier = body["spec"]["hashedRekordV002"]["signature"]["verifier"]
    assert "x509Certificate" in verifier and "publicKey" not in verifier
    parsed = parse_sigstore_bundle(doc)
    assert parsed.log_entry is not None and parsed.log_entry["backend"] == "rekor-v2"
    assert parsed.log_entry["entry"] == entry
    assert parsed.log_entry["timestamps"] == [stamp]
    assert parsed.timestamps == (base64.b64decode(stamp["signedTimestamp"]),)
    # the link is logged separately, as before: two entries in the log
    assert (
        json.loads(
            (path.parent / path.name.replace(".sigstore.json", ".logentry.json")).read_bytes()
        )["backend"]
        == "rekor-v2"
    )


def test_format_v2_bundle_on_rekor_v2_verifies(pipeline: dict[str, Any]) -> None:
    data = _bundle_v2(pipeline, _layout(pipeline))
    report = _verify(pipeline, data)
    assert report.ok, report.text()
    assert "(rfc3161)" in _tlog(report).reason
    assert json.loads(data)["media_type"] == "application/vnd.atlas-intoto.bundle.v2+json"


def test_format_v2_too_few_cosignatures_fail(pipeline: dict[str, Any]) -> None:
    data = _bundle_v2(pipeline, _layout(pipeline, witnesses=2, threshold=2))
    row = _tlog(_verify(pipeline, data))
    assert not row.passed and row.error == "WitnessCosignatureError"


def test_format_v2_tampered_timestamp_fails(pipeline: dict[str, Any]) -> None:
    def flip(material: dict[str, Any]) -> None:
        stamp = material["timestampVerificationData"]["rfc3161Timestamps"][0]
        raw = bytearray(base64.b64decode(stamp["signedTimestamp"]))
        raw[-20] ^= 1
        stamp["signedTimestamp"] = base64.b64encode(bytes(raw)).decode()

    row = _tlog(_verify(pipeline, _bundle_v2(pipeline, _layout(pipeline), flip)))
    assert not row.passed and row.error == "TimestampError" and row.code == "tlog.timestamp"


def test_format_v2_tampered_inclusion_proof_fails(pipeline: dict[str, Any]) -> None:
    def flip(material: dict[str, Any]) -> None:
        proof = material["tlogEntries"][0]["inclusionProof"]
        proof["hashes"][0] = base64.b64encode(bytes(32)).decode()

    row = _tlog(_verify(pipeline, _bundle_v2(pipeline, _layout(pipeline), flip)))
    assert not row.passed and row.error == "InclusionProofError"


def test_format_v2_stripped_entry_fails_when_a_log_is_required(pipeline: dict[str, Any]) -> None:
    def strip(material: dict[str, Any]) -> None:
        material["tlogEntries"] = []

    row = _tlog(_verify(pipeline, _bundle_v2(pipeline, _layout(pipeline, threshold=0), strip)))
    assert not row.passed and row.error == "MissingLogEntryError"


def test_format_v2_malformed_timestamp_is_a_clear_input_error(pipeline: dict[str, Any]) -> None:
    from atlas_intoto.errors import InputError

    def garble(material: dict[str, Any]) -> None:
        material["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"] = "!!"

    with pytest.raises(InputError, match=r"rfc3161Timestamps\[0\]\.signedTimestamp"):
        _verify(pipeline, _bundle_v2(pipeline, _layout(pipeline), garble))

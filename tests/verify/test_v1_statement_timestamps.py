"""``--tsa`` on a Rekor v1 log: the step's Statement is timestamped by the TSA (over its
signature) and the timestamp travels in its Sigstore bundle's ``timestampVerificationData``;
verifying the format v2 model bundle checks it with the RFC 3161 time source (a tampered one
fails), while the trusted time stays the log's SET."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import ThreadedServer

from atlas_intoto.bundle_v2 import collect_evidence_v2, serialize_bundle_v2
from atlas_intoto.demo import embedded_log
from atlas_intoto.errors import PublishPendingError
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import load_and_pin, sign_layout
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import record_step
from atlas_intoto.tlog.select import TimestampingPublisher, publisher_for
from atlas_intoto.tsa.http import create_tsa_app
from atlas_intoto.tsa.keys import load_or_create_tsa, root_path
from atlas_intoto.verify import VerificationReport, verify_bundle


def _options(root: Path, out: str, log_url: str, tsa_url: str | None) -> RecordingOptions:
    return RecordingOptions(
        key_path=root / "keys" / "trainer.key",
        base_path=root,
        out_dir=root / out,
        log_url=log_url,
        log_backend="rekor-v1",
        tsa_url=tsa_url,
        log_retries=0,
    )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("v1tsa")
    for name in ("owner", "trainer"):
        generate_keypair(name, directory=root / "keys")
    (root / "data").mkdir()
    (root / "data" / "x.csv").write_text("1\n")
    tsa = load_or_create_tsa(root / "tsa")
    with embedded_log(root / "log") as log, ThreadedServer(create_tsa_app(tsa)) as server:
        options = _options(root, ".atlas", log.url, server.url)
        record_step(
            step="train", options=options, materials=["data"], products=[], command=["train"]
        )
        (root / "log.pub").write_bytes(log.public_key_pem)
        (root / "tsa-root.pem").write_bytes(root_path(root / "tsa").read_bytes())
        yield {"root": root, "log_url": log.url}


def _bundle(p: dict[str, Any], *, tsa: bool = True, edit: Any = None) -> bytes:
    lines = [
        "apiVersion: atlas-intoto/v1",
        "kind: Layout",
        'expires: "2030-01-01T00:00:00Z"',
        "functionaries: {trainer: keys/trainer.pub}",
        "steps:",
        "  - {name: train, functionaries: [trainer], materials: ['ALLOW data/*'], products: []}",
        "trust:",
        "  logs: [{key: log.pub, required: true}]",
    ]
    if tsa:
        lines.append("  tsa: {roots: [tsa-root.pem]}")
    root = p["root"]
    (root / "layout.yaml").write_text("\n".join(lines) + "\n")
    signed = sign_layout(load_and_pin(root / "layout.yaml"), [load_signer(root / "keys/owner.key")])
    bundle = collect_evidence_v2(
        layout_envelope=json.loads(signed), evidence_dirs=[root / ".atlas"]
    )
    doc = json.loads(serialize_bundle_v2(bundle))
    if edit is not None:
        edit(doc["steps"]["train"]["attestations"][0]["sigstore_bundle"]["verificationMaterial"])
    return json.dumps(doc).encode()


def _verify(p: dict[str, Any], data: bytes) -> VerificationReport:
    return verify_bundle(data, layout_keys=[(p["root"] / "keys/owner.pub").read_bytes()])


def _tlog(report: VerificationReport) -> Any:
    return next(r for r in report.results if r.check == "tlog")


def test_statement_bundle_has_v1_entry_and_timestamp(pipeline: dict[str, Any]) -> None:
    (path,) = (pipeline["root"] / ".atlas").glob("train.*.sigstore.json")
    material = json.loads(path.read_bytes())["verificationMaterial"]
    assert material["tlogEntries"][0]["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    assert len(material["timestampVerificationData"]["rfc3161Timestamps"]) == 1
    # the link's own entry is Rekor v1's, unchanged
    (entry,) = (pipeline["root"] / ".atlas").glob("train.*.logentry.json")
    assert "backend" not in json.loads(entry.read_bytes())


def test_bundle_verifies_and_the_timestamp_is_checked(pipeline: dict[str, Any]) -> None:
    report = _verify(pipeline, _bundle(pipeline))
    assert report.ok, report.text()
    # the SET comes first; the timestamp is verified all the same (see the tamper test)
    assert "(log-signed-time)" in _tlog(report).reason


def test_tampered_timestamp_fails(pipeline: dict[str, Any]) -> None:
    def flip(material: dict[str, Any]) -> None:
        stamp = material["timestampVerificationData"]["rfc3161Timestamps"][0]
        raw = bytearray(base64.b64decode(stamp["signedTimestamp"]))
        raw[-20] ^= 1
        stamp["signedTimestamp"] = base64.b64encode(bytes(raw)).decode()

    row = _tlog(_verify(pipeline, _bundle(pipeline, edit=flip)))
    assert not row.passed and row.error == "TimestampError" and row.code == "tlog.timestamp"


def test_timestamp_of_another_signature_fails(pipeline: dict[str, Any]) -> None:
    from atlas_intoto.tsa.client import request_timestamp

    def swap(material: dict[str, Any]) -> None:
        other = request_timestamp(pipeline["tsa_url"], b"another signature")
        stamp = material["timestampVerificationData"]["rfc3161Timestamps"][0]
        stamp["signedTimestamp"] = base64.b64encode(other).decode()

    tsa = load_or_create_tsa(pipeline["root"] / "tsa", create=False)
    with ThreadedServer(create_tsa_app(tsa)) as server:
        pipeline["tsa_url"] = server.url
        row = _tlog(_verify(pipeline, _bundle(pipeline, edit=swap)))
    assert not row.passed and row.error == "TimestampError"


def test_v1_with_tsa_selects_a_timestamping_publisher(tmp_path: Path) -> None:
    options = _options(tmp_path, "out", "http://127.0.0.1:1", "http://127.0.0.1:2")
    publisher = publisher_for(options)
    assert isinstance(publisher, TimestampingPublisher)
    assert publisher.tsa_url == "http://127.0.0.1:2" and publisher.backend_name == "rekor-v1"


def test_unreachable_tsa_leaves_the_step_pending_and_publishing_later_uses_it(
    pipeline: dict[str, Any],
) -> None:
    from atlas_intoto.publishing import publish_pending
    from atlas_intoto.tlog import serving

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    root = pipeline["root"]
    out = root / ".atlas2"
    with embedded_log(root / "log2") as log:
        options = _options(root, ".atlas2", log.url, f"http://127.0.0.1:{port}")
        with pytest.raises(PublishPendingError, match="TSA"):
            record_step(
                step="train", options=options, materials=["data"], products=[], command=["t"]
            )
        (marker,) = (out / ".publish-pending").glob("*.json")
        assert json.loads(marker.read_bytes())["tsa_url"] == f"http://127.0.0.1:{port}"
        (bundle,) = out.glob("train.*.sigstore.json")
        assert not json.loads(bundle.read_bytes())["verificationMaterial"]["tlogEntries"]
        # the TSA comes up on the port the marker names: publishing later timestamps the Statement
        tsa = load_or_create_tsa(root / "tsa", create=False)
        listener = serving.listen("127.0.0.1", port)
        with serving.serve_in_thread(create_tsa_app(tsa), sock=listener):
            outcome = publish_pending(out, url=log.url)
    assert len(outcome.published) == 1 and not outcome.failed
    material = json.loads(bundle.read_bytes())["verificationMaterial"]
    assert material["tlogEntries"] and material["timestampVerificationData"]["rfc3161Timestamps"]
    assert not list((out / ".publish-pending").glob("*.json"))

"""The core's seams, each exercised end to end (record → bundle → verify) by a fake plug-in:
an evidence kind, a log backend and a time source, with a failing case for each.

The fakes are deliberately small but real: the fake evidence binds a report to the step
binding B, the fake log keys its entries with an HMAC under the pinned log key, and the fake
time source proves a time with another HMAC. Nothing here is special-cased in the core.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from atlas_intoto.bundle import collect_evidence, serialize_bundle
from atlas_intoto.errors import (
    LogEntryMismatchError,
    ReportDataMismatchError,
    TrustedTimeError,
)
from atlas_intoto.evidence import registry
from atlas_intoto.evidence.kind import (
    Blob,
    EvidenceKind,
    EvidenceResult,
    RecordedEvidence,
    RecordRequest,
    VerifyContext,
)
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import load_and_pin, sign_layout
from atlas_intoto.recording import EvidenceRequest, RecordingOptions
from atlas_intoto.step import record_step
from atlas_intoto.tlog import backend as log_backends
from atlas_intoto.tlog.backend import LogBackend, LogPublisher, VerifiedEntry
from atlas_intoto.verify import VerificationReport, VerifyCache, verify_bundle
from atlas_intoto.verify.timesource import TimeContext, TimeSource, TrustedTime

RECORDED_AT = 1_800_000_000
NOW = 1_800_000_500


# --- the fakes ---------------------------------------------------------------------------------


class FakeGpuEvidence(EvidenceKind):
    """A 'GPU attestation': a report blob that must name the step binding."""

    name: ClassVar[str] = "fake-gpu"
    blob_dir: ClassVar[str] = "gpu"

    def record(self, request: RecordRequest) -> RecordedEvidence:
        report = json.dumps({"binding": request.binding.hex(), "gpu": "H100-sim"}).encode()
        return RecordedEvidence(
            fields={"vendor": "fake", "model": request.options.get("model", "H100-sim")},
            blobs={"report": Blob(data=report, suffix=".json")},
        )

    def verify(self, context: VerifyContext) -> EvidenceResult:
        report = json.loads(context.blob("report"))
        if report["binding"] != context.binding.hex():
            raise ReportDataMismatchError(f"step {context.step}: GPU report is for another link")
        allowed = (context.step_policy or {}).get("models")
        if allowed and context.entry.fields.get("model") not in allowed:
            raise ReportDataMismatchError(f"step {context.step}: GPU model not allowed")
        return EvidenceResult(
            kind=self.name,
            description=f"fake GPU report verified at {context.at}",
            facts={"model": context.entry.fields.get("model"), "at": context.at},
        )


def _mac(key_pem: bytes, data: bytes) -> str:
    return hmac.new(hashlib.sha256(key_pem).digest(), data, hashlib.sha256).hexdigest()


class MemoryLog:
    """The log 'server': entries in a list, each MACed under the log key."""

    def __init__(self, key_pem: bytes) -> None:
        self.key_pem = key_pem
        self.entries: list[str] = []

    def append(self, envelope: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(envelope).hexdigest()
        self.entries.append(digest)
        index = len(self.entries) - 1
        body = f"{index}:{digest}".encode()
        return {
            "backend": "memory-log",
            "index": index,
            "envelope_sha256": digest,
            "mac": _mac(self.key_pem, body),
            "time": RECORDED_AT,
            "time_mac": _mac(self.key_pem, f"time:{digest}:{RECORDED_AT}".encode()),
        }


class MemoryPublisher:
    def __init__(self, log: MemoryLog) -> None:
        self.log = log

    def publish(self, envelope: bytes, public_key_pem: bytes) -> Mapping[str, Any]:
        return self.log.append(envelope)


class MemoryLogBackend(LogBackend):
    name: ClassVar[str] = "memory-log"

    def __init__(self, log: MemoryLog) -> None:
        self.log = log

    def publisher(self, url: str) -> LogPublisher:
        assert url == "memory://log"
        return MemoryPublisher(self.log)

    def verify(
        self, document: Mapping[str, Any], *, envelope: bytes, log_keys: Sequence[bytes]
    ) -> VerifiedEntry:
        digest = hashlib.sha256(envelope).hexdigest()
        if document.get("envelope_sha256") != digest:
            raise LogEntryMismatchError("memory log entry: records another envelope")
        body = f"{document['index']}:{digest}".encode()
        if not any(hmac.compare_digest(_mac(k, body), document["mac"]) for k in log_keys):
            raise LogEntryMismatchError("memory log entry: not made by a pinned log")
        return VerifiedEntry(
            backend=self.name,
            entry_id=digest,
            log_index=int(document["index"]),
            tree_size=len(self.log.entries),
            root_hash=hashlib.sha256("".join(self.log.entries).encode()).digest(),
            origin="memory-log",
        )


class MemoryLogTime(TimeSource):
    """A 'timestamp authority': the log's MAC over the envelope digest and a time."""

    name: ClassVar[str] = "memory-log-time"

    def __init__(self, key_pem: bytes) -> None:
        self.key_pem = key_pem

    def establish(self, context: TimeContext) -> TrustedTime | None:
        doc = context.document
        if "time" not in doc:
            return None
        expected = _mac(self.key_pem, f"time:{context.entry.entry_id}:{doc['time']}".encode())
        if not hmac.compare_digest(expected, str(doc.get("time_mac"))):
            raise TrustedTimeError(f"step {context.step}: the log's timestamp does not verify")
        return TrustedTime(seconds=int(doc["time"]), source=self.name)


# --- a pipeline recorded with them -----------------------------------------------------------


LAYOUT = """
apiVersion: atlas-intoto/v1
kind: Layout
expires: "2030-01-01T00:00:00Z"
functionaries: {trainer: keys/trainer.pub}
steps:
  - name: train
    functionaries: [trainer]
    evidence: {fake-gpu: {required: true, models: [H100-sim]}}
    materials: ["ALLOW data/*", "DISALLOW *"]
    products: ["CREATE model/*", "DISALLOW *"]
trust:
  logs: [{key: keys/log.pub, required: true}]
"""


@pytest.fixture
def seams(tmp_path: Path) -> Iterator[dict[str, Any]]:
    keys = tmp_path / "keys"
    for name in ("owner", "trainer", "log"):
        generate_keypair(name, directory=keys)
    log = MemoryLog((keys / "log.pub").read_bytes())
    registry.register(FakeGpuEvidence())
    log_backends.register(MemoryLogBackend(log))
    try:
        yield {"root": tmp_path, "keys": keys, "log": log}
    finally:
        registry.unregister("fake-gpu")
        log_backends.unregister("memory-log")


def _record_and_bundle(seams: dict[str, Any], *, evidence: bool = True) -> bytes:
    root, keys = seams["root"], seams["keys"]
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("x,y\n1,2\n")
    (root / "model").mkdir()
    (root / "model" / "weights.bin").write_bytes(b"\x00" * 64)
    (root / "layout.yaml").write_text(LAYOUT)
    options = RecordingOptions(
        key_path=keys / "trainer.key",
        base_path=root,
        out_dir=root / ".atlas",
        evidence=(EvidenceRequest(kind="fake-gpu"),) if evidence else (),
        log_url="memory://log",
        log_backend="memory-log",
    )
    recorded = record_step(
        step="train", options=options, materials=["data"], products=["model"], command=["train"]
    )
    if evidence:
        assert recorded.blob_paths["fake-gpu"]["report"].is_file()
    signed = sign_layout(load_and_pin(root / "layout.yaml"), [load_signer(keys / "owner.key")])
    bundle = collect_evidence(layout_envelope=json.loads(signed), evidence_dirs=[root / ".atlas"])
    return serialize_bundle(bundle)


def _verify(
    seams: dict[str, Any], data: bytes, cache: VerifyCache | None = None
) -> VerificationReport:
    return verify_bundle(
        data,
        layout_keys=[(seams["keys"] / "owner.pub").read_bytes()],
        now=NOW,
        cache=cache,
        time_sources=(MemoryLogTime((seams["keys"] / "log.pub").read_bytes()),),
    )


def _edit(data: bytes, edit: Any) -> bytes:
    doc = json.loads(data)
    edit(doc["steps"]["train"]["links"][0])
    return json.dumps(doc).encode()


def _failure(report: VerificationReport) -> tuple[str, str | None]:
    first = report.first_failure
    assert first is not None, report.text()
    return first.check, first.error


# --- the tests -------------------------------------------------------------------------------


def test_fake_kind_backend_and_time_source_verify_end_to_end(seams: dict[str, Any]) -> None:
    data = _record_and_bundle(seams)
    doc = json.loads(data)
    item = doc["steps"]["train"]["links"][0]
    assert set(item["blobs"]) == {"fake-gpu"} and item["log_entry"]["backend"] == "memory-log"
    report = _verify(seams, data)
    assert report.ok, report.text()
    rows = {row.check: row for row in report.results}
    # The evidence kind was judged at the time the fake time source proved, not at --now.
    assert rows["tee"].reason == f"fake GPU report verified at {RECORDED_AT}"
    assert "memory-log-time" in rows["tlog"].reason
    assert report.steps[0].integrated_time == RECORDED_AT


def test_fake_kind_blob_tampered_fails_with_the_kind_error(seams: dict[str, Any]) -> None:
    data = _record_and_bundle(seams)

    def swap(item: dict[str, Any]) -> None:
        item["blobs"]["fake-gpu"]["report"] = base64.b64encode(b'{"binding": "00"}').decode()

    assert _failure(_verify(seams, _edit(data, swap))) == ("tee", "EvidenceBlobMismatchError")


def test_required_kind_missing_fails(seams: dict[str, Any]) -> None:
    data = _record_and_bundle(seams, evidence=False)
    assert _failure(_verify(seams, data)) == ("tee", "MissingTeeEvidenceError")


def test_unregistered_kind_fails_closed(seams: dict[str, Any]) -> None:
    data = _record_and_bundle(seams)
    registry.unregister("fake-gpu")
    assert _failure(_verify(seams, data)) == ("tee", "UnknownEvidenceKindError")


def test_fake_log_entry_for_another_envelope_fails(seams: dict[str, Any]) -> None:
    data = _record_and_bundle(seams)

    def other(item: dict[str, Any]) -> None:
        item["log_entry"]["envelope_sha256"] = "0" * 64

    assert _failure(_verify(seams, _edit(data, other))) == ("tlog", "LogEntryMismatchError")


def test_unknown_log_backend_fails_closed(seams: dict[str, Any]) -> None:
    data = _record_and_bundle(seams)
    log_backends.unregister("memory-log")
    assert _failure(_verify(seams, data)) == ("tlog", "UnknownLogBackendError")


def test_time_source_with_a_bad_proof_fails(seams: dict[str, Any]) -> None:
    data = _record_and_bundle(seams)

    def later(item: dict[str, Any]) -> None:
        item["log_entry"]["time"] = RECORDED_AT + 3600

    assert _failure(_verify(seams, _edit(data, later))) == ("tlog", "TrustedTimeError")


def test_without_a_time_source_the_reference_time_is_used(seams: dict[str, Any]) -> None:
    data = _record_and_bundle(seams)
    report = verify_bundle(
        data, layout_keys=[(seams["keys"] / "owner.pub").read_bytes()], now=NOW, time_sources=()
    )
    assert report.ok, report.text()
    tee = next(row for row in report.results if row.check == "tee")
    assert tee.reason == f"fake GPU report verified at {NOW}"


def test_cached_passes_are_not_reused_once_a_plugin_is_gone(seams: dict[str, Any]) -> None:
    data = _record_and_bundle(seams)
    cache_dir = seams["root"] / "cache"
    assert _verify(seams, data, VerifyCache(cache_dir)).ok
    warm = _verify(seams, data, VerifyCache(cache_dir))
    assert warm.ok and warm.cache_hits > 0
    log_backends.unregister("memory-log")
    assert _failure(_verify(seams, data, VerifyCache(cache_dir))) == (
        "tlog",
        "UnknownLogBackendError",
    )
    registry.unregister("fake-gpu")
    failures = _verify(seams, data, VerifyCache(cache_dir)).failures
    assert ("tee", "UnknownEvidenceKindError") in {(r.check, r.error) for r in failures}

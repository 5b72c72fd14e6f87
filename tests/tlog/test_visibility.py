"""``--log-visibility digest``: the log learns only a digest and a key, on Rekor v1 (embedded log,
hashedrekord 0.0.1) and Rekor v2 (hashedrekord 0.0.2), and a bundle recorded so verifies only
under a layout that accepts digest entries, signed by the step's functionary."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import log_on, pem

sys.path.insert(0, str(Path(__file__).parent / "v2"))
from v2_servers import run_log

from atlas_intoto.bundle import collect_evidence, serialize_bundle
from atlas_intoto.errors import UsageError
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import load_and_pin, sign_layout
from atlas_intoto.publishing import pending_markers, publish_pending, read_marker
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import record_step
from atlas_intoto.verify import VerificationReport, verify_bundle

#: What must never reach the log under digest visibility (written into the step's files).
SECRET_PATH = "data/secret-customer-records.csv"
SECRET_CONTENT = b"confidential training rows\n"


def _keys(root: Path) -> Path:
    keys = root / "keys"
    for name in ("owner", "trainer", "intruder"):
        generate_keypair(name, directory=keys)
    return keys


def _record(root: Path, keys: Path, url: str, *, backend: str, **extra: Any) -> Any:
    (root / "data").mkdir(exist_ok=True)
    (root / SECRET_PATH).write_bytes(SECRET_CONTENT)
    options = RecordingOptions(
        key_path=keys / extra.pop("key", "trainer.key"),
        base_path=root,
        out_dir=root / ".atlas",
        log_url=url,
        log_backend=backend,
        log_visibility=extra.pop("visibility", "digest"),
        log_retries=0,
        **extra,
    )
    return record_step(
        step="train", options=options, materials=["data"], products=[], command=["train"]
    )


def _layout(root: Path, keys: Path, log_pem: bytes, visibility: str | None) -> str:
    (root / "log.pub").write_bytes(log_pem)
    vis = "" if visibility is None else f", visibility: {visibility}"
    return (
        "apiVersion: atlas-intoto/v1\nkind: Layout\n"
        'expires: "2099-01-01T00:00:00Z"\n'
        f"functionaries: {{trainer: {keys}/trainer.pub}}\n"
        "steps:\n"
        "  - {name: train, functionaries: [trainer], materials: ['ALLOW data/*'], products: []}\n"
        f"trust:\n  logs:\n    - {{key: log.pub, required: true{vis}}}\n"
    )


def _bundle(root: Path, keys: Path, layout: str, *, fmt: str = "v1") -> bytes:
    """Model bundle format v1 (the link envelopes) or v2 (the Statements' Sigstore bundles)."""
    from atlas_intoto.bundle_v2 import collect_evidence_v2, serialize_bundle_v2

    (root / "layout.yaml").write_text(layout)
    signed = json.loads(
        sign_layout(load_and_pin(root / "layout.yaml"), [load_signer(keys / "owner.key")])
    )
    if fmt == "v2":
        v2 = collect_evidence_v2(layout_envelope=signed, evidence_dirs=[root / ".atlas"])
        return serialize_bundle_v2(v2)
    bundle = collect_evidence(layout_envelope=signed, evidence_dirs=[root / ".atlas"])
    return serialize_bundle(bundle)


def _verify(keys: Path, data: bytes) -> VerificationReport:
    return verify_bundle(data, layout_keys=[(keys / "owner.pub").read_bytes()])


def _tlog(report: VerificationReport) -> Any:
    return next(r for r in report.results if r.check == "tlog")


def _secrets(root: Path) -> list[bytes]:
    """Every form in which the link's content could leak: its payload (raw and base64), the
    private path, the file's digest (hex and base64) and the DSSE signature."""
    link = next((root / ".atlas").glob("train.*.link")).read_bytes()
    env = json.loads(link)
    payload = base64.b64decode(env["payload"])
    digest = hashlib.sha256(SECRET_CONTENT).digest()
    return [
        payload[:64],
        env["payload"][:64].encode(),
        SECRET_PATH.encode(),
        SECRET_PATH.encode().hex().encode(),
        digest.hex().encode(),
        base64.b64encode(digest),
        base64.b64encode(SECRET_PATH.encode())[:16],
        env["signatures"][0]["sig"].encode(),
        hashlib.sha256(payload).hexdigest().encode(),
    ]


def _db_values(path: Path) -> Iterator[bytes]:
    """Every value of every row of a SQLite file, and its base64 decoding when it has one."""
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for row in db.execute(f"select * from {table}"):
                for value in row:
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    yield raw
                    with contextlib.suppress(ValueError):
                        yield base64.b64decode(raw, validate=True)


def _log_storage(directory: Path) -> bytes:
    """The log's whole storage: every file's bytes and every SQLite row, decoded forms too."""
    out = bytearray()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        out += path.read_bytes()
        if path.suffix == ".db":
            out += b"".join(_db_values(path))
    return bytes(out)


# --- Rekor v1 (embedded log) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("digest-v1")
    keys = _keys(root)
    with log_on(root / "log") as (url, log_pem):
        recorded = _record(root, keys, url, backend="rekor-v1")
        yield {"root": root, "keys": keys, "url": url, "log_pem": log_pem, "recorded": recorded}


def test_v1_log_storage_holds_no_path_digest_or_payload(v1: dict[str, Any]) -> None:
    storage = _log_storage(v1["root"] / "log")
    # The log learns the envelope's digest (that is the entry) ...
    assert hashlib.sha256(v1["recorded"].envelope).hexdigest().encode() in storage
    for secret in _secrets(v1["root"]):
        assert secret not in storage  # ... and none of the link's content


def test_v1_entry_is_a_hashedrekord_over_the_envelope_bytes(v1: dict[str, Any]) -> None:
    (doc,) = json.loads(v1["recorded"].log_entry_path.read_bytes()).values()
    body = json.loads(base64.b64decode(doc["body"]))
    assert (body["kind"], body["apiVersion"]) == ("hashedrekord", "0.0.1")
    envelope = v1["recorded"].envelope
    assert body["spec"]["data"]["hash"]["value"] == hashlib.sha256(envelope).hexdigest()
    assert not list((v1["root"] / ".atlas" / ".publish-pending").glob("*.json"))


def test_v1_statement_is_logged_by_digest_too(v1: dict[str, Any]) -> None:
    from atlas_intoto.sigstore_bundle import parse_sigstore_bundle

    path = next((v1["root"] / ".atlas").glob("train.*.sigstore.json"))
    doc = json.loads(path.read_bytes())
    (entry,) = doc["verificationMaterial"]["tlogEntries"]
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
    body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    envelope = parse_sigstore_bundle(doc).envelope
    assert body["spec"]["data"]["hash"]["value"] == hashlib.sha256(envelope).hexdigest()


@pytest.mark.parametrize(("visibility", "fmt"), [("digest", "v1"), ("any", "v1"), ("digest", "v2")])
def test_v1_digest_bundle_verifies(v1: dict[str, Any], visibility: str, fmt: str) -> None:
    layout = _layout(v1["root"], v1["keys"], v1["log_pem"], visibility)
    report = _verify(v1["keys"], _bundle(v1["root"], v1["keys"], layout, fmt=fmt))
    assert report.ok, report.text()
    assert "digest-only entry" in _tlog(report).reason
    assert "(log-signed-time)" in _tlog(report).reason


def test_v1_default_layout_rejects_digest_entries(v1: dict[str, Any]) -> None:
    layout = _layout(v1["root"], v1["keys"], v1["log_pem"], None)
    row = _tlog(_verify(v1["keys"], _bundle(v1["root"], v1["keys"], layout)))
    assert not row.passed and row.error == "LogVisibilityNotAllowedError"
    assert row.code == "tlog.visibility"


def test_full_entry_rejected_by_digest_only_layout(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    with log_on(tmp_path / "log") as (url, log_pem):
        _record(tmp_path, keys, url, backend="rekor-v1", visibility="full")
    # The control for the storage searches above: a full (dsse) entry is found by them (its
    # payload hash and signature are stored; the whole envelope was sent to the log).
    storage = _log_storage(tmp_path / "log")
    assert [s for s in _secrets(tmp_path) if s in storage]
    layout = _layout(tmp_path, keys, log_pem, "digest")
    row = _tlog(_verify(keys, _bundle(tmp_path, keys, layout)))
    assert not row.passed and row.error == "LogVisibilityNotAllowedError"
    ok = _verify(keys, _bundle(tmp_path, keys, _layout(tmp_path, keys, log_pem, "any")))
    assert ok.ok, ok.text()


def test_digest_entry_by_another_key_is_not_the_functionarys(tmp_path: Path) -> None:
    """The intruder logs the trainer's envelope by digest under the intruder's own key."""
    from atlas_intoto.tlog.client import RekorClient
    from atlas_intoto.tlog.visibility import envelope_digest, sign_envelope

    keys = _keys(tmp_path)
    with log_on(tmp_path / "log") as (url, log_pem):
        recorded = _record(tmp_path, keys, url, backend="rekor-v1")
        intruder = load_signer(keys / "intruder.key")
        with RekorClient(url) as client:
            entry = client.publish_hashedrekord(
                signature=sign_envelope(intruder, recorded.envelope),
                public_key_pem=(keys / "intruder.pub").read_bytes(),
                digest=envelope_digest(recorded.envelope),
            )
    recorded.log_entry_path.write_text(json.dumps(entry))
    layout = _layout(tmp_path, keys, log_pem, "digest")
    row = _tlog(_verify(keys, _bundle(tmp_path, keys, layout)))
    assert not row.passed and row.error == "LogSignerNotFunctionaryError"
    assert row.code == "tlog.digest-signer"


def test_digest_entry_of_another_envelope_is_a_mismatch(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    with log_on(tmp_path / "log") as (url, log_pem):
        first = _record(tmp_path, keys, url, backend="rekor-v1")
        saved = first.log_entry_path.read_bytes()
        (tmp_path / "data" / "more.csv").write_text("2\n")
        second = _record(tmp_path, keys, url, backend="rekor-v1")
    second.log_entry_path.write_bytes(saved)  # the entry of the first run's envelope
    layout = _layout(tmp_path, keys, log_pem, "digest")
    row = _tlog(_verify(keys, _bundle(tmp_path, keys, layout)))
    assert not row.passed and row.error == "LogDigestMismatchError"
    assert row.code == "tlog.digest"


# --- publishing later ---------------------------------------------------------------------------


def test_log_publish_of_a_pending_link_logs_it_by_digest(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    with pytest.raises(Exception, match="pending"):
        _record(tmp_path, keys, "http://127.0.0.1:9", backend="rekor-v1", log_backoff=0)
    (marker,) = pending_markers(tmp_path / ".atlas")
    pending = read_marker(marker)
    assert pending.visibility == "digest" and pending.envelope_signature
    with log_on(tmp_path / "log") as (url, log_pem):
        outcome = publish_pending(tmp_path / ".atlas", url=url)
    assert outcome.published == (pending.link,) and not outcome.failed
    for secret in _secrets(tmp_path):
        assert secret not in _log_storage(tmp_path / "log")
    report = _verify(keys, _bundle(tmp_path, keys, _layout(tmp_path, keys, log_pem, "digest")))
    assert report.ok, report.text()


def test_log_publish_can_turn_a_full_link_into_a_digest_entry(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    with pytest.raises(Exception, match="pending"):
        _record(
            tmp_path, keys, "http://127.0.0.1:9", backend="rekor-v1", visibility="full",
            log_backoff=0,
        )  # fmt: skip
    with log_on(tmp_path / "log") as (url, log_pem):
        with pytest.raises(UsageError, match="--key"):
            publish_pending(tmp_path / ".atlas", url=url, visibility="digest")
        with pytest.raises(UsageError, match="not the key"):
            publish_pending(
                tmp_path / ".atlas",
                url=url,
                visibility="digest",
                signer=load_signer(keys / "intruder.key"),
            )
        outcome = publish_pending(
            tmp_path / ".atlas",
            url=url,
            visibility="digest",
            signer=load_signer(keys / "trainer.key"),
        )
    assert len(outcome.published) == 1
    for secret in _secrets(tmp_path):
        assert secret not in _log_storage(tmp_path / "log")
    report = _verify(keys, _bundle(tmp_path, keys, _layout(tmp_path, keys, log_pem, "digest")))
    assert report.ok, report.text()


def test_ed25519_functionary_cannot_record_by_digest(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "ed.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(UsageError, match="P-256"):
        _record(tmp_path, tmp_path, "http://127.0.0.1:9", backend="rekor-v1", key="ed.key")
    assert not (tmp_path / ".atlas").exists() or not list((tmp_path / ".atlas").glob("*.link"))


def test_recording_options_reject_unknown_visibility() -> None:
    with pytest.raises(UsageError, match="--log-visibility"):
        RecordingOptions(key_path=Path("k"), log_visibility="secret")
    options = RecordingOptions(key_path=Path("k"), log_visibility="digest")
    assert RecordingOptions.from_dict(options.to_dict()) == options


# --- Rekor v2 -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("digest-v2")
    keys = _keys(root)
    signer = ec.generate_private_key(ec.SECP256R1())
    for log in run_log(root / "log", signer):
        recorded = _record(root, keys, log.url, backend="rekor-v2")
        (root / "tsa-root.pem").write_bytes(log.tsa_root)
        yield {"root": root, "keys": keys, "log_pem": pem(signer), "recorded": recorded}


def test_v2_log_storage_holds_no_path_digest_or_payload(v2: dict[str, Any]) -> None:
    storage = _log_storage(v2["root"] / "log")
    assert base64.b64encode(hashlib.sha256(v2["recorded"].envelope).digest()) in storage
    for secret in _secrets(v2["root"]):
        assert secret not in storage


def test_v2_entry_digest_is_the_envelope_bytes(v2: dict[str, Any]) -> None:
    doc = json.loads(v2["recorded"].log_entry_path.read_bytes())
    body = json.loads(base64.b64decode(doc["entry"]["canonicalizedBody"]))
    data = body["spec"]["hashedRekordV002"]["data"]
    assert base64.b64decode(data["digest"]) == hashlib.sha256(v2["recorded"].envelope).digest()
    assert doc["timestamps"]


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_v2_digest_bundle_verifies_with_tsa_time(v2: dict[str, Any], fmt: str) -> None:
    layout = _layout(v2["root"], v2["keys"], v2["log_pem"], "digest")
    layout += "  tsa: {roots: [tsa-root.pem]}\n"
    report = _verify(v2["keys"], _bundle(v2["root"], v2["keys"], layout, fmt=fmt))
    assert report.ok, report.text()
    assert "digest-only entry" in _tlog(report).reason and "(rfc3161)" in _tlog(report).reason


def test_v2_default_layout_rejects_digest_entries(v2: dict[str, Any]) -> None:
    layout = _layout(v2["root"], v2["keys"], v2["log_pem"], None)
    row = _tlog(_verify(v2["keys"], _bundle(v2["root"], v2["keys"], layout)))
    assert not row.passed and row.error == "LogVisibilityNotAllowedError"


# --- vectors (tests/tlog/vectors/make_visibility_vectors.py) -------------------------------------

VECTORS = sorted((Path(__file__).parent / "vectors").glob("visibility-*.json"))


def _check_vector(doc: dict[str, Any]) -> None:
    """Check 6 as the verifier runs it: the backend, then the layout's visibility rules."""
    from types import SimpleNamespace

    from atlas_intoto.keys import load_public_key_pem, sslib_key
    from atlas_intoto.layout import LogTrust
    from atlas_intoto.layout.model import FunctionaryKey
    from atlas_intoto.tlog.backend import backend_for_document
    from atlas_intoto.verify.checks.log_visibility import check_visibility

    keys = [
        FunctionaryKey(name=f"f{i}", keyid=sslib_key(load_public_key_pem(p.encode(), source="f")).keyid, pem=p)
        for i, p in enumerate(doc["functionaries"])
    ]  # fmt: skip
    entry = backend_for_document(doc["entry"]).verify(
        doc["entry"], envelope=doc["envelope"].encode(), log_keys=[doc["log_key"].encode()]
    )
    state = SimpleNamespace(layout=SimpleNamespace(functionaries={k.name: k for k in keys}))
    link = SimpleNamespace(signed_by=tuple(k.keyid for k in keys))
    log = LogTrust(pem=doc["log_key"], visibility=doc["layout_visibility"])
    check_visibility(state, "train", link, entry, log)  # type: ignore[arg-type]


def test_visibility_vectors_present() -> None:
    assert len(VECTORS) >= 10


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_visibility_vector(path: Path) -> None:
    doc = json.loads(path.read_text())
    if doc["expected_error"] is None:
        _check_vector(doc)
        return
    with pytest.raises(Exception) as exc:
        _check_vector(doc)
    assert type(exc.value).__name__ == doc["expected_error"], exc.value

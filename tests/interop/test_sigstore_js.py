"""Interoperability with sigstore-js: ``@sigstore/verify`` (pinned in tests/interop/js) verifies
every step's Sigstore bundle — as recorded, and as carried in a format v2 model bundle — with
the functionaries' public keys and the trusted root ``log trusted-root`` writes; a tampered
bundle fails there too.

The log is served with the origin ``127.0.0.1``: sigstore-js accepts a checkpoint only when its
signer name occurs in the log's base URL (Rekor names its checkpoints after its host).
Node.js and the npm packages come from ``tests/system_deps.sh``; without them this test fails.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto.cli import main
from atlas_intoto.demo import EmbeddedLog, embedded_log
from atlas_intoto.keys import generate_keypair, load_public_key

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "verify"))

JS_DIR = Path(__file__).resolve().parent / "js"
FUNCTIONARIES = ("data-eng", "trainer", "release")


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is missing: run 'bash tests/system_deps.sh' as root (apt-get install nodejs npm)"
        )
    if not (JS_DIR / "node_modules" / "@sigstore" / "verify").is_dir():
        pytest.fail(
            f"sigstore-js is not installed: run 'bash tests/system_deps.sh' (npm ci in {JS_DIR})"
        )
    return node


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedLog]:
    with embedded_log(tmp_path_factory.mktemp("log"), origin="127.0.0.1") as running:
        yield running


@pytest.fixture(scope="module")
def pipeline(log: EmbeddedLog, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A three-step pipeline whose functionaries have no certificate: public key hints."""
    from bundle_builder import KEY_NAMES, build_pipeline

    root = tmp_path_factory.mktemp("js")
    keys = root / "keys-src"
    for name in KEY_NAMES:
        generate_keypair(name, directory=keys)
    for name in FUNCTIONARIES:
        (keys / f"{name}.crt").unlink()
    log_key = root / "log.pub"
    log_key.write_bytes(log.public_key_pem)
    return build_pipeline(root / "p", log_url=log.url, log_key=log_key, keys=keys)


@pytest.fixture(scope="module")
def trust(log: EmbeddedLog, pipeline: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trusted root (from the CLI) and the functionaries' keys by hint, in one directory."""
    directory = tmp_path_factory.mktemp("trust")
    assert (
        main(["log", "trusted-root", "--url", log.url, "--out", str(directory / "root.json")]) == 0
    )
    keys = {}
    for name in FUNCTIONARIES:
        public = pipeline.keys / f"{name}.pub"
        keys[load_public_key(public).keyid] = public.read_text()
    (directory / "keys.json").write_text(json.dumps(keys))
    return directory


def _sigstore_js(trust: Path, bundles: list[Path]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [_node(), str(JS_DIR / "verify.cjs"), str(trust / "root.json"), str(trust / "keys.json")]
        + [str(b) for b in bundles],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(bundles), done.stderr
    return lines


def test_sigstore_js_verifies_every_recorded_step(pipeline: Any, trust: Path) -> None:
    bundles = sorted(pipeline.evidence.glob("*.sigstore.json"))
    assert len(bundles) == 3
    assert all("publicKey" in json.loads(b.read_bytes())["verificationMaterial"] for b in bundles)
    results = _sigstore_js(trust, bundles)
    assert all(r["ok"] for r in results), results


def test_sigstore_js_verifies_the_bundles_inside_a_v2_model_bundle(
    pipeline: Any, trust: Path, tmp_path: Path
) -> None:
    from atlas_intoto.bundle_v2 import collect_evidence_v2, serialize_bundle_v2

    evidence = tmp_path / "links-only"
    shutil.copytree(pipeline.evidence, evidence)
    for path in evidence.glob("*.sigstore.json"):
        path.unlink()  # v0.9 links wrapped into Sigstore bundles by bundle create
    layout = json.loads(pipeline.layout_file.read_bytes())
    paths = []
    for source in (pipeline.evidence, evidence):
        doc = json.loads(
            serialize_bundle_v2(collect_evidence_v2(layout_envelope=layout, evidence_dirs=[source]))
        )
        for step, entry in doc["steps"].items():
            path = tmp_path / f"{source.name}-{step}.json"
            path.write_text(json.dumps(entry["attestations"][0]["sigstore_bundle"]))
            paths.append(path)
    results = _sigstore_js(trust, paths)
    assert all(r["ok"] for r in results), results


def _tamper(source: Path, target: Path, mutate: Any) -> Path:
    doc = json.loads(source.read_bytes())
    mutate(doc)
    target.write_text(json.dumps(doc))
    return target


def test_sigstore_js_rejects_tampered_bundles(pipeline: Any, trust: Path, tmp_path: Path) -> None:
    source = sorted(pipeline.evidence.glob("train.*.sigstore.json"))[0]

    def payload(doc: dict[str, Any]) -> None:
        statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
        statement["subject"][0]["digest"]["sha256"] = "00" * 32
        doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()

    def set_(doc: dict[str, Any]) -> None:
        entry = doc["verificationMaterial"]["tlogEntries"][0]
        entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)

    def proof(doc: dict[str, Any]) -> None:
        entry = doc["verificationMaterial"]["tlogEntries"][0]
        # sigstore-js recomputes the root from the proof hashes (the rootHash field is unused)
        entry["inclusionProof"]["hashes"][0] = base64.b64encode(b"\x01" * 32).decode()

    def other_entry(doc: dict[str, Any]) -> None:
        prepare = sorted(pipeline.evidence.glob("prepare.*.sigstore.json"))[0]
        other = json.loads(prepare.read_bytes())["verificationMaterial"]["tlogEntries"]
        doc["verificationMaterial"]["tlogEntries"] = other

    tampered = [
        _tamper(source, tmp_path / f"{f.__name__}.json", f)
        for f in (payload, set_, proof, other_entry)
    ]
    results = _sigstore_js(trust, tampered)
    codes = [str(r.get("error", "")).split(":")[0] for r in results]
    assert codes == [
        "TLOG_BODY_ERROR",  # the payload no longer matches the logged payload hash
        "TLOG_INCLUSION_PROMISE_ERROR",  # the SET does not cover another time
        "TLOG_INCLUSION_PROOF_ERROR",  # the proof does not reach the signed checkpoint
        "TLOG_BODY_ERROR",  # another step's entry logs another signature
    ], results


def test_sigstore_js_verifies_the_vsa(
    pipeline: Any, trust: Path, log: EmbeddedLog, tmp_path: Path
) -> None:
    vsa = tmp_path / "model.vsa.json"
    code = main(
        [
            "verify",
            str(pipeline.bundle_file),
            "--layout-key",
            str(pipeline.keys / "owner.pub"),
            "--vsa-key",
            str(pipeline.keys / "release.key"),
            "--vsa-out",
            str(vsa),
            "--vsa-log-url",
            log.url,
        ]
    )
    assert code == 0
    assert _sigstore_js(trust, [vsa]) == [{"bundle": str(vsa), "ok": True}]
    statement = json.loads(
        base64.b64decode(json.loads(vsa.read_bytes())["dsseEnvelope"]["payload"])
    )
    assert statement["predicate"]["verificationResult"] == "PASSED"


def test_sigstore_js_verifies_certificate_bundles_under_the_dev_ca(
    log: EmbeddedLog, tmp_path: Path
) -> None:
    """As recorded by default: keygen's certificate is the material; the trusted root lists
    keygen's CA (``log trusted-root --ca``), no key hints needed."""
    from bundle_builder import build_pipeline

    log_key = tmp_path / "log.pub"
    log_key.write_bytes(log.public_key_pem)
    pipeline = build_pipeline(tmp_path / "p", log_url=log.url, log_key=log_key)
    trust = tmp_path / "trust"
    trust.mkdir()
    argv = ["log", "trusted-root", "--url", log.url, "--out", str(trust / "root.json")]
    assert main([*argv, "--ca", str(pipeline.keys / "ca.crt")]) == 0
    (trust / "keys.json").write_text("{}")
    bundles = sorted(pipeline.evidence.glob("*.sigstore.json"))
    assert all("certificate" in json.loads(b.read_bytes())["verificationMaterial"] for b in bundles)
    results = _sigstore_js(trust, bundles)
    assert all(r["ok"] for r in results), results
    # without the CA in the trusted root, nothing vouches for the certificates
    assert main([*argv]) == 0
    refused = _sigstore_js(trust, bundles[:1])
    assert refused[0]["error"].startswith("CERTIFICATE_ERROR"), refused

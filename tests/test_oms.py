"""OpenSSF model signatures: ours pass ``model_signing verify key`` (model-signing 1.1.x, run as
its own CLI), one made by ``model_signing sign key`` is a step's evidence in a v2 bundle, and
both ways a changed, extra or missing file fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "verify"))

from bundle_builder import layout_source, make_keys, sign_source

from atlas_intoto.bundle_v2 import collect_evidence_v2, oms_evidence, serialize_bundle_v2
from atlas_intoto.cli import main
from atlas_intoto.errors import FormatError
from atlas_intoto.oms import OMS_PREDICATE, compare_model_dir, parse_manifest
from atlas_intoto.sigstore_bundle import parse_sigstore_bundle
from atlas_intoto.verify import verify_bundle


def _model_signing(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_signing", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_keys(tmp_path / "keys")
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text('{"layers": 2}\n')
    (model / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (model / "sub" / "tokenizer.json").write_text("{}\n")
    return tmp_path


def _verify_with_model_signing(root: Path, signature: Path) -> subprocess.CompletedProcess[str]:
    return _model_signing(
        "verify",
        "key",
        "--signature",
        str(signature),
        "--public_key",
        str(root / "keys" / "release.pub"),
        str(root / "model"),
    )


def test_our_signature_passes_model_signing_verify(root: Path) -> None:
    key = root / "keys" / "release.key"
    assert main(["model", "sign", str(root / "model"), "--key", str(key), "--json"]) == 0
    signature = root / "model" / "model.sig"
    doc = json.loads(signature.read_bytes())
    statement = json.loads(parse_sigstore_bundle(doc).envelope)
    assert statement["payloadType"] == "application/vnd.in-toto+json"
    done = _verify_with_model_signing(root, signature)
    assert done.returncode == 0, done.stdout + done.stderr
    (root / "model" / "weights.bin").write_bytes(b"changed")
    done = _verify_with_model_signing(root, signature)
    assert done.returncode != 0


def _model_signing_signature(root: Path) -> Path:
    signature = root / "model.sig"
    done = _model_signing(
        "sign",
        "key",
        "--signature",
        str(signature),
        "--private_key",
        str(root / "keys" / "release.key"),
        str(root / "model"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return signature


def _bundle(root: Path, signature: Path, step: str = "release") -> bytes:
    layout = sign_source(
        root,
        layout_source(
            steps=[
                {
                    "name": "release",
                    "functionaries": ["release"],
                    "products": ["ALLOW *"],
                    "predicate_type": OMS_PREDICATE,
                }
            ]
        ),
    )
    evidence = root / "evidence"
    evidence.mkdir(exist_ok=True)
    bundle = collect_evidence_v2(
        layout_envelope=json.loads(layout.read_bytes()),
        evidence_dirs=[evidence],
        extra=[oms_evidence(signature, step=step)],
    )
    return serialize_bundle_v2(bundle)


def _report(root: Path, data: bytes, **kw: Any) -> Any:
    owner = (root / "keys" / "owner.pub").read_bytes()
    return verify_bundle(data, layout_keys=[owner], **kw)


def test_model_signing_signature_is_a_step_checked_by_the_layout(root: Path) -> None:
    signature = _model_signing_signature(root)
    data = _bundle(root, signature)
    report = _report(root, data, model_dir=root / "model")
    assert report.ok, report.text()
    release = report.steps[0]
    assert set(release.products) == {"config.json", "weights.bin", "sub/tokenizer.json"}
    assert release.functionaries == ("release",)


def test_model_signature_by_another_key_fails_links(root: Path) -> None:
    doc = layout_source(
        steps=[
            {
                "name": "release",
                "functionaries": ["trainer"],
                "products": ["ALLOW *"],
                "predicate_type": OMS_PREDICATE,
            }
        ]
    )
    layout = sign_source(root, doc)
    bundle = collect_evidence_v2(
        layout_envelope=json.loads(layout.read_bytes()),
        evidence_dirs=[root / "model"],
        extra=[oms_evidence(_model_signing_signature(root), step="release")],
    )
    report = _report(root, serialize_bundle_v2(bundle))
    assert report.first_failure is not None
    assert (report.first_failure.check, report.first_failure.error) == (
        "links",
        "LinkSignatureError",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: (m / "weights.bin").write_bytes(b"other"), "Hash mismatch for 'weights.bin'"),
        (lambda m: (m / "extra.txt").write_text("x"), "Extra files found in model"),
        (lambda m: (m / "config.json").unlink(), "Missing files in model"),
        (lambda m: shutil.rmtree(m / "sub"), "sub/tokenizer.json"),
    ],
)
def test_changed_model_directory_fails_both_ways(root: Path, change: Any, message: str) -> None:
    signature = _model_signing_signature(root)
    data = _bundle(root, signature)
    change(root / "model")
    report = _report(root, data, model_dir=root / "model")
    failures = [(r.check, r.error) for r in report.failures]
    assert failures == [("artifacts", "ModelDirectoryError")], report.text()
    assert message in report.failures[0].reason
    assert _verify_with_model_signing(root, signature).returncode != 0


def test_model_dir_without_a_model_signature_fails(full_layout_root: Path) -> None:
    data, owner = full_layout_root
    report = verify_bundle(data, layout_keys=[owner], model_dir=Path("."))
    assert ("artifacts", "ModelDirectoryError") in [(r.check, r.error) for r in report.failures]


@pytest.fixture
def full_layout_root(tmp_path: Path) -> tuple[bytes, bytes]:
    from bundle_builder import build_pipeline

    pipeline = build_pipeline(tmp_path / "p")
    return pipeline.bundle_bytes(), pipeline.owner_pem


def _statement(resources: list[dict[str, str]], root_digest: str) -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "m", "digest": {"sha256": root_digest}}],
        "predicateType": OMS_PREDICATE,
        "predicate": {
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
            "resources": resources,
        },
    }


def test_manifest_consistency_and_comparison() -> None:
    import hashlib

    digest = "ab" * 32
    root = hashlib.sha256(bytes.fromhex(digest)).hexdigest()
    manifest = parse_manifest(
        _statement([{"name": "a", "algorithm": "sha256", "digest": digest}], root), source="s"
    )
    assert manifest.resources == {"a": digest}
    assert compare_model_dir(manifest, {"a": digest}) == []
    assert compare_model_dir(manifest, {"a": digest, "b": digest})[0].startswith("Extra files")
    with pytest.raises(FormatError, match="does not cover"):
        parse_manifest(
            _statement([{"name": "a", "algorithm": "sha256", "digest": digest}], "00" * 32),
            source="s",
        )
    with pytest.raises(FormatError, match="algorithm"):
        parse_manifest(
            _statement([{"name": "a", "algorithm": "blake2b", "digest": digest}], root),
            source="s",
        )


def test_cli_bundle_create_oms_and_verify_model_dir(root: Path) -> None:
    signature = _model_signing_signature(root)
    layout = sign_source(
        root,
        layout_source(
            steps=[
                {
                    "name": "release",
                    "functionaries": ["release"],
                    "products": ["ALLOW *"],
                    "predicate_type": OMS_PREDICATE,
                }
            ]
        ),
    )
    (root / "evidence").mkdir()
    out = root / "model.atlas.json"
    argv = ["bundle", "create", "--layout", str(layout), "--evidence", str(root / "evidence")]
    assert main([*argv, "--out", str(out), "--oms", f"release={signature}"]) == 0
    assert main([*argv, "--out", str(out), "--oms", "release"]) == 2
    assert main([*argv, "--out", str(out), "--format", "v1", "--oms", f"release={signature}"]) == 2
    verify = ["verify", str(out), "--layout-key", str(root / "keys" / "owner.pub"), "--no-cache"]
    assert main([*verify, "--model-dir", str(root / "model")]) == 0
    (root / "model" / "new.bin").write_bytes(b"smuggled")
    assert main([*verify, "--model-dir", str(root / "model")]) == 1


def test_a_model_signature_needs_a_layout_that_names_it(root: Path) -> None:
    """Without ``predicate_type`` a model.sig (no step, materials or upstream links) does not
    stand for a step: an old release's signature must not pass as the current release."""
    from atlas_intoto.bundle_v2 import collect_evidence_v2, oms_evidence, serialize_bundle_v2
    from atlas_intoto.verify import verify_bundle

    steps = [{"name": "release", "functionaries": ["release"], "products": ["ALLOW *"]}]
    layout = sign_source(root, layout_source(steps=steps))
    (root / "evidence").mkdir()
    bundle = collect_evidence_v2(
        layout_envelope=json.loads(layout.read_bytes()),
        evidence_dirs=[root / "evidence"],
        extra=[oms_evidence(_model_signing_signature(root), step="release")],
    )
    report = verify_bundle(
        serialize_bundle_v2(bundle), layout_keys=[(root / "keys" / "owner.pub").read_bytes()]
    )
    assert ("links", "PredicateTypeError") in {(r.check, r.error) for r in report.failures}

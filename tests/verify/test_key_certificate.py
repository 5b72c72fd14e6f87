"""A key functionary's Sigstore bundle may carry keygen's certificate for the key; material
that does not parse, or certifies another key, fails check 2 instead of being ignored."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from atlas_intoto.cli import main
from atlas_intoto.errors import CertificateFormatError
from atlas_intoto.verify import verify_bundle
from tests.verify.bundle_builder import Pipeline, build_pipeline


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pipeline, dict[str, Any]]:
    pipeline = build_pipeline(tmp_path_factory.mktemp("keycert") / "p")
    out = pipeline.root / "bundle.v2.json"
    argv = ["bundle", "create", "--layout", str(pipeline.layout_file)]
    assert main([*argv, "--evidence", str(pipeline.evidence), "--out", str(out)]) == 0
    return pipeline, json.loads(out.read_bytes())


def _material(doc: dict[str, Any], step: str) -> dict[str, Any]:
    bundle = doc["steps"][step]["attestations"][0]["sigstore_bundle"]
    material: dict[str, Any] = bundle["verificationMaterial"]
    return material


def _verify(pipeline: Pipeline, doc: dict[str, Any]) -> Any:
    key = (pipeline.keys / "owner.pub").read_bytes()
    return verify_bundle(json.dumps(doc).encode(), layout_keys=[key])


def test_the_bundle_as_made_verifies(v2: tuple[Pipeline, dict[str, Any]]) -> None:
    pipeline, doc = v2
    assert "certificate" in _material(doc, "train")
    assert _verify(pipeline, doc).ok


def test_certificate_that_does_not_parse_fails(v2: tuple[Pipeline, dict[str, Any]]) -> None:
    pipeline, doc = v2
    bad = copy.deepcopy(doc)
    _material(bad, "train")["certificate"] = {"rawBytes": "QUJD"}
    failure = _verify(pipeline, bad).first_failure
    assert failure.error_class is CertificateFormatError and failure.step == "train"
    assert "not a DER X.509 certificate" in failure.reason


def test_certificate_of_another_key_fails(v2: tuple[Pipeline, dict[str, Any]]) -> None:
    pipeline, doc = v2
    train, package = _material(doc, "train"), _material(doc, "package")
    assert train["certificate"] != package["certificate"]  # two functionaries, two keys
    bad = copy.deepcopy(doc)
    _material(bad, "train")["certificate"] = copy.deepcopy(package["certificate"])
    failure = _verify(pipeline, bad).first_failure
    assert failure.error_class is CertificateFormatError
    assert "not the key that signed" in failure.reason

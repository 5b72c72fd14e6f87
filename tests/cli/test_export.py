"""Outputs for policy engines: ``verify --vsa-key/--vsa-out`` (a signed SLSA VSA v1 in a Sigstore
bundle) and ``export slsa`` (SLSA Provenance v1 of the final model)."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "verify"))

from bundle_builder import Pipeline, build_pipeline

from atlas_intoto import dsse
from atlas_intoto.cli import main
from atlas_intoto.keys import load_public_key
from atlas_intoto.sigstore_bundle import MEDIA_TYPE, parse_sigstore_bundle
from atlas_intoto.slsa import BUILDER_PREFIX
from atlas_intoto.statement import SLSA_PROVENANCE, statement_fields
from atlas_intoto.vsa import VSA_PREDICATE


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return build_pipeline(tmp_path_factory.mktemp("export"))


def _signed_statement(path: Path, pub: Path) -> dict[str, Any]:
    parsed = parse_sigstore_bundle(json.loads(path.read_bytes()))
    envelope = dsse.parse(parsed.envelope)
    dsse.verify(envelope, [load_public_key(pub)])
    return json.loads(envelope.payload)  # type: ignore[no-any-return]


def test_verify_writes_a_signed_vsa(pipeline: Pipeline, tmp_path: Path) -> None:
    out = tmp_path / "model.vsa.json"
    argv = ["verify", str(pipeline.bundle_file), "--layout-key", str(pipeline.keys / "owner.pub")]
    code = main([*argv, "--vsa-key", str(pipeline.keys / "owner.key"), "--vsa-out", str(out)])
    assert code == 0
    assert json.loads(out.read_bytes())["mediaType"] == MEDIA_TYPE
    statement = _signed_statement(out, pipeline.keys / "owner.pub")
    assert statement["predicateType"] == VSA_PREDICATE
    predicate = statement["predicate"]
    assert predicate["verificationResult"] == "PASSED"
    assert predicate["verifiedLevels"] == ["SLSA_BUILD_LEVEL_1"]
    assert len(predicate["inputAttestations"]) == 3
    assert len(predicate["policy"]["digest"]["sha256"]) == 64
    model = pipeline.work / "dist" / "model.npz"
    import hashlib

    assert statement["subject"] == [
        {
            "name": "dist/model.npz",
            "digest": {"sha256": hashlib.sha256(model.read_bytes()).hexdigest()},
        }
    ]


def test_failed_verification_gives_a_failed_vsa(pipeline: Pipeline, tmp_path: Path) -> None:
    doc = pipeline.bundle_doc()
    link = doc["steps"]["train"]["links"][0]
    envelope = json.loads(base64.b64decode(link["envelope"]))
    envelope["signatures"][0]["sig"] = base64.b64encode(b"\x00" * 64).decode()
    link["envelope"] = base64.b64encode(json.dumps(envelope).encode()).decode()
    bad = tmp_path / "bad.atlas.json"
    bad.write_text(json.dumps(doc))
    out = tmp_path / "bad.vsa.json"
    argv = ["verify", str(bad), "--layout-key", str(pipeline.keys / "owner.pub")]
    assert main([*argv, "--vsa-key", str(pipeline.keys / "owner.key"), "--vsa-out", str(out)]) == 1
    predicate = _signed_statement(out, pipeline.keys / "owner.pub")["predicate"]
    assert (predicate["verificationResult"], predicate["verifiedLevels"]) == ("FAILED", ["FAILED"])


def test_vsa_options_go_together(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", str(pipeline.bundle_file), "--layout-key", str(pipeline.keys / "owner.pub")]
    assert main([*argv, "--vsa-key", str(pipeline.keys / "owner.key"), "--json"]) == 2
    assert "--vsa-out" in json.loads(capsys.readouterr().out)["error"]["message"]


def test_export_slsa_provenance(pipeline: Pipeline, tmp_path: Path) -> None:
    out = tmp_path / "provenance.json"
    owner = str(pipeline.keys / "owner.pub")
    assert (
        main(
            ["export", "slsa", str(pipeline.bundle_file), "--layout-key", owner, "--out", str(out)]
        )
        == 0
    )
    statement = json.loads(out.read_bytes())
    assert statement["predicateType"] == SLSA_PROVENANCE
    assert [s["name"] for s in statement["subject"]] == ["dist/model.npz"]
    definition = statement["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["step"] == "package"
    # the datasets and code that fed the model: inputs no step produced
    assert {d["name"] for d in definition["resolvedDependencies"]} == {
        "src/prepare.py",
        "src/train.py",
    }
    assert statement["predicate"]["runDetails"]["builder"]["id"] == f"{BUILDER_PREFIX}package"
    # our verifier reads it back as a build-like step
    assert statement_fields(statement, source="p")["name"] == "package"


def test_export_slsa_signed(pipeline: Pipeline, tmp_path: Path) -> None:
    out = tmp_path / "provenance.sigstore.json"
    owner = str(pipeline.keys / "owner.pub")
    argv = ["export", "slsa", str(pipeline.bundle_file), "--layout-key", owner, "--out", str(out)]
    assert main([*argv, "--key", str(pipeline.keys / "release.key")]) == 0
    statement = _signed_statement(out, pipeline.keys / "release.pub")
    assert statement["predicateType"] == SLSA_PROVENANCE


def test_export_refuses_a_bundle_that_does_not_verify(pipeline: Pipeline, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    mallory = str(pipeline.keys / "mallory.pub")
    argv = ["export", "slsa", str(pipeline.bundle_file), "--layout-key", mallory, "--out", str(out)]
    assert main(argv) == 1
    assert not out.exists()

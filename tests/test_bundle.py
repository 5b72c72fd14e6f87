"""Bundles: format (schema), creation from evidence directories, nothing secret inside."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "verify"))

from bundle_builder import Pipeline, build_pipeline

from atlas_intoto.bundle import (
    BUNDLE_MEDIA_TYPE,
    collect_evidence,
    parse_bundle,
    serialize_bundle,
)
from atlas_intoto.cli import main
from atlas_intoto.errors import InputError


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return build_pipeline(tmp_path_factory.mktemp("bundle"))


def test_bundle_round_trip_keeps_exact_envelope_bytes(pipeline: Pipeline) -> None:
    data = pipeline.bundle_bytes()
    bundle = parse_bundle(data)
    assert bundle.steps() == ("prepare", "train", "package")
    for item in bundle.links:
        files = list(pipeline.evidence.glob(f"{item.step}.*.link"))
        assert [f.read_bytes() for f in files] == [item.envelope]
    assert parse_bundle(serialize_bundle(bundle)) == bundle
    assert json.loads(data)["media_type"] == BUNDLE_MEDIA_TYPE


def test_bundle_holds_nothing_secret(pipeline: Pipeline) -> None:
    text = pipeline.bundle_bytes().decode()
    assert "PRIVATE KEY" not in text
    for item in parse_bundle(pipeline.bundle_bytes()).links:
        assert b"PRIVATE KEY" not in item.envelope


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "invalid JSON at line 1"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"media_type": ' + b"9" * 5000 + b"}", "invalid JSON"),
        (b"[]", "(document)"),
        (b'{"media_type": "x", "layout": {}, "steps": {}}', "media_type"),
        (
            json.dumps(
                {
                    "media_type": BUNDLE_MEDIA_TYPE,
                    "layout": {"payload": "", "payloadType": "", "signatures": []},
                    "steps": {"a": {"links": [{"envelope": "!!"}]}},
                }
            ).encode(),
            "steps.a.links[0].envelope: not valid base64",
        ),
        (
            json.dumps(
                {
                    "media_type": BUNDLE_MEDIA_TYPE,
                    "layout": {"payload": "", "payloadType": "", "signatures": []},
                    "steps": {"a": {"links": [{"envelope": "", "extra": 1}]}},
                }
            ).encode(),
            "steps.a.links.0",
        ),
    ],
)
def test_malformed_bundles_are_input_errors(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_bundle(data, source="b.json")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_collect_merges_directories_without_duplicates(pipeline: Pipeline, tmp_path: Path) -> None:
    layout = json.loads(pipeline.layout_file.read_bytes())
    bundle = collect_evidence(layout_envelope=layout, evidence_dirs=[pipeline.evidence] * 2)
    assert len(bundle.links) == 3
    with pytest.raises(InputError, match="no \\*\\.link files"):
        collect_evidence(layout_envelope=layout, evidence_dirs=[tmp_path])
    with pytest.raises(InputError, match="evidence directory not found"):
        collect_evidence(layout_envelope=layout, evidence_dirs=[tmp_path / "nope"])


def test_collect_rejects_escaping_paths(pipeline: Pipeline, tmp_path: Path) -> None:
    from atlas_intoto.keys import load_signer
    from atlas_intoto.link import sign_link

    envelope = sign_link(
        name="prepare",
        materials={},
        products={"a": {"sha256": "00" * 32}},
        command=[],
        byproducts={},
        environment={
            "atlas-intoto": {"c2pa": {"a": {"sidecar": "../../etc/passwd", "sha256": ""}}}
        },
        signer=load_signer(pipeline.keys / "data-eng.key"),
    )
    (tmp_path / "prepare.12345678.link").write_bytes(envelope)
    with pytest.raises(InputError, match="escapes the evidence directory"):
        collect_evidence(layout_envelope={}, evidence_dirs=[tmp_path])


def test_cli_bundle_create(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "b.atlas.json"
    code = main(
        [
            "bundle",
            "create",
            "--layout",
            str(pipeline.layout_file),
            "--evidence",
            str(pipeline.evidence),
            "--out",
            str(out),
            "--format",
            "v1",
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["steps"] == ["prepare", "train", "package"] and doc["missing_steps"] == []
    assert parse_bundle(out.read_bytes()).links == parse_bundle(pipeline.bundle_bytes()).links
    # A directory lacking a step still bundles (verification will fail closed) but warns.
    partial = tmp_path / "partial"
    partial.mkdir()
    for link in pipeline.evidence.glob("prepare.*.link"):
        (partial / link.name).write_bytes(link.read_bytes())
    assert (
        main(
            [
                "bundle",
                "create",
                "--layout",
                str(pipeline.layout_file),
                "--evidence",
                str(partial),
                "--out",
                str(tmp_path / "p.json"),
            ]
        )
        == 0
    )
    assert "no evidence for step(s) train, package" in capsys.readouterr().err
    assert (
        main(
            [
                "bundle",
                "create",
                "--layout",
                str(tmp_path / "none"),
                "--evidence",
                str(partial),
                "--out",
                str(tmp_path / "q.json"),
            ]
        )
        == 2
    )
    envelope = base64.b64encode(b"{}").decode()
    (tmp_path / "bad.layout").write_text(json.dumps({"payload": envelope}))
    assert (
        main(
            [
                "bundle",
                "create",
                "--layout",
                str(tmp_path / "bad.layout"),
                "--evidence",
                str(partial),
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 2
    )


@pytest.mark.parametrize("payload_type", ["", "application/vnd.in-toto+json"])
def test_cli_bundle_create_rejects_wrong_payload_type(
    pipeline: Pipeline, payload_type: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    envelope = json.loads(pipeline.layout_file.read_bytes())
    envelope["payloadType"] = payload_type
    layout = tmp_path / "wrong.layout"
    layout.write_text(json.dumps(envelope))
    out = tmp_path / "b.atlas.json"
    argv = ["bundle", "create", "--layout", str(layout), "--evidence", str(pipeline.evidence)]
    assert main([*argv, "--out", str(out), "--json"]) == 2
    message = json.loads(capsys.readouterr().out)["error"]["message"]
    assert message.startswith(f"{layout}: not a signed layout (payloadType")
    assert message.count(str(layout)) == 1 and not out.exists()


def test_cli_bundle_without_subcommand_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bundle"])
    assert info.value.code == 2 and "COMMAND" in capsys.readouterr().err


def test_bundle_schema_is_package_data_identical_to_schemas_dir() -> None:
    from atlas_intoto.bundle import SCHEMA_PATH

    assert SCHEMA_PATH.parent.name == "data" and SCHEMA_PATH.parent.parent.name == "atlas_intoto"
    repo = Path(__file__).resolve().parent.parent
    assert SCHEMA_PATH.read_bytes() == (repo / "schemas" / "bundle.schema.json").read_bytes()


# --- issue 11 items 10 and 11: collecting never crashes, never follows a symlink -------------


def _copy_evidence(pipeline: Pipeline, tmp_path: Path) -> Path:
    import shutil

    evidence = tmp_path / "evidence"
    shutil.copytree(pipeline.evidence, evidence)
    return evidence


def test_collect_deeply_nested_link_is_input_error(pipeline: Pipeline, tmp_path: Path) -> None:
    evidence = _copy_evidence(pipeline, tmp_path)
    (evidence / "deep.abcdef12.link").write_bytes(b"[" * 200_000)
    layout = json.loads(pipeline.layout_file.read_bytes())
    with pytest.raises(InputError, match=r"deep\.abcdef12\.link"):
        collect_evidence(layout_envelope=layout, evidence_dirs=[evidence])


def test_collect_never_reads_through_symlinks(pipeline: Pipeline, tmp_path: Path) -> None:
    import os

    layout = json.loads(pipeline.layout_file.read_bytes())
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    # a symlinked link file
    evidence = _copy_evidence(pipeline, tmp_path / "a")
    link = next(evidence.glob("train.*.link"))
    real = tmp_path / "elsewhere.link"
    real.write_bytes(link.read_bytes())
    link.unlink()
    os.symlink(real, link)
    with pytest.raises(InputError, match="symbolic link"):
        collect_evidence(layout_envelope=layout, evidence_dirs=[evidence])
    # a planted link whose blob path runs through a symlink to a secret
    from atlas_intoto.keys import load_signer
    from atlas_intoto.link import sign_link

    evidence = _copy_evidence(pipeline, tmp_path / "b")
    os.symlink(secret, evidence / "tee")
    blob = {"collateral": {"path": "tee/id_ed25519", "sha256": "0" * 64}}
    planted = sign_link(
        name="train",
        materials={},
        products={},
        command=[],
        byproducts={},
        environment={"atlas-intoto": {"version": 2, "evidence": [{"kind": "tdx", "blobs": blob}]}},
        signer=load_signer(pipeline.keys / "mallory.key"),
    )
    (evidence / "train.deadbeef.link").write_bytes(planted)
    with pytest.raises(InputError, match="symbolic link"):
        collect_evidence(layout_envelope=layout, evidence_dirs=[evidence])


def test_read_inside_refuses_symlinked_directories(tmp_path: Path) -> None:
    import os
    from pathlib import PurePosixPath

    from atlas_intoto.bundle import read_inside

    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key").write_text("PRIVATE")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    os.symlink(tmp_path / "secret", evidence / "tee")
    with pytest.raises(InputError, match="symbolic link"):
        read_inside(evidence, PurePosixPath("tee/key"), what="tdx collateral")
    (evidence / "fifo").mkdir()
    with pytest.raises(InputError, match="not a regular file"):
        read_inside(evidence, PurePosixPath("fifo"), what="blob")
    (evidence / "ok").write_bytes(b"fine")
    assert read_inside(evidence, PurePosixPath("ok"), what="blob") == b"fine"


def test_a_step_named_twice_is_refused_not_read_as_its_last_entry(pipeline: Pipeline) -> None:
    doc = json.loads(pipeline.bundle_bytes())
    entry = json.dumps("train") + ": " + json.dumps(doc["steps"]["train"])
    text = json.dumps(doc)
    assert entry in text
    forged = text.replace(
        entry, f"{entry}, {json.dumps('train')}: {json.dumps(doc['steps']['prepare'])}"
    )
    with pytest.raises(InputError, match=r"b.json: bundle: key 'train' appears twice") as info:
        parse_bundle(forged.encode(), source="b.json")
    assert "\n" not in str(info.value)

"""Issue 11: verdicts that cannot mislead — skipped is not passed, artifacts are compared file by
file, the root cause of a failure is named and its consequences marked, malformed evidence is a
failure (exit 1), never a crash, and the wrong file gets a useful message."""

from __future__ import annotations

import base64
import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from bundle_builder import Pipeline, sign_source

from atlas_intoto.cli import main
from atlas_intoto.demo import EmbeddedLog
from atlas_intoto.errors import InputError
from atlas_intoto.lineage import render_html
from atlas_intoto.verify import verify_bundle
from atlas_intoto.verify.batch import verify_batch
from atlas_intoto.verify.report import VerificationReport


def _verify(pipeline: Pipeline, data: bytes | None = None, **kw: Any) -> VerificationReport:
    return verify_bundle(
        data if data is not None else pipeline.bundle_bytes(),
        layout_keys=[pipeline.owner_pem],
        **kw,
    )


def _envelope(doc: dict[str, Any], step: str) -> dict[str, Any]:
    return json.loads(base64.b64decode(doc["steps"][step]["links"][0]["envelope"]))  # type: ignore[no-any-return]


def _set_envelope(doc: dict[str, Any], step: str, envelope: dict[str, Any]) -> None:
    doc["steps"][step]["links"][0]["envelope"] = base64.b64encode(
        json.dumps(envelope).encode()
    ).decode()


# --- item 2: skipped is not passed -----------------------------------------------------------


def test_without_artifacts_the_row_is_a_skip_and_the_verdict_says_so(
    plain_pipeline: Pipeline,
) -> None:
    report = _verify(plain_pipeline)
    assert report.ok and not report.artifacts_compared
    artifacts = [r for r in report.results if r.check == "artifacts"]
    assert [(r.status, r.passed) for r in artifacts] == [("skip", True)]
    assert report.text().endswith("VERIFIED (artifacts not compared)")
    assert "SKIP 7. artifacts" in report.text()
    doc = report.to_dict()
    assert doc["artifacts_compared"] is False
    assert all(r["status"] in ("pass", "fail", "skip") for r in doc["results"])
    # the plain layout requires no TEE, C2PA or log: those rows are skips, not passes
    assert {r.status for r in report.results if r.check in ("tee", "c2pa", "tlog")} == {"skip"}
    again = VerificationReport.from_dict(json.loads(json.dumps(doc)))
    assert [r.status for r in again.results] == [r.status for r in report.results]
    assert again.artifacts_compared is False
    html = render_html(plain_pipeline.bundle_bytes(), report=report)
    assert 'class="skip"' in html and "artifacts not compared" in html


def test_compared_artifacts_make_a_plain_verdict(plain_pipeline: Pipeline) -> None:
    report = _verify(plain_pipeline, artifacts_dir=plain_pipeline.work)
    assert report.ok and report.artifacts_compared
    assert report.text().endswith("\nVERIFIED")
    assert report.to_dict()["artifacts_compared"] is True


def test_old_reports_without_status_derive_it() -> None:
    doc = {"results": [{"check": "links", "step": "a", "passed": False, "reason": "x"}]}
    report = VerificationReport.from_dict(doc)
    assert report.results[0].status == "fail" and not report.ok


# --- item 1: artifacts -----------------------------------------------------------------------


def _held(pipeline: Pipeline, tmp_path: Path) -> Path:
    import shutil

    held = tmp_path / "held"
    shutil.copytree(pipeline.work, held)
    return held


def test_artifacts_every_file_is_compared(plain_pipeline: Pipeline, tmp_path: Path) -> None:
    held = _held(plain_pipeline, tmp_path)
    (held / "model" / "model.npz").write_bytes(b"swapped")
    first = _verify(plain_pipeline, artifacts_dir=held).first_failure
    assert first is not None and first.error == "FinalArtifactError"
    assert first.reason.startswith(f"model/model.npz: {held}/model/model.npz has sha256")
    assert "the product of train has" in first.reason


def test_artifacts_unattested_files(plain_pipeline: Pipeline, tmp_path: Path) -> None:
    held = _held(plain_pipeline, tmp_path)
    (held / "backdoor.py").write_text("import os\n")
    first = _verify(plain_pipeline, artifacts_dir=held).first_failure
    assert first is not None and first.error == "FinalArtifactError"
    assert "backdoor.py" in first.reason and "--allow-unattested" in first.reason
    report = _verify(plain_pipeline, artifacts_dir=held, allow_unattested=True)
    assert report.ok, report.text()
    assert "1 unattested file(s) allowed" in report.text()


def test_artifacts_missing_final_product_fails(plain_pipeline: Pipeline, tmp_path: Path) -> None:
    held = _held(plain_pipeline, tmp_path)
    (held / "dist" / "model.npz").unlink()
    first = _verify(plain_pipeline, artifacts_dir=held).first_failure
    assert first is not None and first.reason.startswith("dist/model.npz: final product")
    assert f"not among the artifacts in {held}" in first.reason


def test_artifacts_single_file_and_relative_directory(
    plain_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(plain_pipeline.work)
    # README: `verify model.atlas.json --artifacts dist/`, run from the pipeline's base path
    for given in (Path("dist/"), Path("dist/model.npz"), Path("dist") / "model.npz"):
        report = _verify(plain_pipeline, artifacts_dir=given)
        assert report.ok and report.artifacts_compared, (given, report.text())
    (plain_pipeline.work / "dist" / "extra.bin").write_bytes(b"x")
    try:
        first = _verify(plain_pipeline, artifacts_dir=Path("dist")).first_failure
        assert first is not None and first.reason.startswith("dist/extra.bin: in dist,")
    finally:
        (plain_pipeline.work / "dist" / "extra.bin").unlink()


def test_artifacts_symlink_is_not_a_recorded_file(plain_pipeline: Pipeline, tmp_path: Path) -> None:
    held = _held(plain_pipeline, tmp_path)
    target = held / "dist" / "model.npz"
    real = tmp_path / "elsewhere.npz"
    real.write_bytes(target.read_bytes())
    target.unlink()
    os.symlink(real, target)
    first = _verify(plain_pipeline, artifacts_dir=held).first_failure
    assert first is not None and "not a regular file" in first.reason


def test_cli_artifacts_allow_unattested(
    plain_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held = _held(plain_pipeline, tmp_path)
    (held / "notes.txt").write_text("hi\n")
    argv = [
        "verify",
        str(plain_pipeline.bundle_file),
        "--layout-key",
        str(plain_pipeline.keys / "owner.pub"),
        "--artifacts",
        str(held),
        "--json",
    ]
    assert main(argv) == 1
    capsys.readouterr()
    assert main([*argv, "--allow-unattested"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["artifacts_compared"] is True
    artifacts = next(r for r in doc["results"] if r["check"] == "artifacts")
    assert artifacts["status"] == "pass" and "unattested" in artifacts["reason"]


# --- item 14: root cause and consequences ----------------------------------------------------


def test_edited_link_names_the_root_cause_and_marks_consequences(
    plain_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = plain_pipeline.bundle_doc()
    envelope = _envelope(doc, "train")
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["products"]["model/model.npz"]["sha256"] = "0" * 64
    envelope["payload"] = base64.b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
    _set_envelope(doc, "train", envelope)
    data = json.dumps(doc).encode()
    report = _verify(plain_pipeline, data)
    first = report.first_failure
    assert first is not None and (first.check, first.step) == ("links", "train")
    assert "trainer" in first.reason and "authorised for step train" in first.reason
    assert "does not match the payload" in first.reason
    consequences = [r for r in report.failures if r.consequence_of]
    assert consequences and all(r.step == "package" for r in consequences)
    assert all(r.consequence_of == "links [train]" for r in consequences)
    assert report.root_causes == (first,)
    assert "[consequence of links [train]]" in report.text()
    assert "1 root cause(s)" in report.text()
    rows = report.to_dict()["results"]
    assert any(r["consequence_of"] == "links [train]" for r in rows)
    assert "consequence of links [train]" in render_html(data, report=report)


def test_link_signed_by_another_steps_functionary(plain_pipeline: Pipeline) -> None:
    doc = plain_pipeline.bundle_doc()
    doc["steps"]["train"]["links"] = copy.deepcopy(doc["steps"]["prepare"]["links"])
    first = _verify(plain_pipeline, json.dumps(doc).encode()).first_failure
    assert first is not None and first.error == "LinkSignatureError"
    assert "data-eng" in first.reason and "trusted for prepare" in first.reason


# --- item 8: malformed evidence blocks are evidence failures ---------------------------------


@pytest.mark.parametrize("field", ["tee", "c2pa", "evidence"])
def test_list_evidence_blocks_are_invalid_evidence(
    field: str, plain_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from atlas_intoto.keys import load_signer
    from atlas_intoto.link import sign_link

    doc = plain_pipeline.bundle_doc()
    payload = json.loads(base64.b64decode(_envelope(doc, "train")["payload"]))
    payload["environment"]["atlas-intoto"][field] = ["not", "an", "object"]
    envelope = sign_link(
        name="train",
        materials=payload["materials"],
        products=payload["products"],
        command=payload["command"],
        byproducts=payload["byproducts"],
        environment=payload["environment"],
        signer=load_signer(plain_pipeline.keys / "trainer.key"),
    )
    doc["steps"]["train"]["links"][0]["envelope"] = base64.b64encode(envelope).decode()
    bundle = tmp_path / "bad.atlas.json"
    bundle.write_text(json.dumps(doc))
    report = _verify(plain_pipeline, bundle.read_bytes())
    first = report.first_failure
    assert first is not None and first.step == "train" and first.code != "internal", report.text()
    argv = ["verify", str(bundle), "--layout-key", str(plain_pipeline.keys / "owner.pub")]
    assert main(argv) == 1
    assert "internal error" not in capsys.readouterr().err
    reports = verify_batch(
        [bundle, plain_pipeline.bundle_file], layout_keys=[plain_pipeline.owner_pem], jobs=1
    )
    assert [r.ok for r in reports] == [False, True]


# --- item 9: lone surrogates -----------------------------------------------------------------


def test_html_report_with_a_lone_surrogate_step_name(
    plain_pipeline: Pipeline, tmp_path: Path
) -> None:
    doc = plain_pipeline.bundle_doc()
    doc["steps"]["\ud800evil"] = doc["steps"].pop("package")
    data = json.dumps(doc).encode()  # ensure_ascii: the surrogate travels as \ud800
    report = _verify(plain_pipeline, data)
    html = render_html(data, report=report)
    html.encode("utf-8")  # the page can be written
    bundle = tmp_path / "surrogate.atlas.json"
    bundle.write_bytes(data)
    code = main(
        [
            "verify",
            str(bundle),
            "--layout-key",
            str(plain_pipeline.keys / "owner.pub"),
            "--html",
            str(tmp_path / "r.html"),
        ]
    )
    assert code == 1 and "\\ud800" in (tmp_path / "r.html").read_text()


# --- item 15: the wrong file ----------------------------------------------------------------


def test_verify_given_a_link_or_a_layout_says_what_it_is(plain_pipeline: Pipeline) -> None:
    link = next(plain_pipeline.evidence.glob("train.*.link")).read_bytes()
    with pytest.raises(InputError, match=r"this is a step's link .*bundle create"):
        _verify(plain_pipeline, link)
    with pytest.raises(InputError, match="this is a signed layout"):
        _verify(plain_pipeline, plain_pipeline.layout_file.read_bytes())


def test_bundle_create_given_a_layout_source_says_sign_it(
    plain_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "bundle",
            "create",
            "--layout",
            str(plain_pipeline.layout_source),
            "--evidence",
            str(plain_pipeline.evidence),
            "--out",
            str(tmp_path / "b.json"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "unsigned source of a layout" in err and "layout sign" in err


# --- item 3: every required log holds the entry --------------------------------------------


def test_an_optional_log_does_not_stand_in_for_a_required_one(
    full_pipeline: Pipeline, log_server: EmbeddedLog, log_key_file: Path, tmp_path: Path
) -> None:
    import yaml

    from atlas_intoto.demo import embedded_log
    from atlas_intoto.tlog.client import RekorClient

    envelope = base64.b64decode(
        full_pipeline.bundle_doc()["steps"]["train"]["links"][0]["envelope"]
    )
    with embedded_log(tmp_path / "optional-log") as other:
        (tmp_path / "other.pub").write_bytes(other.public_key_pem)
        with RekorClient(other.url) as client:
            entry = client.publish_dsse(envelope, (full_pipeline.keys / "trainer.pub").read_bytes())
    source = yaml.safe_load(full_pipeline.layout_source.read_text())
    source["trust"]["logs"] = [
        {"key": str(log_key_file), "required": True},
        {"key": str(tmp_path / "other.pub"), "required": False},
    ]
    layout = json.loads(sign_source(full_pipeline.root, source, name="two-logs").read_bytes())
    doc = full_pipeline.bundle_doc()
    doc["layout"] = layout
    assert _verify(full_pipeline, json.dumps(doc).encode()).ok
    doc["steps"]["train"]["links"][0]["log_entry"] = entry
    first = _verify(full_pipeline, json.dumps(doc).encode()).first_failure
    assert first is not None and (first.check, first.error) == ("tlog", "MissingLogEntryError")
    assert "requires an entry" in first.reason


def test_online_refuses_an_entry_of_another_log_instance(
    full_pipeline: Pipeline, log_server: EmbeddedLog
) -> None:
    from atlas_intoto.errors import ConsistencyProofError
    from atlas_intoto.layout import layout_payload
    from atlas_intoto.verify.online import OnlineConsistency

    layout = layout_payload(json.loads(full_pipeline.layout_file.read_bytes()))
    item = full_pipeline.bundle_doc()["steps"]["prepare"]["links"][0]
    proof = next(iter(item["log_entry"].values()))["verification"]["inclusionProof"]
    summary = {"tree_size": proof["treeSize"], "root_hash": proof["rootHash"]}
    origin = proof["checkpoint"].split("\n", 1)[0]
    checker = OnlineConsistency(url=log_server.url)
    assert checker(layout, "prepare", {**summary, "origin": origin}).passed
    with pytest.raises(ConsistencyProofError, match="another log instance"):
        checker(layout, "prepare", {**summary, "origin": "another-instance - 42"})


def test_entries_of_a_twin_log_instance_under_the_same_key_fail(
    full_pipeline: Pipeline, log_server: EmbeddedLog, tmp_path: Path
) -> None:
    """Two log instances sharing one key are different trees: a bundle cannot mix them."""
    from atlas_intoto.demo import embedded_log
    from atlas_intoto.tlog.client import RekorClient

    doc = full_pipeline.bundle_doc()
    envelope = base64.b64decode(doc["steps"]["train"]["links"][0]["envelope"])
    with (
        embedded_log(tmp_path / "twin", key_path=log_server.key_path) as twin,
        RekorClient(twin.url) as client,
    ):
        assert twin.public_key_pem == log_server.public_key_pem
        entry = client.publish_dsse(envelope, (full_pipeline.keys / "trainer.pub").read_bytes())
    doc["steps"]["train"]["links"][0]["log_entry"] = entry
    first = _verify(full_pipeline, json.dumps(doc).encode()).first_failure
    assert first is not None and (first.check, first.error) == ("tlog", "CheckpointError")
    assert "two log instances" in first.reason

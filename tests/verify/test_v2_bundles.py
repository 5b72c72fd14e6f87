"""Model bundle format v2 end to end: recording writes each step's Statement v1 as a Sigstore
bundle beside the link, v2 bundles verify like v1, and every tamper fails with its error."""

from __future__ import annotations

import base64
import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from bundle_builder import Pipeline, layout_source, sign_source

from atlas_intoto.bundle import BUNDLE_V2_MEDIA_TYPE, parse_bundle
from atlas_intoto.bundle_v2 import collect_evidence_v2, serialize_bundle_v2
from atlas_intoto.errors import InputError
from atlas_intoto.keys import load_signer
from atlas_intoto.sigstore_bundle import MEDIA_TYPE, parse_sigstore_bundle
from atlas_intoto.statement import LINK_PREDICATE, sign_statement
from atlas_intoto.verify import verify_bundle
from atlas_intoto.verify.report import VerificationReport


def _v2(pipeline: Pipeline, evidence: Path | None = None, layout: Path | None = None) -> bytes:
    envelope = json.loads((layout or pipeline.layout_file).read_bytes())
    bundle = collect_evidence_v2(
        layout_envelope=envelope, evidence_dirs=[evidence or pipeline.evidence]
    )
    return serialize_bundle_v2(bundle)


def _verify(pipeline: Pipeline, data: bytes, **kw: Any) -> VerificationReport:
    return verify_bundle(data, layout_keys=[pipeline.owner_pem], **kw)


def _failure(report: VerificationReport) -> tuple[str, str | None]:
    first = report.first_failure
    assert first is not None, report.text()
    return first.check, first.error


def test_recording_writes_a_sigstore_bundle_per_step(full_pipeline: Pipeline) -> None:
    files = sorted(p.name for p in full_pipeline.evidence.glob("*.sigstore.json"))
    links = sorted(p.name for p in full_pipeline.evidence.glob("*.link"))
    assert [f.removesuffix(".sigstore.json") for f in files] == [
        link.removesuffix(".link") for link in links
    ]
    for path in full_pipeline.evidence.glob("*.sigstore.json"):
        doc = json.loads(path.read_bytes())
        assert doc["mediaType"] == MEDIA_TYPE
        # keygen issues a certificate for every functionary key: the bundle carries the leaf
        assert "certificate" in doc["verificationMaterial"]
        entry = doc["verificationMaterial"]["tlogEntries"][0]
        assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
        assert entry["inclusionPromise"]["signedEntryTimestamp"]
        assert entry["inclusionProof"]["checkpoint"]["envelope"]
        statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
        assert statement["predicateType"] == LINK_PREDICATE


def test_statement_and_link_carry_the_same_quote(full_pipeline: Pipeline) -> None:
    from atlas_intoto.link import read_unverified_link

    for path in full_pipeline.evidence.glob("*.sigstore.json"):
        parsed = parse_sigstore_bundle(json.loads(path.read_bytes()))
        statement = read_unverified_link(parsed.envelope)
        link_file = path.with_name(path.name.removesuffix(".sigstore.json") + ".link")
        link = read_unverified_link(link_file.read_bytes())

        # the same evidence; only the upstream record differs: the Statement names its
        # producers' Statements, the link their links
        def _without_upstream(env: Any) -> Any:
            return {k: v for k, v in env["atlas-intoto"].items() if k != "upstream"}

        assert _without_upstream(statement.environment) == _without_upstream(link.environment)
        assert ("upstream" in statement.atlas) == ("upstream" in link.atlas)
        assert statement.atlas["evidence"][0]["quote"]
        assert (statement.materials, statement.products) == (link.materials, link.products)


def test_v2_bundle_verifies_with_tee_c2pa_and_log(full_pipeline: Pipeline) -> None:
    data = _v2(full_pipeline)
    doc = json.loads(data)
    assert doc["media_type"] == BUNDLE_V2_MEDIA_TYPE
    assert set(doc["steps"]) == {"prepare", "train", "package"}
    attestation = doc["steps"]["train"]["attestations"][0]
    assert set(attestation) == {"sigstore_bundle", "blobs", "c2pa"}
    assert "collateral" in attestation["blobs"]["tdx"]
    report = _verify(full_pipeline, data, artifacts_dir=full_pipeline.work)
    assert report.ok, report.text()
    assert {r.check for r in report.results if r.passed} >= {"links", "tee", "c2pa", "tlog"}


def test_v2_parse_serialize_round_trip(full_pipeline: Pipeline) -> None:
    data = _v2(full_pipeline)
    assert serialize_bundle_v2(parse_bundle(data)) == data


def test_v09_links_without_statements_are_wrapped(full_pipeline: Pipeline, tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    shutil.copytree(full_pipeline.evidence, evidence)
    for path in evidence.glob("*.sigstore.json"):
        path.unlink()
    data = _v2(full_pipeline, evidence)
    payloads = [
        json.loads(base64.b64decode(item["sigstore_bundle"]["dsseEnvelope"]["payload"]))
        for step in json.loads(data)["steps"].values()
        for item in step["attestations"]
    ]
    assert {p["_type"] for p in payloads} == {"link"}
    report = _verify(full_pipeline, data, artifacts_dir=full_pipeline.work)
    assert report.ok, report.text()


def _tampered(pipeline: Pipeline, mutate: Any) -> bytes:
    doc = json.loads(_v2(pipeline))
    mutate(doc)
    return json.dumps(doc).encode()


def _train(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["steps"]["train"]["attestations"][0]["sigstore_bundle"]  # type: ignore[no-any-return]


def test_statement_signed_by_mallory_fails_links(full_pipeline: Pipeline) -> None:
    def resign(doc: dict[str, Any]) -> None:
        envelope = _train(doc)["dsseEnvelope"]
        statement = json.loads(base64.b64decode(envelope["payload"]))
        forged = sign_statement(statement, load_signer(full_pipeline.keys / "mallory.key"))
        _train(doc)["dsseEnvelope"] = json.loads(forged)

    report = _verify(full_pipeline, _tampered(full_pipeline, resign))
    assert _failure(report) == ("links", "LinkSignatureError")


def test_changed_statement_payload_fails_links(full_pipeline: Pipeline) -> None:
    def change(doc: dict[str, Any]) -> None:
        envelope = _train(doc)["dsseEnvelope"]
        statement = json.loads(base64.b64decode(envelope["payload"]))
        statement["subject"][0]["digest"]["sha256"] = "00" * 32
        envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()

    report = _verify(full_pipeline, _tampered(full_pipeline, change))
    assert _failure(report) == ("links", "LinkSignatureError")


def test_broken_inclusion_proof_fails_tlog(full_pipeline: Pipeline) -> None:
    def corrupt(doc: dict[str, Any]) -> None:
        proof = _train(doc)["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
        proof["rootHash"] = base64.b64encode(b"\x01" * 32).decode()

    report = _verify(full_pipeline, _tampered(full_pipeline, corrupt))
    failed = [r for r in report.results if not r.passed]
    assert failed and failed[0].check == "tlog", report.text()


def test_log_entry_of_another_step_fails_tlog(full_pipeline: Pipeline) -> None:
    def swap(doc: dict[str, Any]) -> None:
        other = doc["steps"]["prepare"]["attestations"][0]["sigstore_bundle"]
        _train(doc)["verificationMaterial"]["tlogEntries"] = copy.deepcopy(
            other["verificationMaterial"]["tlogEntries"]
        )

    report = _verify(full_pipeline, _tampered(full_pipeline, swap))
    failed = [r for r in report.results if not r.passed]
    assert [(r.check, r.error) for r in failed][:1] == [("tlog", "LogEntryMismatchError")]


def test_missing_attestation_fails_as_missing_step(full_pipeline: Pipeline) -> None:
    report = _verify(full_pipeline, _tampered(full_pipeline, lambda d: d["steps"].pop("train")))
    assert ("links", "MissingStepError") in [(r.check, r.error) for r in report.failures]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: _train(d).update(mediaType="application/json"),
        lambda d: _train(d)["dsseEnvelope"]["signatures"].append({"sig": "AA=="}),
        lambda d: _train(d)["dsseEnvelope"].update(payload="%%%"),
        lambda d: _train(d).update(verificationMaterial={}),
        lambda d: d["steps"]["train"]["attestations"][0].update(blobs={"tdx": {"x": "%%"}}),
        lambda d: d["steps"]["train"]["attestations"][0].pop("sigstore_bundle"),
    ],
)
def test_malformed_v2_bundles_are_input_errors(full_pipeline: Pipeline, mutate: Any) -> None:
    with pytest.raises(InputError, match="steps"):
        parse_bundle(_tampered(full_pipeline, mutate), source="b.json")


def test_layout_requiring_a_predicate_type(full_pipeline: Pipeline, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(full_pipeline.keys, root / "keys")
    doc = json.loads(json.dumps(layout_source()))
    doc["steps"][1]["predicate_type"] = LINK_PREDICATE
    layout = sign_source(root, doc)
    links_only = tmp_path / "links"
    shutil.copytree(full_pipeline.evidence, links_only)
    for path in links_only.glob("*.sigstore.json"):
        path.unlink()
    report = _verify(full_pipeline, _v2(full_pipeline, links_only, layout=layout))
    errors = [(r.check, r.step, r.error) for r in report.failures]
    assert ("links", "train", "PredicateTypeError") in errors
    statements = _verify(full_pipeline, _v2(full_pipeline, layout=layout))
    assert "PredicateTypeError" not in {r.error for r in statements.failures}


def test_cli_bundle_create_writes_v2_by_default(
    full_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from atlas_intoto.cli import main

    out = tmp_path / "b.atlas.json"
    argv = ["bundle", "create", "--layout", str(full_pipeline.layout_file)]
    argv += ["--evidence", str(full_pipeline.evidence), "--out", str(out), "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "v2"
    assert json.loads(out.read_bytes())["media_type"] == BUNDLE_V2_MEDIA_TYPE
    verify = ["verify", str(out), "--layout-key", str(full_pipeline.keys / "owner.pub")]
    assert main([*verify, "--artifacts", str(full_pipeline.work), "--no-cache"]) == 0
    assert main([*argv[:-1], "--oms", "nonsense"]) == 2


def test_step_evidenced_by_slsa_provenance(plain_pipeline: Pipeline, tmp_path: Path) -> None:
    """A build-like step may be evidenced by SLSA Provenance v1 signed by its functionary."""
    from atlas_intoto.bundle import Bundle, LinkEvidence
    from atlas_intoto.statement import SLSA_PROVENANCE, STATEMENT_TYPE, descriptors

    bundle = parse_bundle(plain_pipeline.bundle_bytes())
    package = next(link for link in bundle.links if link.step == "package")
    from atlas_intoto.link import read_unverified_link

    link = read_unverified_link(package.envelope)
    provenance = {
        "_type": STATEMENT_TYPE,
        "subject": descriptors(link.products),
        "predicateType": SLSA_PROVENANCE,
        "predicate": {
            "buildDefinition": {
                "buildType": "https://example.com/build/v1",
                "externalParameters": {"step": "package", "command": list(link.command)},
                "resolvedDependencies": descriptors(link.materials),
            },
            "runDetails": {"builder": {"id": "https://example.com/builder"}},
        },
    }

    def with_package(key: str) -> bytes:
        envelope = sign_statement(provenance, load_signer(plain_pipeline.keys / key))
        replaced = LinkEvidence(step="package", envelope=envelope)
        links = tuple(replaced if item is package else item for item in bundle.links)
        return serialize_bundle_v2(Bundle(layout=bundle.layout, links=links))

    report = _verify(plain_pipeline, with_package("release.key"), artifacts_dir=plain_pipeline.work)
    assert report.ok, report.text()
    assert report.steps[2].products == {p: d["sha256"] for p, d in link.products.items()}
    forged = _verify(plain_pipeline, with_package("mallory.key"))
    assert _failure(forged) == ("links", "LinkSignatureError")
    provenance["subject"][0]["digest"]["sha256"] = "00" * 32
    changed = _verify(
        plain_pipeline, with_package("release.key"), artifacts_dir=plain_pipeline.work
    )
    assert ("artifacts", "FinalArtifactError") in [(r.check, r.error) for r in changed.failures]


def test_v2_collect_never_reads_a_statement_through_a_symlink(
    full_pipeline: Pipeline, tmp_path: Path
) -> None:
    import os
    import shutil

    from atlas_intoto.bundle_v2 import collect_evidence_v2
    from atlas_intoto.errors import InputError

    evidence = tmp_path / "evidence"
    shutil.copytree(full_pipeline.evidence, evidence)
    statement = next(evidence.glob("train.*.sigstore.json"))
    real = tmp_path / "elsewhere.json"
    real.write_bytes(statement.read_bytes())
    statement.unlink()
    os.symlink(real, statement)
    layout = json.loads(full_pipeline.layout_file.read_bytes())
    with pytest.raises(InputError, match="symbolic link"):
        collect_evidence_v2(layout_envelope=layout, evidence_dirs=[evidence])

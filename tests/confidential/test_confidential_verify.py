"""Confidential provenance end to end: public bundles verify over commitments and
disclose nothing private; auditors check openings; every tamper fails with its own error."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from confidential_builder import TRAIN_CSV, Confidential, build

from atlas_intoto.confidential.audience import disclosures
from atlas_intoto.confidential.commitment import DIGEST_KEY, commitment_of, is_committed
from atlas_intoto.confidential.openings import Openings, parse_openings
from atlas_intoto.errors import (
    ArtifactRuleError,
    ForgedCommitmentError,
    MissingOpeningError,
    OpeningMismatchError,
    PrivateInClearError,
    ReusedCommitmentError,
)
from atlas_intoto.keys import load_signer
from atlas_intoto.link import EVIDENCE_KEY, read_unverified_link, sign_link
from atlas_intoto.verify import verify_bundle
from atlas_intoto.verify.report import VerificationReport


def _openings(pipeline: Confidential) -> Openings:
    total = Openings()
    for path in pipeline.openings_files():
        total += parse_openings(path.read_bytes(), source=str(path))
    return total


def _link(pipeline: Confidential, step: str) -> Any:
    (path,) = pipeline.evidence.glob(f"{step}.*.link")
    return read_unverified_link(path.read_bytes(), source=str(path))


def _verify(pipeline: Confidential, bundle: bytes, **kw: Any) -> VerificationReport:
    return verify_bundle(bundle, layout_keys=[pipeline.owner_pem], **kw)


def _first(report: VerificationReport) -> tuple[str, str | None]:
    first = report.first_failure
    assert first is not None, report.text()
    assert first.reason and "\n" not in first.reason
    return first.check, first.error


def _private_rows(report: VerificationReport) -> list[Any]:
    return [r for r in report.results if r.check == "artifacts" and r.step is not None]


# --- recording --------------------------------------------------------------------------------


def test_links_carry_commitments_the_same_in_every_step(
    logged: tuple[Confidential, Path],
) -> None:
    pipeline, _ = logged
    prepare, train = _link(pipeline, "prepare"), _link(pipeline, "train")
    assert all(is_committed(p) for p in prepare.products)
    assert len(prepare.products) == 2
    committed = [m for m in train.materials if is_committed(m)]
    assert len(committed) == 1 and committed[0] in prepare.products
    for name in committed:
        assert dict(train.materials[name]) == {DIGEST_KEY: commitment_of(name)}
    assert "src/train.py" in train.materials  # public artifacts stay in clear
    assert list(_link(pipeline, "package").products) == ["dist/model.npz"]
    opened = {o.commitment: o.path for o in _openings(pipeline).items}
    assert opened[commitment_of(committed[0])] == "data/train.csv"
    assert not list(pipeline.evidence.glob("package.*.openings.json"))  # nothing private


def test_missing_secret_fails_before_recording(tmp_path: Path, monkeypatch: Any) -> None:
    from atlas_intoto.errors import UsageError

    monkeypatch.delenv("ATLAS_INTOTO_PRIVATE_SECRET", raising=False)
    pipeline = build(tmp_path, record=False)
    with pytest.raises(UsageError, match="ATLAS_INTOTO_PRIVATE_SECRET"):
        pipeline.record("prepare", private_secret=None)
    assert not pipeline.evidence.exists() or not list(pipeline.evidence.glob("*.link"))


# --- public verification ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_public_bundle_verifies_and_names_what_it_could_not_see(
    logged: tuple[Confidential, Path], fmt: str
) -> None:
    pipeline, _ = logged
    bundle = pipeline.bundle("public", fmt=fmt)
    assert "openings" not in json.loads(bundle)
    report = _verify(pipeline, bundle, artifacts_dir=pipeline.work / "dist")
    assert report.ok, report.text()
    assert {r.step: r.status for r in report.results if r.check == "tlog"} == {
        "prepare": "pass",
        "train": "pass",
        "package": "pass",
    }
    rows = {r.step: r for r in _private_rows(report)}
    assert set(rows) == {"prepare", "train"}
    assert all(r.status == "skip" and "not visible" in r.reason for r in rows.values())
    assert "2 private artifact(s)" in rows["prepare"].reason


def test_public_bundle_and_log_disclose_no_private_path_or_digest(
    logged: tuple[Confidential, Path],
) -> None:
    """Every private path, digest (hex and base64) and salt, searched for through every
    encoding layer of both bundle formats, every file of the log and every value of its
    database."""
    pipeline, log_dir = logged
    openings = _openings(pipeline)
    assert {o.path for o in openings.items} == {"data/train.csv", "data/test.csv"}
    for fmt in ("v1", "v2"):
        assert disclosures(pipeline.bundle("public", fmt=fmt), openings) == []
        # the search does find what an auditor bundle adds (no vacuous pass)
        assert disclosures(pipeline.bundle("auditor", fmt=fmt), openings)
    for path in log_dir.rglob("*"):
        if path.is_file():
            assert disclosures(path.read_bytes(), openings) == [], path
    with sqlite3.connect(log_dir / "log.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert tables
        for table in tables:
            for values in db.execute(f'SELECT * FROM "{table}"'):
                for value in values:
                    data = value if isinstance(value, bytes) else str(value).encode()
                    assert disclosures(data, openings) == [], table
    raw = TRAIN_CSV
    import hashlib

    digest = hashlib.sha256(raw).digest()
    needles = [digest.hex().encode(), base64.b64encode(digest).rstrip(b"=")]
    assert not any(n in pipeline.bundle("public") for n in needles)


# --- auditor verification ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_auditor_bundle_checks_every_private_artifact(
    logged: tuple[Confidential, Path], fmt: str
) -> None:
    pipeline, _ = logged
    bundle = pipeline.bundle("auditor", fmt=fmt)
    report = _verify(pipeline, bundle, artifacts_dir=pipeline.work)
    assert report.ok, report.text()
    rows = {r.step: r for r in _private_rows(report)}
    assert all(r.status == "pass" and "opened" in r.reason for r in rows.values())
    assert any("equal their opened digests" in r.reason for r in report.results)


def test_public_bundle_with_openings_files(logged: tuple[Confidential, Path]) -> None:
    pipeline, _ = logged
    report = _verify(pipeline, pipeline.bundle("public"), openings=_openings(pipeline))
    assert report.ok, report.text()
    assert all(r.status == "pass" for r in _private_rows(report))


# --- tampering ---------------------------------------------------------------------------------


def test_swapped_private_dataset_detected_by_auditor(
    logged: tuple[Confidential, Path], tmp_path: Path
) -> None:
    pipeline, _ = logged
    held = tmp_path / "held"
    shutil.copytree(pipeline.work, held)
    (held / "data" / "train.csv").write_bytes(b"x,y\n9,9\n")
    report = _verify(pipeline, pipeline.bundle("auditor"), artifacts_dir=held)
    assert _first(report) == ("artifacts", OpeningMismatchError.__name__)
    # the public verifier, holding only the model, cannot see it (and says so)
    public = _verify(pipeline, pipeline.bundle("public"), artifacts_dir=held / "dist")
    assert public.ok


def test_dataset_swapped_between_steps_fails_rules_over_commitments(tmp_path: Path) -> None:
    pipeline = build(tmp_path)
    (pipeline.work / "data" / "train.csv").write_bytes(b"x,y\npoisoned\n")
    pipeline.record("train")
    pipeline.record("package")
    report = _verify(pipeline, pipeline.bundle("public"))
    assert _first(report) == ("rules", ArtifactRuleError.__name__)


def _auditor_doc(pipeline: Confidential) -> dict[str, Any]:
    return json.loads(pipeline.bundle("auditor"))  # type: ignore[no-any-return]


def test_forged_commitment(logged: tuple[Confidential, Path]) -> None:
    pipeline, _ = logged
    doc = _auditor_doc(pipeline)
    entry = next(e for e in doc["openings"]["openings"].values() if e["path"] == "data/train.csv")
    entry["digests"]["sha256"] = "0" * 64
    report = _verify(pipeline, json.dumps(doc).encode())
    assert _first(report) == ("artifacts", ForgedCommitmentError.__name__)


def test_missing_opening(logged: tuple[Confidential, Path]) -> None:
    pipeline, _ = logged
    doc = _auditor_doc(pipeline)
    commitment = next(
        c for c, e in doc["openings"]["openings"].items() if e["path"] == "data/train.csv"
    )
    del doc["openings"]["openings"][commitment]
    report = _verify(pipeline, json.dumps(doc).encode())
    assert _first(report) == ("artifacts", MissingOpeningError.__name__)
    failing = {r.step for r in report.results if not r.passed}
    assert failing == {"prepare", "train"}  # both steps needed that opening


def test_reused_commitment_in_openings(logged: tuple[Confidential, Path]) -> None:
    pipeline, _ = logged
    doc = _auditor_doc(pipeline)
    entries = doc["openings"]["openings"]
    train = next(c for c, e in entries.items() if e["path"] == "data/train.csv")
    test = next(c for c, e in entries.items() if e["path"] == "data/test.csv")
    entries[test]["salt"] = entries[train]["salt"]  # one salt opening two artifacts
    report = _verify(pipeline, json.dumps(doc).encode())
    assert _first(report) == ("artifacts", ReusedCommitmentError.__name__)
    # and one commitment opened two ways (a given file disagreeing with the bundle)
    doc = _auditor_doc(pipeline)
    other = copy.deepcopy(doc["openings"])
    other["openings"][train]["path"] = "data/other.csv"
    given = Openings.from_dict(other, source="given")
    report = _verify(pipeline, pipeline.bundle("auditor"), openings=given)
    assert _first(report) == ("artifacts", ReusedCommitmentError.__name__)


def _resign(pipeline: Confidential, step: str, key: str, edit: Any) -> bytes:
    """The bundle with ``step``'s link replaced by an edited one its functionary signed."""
    doc = json.loads(pipeline.bundle("public"))
    item = doc["steps"][step]["links"][0]
    link = read_unverified_link(base64.b64decode(item["envelope"]), source=step)
    materials = {k: dict(v) for k, v in link.materials.items()}
    products = {k: dict(v) for k, v in link.products.items()}
    edit(materials, products)
    envelope = sign_link(
        name=step,
        materials=materials,
        products=products,
        command=list(link.command),
        byproducts=dict(link.byproducts),
        environment={EVIDENCE_KEY: dict(link.atlas)},
        signer=load_signer(pipeline.keys / f"{key}.key"),
    )
    item["envelope"] = base64.b64encode(envelope).decode()
    item.pop("log_entry", None)
    return json.dumps(doc).encode()


def test_commitment_copied_onto_another_entry(tmp_path: Path) -> None:
    pipeline = build(tmp_path)

    def copy_onto(materials: dict[str, Any], products: dict[str, Any]) -> None:
        names = sorted(n for n in products if is_committed(n))
        products[names[0]] = {DIGEST_KEY: commitment_of(names[1])}

    report = _verify(pipeline, _resign(pipeline, "prepare", "data-eng", copy_onto))
    errors = {r.error for r in report.results if not r.passed}
    assert ReusedCommitmentError.__name__ in errors, report.text()


def test_private_artifact_recorded_in_clear(tmp_path: Path) -> None:
    pipeline = build(tmp_path, record=False)
    pipeline.record("prepare", private=(), private_secret=None)  # forgot --private
    pipeline.record("train")
    pipeline.record("package")
    report = _verify(pipeline, pipeline.bundle("public"))
    assert not report.ok
    errors = {r.error for r in report.results if not r.passed}
    assert PrivateInClearError.__name__ in errors, report.text()


def test_the_verdict_names_the_steps_whose_private_artifacts_were_not_seen(
    tmp_path: Path,
) -> None:
    """verify, verify-batch and the service print/return the verdict and the report document:
    a public bundle VERIFIED says which steps' private artifacts it could not see."""
    pipeline = build(tmp_path)
    report = _verify(pipeline, pipeline.bundle("public"))
    assert report.ok, report.text()
    assert report.private_steps == ("prepare", "train")
    assert report.verdict == (
        "VERIFIED (artifacts not compared; private artifacts of prepare, train not visible)"
    )
    assert report.to_dict()["private_not_visible"] == ["prepare", "train"]
    audited = _verify(pipeline, pipeline.bundle("auditor"))
    assert audited.ok and audited.private_steps == ()
    assert audited.verdict == "VERIFIED (artifacts not compared)"


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_an_opening_listed_twice_in_an_auditor_bundle_is_refused(
    logged: tuple[Confidential, Path], fmt: str
) -> None:
    from atlas_intoto.bundle import parse_bundle
    from atlas_intoto.errors import InputError

    pipeline, _ = logged
    doc = json.loads(pipeline.bundle("auditor", fmt=fmt))
    openings = doc["openings"]["openings"]
    commitment, entry = next(iter(openings.items()))
    shown = json.dumps(commitment) + ": " + json.dumps(entry)
    text = json.dumps(doc)
    assert shown in text
    other = dict(entry, salt="00" * 32)  # a second opening for the same commitment
    forged = text.replace(shown, f"{shown}, {json.dumps(commitment)}: {json.dumps(other)}")
    with pytest.raises(InputError, match="appears twice"):
        parse_bundle(forged.encode(), source="auditor.bundle.json")

"""``atlas-intoto demo --confidential``: the public bundle verifies and discloses no private
path or digest (searched independently here), the auditor bundle verifies with the openings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atlas_intoto.cli import main
from atlas_intoto.confidential.audience import disclosures
from atlas_intoto.confidential.openings import Openings, parse_openings
from atlas_intoto.demo import run_demo
from atlas_intoto.verify import verify_bundle


def test_confidential_demo(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_demo(tmp_path / "demo", say=lines.append, confidential=True)
    assert result.verified and result.tampered_detected, "\n".join(lines)
    demo = tmp_path / "demo"
    public = (demo / "model.atlas.json").read_bytes()
    auditor = (demo / "model.auditor.atlas.json").read_bytes()
    assert "openings" not in json.loads(public) and "openings" in json.loads(auditor)
    openings = Openings()
    for path in sorted((demo / "evidence").glob("*.openings.json")):
        openings += parse_openings(path.read_bytes(), source=str(path))
    assert {o.path for o in openings.items} == {"data/train.csv", "data/test.csv"}
    assert disclosures(public, openings) == []
    assert result.confidential["disclosed"] == []
    assert result.confidential["log_visibility"] == "digest"
    owner = (demo / "keys" / "owner.pub").read_bytes()
    report = verify_bundle(public, layout_keys=[owner], artifacts_dir=demo / "work" / "dist")
    assert report.ok, report.text()
    logged = [r for r in report.results if r.check == "tlog" and r.status == "pass"]
    assert logged and all("digest-only entry" in r.reason for r in logged if r.step)
    skipped = [r for r in report.results if r.check == "artifacts" and r.status == "skip"]
    assert {r.step for r in skipped} >= {"prepare", "train", "evaluate"}
    audit = verify_bundle(auditor, layout_keys=[owner], artifacts_dir=demo / "work")
    assert audit.ok, audit.text()
    # the C2PA manifests of public products name no private ingredient
    for step in json.loads(public)["steps"].values():
        for item in step["attestations"]:
            for product in item.get("c2pa", {}):
                assert not product.startswith("data/")


def test_confidential_demo_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--confidential", "--dir", str(tmp_path / "d"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["ok"] is True
    assert doc["confidential"]["openings"] == 2 and doc["confidential"]["disclosed"] == []

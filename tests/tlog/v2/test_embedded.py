"""``demo --log-version 2``: the whole pipeline on an embedded witnessed Rekor v2 log with a TSA."""

from __future__ import annotations

import json
from pathlib import Path

from atlas_intoto.demo import run_demo


def test_demo_runs_on_a_v2_log_with_a_witness(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo", log_version=2)
    assert result.verified and result.tampered_detected
    tlog_rows = [r for r in result.report.results if r.check == "tlog"]
    assert tlog_rows and all("(rfc3161)" in r.reason for r in tlog_rows)
    bundle = json.loads(result.bundle.read_bytes())
    # format v2: each step a Sigstore bundle holding its Rekor v2 entry and TSA timestamp
    assert bundle["media_type"] == "application/vnd.atlas-intoto.bundle.v2+json"
    material = bundle["steps"]["train"]["attestations"][0]["sigstore_bundle"]
    material = material["verificationMaterial"]
    entry = material["tlogEntries"][0]
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}
    assert "— witness.atlas-intoto.local/w1 " in entry["inclusionProof"]["checkpoint"]["envelope"]
    assert len(material["timestampVerificationData"]["rfc3161Timestamps"]) == 1
    layout = (tmp_path / "demo" / "layout.yaml").read_text()
    assert "witnesses" in layout and "tsa" in layout

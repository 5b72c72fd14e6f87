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
    entry = bundle["steps"]["train"]["links"][0]["log_entry"]
    assert entry["backend"] == "rekor-v2"
    assert (
        "— witness.atlas-intoto.local/w1 "
        in entry["entry"]["inclusionProof"]["checkpoint"]["envelope"]
    )
    layout = (tmp_path / "demo" / "layout.yaml").read_text()
    assert "witnesses" in layout and "tsa" in layout

"""``demo --gate``: the demo deploys through the verification service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atlas_intoto.cli import main


def test_demo_gates_through_the_service(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--gate", "--dir", str(tmp_path / "demo"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["gate"] == {"admitted": True, "tampered_refused": True}

"""``atlas-intoto gate``: hash the model locally, ask the service, exit 0/1 (2: no verdict)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from bundle_builder import Pipeline
from service_helpers import TOKEN, final_digests

from atlas_intoto.cli import main
from atlas_intoto.service.client import artifact_digests


def _gate(url: str, pipeline: Pipeline, artifacts: Path, *extra: str) -> list[str]:
    return [
        "gate", "--service", url, "--policy", "production", "--bundle", str(pipeline.bundle_file),
        "--artifacts", str(artifacts), "--json", *extra,
    ]  # fmt: skip


def test_digests_match_measure(attested: Pipeline) -> None:
    assert artifact_digests(attested.work) == final_digests(attested)


def test_gate_verdicts(
    service: tuple[str, Any, Path],
    attested: Pipeline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _, _ = service
    monkeypatch.setenv("ATLAS_INTOTO_TOKEN", TOKEN)
    assert main(_gate(url, attested, attested.work)) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    swapped = tmp_path / "model"
    shutil.copytree(attested.work, swapped)
    target = swapped / "dist" / "model.npz"  # the final product of the package step
    target.write_bytes(target.read_bytes() + b"backdoor")
    assert main(_gate(url, attested, swapped)) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_gate_without_a_verdict_exits_2(
    service: tuple[str, Any, Path],
    attested: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _, _ = service
    monkeypatch.delenv("ATLAS_INTOTO_TOKEN", raising=False)
    assert main(_gate(url, attested, attested.work)) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["check"] == "service.unavailable" and "HTTP 401" in error["message"]
    monkeypatch.setenv("ATLAS_INTOTO_TOKEN", TOKEN)
    assert main(_gate("http://127.0.0.1:9", attested, attested.work)) == 2
    assert main(_gate(url, attested, attested.work / "missing")) == 2


def test_gate_refuses_a_bundle_with_a_key_given_twice(
    attested: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Read as its last entry, the bundle would reach the service without the duplicate.
    text = attested.bundle_file.read_text()
    doubled = tmp_path / "doubled.json"
    doubled.write_text(text.replace("{", '{"layout": {}, ', 1))
    args = _gate("http://127.0.0.1:9", attested, attested.work)
    args[args.index("--bundle") + 1] = str(doubled)
    assert main(args) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert "key 'layout' appears twice" in error["message"] and str(doubled) in error["message"]

"""Kubeflow components with the log down: the task succeeds, its evidence artifact keeps the
link with a pending marker for ``log publish`` (no kfp needed: the container-side runtime)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import free_port, log_on

from atlas_intoto.integrations.kubeflow import run_component_step
from atlas_intoto.keys import generate_keypair
from atlas_intoto.publishing import pending_markers, publish_pending
from atlas_intoto.recording import RecordingOptions


@dataclass
class Artifact:
    path: str


def test_component_with_the_log_down_succeeds_and_keeps_its_link_pending(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    generate_keypair("k", directory=tmp_path / "keys")
    (tmp_path / "in.txt").write_text("in")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    port = free_port()
    options = RecordingOptions(
        key_path=tmp_path / "keys" / "k.key",
        base_path=tmp_path,
        log_url=f"http://127.0.0.1:{port}",
        log_retries=0,
    )
    settings = json.dumps(
        {
            "options": options.to_dict(),
            "step": "prep",
            "component": "prep",
            "inputs": ["data"],
            "outputs": ["out"],
            "parameters": [],
        }
    )

    def body(data: Artifact, out: Artifact) -> str:
        Path(out.path).write_text(Path(data.path).read_text().upper())
        return "ok"

    arguments = {"data": Artifact(str(tmp_path / "in.txt")), "out": Artifact(str(tmp_path / "o"))}
    assert run_component_step(body, arguments, Artifact(str(evidence)), settings) == "ok"
    assert "log publish --evidence" in capfd.readouterr().err
    assert len(list(evidence.glob("prep.*.link"))) == 1
    assert len(pending_markers(evidence)) == 1
    with log_on(tmp_path / "log", port) as (url, _):
        assert len(publish_pending(evidence, url=url).published) == 1
    assert pending_markers(evidence) == []

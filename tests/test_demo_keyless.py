"""``atlas-intoto demo --keyless``: the demo pipeline signed by identities of the local OIDC
issuer through our CA; the layout names the identities, the bundle verifies (formats v2 and
v1), and nothing is left running."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml

from atlas_intoto.cli import main
from atlas_intoto.demo_keyless import DOMAIN


@pytest.mark.slow
def test_keyless_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "demo"
    before = {t.name for t in threading.enumerate()}
    assert main(["demo", "--keyless", "--dir", str(directory), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is True and doc["tampered_detected"] is True
    assert doc["tampered_error"] == "FinalArtifactError"
    layout = yaml.safe_load((directory / "layout.yaml").read_text())
    assert layout["functionaries"]["trainer"]["identity"]["subject"] == f"trainer@{DOMAIN}"
    assert set(layout["trust"]["ca"]) == {"roots", "ct_keys"}
    # no functionary key files: the identities are the functionaries
    # (keygen's dev CA key stays beside the owner key)
    assert "trainer.key" not in {p.name for p in (directory / "keys").glob("*.key")}
    # the bundle carries certificates, and every step was judged at its log time
    bundle = json.loads(Path(doc["bundle"]).read_bytes())
    for step in bundle["steps"].values():
        material = step["attestations"][0]["sigstore_bundle"]["verificationMaterial"]
        assert "certificate" in material
    owner = str(directory / "keys" / "owner.pub")
    assert main(["verify", doc["bundle"], "--layout-key", owner, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    times = [r for r in report["results"] if "valid at the trusted time" in r["reason"]]
    assert len(times) == 4
    # format v1 (v0.9 links): the certificates come from the chain each link carries
    v1 = directory / "v1.json"
    assert (
        main(
            [
                "bundle",
                "create",
                "--layout",
                str(directory / "demo.layout"),
                "--evidence",
                str(directory / "evidence"),
                "--format",
                "v1",
                "--out",
                str(v1),
            ]
        )
        == 0
    )
    assert main(["verify", str(v1), "--layout-key", owner]) == 0
    # the issuer, CA and log servers are stopped
    leftover = {t.name for t in threading.enumerate()} - before
    assert not leftover & {"embedded CA", "embedded log", "atlas-log"}


@pytest.mark.slow
def test_keyless_demo_on_rekor_v2_is_judged_at_the_tsa_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "demo-v2"
    argv = ["demo", "--keyless", "--log-version", "2", "--dir", str(directory), "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is True and doc["tampered_detected"] is True
    owner = str(directory / "keys" / "owner.pub")
    assert main(["verify", doc["bundle"], "--layout-key", owner, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    times = [r["reason"] for r in report["results"] if "valid at the trusted time" in r["reason"]]
    assert len(times) == 4 and all("(rfc3161)" in reason for reason in times)

"""``demo --gate``: the demo's model deployed through the verification service.

The service runs in this process on a free loopback port with the demo's owner key as its
``default`` policy; the gate hashes the model directory and asks it, once for the real model
(admitted) and once for the tampered copy (refused).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from atlas_intoto.service.config import DEFAULT_POLICY


@dataclass(frozen=True, kw_only=True)
class GateDemo:
    """Whether the gate admitted the real model and refused the tampered one."""

    url: str
    admitted: bool
    tampered_refused: bool


def run_gate_demo(
    directory: Path, *, model_dir: Path, tampered_dir: Path, say: Callable[[str], None]
) -> GateDemo:
    """Serve the demo's policy, then gate ``model_dir`` and ``tampered_dir`` through it."""
    from atlas_intoto.service.app import create_app
    from atlas_intoto.service.client import artifact_digests, request_verdict
    from atlas_intoto.service.config import quick_config
    from atlas_intoto.tlog.serving import serve_in_thread

    keys = [directory / "keys" / "owner.pub"]
    bundle = json.loads((directory / "model.atlas.json").read_bytes())
    app = create_app(lambda: quick_config(keys))
    with serve_in_thread(app, name="atlas-service") as url:
        say(f"10. verification service at {url} (policy {DEFAULT_POLICY})")
        verdicts = []
        for label, model in (("model", model_dir), ("tampered copy", tampered_dir)):
            answer = request_verdict(
                url,
                {"policy": DEFAULT_POLICY, "bundle": bundle, "artifacts": artifact_digests(model)},
            )
            verdicts.append(answer["ok"] is True)
            say(f"11. gate, {label}: {'DEPLOY' if answer['ok'] else 'REFUSED'}")
    return GateDemo(url=url, admitted=verdicts[0], tampered_refused=not verdicts[1])

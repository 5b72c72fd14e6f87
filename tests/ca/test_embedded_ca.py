"""The in-process CA the demo uses, and the trust config naming it: a keyless step recorded
against it verifies with sigstore-python."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity

from atlas_intoto.ca.embedded import embedded_ca, keyless_trust_config
from atlas_intoto.demo import embedded_log
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import run_step


def test_embedded_ca_and_trust_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with embedded_ca(tmp_path / "ca") as ca, embedded_log(tmp_path / "log") as log:
        doc = keyless_trust_config(
            ca_url=ca.url,
            authority=ca.authority,
            log_url=log.url,
            log_public_key_pem=log.public_key_pem,
            log_origin="atlas-intoto-demo",
            valid_from=int(time.time()) - 60,
        )
        config = tmp_path / "trust-config.json"
        config.write_text(json.dumps(doc))
        token = ca.issuer.mint_token(
            subject="demo", claims={"email": "demo@example.com", "email_verified": True}
        )
        options = RecordingOptions(identity_token=token, trust_config=config)
        recorded = run_step(step="prep", command=[sys.executable, "-c", "pass"], options=options)
    assert recorded.sigstore_bundle_path is not None
    bundle = Bundle.from_json(recorded.sigstore_bundle_path.read_bytes())
    verifier = Verifier(trusted_root=ClientTrustConfig.from_json(json.dumps(doc)).trusted_root)
    verifier.verify_dsse(bundle, Identity(identity="demo@example.com", issuer=ca.issuer.url))

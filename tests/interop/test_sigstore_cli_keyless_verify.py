"""Interoperability: the real ``sigstore`` CLI (sigstore-python, independent code) signs a DSSE
statement keylessly against OUR CA (atlas_intoto.ca, Fulcio API on loopback) and OUR log (the
embedded Rekor v1), with a ClientTrustConfig we generate and a token from the local OIDC
issuer; our verifier accepts the resulting Sigstore bundle as the step's attestation for the
identity the layout names, and refuses it for another identity or issuer."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from helpers import ThreadedServer

from atlas_intoto.bundle import Bundle, LinkEvidence
from atlas_intoto.bundle_v2 import serialize_bundle_v2
from atlas_intoto.ca.keys import create_authority
from atlas_intoto.ca.oidc_dev import DevIssuer
from atlas_intoto.ca.server import JwksSource, create_ca_app
from atlas_intoto.ca.trust_config import client_trust_config, signing_config
from atlas_intoto.demo import embedded_log
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import load_and_pin, sign_layout
from atlas_intoto.sigstore_bundle import parse_sigstore_bundle
from atlas_intoto.tlog.trusted_root import certificate_authority, ct_log, trusted_root
from atlas_intoto.verify import verify_bundle
from atlas_intoto.verify.report import VerificationReport

EMAIL = "builder@example.com"
SLSA_V1 = "https://slsa.dev/provenance/v1"
DEV = DevIssuer()


@dataclass
class Signed:
    root: Path
    owner_pem: bytes
    sigstore_bundle: dict[str, Any]

    def layout(self, identity: dict[str, str]) -> Any:
        doc = {
            "apiVersion": "atlas-intoto/v1",
            "kind": "Layout",
            "expires": "2099-01-01T00:00:00Z",
            "functionaries": {"builder": {"identity": identity}},
            "steps": [
                {
                    "name": "build",
                    "functionaries": ["builder"],
                    "predicate_type": SLSA_V1,
                    "products": ["ALLOW *"],
                }
            ],
            "trust": {
                "logs": [{"key": "log.pub"}],
                "ca": {"roots": ["ca-chain.pem"], "ct_keys": ["ct.pub"]},
            },
        }
        source = self.root / "layout.yaml"
        source.write_text(json.dumps(doc))
        return json.loads(sign_layout(load_and_pin(source), [load_signer(self.root / "owner.key")]))

    def verify(self, identity: dict[str, str]) -> VerificationReport:
        parsed = parse_sigstore_bundle(self.sigstore_bundle, source="sigstore CLI bundle")
        item = LinkEvidence(
            step="build",
            envelope=parsed.envelope,
            log_entry=parsed.log_entry,
            sigstore_bundle=self.sigstore_bundle,
        )
        data = serialize_bundle_v2(Bundle(layout=self.layout(identity), links=(item,)))
        return verify_bundle(data, layout_keys=[self.owner_pem])


def _predicate() -> dict[str, Any]:
    return {
        "buildDefinition": {
            "buildType": "https://atlas-intoto.dev/interop/v1",
            "externalParameters": {"step": "build", "command": ["make", "model"]},
            "resolvedDependencies": [],
        },
        "runDetails": {"builder": {"id": "https://atlas-intoto.dev/interop-builder"}},
    }


def _trust_config(ca: Any, ca_url: str, log: Any) -> dict[str, Any]:
    now = int(time.time()) - 3600
    root = trusted_root(
        public_key_pem=log.public_key_pem,
        url=log.url,
        origin="atlas-intoto-demo",
        valid_from=now,
        authorities=[certificate_authority(list(ca.chain), uri=ca_url)],
        ct_logs=[ct_log(ca.ct_public_key_pem(), url=ca_url, valid_from=now, source="CT key")],
    )
    config = signing_config(ca_url=ca_url, log_url=log.url, valid_from=now)
    return client_trust_config(trusted_root=root, signing_config=config)


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    root = tmp_path_factory.mktemp("sigstore-cli-keyless")
    ca = create_authority()
    issuers = {DEV.url: DEV.config("email")}
    app = create_ca_app(ca, issuers=issuers, jwks=JwksSource(issuers, inline={DEV.url: DEV.jwks()}))
    with ThreadedServer(app) as ca_server, embedded_log(root / "log") as log:
        (root / "trust.json").write_text(json.dumps(_trust_config(ca, ca_server.url, log)))
        (root / "predicate.json").write_text(json.dumps(_predicate()))
        (root / "model.bin").write_bytes(b"weights\n")
        token = DEV.mint_token(subject="builder", claims={"email": EMAIL, "email_verified": True})
        cli = Path(sys.executable).with_name("sigstore")
        result = subprocess.run(
            [
                str(cli),
                "--trust-config",
                str(root / "trust.json"),
                "attest",
                "--rekor-version",
                "1",
                "--predicate",
                str(root / "predicate.json"),
                "--predicate-type",
                SLSA_V1,
                "--identity-token",
                token,
                "--bundle",
                str(root / "model.sigstore.json"),
                str(root / "model.bin"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        (root / "log.pub").write_bytes(log.public_key_pem)
    (root / "ca-chain.pem").write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in ca.chain)
    )
    (root / "ct.pub").write_bytes(ca.ct_public_key_pem())
    generate_keypair("owner", directory=root)
    yield Signed(
        root=root,
        owner_pem=(root / "owner.pub").read_bytes(),
        sigstore_bundle=json.loads((root / "model.sigstore.json").read_text()),
    )


def test_our_verifier_accepts_the_sigstore_cli_bundle_for_its_identity(signed: Signed) -> None:
    report = signed.verify({"issuer": DEV.url, "subject": EMAIL})
    assert report.ok, report.text()
    reasons = " ".join(r.reason for r in report.results if r.check == "links")
    assert f"builder ({EMAIL})" in reasons
    assert "valid at the trusted time" in reasons


@pytest.mark.parametrize(
    ("identity", "error"),
    [
        ({"issuer": DEV.url, "subject": "mallory@example.com"}, "IdentitySubjectError"),
        (
            {"issuer": "https://token.actions.githubusercontent.com", "subject": EMAIL},
            "IdentityIssuerError",
        ),
    ],
)
def test_our_verifier_refuses_it_for_another_identity(
    signed: Signed, identity: dict[str, str], error: str
) -> None:
    report = signed.verify(identity)
    failure = report.first_failure
    assert failure is not None and (failure.check, failure.error) == ("links", error)

"""The real ``sigstore`` CLI (sigstore-python) against our CA and log, on loopback, configured
by the ClientTrustConfig ``log trusted-root --trust-config`` writes, with a token from the local
OIDC issuer:

* ``sigstore sign`` (Rekor v1) and ``sigstore attest`` (a DSSE in-toto Statement) get a
  certificate from our CA (its SCT from our CT key), log to our log, and
  ``sigstore verify identity`` accepts the result;
* on a Rekor v2 log with our TSA, likewise (``--rekor-version 2``: hashedrekord 0.0.2 and an
  RFC 3161 timestamp as the signing time);
* ``sigstore verify identity`` refuses a wrong identity and a wrong issuer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ThreadedServer

from atlas_intoto.ca.keys import load_or_create_ca
from atlas_intoto.ca.oidc_dev import DevIssuer
from atlas_intoto.ca.server import JwksSource, create_ca_app
from atlas_intoto.cli import main
from atlas_intoto.tlog.logkey import load_or_create_log_key
from atlas_intoto.tlog.v2.http import open_log_app
from atlas_intoto.tsa.keys import load_or_create_tsa

DEV = DevIssuer()
EMAIL = "release@example.com"


def _token() -> str:
    return DEV.mint_token(subject=EMAIL, claims={"email": EMAIL, "email_verified": True})


@pytest.fixture(scope="module")
def trust_configs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Path]]:
    root = tmp_path_factory.mktemp("sigstore-cli")
    ca = load_or_create_ca(root / "ca")
    issuers = {DEV.url: DEV.config("email")}
    ca_app = create_ca_app(
        ca, issuers=issuers, jwks=JwksSource(issuers, inline={DEV.url: DEV.jwks()})
    )
    with (
        ThreadedServer(ca_app) as ca_server,
        open_log_app(
            db=root / "v1.db",
            signer=load_or_create_log_key(root / "log.key"),
            origin="127.0.0.1",
            max_body=128 * 1024,
            v2_db=root / "v2.db",
            tsa=load_or_create_tsa(root / "tsa"),
        ) as log_app,
        ThreadedServer(log_app) as log,
    ):
        configs = {}
        for version in (1, 2):
            path = root / f"trust-config-v{version}.json"
            args = ["log", "trusted-root", "--url", log.url, "--ca-url", ca_server.url]
            args += ["--ca-dir", str(root / "ca"), "--trust-config", "--out", str(path)]
            args += ["--log-version", str(version)]
            if version == 2:
                args += ["--tsa-url", log.url]
            assert main(args) == 0
            configs[version] = path
        yield configs


def _sigstore(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "SIGSTORE_ID_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "sigstore", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _verify(config: Path, artifact: Path, bundle: Path, identity: str, issuer: str) -> int:
    result = _sigstore(
        "--trust-config",
        str(config),
        "verify",
        "identity",
        "--bundle",
        str(bundle),
        "--cert-identity",
        identity,
        "--cert-oidc-issuer",
        issuer,
        str(artifact),
    )
    return result.returncode


@pytest.mark.parametrize("version", [1, 2])
def test_sigstore_sign_and_verify_identity(
    trust_configs: dict[int, Path], tmp_path: Path, version: int
) -> None:
    config = trust_configs[version]
    artifact = tmp_path / "model.safetensors"
    artifact.write_bytes(b"weights")
    bundle = tmp_path / "model.sigstore.json"
    signed = _sigstore(
        "--trust-config",
        str(config),
        "sign",
        "--identity-token",
        _token(),
        "--rekor-version",
        str(version),
        "--bundle",
        str(bundle),
        str(artifact),
    )
    assert signed.returncode == 0, signed.stderr
    doc = json.loads(bundle.read_text())
    entry = doc["verificationMaterial"]["tlogEntries"][0]
    assert entry["kindVersion"]["kind"] == "hashedrekord"
    if version == 2:
        assert doc["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    assert _verify(config, artifact, bundle, EMAIL, DEV.url) == 0
    assert _verify(config, artifact, bundle, "mallory@example.com", DEV.url) != 0
    assert _verify(config, artifact, bundle, EMAIL, "https://accounts.google.com") != 0


@pytest.mark.parametrize("version", [1, 2])
def test_sigstore_attest_dsse_and_verify_identity(
    trust_configs: dict[int, Path], tmp_path: Path, version: int
) -> None:
    config = trust_configs[version]
    artifact = tmp_path / "model.safetensors"
    artifact.write_bytes(b"weights")
    predicate = tmp_path / "predicate.json"
    predicate.write_text(
        json.dumps(
            {
                "buildDefinition": {
                    "buildType": "https://atlas-intoto.dev/step/v1",
                    "externalParameters": {"step": "train"},
                },
                "runDetails": {"builder": {"id": "https://atlas-intoto.dev/builder"}},
            }
        )
    )
    bundle = tmp_path / "model.intoto.sigstore.json"
    attested = _sigstore(
        "--trust-config",
        str(config),
        "attest",
        "--identity-token",
        _token(),
        "--rekor-version",
        str(version),
        "--predicate",
        str(predicate),
        "--predicate-type",
        "https://slsa.dev/provenance/v1",
        "--bundle",
        str(bundle),
        str(artifact),
    )
    assert attested.returncode == 0, attested.stderr
    assert "dsseEnvelope" in json.loads(bundle.read_text())
    assert _verify(config, artifact, bundle, EMAIL, DEV.url) == 0
    assert _verify(config, artifact, bundle, "mallory@example.com", DEV.url) != 0


@pytest.mark.parametrize("version", [1, 2])
def test_sigstore_verify_identity_accepts_our_keyless_step(
    trust_configs: dict[int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    """A step recorded keyless (``run --identity-token --trust-config``) is a DSSE Statement
    over its products; ``sigstore verify identity`` accepts its bundle for each product."""
    monkeypatch.chdir(tmp_path)
    config = trust_configs[version]
    code = main(
        [
            "run",
            "--step",
            "train",
            "--identity-token",
            _token(),
            "--trust-config",
            str(config),
            "--products",
            "model.bin",
            "--",
            sys.executable,
            "-c",
            "open('model.bin', 'w').write('weights')",
        ]
    )
    assert code == 0
    [bundle] = sorted((tmp_path / ".atlas").glob("train.*.sigstore.json"))
    entry = json.loads(bundle.read_text())["verificationMaterial"]["tlogEntries"][0]
    assert entry["kindVersion"]["kind"] == ("dsse" if version == 1 else "hashedrekord")
    product = tmp_path / "model.bin"
    assert _verify(config, product, bundle, EMAIL, DEV.url) == 0
    assert _verify(config, product, bundle, "mallory@example.com", DEV.url) != 0

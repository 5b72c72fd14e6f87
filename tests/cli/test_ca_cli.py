"""``ca serve`` and ``ca dev-token`` as a user runs them (a child process on loopback), and
``log trusted-root``'s CA, CT key and trust-config options."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import free_port

from atlas_intoto.ca.client import request_certificate
from atlas_intoto.ca.keys import load_or_create_ca
from atlas_intoto.ca.oidc_dev import DevIssuer
from atlas_intoto.cli import main
from atlas_intoto.demo import embedded_log
from atlas_intoto.errors import KeylessSigningError


def _serve(tmp_path: Path, *extra: str) -> Iterator[tuple[str, Path]]:
    port = free_port()
    directory = tmp_path / "ca"
    cmd = [sys.executable, "-m", "atlas_intoto", "ca", "serve", "--dev-issuer"]
    cmd += ["--dir", str(directory), "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/api/v2/trustBundle")
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("ca serve did not start") from None
                time.sleep(0.05)
        yield url, directory
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
        assert "eyJ" not in stderr  # no token is ever logged


@pytest.fixture
def ca_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    yield from _serve(tmp_path)


@pytest.fixture
def guarded_ca(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``ca serve --auth``: only dev@example.com of the local issuer may get certificates."""
    dev = DevIssuer()
    (tmp_path / "jwks.json").write_text(json.dumps(dev.jwks()))
    auth = {
        "version": 1,
        "oidc": {
            "issuers": [{"issuer": dev.url, "audience": "sigstore", "jwks_file": "jwks.json"}],
            "identities": [
                {
                    "name": "release",
                    "issuer": dev.url,
                    "subject": "dev@example.com",
                    "scopes": ["write"],
                },
            ],
        },
    }
    (tmp_path / "auth.json").write_text(json.dumps(auth))
    yield from _serve(tmp_path, "--auth", str(tmp_path / "auth.json"))


def test_ca_serve_with_auth_certifies_only_the_identities_it_lists(
    guarded_ca: tuple[str, Path],
) -> None:
    url, _ = guarded_ca
    dev = DevIssuer()
    key = ec.generate_private_key(ec.SECP256R1())
    allowed = dev.mint_token(
        subject="dev@example.com", claims={"email": "dev@example.com", "email_verified": True}
    )
    assert len(request_certificate(url, allowed, key)) >= 2
    other = dev.mint_token(
        subject="eve@example.com", claims={"email": "eve@example.com", "email_verified": True}
    )
    with pytest.raises(KeylessSigningError, match="403"):
        request_certificate(url, other, key)
    refused = httpx.post(f"{url}/api/v2/signingCert", json={})
    assert refused.status_code == 401 and "bearer token" in refused.json()["message"]


def test_ca_serve_issues_for_a_dev_token(
    ca_server: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, directory = ca_server
    assert main(["ca", "dev-token", "--email", "dev@example.com"]) == 0
    token = capsys.readouterr().out.strip()
    chain = request_certificate(url, token, ec.generate_private_key(ec.SECP256R1()))
    assert chain[1:] == list(load_or_create_ca(directory, create=False).chain)
    with pytest.raises(KeylessSigningError, match="401"):
        forged = DevIssuer(url="https://forged.example").mint_token(subject="x")
        request_certificate(url, forged, ec.generate_private_key(ec.SECP256R1()))


def test_ca_serve_refuses_a_bad_issuer_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "issuers.yaml"
    bad.write_text("issuers:\n  - url: https://x\n    type: nope\n    jwks_file: j.json\n")
    assert main(["ca", "serve", "--issuers", str(bad), "--port", "0"]) == 2
    assert "issuers[0].type" in capsys.readouterr().err
    missing = tmp_path / "issuers.json"
    missing.write_text(
        json.dumps({"issuers": [{"url": "https://x", "type": "email", "jwks_file": "nope.json"}]})
    )
    assert main(["ca", "serve", "--issuers", str(missing), "--port", "0"]) == 2
    assert "nope.json" in capsys.readouterr().err
    assert main(["ca", "serve", "--port", "0"]) == 2
    assert main(["ca", "serve", "--dev-issuer", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "loopback" in capsys.readouterr().err
    assert main(["ca", "dev-token"]) == 2


def test_trusted_root_lists_the_ca_and_ct_key(ca_server: tuple[str, Path], tmp_path: Path) -> None:
    url, directory = ca_server
    ca = load_or_create_ca(directory, create=False)
    with embedded_log(tmp_path / "log") as log:
        out = tmp_path / "root.json"
        args = ["log", "trusted-root", "--url", log.url, "--ca-url", url, "--out", str(out)]
        assert main([*args, "--ctlog-key", str(directory / "ct.pub")]) == 0
        root = json.loads(out.read_text())
        [authority] = root["certificateAuthorities"]
        assert authority["uri"] == url
        ders = [base64.b64decode(c["rawBytes"]) for c in authority["certChain"]["certificates"]]
        assert [x509.load_der_x509_certificate(d) for d in ders] == list(ca.chain)
        [ctlog] = root["ctlogs"]
        assert ctlog["logId"]["keyId"]
        # a trust config needs the CA URL
        assert main(["log", "trusted-root", "--url", log.url, "--trust-config"]) == 2
        config = tmp_path / "tc.json"
        assert (
            main([*args[:-2], "--ca-dir", str(directory), "--trust-config", "--out", str(config)])
            == 0
        )
        doc = json.loads(config.read_text())
        assert doc["mediaType"] == "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
        assert doc["signingConfig"]["caUrls"][0]["url"] == url
        assert doc["signingConfig"]["rekorTlogUrls"][0]["url"] == log.url
        assert doc["trustedRoot"]["ctlogs"]
        signing = tmp_path / "signing.json"
        assert (
            main([*args[:-2], "--signing-config", "--log-version", "2", "--out", str(signing)]) == 0
        )
        bare = json.loads(signing.read_text())
        assert bare["mediaType"] == "application/vnd.dev.sigstore.signingconfig.v0.2+json"
        assert bare["rekorTlogUrls"][0]["majorApiVersion"] == 2


def test_a_broken_issuers_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "issuers.yaml"
    bad.write_text("issuers: [\n  - {url: x\n")
    code = main(["ca", "serve", "--issuers", str(bad), "--port", "0", "--json"])
    captured = capsys.readouterr()
    assert code == 2
    error = json.loads(captured.out)["error"]
    assert error["type"] == "CaConfigError" and "\n" not in error["message"]
    assert str(bad) in error["message"] and "line 2" in error["message"]
    assert len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize("lifetime", ["0", "-5"])
def test_dev_token_needs_a_positive_lifetime(
    lifetime: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["ca", "dev-token", "--email", "a@example.com", "--lifetime", lifetime, "--json"])
    captured = capsys.readouterr()
    assert code == 2 and json.loads(captured.out)["error"]["type"] == "UsageError"
    assert "--lifetime" in captured.err and len(captured.err.strip().splitlines()) == 1

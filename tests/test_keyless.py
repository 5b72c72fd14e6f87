"""Keyless recording end to end on loopback: the local OIDC issuer's token, our CA and our log,
configured by the ClientTrustConfig ``log trusted-root --trust-config`` writes. The link and the
Statement are signed by an ephemeral key whose certificate (with the identity) they carry, both
are logged with that certificate, and sigstore-python accepts the Statement's bundle for the
identity and refuses another identity or issuer."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from helpers import ThreadedServer
from sigstore.errors import VerificationError
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from atlas_intoto import dsse
from atlas_intoto.ca.keys import load_or_create_ca
from atlas_intoto.ca.oidc_dev import DevIssuer
from atlas_intoto.ca.server import JwksSource, create_ca_app
from atlas_intoto.cli import main
from atlas_intoto.demo import embedded_log
from atlas_intoto.errors import KeylessSigningError, UsageError
from atlas_intoto.keyless import TOKEN_ENV
from atlas_intoto.link import EVIDENCE_KEY, read_unverified_link
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import record_step

DEV = DevIssuer()
EMAIL = "trainer@example.com"


def dev_token(email: str = EMAIL) -> str:
    return DEV.mint_token(subject=email, claims={"email": email, "email_verified": True})


@dataclass(frozen=True)
class Deployment:
    ca_url: str
    log_url: str
    ca_dir: Path
    trust_config: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("keyless")
    ca = load_or_create_ca(root / "ca")
    issuers = {DEV.url: DEV.config("email")}
    app = create_ca_app(ca, issuers=issuers, jwks=JwksSource(issuers, inline={DEV.url: DEV.jwks()}))
    with ThreadedServer(app) as ca_server, embedded_log(root / "log") as log:
        config = root / "trust-config.json"
        code = main(
            [
                "log",
                "trusted-root",
                "--url",
                log.url,
                "--ca-url",
                ca_server.url,
                "--ca-dir",
                str(root / "ca"),
                "--trust-config",
                "--out",
                str(config),
            ]
        )
        assert code == 0
        yield Deployment(ca_server.url, log.url, root / "ca", config)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (*TOKEN_ENV, "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "data.txt").write_text("data")
    return tmp_path


def _run(deployment: Deployment, *extra: str) -> int:
    return main(
        [
            "run",
            "--step",
            "train",
            "--trust-config",
            str(deployment.trust_config),
            "--materials",
            "data.txt",
            "--products",
            "model.bin",
            *extra,
            "--",
            sys.executable,
            "-c",
            "open('model.bin', 'w').write('weights')",
        ]
    )


def test_keyless_run_signs_with_a_certified_ephemeral_key(
    deployment: Deployment, workspace: Path
) -> None:
    assert _run(deployment, "--identity-token", dev_token()) == 0
    [link_path] = sorted((workspace / ".atlas").glob("train.*.link"))
    envelope = link_path.read_bytes()
    link = read_unverified_link(envelope, source=str(link_path))
    chain = [
        x509.load_der_x509_certificate(base64.b64decode(c))
        for c in link.environment[EVIDENCE_KEY]["certificates"]
    ]
    leaf = chain[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == [EMAIL]
    ca = load_or_create_ca(deployment.ca_dir, create=False)
    assert chain[1:] == list(ca.chain)
    # the link's signature is the certified key's
    from atlas_intoto.keys import sslib_key

    keyid = sslib_key(leaf.public_key()).keyid  # type: ignore[arg-type]
    assert dsse.parse(envelope).signatures[0].keyid == keyid
    assert link_path.name.startswith(f"train.{keyid[:8]}")
    # both the link and the Statement are logged
    assert list((workspace / ".atlas").glob("train.*.logentry.json"))
    [bundle_path] = sorted((workspace / ".atlas").glob("train.*.sigstore.json"))
    bundle = Bundle.from_json(bundle_path.read_bytes())
    assert bundle.signing_certificate == leaf
    # sigstore-python accepts it for the identity, and refuses another identity or issuer
    config = ClientTrustConfig.from_json(deployment.trust_config.read_text())
    verifier = Verifier(trusted_root=config.trusted_root)
    payload_type, _ = verifier.verify_dsse(bundle, Identity(identity=EMAIL, issuer=DEV.url))
    assert payload_type == "application/vnd.in-toto+json"
    for policy in (
        Identity(identity="mallory@example.com", issuer=DEV.url),
        Identity(identity=EMAIL, issuer="https://other.example"),
    ):
        with pytest.raises(VerificationError):
            verifier.verify_dsse(bundle, policy)


def test_token_from_a_file_and_from_the_environment(
    deployment: Deployment, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workspace / "token").write_text(dev_token("file@example.com") + "\n")
    assert _run(deployment, "--identity-token-file", "token") == 0
    monkeypatch.setenv(TOKEN_ENV[0], dev_token("env@example.com"))
    assert _run(deployment) == 0


def test_ambient_github_actions_credentials(
    deployment: Deployment, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a GitHub runner with ``id-token: write``: the ``id`` package asks the runner's
    token endpoint (here on loopback) for a token with audience sigstore."""
    audiences: list[str] = []

    async def token_endpoint(request: Request) -> JSONResponse:
        audiences.append(request.query_params.get("audience", ""))
        return JSONResponse({"value": dev_token("ci@example.com")})

    app = Starlette(routes=[Route("/token", token_endpoint)])
    with ThreadedServer(app) as runner:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{runner.url}/token?x=1")
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-secret")
        assert _run(deployment) == 0
    assert audiences == ["sigstore"]


def test_no_token_fails_before_the_command(deployment: Deployment, workspace: Path) -> None:
    options = RecordingOptions(trust_config=deployment.trust_config, log_url=deployment.log_url)
    with pytest.raises(KeylessSigningError, match="no identity token"):
        record_step(step="s", options=options, materials=[], products=[])
    assert _run(deployment) == 2
    assert not (workspace / "model.bin").exists()


def test_the_ca_refusing_the_token_fails_with_exit_2(
    deployment: Deployment, workspace: Path
) -> None:
    forged = DevIssuer(url="https://forged.example").mint_token(subject="x")
    assert _run(deployment, "--identity-token", forged) == 2
    assert not list((workspace / ".atlas").glob("*.link"))


def test_usage_errors() -> None:
    with pytest.raises(UsageError, match="--key"):
        RecordingOptions()
    with pytest.raises(UsageError, match="c2pa"):
        record_step(
            step="s",
            options=RecordingOptions(identity_token="t", ca_url="http://127.0.0.1:1", c2pa=True),
            materials=[],
            products=[],
        )
    assert main(["run", "--step", "s", "--key", "k", "--identity-token", "t", "--", "true"]) == 2


def test_options_round_trip_without_the_token() -> None:
    token = "eyJ-identity-token-3f9a"
    options = RecordingOptions(identity_token=token, trust_config=Path("tc.json"))
    doc = options.to_dict()
    assert token not in json.dumps(doc) and doc["keyless"] is True
    again = RecordingOptions.from_dict(doc)
    assert again.keyless and again.trust_config == Path("tc.json") and again.identity_token is None
    assert token not in repr(options)


def test_keyless_record_start_and_stop(deployment: Deployment, workspace: Path) -> None:
    """The ephemeral key only exists at ``record stop``: ``record start`` files the materials
    under the keyless pending name, and stop certifies and signs."""
    base = ["--step", "train", "--trust-config", str(deployment.trust_config)]
    assert main(["record", "start", *base, "--materials", "data.txt"]) == 0
    assert list((workspace / ".atlas" / ".pending").glob("train.keyless.json"))
    (workspace / "model.bin").write_text("weights")
    token = ["--identity-token", dev_token()]
    assert main(["record", "stop", *base, *token, "--products", "model.bin"]) == 0
    [link_path] = sorted((workspace / ".atlas").glob("train.*.link"))
    link = read_unverified_link(link_path.read_bytes(), source=str(link_path))
    assert "data.txt" in link.materials and "model.bin" in link.products
    assert link.environment[EVIDENCE_KEY]["certificates"]
    assert not list((workspace / ".atlas" / ".pending").glob("train.*.json"))


def test_keyless_offline_first_publishes_later_with_the_certificate(
    deployment: Deployment, workspace: Path
) -> None:
    """The CA is reachable but the log is not: the link is signed and kept with a pending
    marker naming the certificate, and ``log publish`` logs it (and its Statement) later."""
    from helpers import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    code = _run(deployment, "--identity-token", dev_token(), "--log", dead, "--log-retries", "0")
    assert code == 2
    [marker] = sorted((workspace / ".atlas" / ".publish-pending").glob("train.*.json"))
    assert "BEGIN CERTIFICATE" in marker.read_text()
    assert main(["log", "publish", "--url", deployment.log_url]) == 0
    assert list((workspace / ".atlas").glob("train.*.logentry.json"))
    [bundle_path] = sorted((workspace / ".atlas").glob("train.*.sigstore.json"))
    bundle = Bundle.from_json(bundle_path.read_bytes())
    config = ClientTrustConfig.from_json(deployment.trust_config.read_text())
    Verifier(trusted_root=config.trusted_root).verify_dsse(
        bundle, Identity(identity=EMAIL, issuer=DEV.url)
    )


def test_keyless_with_digest_visibility_is_refused_before_anything_runs(tmp_path: Path) -> None:
    from atlas_intoto.errors import UsageError
    from atlas_intoto.step_plan import prepare

    options = RecordingOptions(
        keyless=True,
        identity_token="token",
        out_dir=tmp_path,
        log_visibility="digest",
    )
    with pytest.raises(UsageError, match="--log-visibility digest"):
        prepare("train", options)


@pytest.mark.parametrize(
    ("token", "match"),
    [
        ("not-a-jwt", "not a JWT"),
        (DevIssuer().mint_token(subject="x", now=1_000_000), "expired"),
    ],
    ids=["garbage", "expired"],
)
def test_a_token_the_ca_must_refuse_fails_before_the_command(
    deployment: Deployment,
    workspace: Path,
    token: str,
    match: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(deployment, "--identity-token", token) == 2
    assert not (workspace / "model.bin").exists()
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1 and token not in err

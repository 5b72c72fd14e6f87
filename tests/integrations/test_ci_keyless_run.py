"""The keyless GitLab job's own lines (examples/ci/gitlab-ci-keyless.yml), run on loopback with
the local OIDC issuer: the job's ``SIGSTORE_ID_TOKEN`` gets the step certified by our CA, and its
``ATLAS_INTOTO_LOG_TOKEN`` (the same identity, audience atlas-intoto) is what lets it write to a
log behind an auth config; another identity's token leaves the link pending, never lost."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ThreadedServer

from atlas_intoto.auth import Guard, protect
from atlas_intoto.ca import oidc_dev
from atlas_intoto.cli import main
from atlas_intoto.tlog.logkey import load_or_create_log_key
from atlas_intoto.tlog.server import create_app
from atlas_intoto.tlog.store import LogStore

REPO = Path(__file__).resolve().parents[2]
JOB = yaml.safe_load((REPO / "examples" / "ci" / "gitlab-ci-keyless.yml").read_text())
EMAIL = "ci@example.com"
DEV = oidc_dev.DevIssuer()


def _token(audience: str, email: str = EMAIL) -> str:
    claims = {"email": email, "email_verified": True}
    return str(DEV.mint_token(subject=email, claims=claims, audience=audience))


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Our CA and a log that only the identity EMAIL of the dev issuer may write to; yields
    (log URL, trust config)."""
    from atlas_intoto.ca.keys import load_or_create_ca
    from atlas_intoto.ca.server import JwksSource, create_ca_app

    root = tmp_path_factory.mktemp("keyless-ci")
    issuers = {DEV.url: DEV.config("email")}
    ca = create_ca_app(
        load_or_create_ca(root / "ca"),
        issuers=issuers,
        jwks=JwksSource(issuers, inline={DEV.url: DEV.jwks()}),
    )
    (root / "jwks.json").write_text(json.dumps(DEV.jwks()))
    auth: dict[str, Any] = {
        "version": 1,
        "oidc": {
            "issuers": [{"issuer": DEV.url, "audience": "atlas-intoto", "jwks_file": "jwks.json"}],
            "identities": [
                {"name": "ci", "issuer": DEV.url, "subject": EMAIL, "scopes": ["write"]}
            ],
        },
    }
    (root / "auth.yaml").write_text(json.dumps(auth))
    store = LogStore(root / "log.db")
    log = protect(
        create_app(store, load_or_create_log_key(root / "log.key"), "ci-log", 128 * 1024),
        Guard.from_file(root / "auth.yaml"),
    )
    try:
        with ThreadedServer(ca) as ca_server, ThreadedServer(log) as log_server:
            config = root / "trust-config.json"
            argv = ["log", "trusted-root", "--url", log_server.url, "--ca-url", ca_server.url]
            argv += ["--ca-dir", str(root / "ca"), "--trust-config", "--out", str(config)]
            assert main(argv) == 0
            yield log_server.url, config
    finally:
        store.close()


def _run_job(workspace: Path, trust_config: Path, log_token: str) -> None:
    (workspace / "src").mkdir()
    (workspace / "src" / "module.py").write_text("VALUE = 1\n")
    (workspace / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (workspace / "ci").mkdir()
    (workspace / "ci" / "trust-config.json").write_bytes(trust_config.read_bytes())
    job = JOB["attested-build-keyless"]
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITLAB_CI")}
    env.update(job["variables"])
    # GitLab hands the job its id_tokens as these variables.
    env.update(SIGSTORE_ID_TOKEN=_token("sigstore"), ATLAS_INTOTO_LOG_TOKEN=log_token)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(REPO)  # the checkout under test, whatever the venv points at
    script = list(job["script"])
    script[1] = "mkdir -p dist && printf wheel > dist/demo-0.1-py3-none-any.whl"  # the build
    for line in script:
        done = subprocess.run(["bash", "-ec", line], env=env, cwd=workspace, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()


def test_the_job_records_keyless_and_its_identity_may_write(
    services: tuple[str, Path], tmp_path: Path
) -> None:
    _, trust_config = services
    _run_job(tmp_path, trust_config, _token("atlas-intoto"))
    (link,) = (tmp_path / ".atlas").glob("build.*.link")
    payload = json.loads(base64.b64decode(json.loads(link.read_bytes())["payload"]))
    evidence = payload["environment"]["atlas-intoto"]
    assert evidence.get("certificates")  # signed by a certified, ephemeral key
    assert list((tmp_path / ".atlas").glob("build.*.logentry.json"))
    assert not list((tmp_path / ".atlas" / ".publish-pending").glob("*.json"))


def test_another_identity_may_not_write_and_nothing_is_lost(
    services: tuple[str, Path], tmp_path: Path
) -> None:
    _, trust_config = services
    _run_job(tmp_path, trust_config, _token("atlas-intoto", email="intruder@example.com"))
    assert list((tmp_path / ".atlas").glob("build.*.link"))
    assert not list((tmp_path / ".atlas").glob("build.*.logentry.json"))
    assert list((tmp_path / ".atlas" / ".publish-pending").glob("*.json"))

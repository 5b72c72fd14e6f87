"""OIDC identity tokens: verification against a JWKS at a reference time, and the claims
Fulcio maps to the SAN and extensions for email, GitHub Actions, GitLab and URI issuers."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from atlas_intoto.ca.oidc import IssuerConfig, verify_token
from atlas_intoto.ca.oidc_dev import DevIssuer
from atlas_intoto.errors import CaConfigError, IdentityTokenError, UnknownIssuerError

DEV = DevIssuer()
GITHUB = DevIssuer(url="https://token.actions.githubusercontent.com")
GITLAB = DevIssuer(url="https://gitlab.com")
SPIFFE = DevIssuer(url="https://issuer.corp.example")
NOW = time.time()

GITHUB_CLAIMS: dict[str, Any] = {
    "job_workflow_ref": "octo/model/.github/workflows/train.yml@refs/heads/main",
    "job_workflow_sha": "1" * 40,
    "repository": "octo/model",
    "repository_id": "42",
    "repository_owner": "octo",
    "repository_owner_id": "7",
    "repository_visibility": "public",
    "workflow": "train",
    "workflow_ref": "octo/model/.github/workflows/train.yml@refs/heads/main",
    "workflow_sha": "1" * 40,
    "sha": "2" * 40,
    "ref": "refs/heads/main",
    "event_name": "push",
    "run_id": "99",
    "run_attempt": "1",
    "runner_environment": "github-hosted",
}


def _verify(token: str, *configs: IssuerConfig, now: float | None = None) -> Any:
    issuers = {c.url: c for c in configs}
    jwks = {DEV.url: DEV.jwks(), GITHUB.url: GITHUB.jwks(), GITLAB.url: GITLAB.jwks()}
    jwks[SPIFFE.url] = SPIFFE.jwks()
    # judged at the time of the test, not of collection (tokens minted in tests use the clock)
    return verify_token(token, issuers=issuers, jwks=jwks, now=time.time() if now is None else now)


def test_email_issuer_maps_verified_email() -> None:
    token = DEV.mint_token(
        subject="u1", claims={"email": "alice@example.com", "email_verified": True}
    )
    principal = _verify(token, DEV.config("email"))
    assert principal.email == "alice@example.com" and principal.uri is None
    assert principal.name == "alice@example.com" and principal.issuer == DEV.url
    unverified = DEV.mint_token(subject="u1", claims={"email": "a@b.c"})
    with pytest.raises(IdentityTokenError, match="email_verified"):
        _verify(unverified, DEV.config("email"))


def test_github_workflow_claims_as_fulcio_maps_them() -> None:
    token = GITHUB.mint_token(subject="repo:octo/model:ref:refs/heads/main", claims=GITHUB_CLAIMS)
    principal = _verify(token, GITHUB.config("github-workflow"))
    workflow = "https://github.com/octo/model/.github/workflows/train.yml@refs/heads/main"
    assert principal.uri == workflow and principal.identity == workflow
    assert principal.name == "repo:octo/model:ref:refs/heads/main"
    ext = dict(principal.extensions)
    assert ext["source_repository_uri"] == "https://github.com/octo/model"
    assert ext["run_invocation_uri"] == "https://github.com/octo/model/actions/runs/99/attempts/1"
    assert ext["build_signer_uri"] == workflow and ext["github_workflow_trigger"] == "push"
    assert ext["source_repository_owner_uri"] == "https://github.com/octo"
    # extensions whose claims are absent are omitted, the SAN claim is required
    partial = GITHUB.mint_token(subject="s", claims={"job_workflow_ref": "o/r/w.yml@x"})
    extensions = _verify(partial, GITHUB.config("github-workflow")).extensions
    assert [name for name, _ in extensions] == ["build_signer_uri", "token_subject"]
    with pytest.raises(IdentityTokenError, match="job_workflow_ref"):
        _verify(GITHUB.mint_token(subject="s"), GITHUB.config("github-workflow"))


def test_gitlab_pipeline_claims() -> None:
    claims = {
        "ci_config_ref_uri": "gitlab.com/grp/model//.gitlab-ci.yml@refs/heads/main",
        "ci_config_sha": "3" * 40,
        "project_path": "grp/model",
        "namespace_path": "grp",
        "ref": "main",
        "ref_type": "branch",
        "job_id": "555",
        "pipeline_source": "push",
    }
    token = GITLAB.mint_token(
        subject="project_path:grp/model:ref_type:branch:ref:main", claims=claims
    )
    principal = _verify(token, GITLAB.config("gitlab-pipeline"))
    assert principal.uri == "https://gitlab.com/grp/model//.gitlab-ci.yml@refs/heads/main"
    ext = dict(principal.extensions)
    assert ext["source_repository_ref"] == "refs/heads/main"
    assert ext["run_invocation_uri"] == "https://gitlab.com/grp/model/-/jobs/555"


def test_uri_issuer_requires_subject_under_its_domain() -> None:
    config = SPIFFE.config("uri", subject_domain="corp.example")
    ok = SPIFFE.mint_token(subject="https://ci.corp.example/jobs/1")
    assert _verify(ok, config).uri == "https://ci.corp.example/jobs/1"
    with pytest.raises(IdentityTokenError, match=r"corp\.example"):
        _verify(SPIFFE.mint_token(subject="https://evil.example/jobs/1"), config)


@pytest.mark.parametrize(
    ("token", "error", "match"),
    [
        (DEV.mint_token(subject="u", issuer="https://other.example"), UnknownIssuerError, "other"),
        (DEV.mint_token(subject="u", audience="not-sigstore"), IdentityTokenError, "(?i)audience"),
        (DEV.mint_token(subject="u", now=NOW - 3600, lifetime=60), IdentityTokenError, "expired"),
        (DEV.mint_token(subject="u", now=NOW + 3600), IdentityTokenError, "not valid yet"),
        ("not.a.jwt", IdentityTokenError, "JWT"),
        (
            jwt.encode(
                {
                    "iss": DEV.url,
                    "sub": "u",
                    "aud": "sigstore",
                    "iat": int(NOW),
                    "exp": int(NOW) + 60,
                },
                ec.generate_private_key(ec.SECP256R1()),
                algorithm="ES256",
                headers={"kid": "atlas-intoto-dev-1"},
            ),
            IdentityTokenError,
            "Signature",
        ),
        (
            jwt.encode(
                {"iss": DEV.url, "sub": "u", "aud": "sigstore"}, "k" * 32, algorithm="HS256"
            ),
            IdentityTokenError,
            "(?i)alg",
        ),
    ],
    ids=["unknown-issuer", "audience", "expired", "future", "garbage", "wrong-key", "hmac"],
)
def test_bad_tokens_are_refused(token: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _verify(token, DEV.config("email"))


def test_issuer_config_round_trip_and_errors() -> None:
    config = IssuerConfig.from_dict(
        {"url": "https://x", "type": "github-workflow", "jwks_url": "http://127.0.0.1:1/jwks"}
    )
    assert IssuerConfig.from_dict(config.to_dict()) == config
    for bad, field in [
        ({"url": "https://x", "type": "nope", "jwks_file": "f"}, "type"),
        ({"url": "https://x", "type": "email"}, "jwks"),
        ({"url": "https://x", "type": "uri", "jwks_file": "f"}, "subject_domain"),
        ({"type": "email", "jwks_file": "f"}, "url"),
        ({"url": "https://x", "type": "email", "jwks_file": "f", "extra": 1}, "extra"),
    ]:
        with pytest.raises(CaConfigError, match=field):
            IssuerConfig.from_dict(bad, source="issuers[0]")


def test_every_certificate_carries_the_token_subject() -> None:
    token = DEV.mint_token(subject="u9", claims={"email": "a@example.com", "email_verified": True})
    assert ("token_subject", "u9") in _verify(token, DEV.config("email")).extensions


def test_self_hosted_gitlab_keeps_its_scheme() -> None:
    instance = DevIssuer(url="http://gitlab.internal")
    claims = {"ci_config_ref_uri": "gitlab.internal/g/p//.gitlab-ci.yml@refs/heads/main"}
    token = instance.mint_token(subject="s", claims=claims)
    config = instance.config("gitlab-pipeline", base_url="http://gitlab.internal")
    principal = verify_token(
        token, issuers={instance.url: config}, jwks={instance.url: instance.jwks()}, now=time.time()
    )
    assert principal.uri == "http://gitlab.internal/g/p//.gitlab-ci.yml@refs/heads/main"

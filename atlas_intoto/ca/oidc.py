"""OIDC identity tokens as Fulcio reads them (pure): verify a token against its issuer's JWKS
at a reference time, and map its claims to the certificate's identity (SAN) and extensions.

Issuer types (Fulcio's ``config.go``/``docs/oid-info.md``):

* ``email`` — SAN email = ``email``, which must be ``email_verified``;
* ``github-workflow`` — SAN URI = ``https://github.com/`` + ``job_workflow_ref``, plus the
  GitHub workflow extensions (deprecated ``.2``–``.6`` and ``.9``–``.22``) for the claims the
  token has;
* ``gitlab-pipeline`` — SAN URI = ``https://`` + ``ci_config_ref_uri``, plus the build
  extensions for the claims the token has;
* ``uri`` — SAN URI = ``sub``, an http(s) URI whose host is ``subject_domain`` (or under it).

Every certificate also carries the token's ``sub`` (extension ``.24``), as Fulcio's do.

The proof of possession a request carries is a signature over :attr:`Principal.name`: the email
for ``email`` issuers, ``sub`` otherwise (what sigstore clients sign).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import jwt

from atlas_intoto.errors import CaConfigError, IdentityTokenError, UnknownIssuerError

__all__ = [
    "AUDIENCE",
    "ISSUER_TYPES",
    "IssuerConfig",
    "Principal",
    "principal_of",
    "verify_token",
]

#: The audience Fulcio requires of identity tokens.
AUDIENCE = "sigstore"
ISSUER_TYPES = ("email", "github-workflow", "gitlab-pipeline", "uri")
#: Clock skew tolerated on ``exp``/``nbf``/``iat`` (sigstore clients allow 5 s).
LEEWAY = 5
_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


@dataclass(frozen=True, kw_only=True)
class IssuerConfig:
    """One OIDC issuer the CA accepts tokens from, and where its JWKS is (URL or file)."""

    url: str
    type: str
    jwks_url: str | None = None
    jwks_file: str | None = None
    subject_domain: str | None = None
    base_url: str | None = None
    client_id: str = AUDIENCE

    def to_dict(self) -> dict[str, Any]:
        """The config entry (``ca serve --issuers`` file, ``issuers[]``)."""
        doc: dict[str, Any] = {"url": self.url, "type": self.type}
        for name in ("jwks_url", "jwks_file", "subject_domain", "base_url"):
            if getattr(self, name) is not None:
                doc[name] = getattr(self, name)
        if self.client_id != AUDIENCE:
            doc["client_id"] = self.client_id
        return doc

    @classmethod
    def from_dict(cls, doc: Any, *, source: str = "issuer") -> IssuerConfig:
        """Read one entry (CaConfigError naming ``source`` and the field when malformed)."""
        if not isinstance(doc, Mapping):
            raise CaConfigError(f"{source}: expected an object")
        strings = {k: doc.get(k) for k in ("url", "type", "jwks_url", "jwks_file")}
        strings |= {k: doc.get(k) for k in ("subject_domain", "base_url", "client_id")}
        for key, value in strings.items():
            if value is not None and not isinstance(value, str):
                raise CaConfigError(f"{source}.{key}: expected a string")
        unknown = set(doc) - set(strings)
        if unknown:
            raise CaConfigError(f"{source}: unknown field {sorted(unknown)[0]}")
        if not strings["url"]:
            raise CaConfigError(f"{source}.url: missing")
        if strings["type"] not in ISSUER_TYPES:
            raise CaConfigError(f"{source}.type: must be one of {', '.join(ISSUER_TYPES)}")
        if (strings["jwks_url"] is None) == (strings["jwks_file"] is None):
            raise CaConfigError(f"{source}: give exactly one of jwks_url and jwks_file")
        if strings["type"] == "uri" and not strings["subject_domain"]:
            raise CaConfigError(f"{source}.subject_domain: required for uri issuers")
        return cls(
            url=str(strings["url"]),
            type=str(strings["type"]),
            jwks_url=strings["jwks_url"],
            jwks_file=strings["jwks_file"],
            subject_domain=strings["subject_domain"],
            base_url=strings["base_url"],
            client_id=strings["client_id"] or AUDIENCE,
        )


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who a verified token names, as the certificate will: the SAN (``email`` or ``uri``),
    the issuer, the Fulcio extensions (name → value) and the proof-of-possession ``name``."""

    issuer: str
    name: str
    email: str | None = None
    uri: str | None = None
    extensions: tuple[tuple[str, str], ...] = field(default=())

    @property
    def identity(self) -> str:
        """The SAN value (what ``sigstore verify identity --cert-identity`` compares)."""
        return self.email if self.email is not None else str(self.uri)


def _claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise IdentityTokenError(f"identity token: claim {name} is missing")
    return str(value)


def _optional(
    claims: Mapping[str, Any], pairs: Mapping[str, Callable[[], str]]
) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name, value in pairs.items():
        try:
            out.append((name, value()))
        except IdentityTokenError:
            continue  # the token lacks a claim this extension needs: Fulcio omits it too
    return tuple(out)


def _github(config: IssuerConfig, claims: Mapping[str, Any]) -> Principal:
    base = (config.base_url or "https://github.com").rstrip("/")
    uri = f"{base}/{_claim(claims, 'job_workflow_ref')}"

    def c(name: str) -> Callable[[], str]:
        return lambda: _claim(claims, name)

    def repo_uri() -> str:
        return f"{base}/{_claim(claims, 'repository')}"

    def run_uri() -> str:
        run = f"{_claim(claims, 'run_id')}/attempts/{_claim(claims, 'run_attempt')}"
        return f"{repo_uri()}/actions/runs/{run}"

    extensions = _optional(
        claims,
        {
            "github_workflow_trigger": c("event_name"),
            "github_workflow_sha": c("sha"),
            "github_workflow_name": c("workflow"),
            "github_workflow_repository": c("repository"),
            "github_workflow_ref": c("ref"),
            "build_signer_uri": lambda: uri,
            "build_signer_digest": c("job_workflow_sha"),
            "runner_environment": c("runner_environment"),
            "source_repository_uri": repo_uri,
            "source_repository_digest": c("sha"),
            "source_repository_ref": c("ref"),
            "source_repository_identifier": c("repository_id"),
            "source_repository_owner_uri": lambda: f"{base}/{_claim(claims, 'repository_owner')}",
            "source_repository_owner_identifier": c("repository_owner_id"),
            "build_config_uri": lambda: f"{base}/{_claim(claims, 'workflow_ref')}",
            "build_config_digest": c("workflow_sha"),
            "build_trigger": c("event_name"),
            "run_invocation_uri": run_uri,
            "source_repository_visibility_at_signing": c("repository_visibility"),
        },
    )
    return Principal(issuer=config.url, name=_claim(claims, "sub"), uri=uri, extensions=extensions)


def _gitlab(config: IssuerConfig, claims: Mapping[str, Any]) -> Principal:
    base = (config.base_url or "https://gitlab.com").rstrip("/")
    ref_uri = _claim(claims, "ci_config_ref_uri")
    # the claim has no scheme: https, or the instance's own when it is on the same host
    same_host = ref_uri.split("/", 1)[0] == urlsplit(base).netloc
    uri = f"{urlsplit(base).scheme if same_host else 'https'}://{ref_uri}"

    def c(name: str) -> Callable[[], str]:
        return lambda: _claim(claims, name)

    def ref() -> str:
        kind = {"branch": "heads", "tag": "tags"}.get(_claim(claims, "ref_type"))
        if kind is None:
            raise IdentityTokenError("identity token: ref_type is neither branch nor tag")
        return f"refs/{kind}/{_claim(claims, 'ref')}"

    def project() -> str:
        return f"{base}/{_claim(claims, 'project_path')}"

    extensions = _optional(
        claims,
        {
            "build_signer_uri": lambda: uri,
            "build_signer_digest": c("ci_config_sha"),
            "runner_environment": c("runner_environment"),
            "source_repository_uri": project,
            "source_repository_digest": c("sha"),
            "source_repository_ref": ref,
            "source_repository_identifier": c("project_id"),
            "source_repository_owner_uri": lambda: f"{base}/{_claim(claims, 'namespace_path')}",
            "source_repository_owner_identifier": c("namespace_id"),
            "build_config_uri": lambda: uri,
            "build_config_digest": c("ci_config_sha"),
            "build_trigger": c("pipeline_source"),
            "run_invocation_uri": lambda: f"{project()}/-/jobs/{_claim(claims, 'job_id')}",
            "source_repository_visibility_at_signing": c("project_visibility"),
        },
    )
    return Principal(issuer=config.url, name=_claim(claims, "sub"), uri=uri, extensions=extensions)


def _email(config: IssuerConfig, claims: Mapping[str, Any]) -> Principal:
    email = _claim(claims, "email")
    if claims.get("email_verified") is not True:
        raise IdentityTokenError("identity token: email_verified is not true")
    return Principal(issuer=config.url, name=email, email=email)


def _uri(config: IssuerConfig, claims: Mapping[str, Any]) -> Principal:
    subject = _claim(claims, "sub")
    parts = urlsplit(subject)
    host = (parts.hostname or "").lower()
    domain = (config.subject_domain or "").lower()
    if parts.scheme not in ("https", "http") or not (host == domain or host.endswith("." + domain)):
        raise IdentityTokenError(f"identity token: sub is not a URI under {domain}")
    return Principal(issuer=config.url, name=subject, uri=subject)


_MAPPERS: dict[str, Callable[[IssuerConfig, Mapping[str, Any]], Principal]] = {
    "email": _email,
    "github-workflow": _github,
    "gitlab-pipeline": _gitlab,
    "uri": _uri,
}


def principal_of(config: IssuerConfig, claims: Mapping[str, Any]) -> Principal:
    """The identity verified ``claims`` of ``config``'s issuer name (IdentityTokenError when a
    claim the type needs is missing). Every type also embeds the token's ``sub`` (Fulcio's
    token-subject extension ``.24``)."""
    principal = _MAPPERS[config.type](config, claims)
    subject = ("token_subject", _claim(claims, "sub"))
    return replace(principal, extensions=(*principal.extensions, subject))


def unverified_issuer(token: str) -> str:
    """The ``iss`` a token claims, before anything about it is verified."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise IdentityTokenError(f"identity token: not a JWT ({exc})") from exc
    issuer = claims.get("iss")
    if not isinstance(issuer, str):
        raise IdentityTokenError("identity token: claim iss is missing")
    return issuer


def _signing_key(token: str, jwks: Mapping[str, Any], issuer: str) -> jwt.PyJWK:
    try:
        keys = jwt.PyJWKSet.from_dict(dict(jwks)).keys
        kid = jwt.get_unverified_header(token).get("kid")
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise IdentityTokenError(f"identity token: JWKS of {issuer} unusable ({exc})") from exc
    matching = [k for k in keys if kid is None or k.key_id == kid]
    if len(matching) != 1:
        raise IdentityTokenError(f"identity token: no single key {kid!r} in the JWKS of {issuer}")
    return matching[0]


def _check_times(claims: Mapping[str, Any], now: float) -> None:
    for name in ("exp", "iat"):
        if not isinstance(claims.get(name), int | float) or isinstance(claims[name], bool):
            raise IdentityTokenError(f"identity token: claim {name} is missing")
    if now >= float(claims["exp"]) + LEEWAY:
        raise IdentityTokenError("identity token: expired")
    not_before = claims.get("nbf", claims["iat"])
    if not isinstance(not_before, int | float) or now + LEEWAY < float(not_before):
        raise IdentityTokenError("identity token: not valid yet")


def verify_token(
    token: str,
    *,
    issuers: Mapping[str, IssuerConfig],
    jwks: Mapping[str, Mapping[str, Any]],
    now: float,
) -> Principal:
    """Verify an identity token at ``now`` and map it to a :class:`Principal`.

    1. its ``iss`` is a configured issuer (UnknownIssuerError otherwise);
    2. its signature verifies under the key its header names in that issuer's JWKS
       (``jwks[issuer]``);
    3. its audience is the issuer's client id (``sigstore``);
    4. ``exp``/``nbf``/``iat`` hold at ``now`` (with :data:`LEEWAY`);
    5. the claims the issuer's type needs are there (:func:`principal_of`).

    Every refusal is an IdentityTokenError.
    """
    issuer = unverified_issuer(token)
    config = issuers.get(issuer)
    if config is None or issuer not in jwks:
        raise UnknownIssuerError(f"identity token: issuer {issuer} is not trusted by this CA")
    key = _signing_key(token, jwks[issuer], issuer)
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=list(_ALGORITHMS),
            audience=config.client_id,
            issuer=issuer,
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["iss", "sub", "aud", "exp", "iat"],
            },
        )
    except jwt.PyJWTError as exc:
        raise IdentityTokenError(f"identity token: {exc}") from exc
    _check_times(claims, now)
    return principal_of(config, claims)


def load_jwks(data: bytes, *, source: str) -> dict[str, Any]:
    """A JWKS document (CaConfigError when it is not one)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CaConfigError(f"{source}: not JSON ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise CaConfigError(f"{source}: not a JWKS document (no keys array)")
    return doc

"""The auth config (``--auth FILE``): who may write to and read from our services.

One format for ``log serve``, ``tsa serve``, ``ca serve`` and the verification service
(``schemas/auth-config.schema.json``, docs/auth.md)::

    version: 1
    reads: public            # or token: reads need a read (or write) grant
    tokens:                  # bearer tokens, known only by their SHA-256 (or SHA-512)
      - {name: ci, sha256: <hex>, scopes: [write]}
      - {name: old-ci, sha256: <hex>, scopes: [write], revoked: true}
    oidc:
      issuers:               # whose ID tokens are accepted, and their keys (JWKS)
        - {issuer: https://token.actions.githubusercontent.com, audience: atlas-intoto,
           jwks_url: https://token.actions.githubusercontent.com/.well-known/jwks}
      identities:            # which subjects of those issuers may do what
        - {name: release, issuer: https://token.actions.githubusercontent.com,
           subject: "repo:org/app:ref:refs/heads/main", scopes: [write]}

Parsing is pure: :func:`parse_auth_config` takes the document; :func:`load_auth_config` (the
edge) reads the file. A config never holds a token, only its hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from atlas_intoto.errors import AuthConfigError, InputError

__all__ = [
    "SCHEMA_PATH",
    "AuthConfig",
    "IdentityGrant",
    "Issuer",
    "TokenGrant",
    "hash_token",
    "load_auth_config",
    "parse_auth_config",
]

#: package data; a copy of schemas/auth-config.schema.json (a test keeps them identical)
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "auth-config.schema.json"
READ, WRITE = "read", "write"


def hash_token(token: str, algorithm: str = "sha256") -> str:
    """The hex digest a config stores for a bearer token (``printf %s TOKEN | sha256sum``)."""
    return hashlib.new(algorithm, token.encode("utf-8")).hexdigest()


def _grants(scopes: tuple[str, ...], wanted: str) -> bool:
    # A writer may read what it wrote: write implies read.
    return wanted in scopes or (wanted == READ and WRITE in scopes)


@dataclass(frozen=True, kw_only=True)
class TokenGrant:
    """A bearer token, known by its digest: name, scopes, service policies, revocation."""

    name: str
    algorithm: str
    digest: str
    scopes: tuple[str, ...]
    policies: tuple[str, ...] = ("*",)
    revoked: bool = False

    def allows(self, scope: str) -> bool:
        return _grants(self.scopes, scope)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, self.algorithm: self.digest}
        doc.update(scopes=list(self.scopes), policies=list(self.policies), revoked=self.revoked)
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> TokenGrant:
        algorithm = "sha512" if "sha512" in doc else "sha256"
        return cls(
            name=str(doc["name"]),
            algorithm=algorithm,
            digest=str(doc[algorithm]),
            scopes=tuple(doc["scopes"]),
            policies=tuple(doc.get("policies", ("*",))),
            revoked=bool(doc.get("revoked", False)),
        )


@dataclass(frozen=True, kw_only=True)
class Issuer:
    """An OIDC issuer whose ID tokens are accepted: audience, and its keys (JWKS file or URL)."""

    issuer: str
    audience: str
    jwks_file: str | None = None
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = ("RS256", "ES256")

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"issuer": self.issuer, "audience": self.audience}
        if self.jwks_file is not None:
            doc["jwks_file"] = self.jwks_file
        if self.jwks_url is not None:
            doc["jwks_url"] = self.jwks_url
        doc["algorithms"] = list(self.algorithms)
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Issuer:
        return cls(
            issuer=str(doc["issuer"]),
            audience=str(doc["audience"]),
            jwks_file=doc.get("jwks_file"),
            jwks_url=doc.get("jwks_url"),
            algorithms=tuple(doc.get("algorithms", ("RS256", "ES256"))),
        )


@dataclass(frozen=True, kw_only=True)
class IdentityGrant:
    """An OIDC identity (issuer + exact subject, or a full-match subject pattern) and what it
    may do."""

    name: str
    issuer: str
    subject: str | None = None
    subject_pattern: str | None = None
    scopes: tuple[str, ...] = (WRITE,)
    policies: tuple[str, ...] = ("*",)
    revoked: bool = False

    def matches(self, issuer: str, subject: str) -> bool:
        if issuer != self.issuer:
            return False
        if self.subject is not None:
            return subject == self.subject
        return (
            self.subject_pattern is not None
            and _compiled(self.subject_pattern).fullmatch(subject) is not None
        )

    def allows(self, scope: str) -> bool:
        return _grants(self.scopes, scope)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "issuer": self.issuer}
        if self.subject is not None:
            doc["subject"] = self.subject
        if self.subject_pattern is not None:
            doc["subject_pattern"] = self.subject_pattern
        doc.update(scopes=list(self.scopes), policies=list(self.policies), revoked=self.revoked)
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> IdentityGrant:
        return cls(
            name=str(doc["name"]),
            issuer=str(doc["issuer"]),
            subject=doc.get("subject"),
            subject_pattern=doc.get("subject_pattern"),
            scopes=tuple(doc["scopes"]),
            policies=tuple(doc.get("policies", ("*",))),
            revoked=bool(doc.get("revoked", False)),
        )


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(frozen=True, kw_only=True)
class AuthConfig:
    """A parsed auth config: whether reads are public, the tokens, issuers and identities."""

    reads: str = "public"
    tokens: tuple[TokenGrant, ...] = ()
    issuers: tuple[Issuer, ...] = ()
    identities: tuple[IdentityGrant, ...] = ()

    @property
    def public_reads(self) -> bool:
        return self.reads == "public"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "reads": self.reads,
            "tokens": [token.to_dict() for token in self.tokens],
            "oidc": {
                "issuers": [issuer.to_dict() for issuer in self.issuers],
                "identities": [identity.to_dict() for identity in self.identities],
            },
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AuthConfig:
        """Build from a document; call :func:`parse_auth_config` for untrusted input."""
        oidc = doc.get("oidc") or {}
        return cls(
            reads=str(doc.get("reads", "public")),
            tokens=tuple(TokenGrant.from_dict(t) for t in doc.get("tokens", ())),
            issuers=tuple(Issuer.from_dict(i) for i in oidc.get("issuers", ())),
            identities=tuple(IdentityGrant.from_dict(i) for i in oidc.get("identities", ())),
        )


@cache
def _schema() -> Mapping[str, Any]:
    try:
        schema: Mapping[str, Any] = json.loads(SCHEMA_PATH.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{SCHEMA_PATH}: cannot load the auth config schema") from exc
    return schema


def _field(path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def parse_auth_config(doc: Any, *, source: str) -> AuthConfig:
    """Validate an auth config document and return it.

    Steps: 1. the JSON schema (the first error names its field); 2. every identity's issuer is
    a configured issuer; 3. subject patterns compile; 4. names and token hashes are unique; 5. something grants
    access (a config with no token and no identity would lock everyone out)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    error = next(iter(sorted(validator.iter_errors(doc), key=lambda e: list(e.path))), None)
    if error is not None:
        where = _field(error.absolute_path) or "(top level)"
        raise AuthConfigError(f"{source}: {where}: {error.message}")
    config = AuthConfig.from_dict(doc)
    issuers = {issuer.issuer for issuer in config.issuers}
    for index, identity in enumerate(config.identities):
        where = f"{source}: oidc.identities[{index}]"
        if identity.issuer not in issuers:
            raise AuthConfigError(f"{where}.issuer: {identity.issuer!r} is not in oidc.issuers")
        if identity.subject_pattern is not None:
            try:
                _compiled(identity.subject_pattern)
            except re.error as exc:
                raise AuthConfigError(f"{where}.subject_pattern: {exc}") from exc
    for what, names in (
        ("tokens", [t.name for t in config.tokens]),
        ("oidc.identities", [i.name for i in config.identities]),
    ):
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise AuthConfigError(f"{source}: {what}: name {duplicate!r} is used twice")
    seen: dict[tuple[str, str], str] = {}
    for index, token in enumerate(config.tokens):
        earlier = seen.setdefault((token.algorithm, token.digest), token.name)
        if earlier != token.name:
            raise AuthConfigError(
                f"{source}: tokens[{index}].{token.algorithm}: the same token as {earlier!r}"
            )
    if not config.tokens and not config.identities:
        raise AuthConfigError(f"{source}: no tokens and no oidc.identities: nobody could write")
    return config


def load_auth_config(path: Path) -> AuthConfig:
    """Read and parse an auth config file (YAML or JSON); relative ``jwks_file`` paths are
    resolved against the file's directory."""
    import dataclasses

    import yaml

    from atlas_intoto.fileio import read_bytes

    data = read_bytes(path, what="auth config")
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise AuthConfigError(f"{path}: not YAML or JSON ({exc.__class__.__name__})") from exc
    config = parse_auth_config(doc, source=str(path))
    issuers = tuple(
        dataclasses.replace(issuer, jwks_file=str(path.parent / issuer.jwks_file))
        if issuer.jwks_file is not None
        else issuer
        for issuer in config.issuers
    )
    return dataclasses.replace(config, issuers=issuers)

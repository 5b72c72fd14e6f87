"""The service's configuration: named policies, access tokens, limits (``serve --config``).

```yaml
policies:
  production:
    layout_keys: [keys/owner.pub]        # every key must have signed the layout
    layouts: [<sha256 of the pinned layout>]   # optional: only these layouts
    require: {tee: true, c2pa: false, log: true, witnesses: 0}
    vsa_key: keys/verifier.key           # optional: answer a signed VSA
    verdict_ttl: 300                     # seconds a passing verdict is reused (0: never)
tokens:
  - {name: ci, sha256: <hex SHA-256 of the token>, policies: [production]}   # or ["*"]
mtls: {client_ca: ca.pem, policies: [production]}     # optional: client certificates
allow_anonymous: false                   # true: no credentials needed (a lab, never production)
auth: auth.yaml                          # optional: the shared auth config (docs/auth.md) decides
bundle_root: /srv/bundles                # optional: requests may name bundles under it
bundle_urls: [https://models.example/]   # optional: requests may fetch bundles under these
cache_dir: /var/cache/atlas-intoto       # optional: the verify cache the workers share
limits: {max_body: 33554432, max_batch: 64, timeout: 30}
admission: {namespaces: {ml-prod: production}, default_policy: null, authenticate: false}
```

Paths are relative to the file. Tokens are stored only as SHA-256 hashes. Loading is the edge
(files); :func:`parse_config` is pure over the document and a key loader.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_intoto.errors import AtlasError, ServiceConfigError
from atlas_intoto.verify.cache import json_digest

DEFAULT_POLICY = "default"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TOP_KEYS = {
    "policies",
    "tokens",
    "mtls",
    "allow_anonymous",
    "bundle_root",
    "bundle_urls",
    "cache_dir",
    "limits",
    "admission",
    "auth",
}
_POLICY_KEYS = {"layout_keys", "layouts", "require", "vsa_key", "vsa_verifier", "verdict_ttl"}
_REQUIRE_KEYS = {"tee", "c2pa", "log", "witnesses"}


def hash_token(token: str) -> str:
    """The hex SHA-256 a config stores for a bearer token (``printf %s TOKEN | sha256sum``)."""
    from atlas_intoto.auth.config import hash_token as shared

    return shared(token)


@dataclass(frozen=True, kw_only=True)
class Requirements:
    """What a policy demands beyond the layout: evidence on every step."""

    tee: bool = False
    c2pa: bool = False
    log: bool = False
    #: cosignatures every pinned log must demand of its checkpoints (0: none)
    witnesses: int = 0

    def to_dict(self) -> dict[str, bool | int]:
        return {"tee": self.tee, "c2pa": self.c2pa, "log": self.log, "witnesses": self.witnesses}


@dataclass(frozen=True, kw_only=True)
class Policy:
    """A named verification policy: owner keys, allowed layouts, requirements, VSA signer."""

    name: str
    layout_keys: tuple[bytes, ...]
    layouts: tuple[str, ...] = ()
    require: Requirements = field(default_factory=Requirements)
    verdict_ttl: int = 300
    #: a securesystemslib signer for VSAs, or None
    vsa_signer: Any = None
    vsa_verifier: str = "https://atlas-intoto.dev/verification-service"

    @property
    def digest(self) -> str:
        """Everything in the policy that can change a verdict (cache key part)."""
        return json_digest(
            {
                "keys": sorted(k.decode("ascii", "replace") for k in self.layout_keys),
                "layouts": sorted(self.layouts),
                "require": self.require.to_dict(),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layout_keys": len(self.layout_keys),
            "layouts": list(self.layouts),
            "require": self.require.to_dict(),
            "verdict_ttl": self.verdict_ttl,
            "vsa": self.vsa_signer is not None,
        }


@dataclass(frozen=True, kw_only=True)
class Token:
    """A bearer token, known only by its SHA-256, and the policies it may use (``*``: all)."""

    name: str
    sha256: str
    policies: tuple[str, ...]

    def allows(self, policy: str) -> bool:
        return "*" in self.policies or policy in self.policies


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Request limits: body bytes, bundles per batch, seconds per verification."""

    max_body: int = 32 * 1024 * 1024
    max_batch: int = 64
    timeout: float = 30.0


@dataclass(frozen=True, kw_only=True)
class Admission:
    """Which policy a namespace's workloads are admitted under."""

    namespaces: Mapping[str, str] = field(default_factory=dict)
    default_policy: str | None = None
    #: require a token on /v1/admission (the API server can send one via its kubeconfig)
    authenticate: bool = False

    def policy_for(self, namespace: str) -> str | None:
        return self.namespaces.get(namespace, self.default_policy)


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """The whole configuration; immutable, swapped as a unit on reload."""

    policies: Mapping[str, Policy]
    tokens: tuple[Token, ...] = ()
    mtls_ca: Path | None = None
    mtls_policies: tuple[str, ...] = ()
    allow_anonymous: bool = False
    bundle_root: Path | None = None
    #: URL prefixes requests may fetch bundles from (``bundle_url``), e.g. an artifact store
    bundle_urls: tuple[str, ...] = ()
    cache_dir: Path | None = None
    limits: Limits = field(default_factory=Limits)
    admission: Admission = field(default_factory=Admission)
    #: the shared auth config (``auth: FILE``, an :class:`atlas_intoto.auth.Guard`): when set it
    #: decides bearer credentials (tokens by hash, OIDC identities, their policies)
    auth: Any = None


KeyLoader = Callable[[Path], bytes]
SignerLoader = Callable[[Path], Any]


def _fail(where: str, reason: str) -> ServiceConfigError:
    return ServiceConfigError(f"{where}: {reason}")


def _mapping(value: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(where, "must be a mapping")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _fail(f"{where}.{unknown[0]}", f"unknown field (expected one of {sorted(allowed)})")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, "must be a list of strings")
    return tuple(value)


def _number(value: Any, where: str, default: float, *, minimum: float = 0) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _fail(where, f"must be a number >= {minimum}")
    return float(value)


def _bool(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _fail(where, "must be true or false")
    return value


def _url_prefixes(value: Any) -> tuple[str, ...]:
    """``bundle_urls``: http(s) URL prefixes ending in ``/`` (so ``https://a/b/`` never admits
    ``https://a/bc``)."""
    prefixes = _strings(value, "bundle_urls")
    for index, prefix in enumerate(prefixes):
        if not prefix.startswith(("https://", "http://")) or not prefix.endswith("/"):
            raise _fail(f"bundle_urls[{index}]", "must be an http(s) URL prefix ending in '/'")
    return prefixes


def _requirements(value: Any, where: str) -> Requirements:
    doc = _mapping(value, where, _REQUIRE_KEYS)
    witnesses = _number(doc.get("witnesses"), f"{where}.witnesses", 0)
    if witnesses != int(witnesses):
        raise _fail(f"{where}.witnesses", "must be a whole number")
    return Requirements(
        tee=_bool(doc.get("tee"), f"{where}.tee"),
        c2pa=_bool(doc.get("c2pa"), f"{where}.c2pa"),
        log=_bool(doc.get("log"), f"{where}.log"),
        witnesses=int(witnesses),
    )


def _policy(
    name: str, value: Any, base: Path, load_key: KeyLoader, load_signer: SignerLoader
) -> Policy:
    where = f"policies.{name}"
    if not _NAME.fullmatch(name):
        raise _fail(where, "policy names are letters, digits, '.', '_' and '-'")
    doc = _mapping(value, where, _POLICY_KEYS)
    key_paths = _strings(doc.get("layout_keys"), f"{where}.layout_keys")
    if not key_paths:
        raise _fail(f"{where}.layout_keys", "at least one layout owner key is required")
    layouts = _strings(doc.get("layouts"), f"{where}.layouts")
    for index, digest in enumerate(layouts):
        if not _HEX64.fullmatch(digest):
            raise _fail(f"{where}.layouts[{index}]", "must be a lowercase hex SHA-256")
    try:
        keys = tuple(load_key(base / p) for p in key_paths)
        vsa_key = doc.get("vsa_key")
        if vsa_key is not None and not isinstance(vsa_key, str):
            raise _fail(f"{where}.vsa_key", "must be a path")
        signer = load_signer(base / vsa_key) if vsa_key else None
    except ServiceConfigError:
        raise
    except AtlasError as exc:
        raise _fail(where, str(exc)) from exc
    verifier = doc.get("vsa_verifier", Policy.vsa_verifier)
    if not isinstance(verifier, str):
        raise _fail(f"{where}.vsa_verifier", "must be a string")
    return Policy(
        name=name,
        layout_keys=keys,
        layouts=layouts,
        require=_requirements(doc.get("require"), f"{where}.require"),
        verdict_ttl=int(_number(doc.get("verdict_ttl"), f"{where}.verdict_ttl", 300)),
        vsa_signer=signer,
        vsa_verifier=verifier,
    )


def _tokens(value: Any, policies: Mapping[str, Policy]) -> tuple[Token, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail("tokens", "must be a list")
    tokens = []
    for index, item in enumerate(value):
        where = f"tokens[{index}]"
        doc = _mapping(item, where, {"name", "sha256", "policies"})
        digest = doc.get("sha256")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise _fail(f"{where}.sha256", "must be the lowercase hex SHA-256 of the token")
        allowed = _strings(doc.get("policies"), f"{where}.policies")
        _known(allowed, policies, f"{where}.policies")
        tokens.append(
            Token(name=str(doc.get("name", f"token-{index}")), sha256=digest, policies=allowed)
        )
    return tuple(tokens)


def _known(names: tuple[str, ...], policies: Mapping[str, Policy], where: str) -> None:
    for name in names:
        if name != "*" and name not in policies:
            raise _fail(where, f"unknown policy {name!r}")


def _limits(value: Any) -> Limits:
    doc = _mapping(value, "limits", {"max_body", "max_batch", "timeout"})
    return Limits(
        max_body=int(_number(doc.get("max_body"), "limits.max_body", Limits.max_body, minimum=1)),
        max_batch=int(
            _number(doc.get("max_batch"), "limits.max_batch", Limits.max_batch, minimum=1)
        ),
        timeout=_number(doc.get("timeout"), "limits.timeout", Limits.timeout, minimum=0.001),
    )


def _admission(value: Any, policies: Mapping[str, Policy]) -> Admission:
    doc = _mapping(value, "admission", {"namespaces", "default_policy", "authenticate"})
    namespaces = _mapping(
        doc.get("namespaces"), "admission.namespaces", set(doc.get("namespaces") or {})
    )
    for namespace, policy in namespaces.items():
        if not isinstance(policy, str) or policy not in policies:
            raise _fail(f"admission.namespaces.{namespace}", f"unknown policy {policy!r}")
    default = doc.get("default_policy")
    if default is not None and default not in policies:
        raise _fail("admission.default_policy", f"unknown policy {default!r}")
    return Admission(
        namespaces=dict(namespaces),
        default_policy=default,
        authenticate=_bool(doc.get("authenticate"), "admission.authenticate"),
    )


def parse_config(
    doc: Any, *, base: Path, load_key: KeyLoader, load_signer: SignerLoader
) -> ServiceConfig:
    """The configuration in ``doc`` (paths relative to ``base``); ServiceConfigError names
    the field at fault."""
    top = _mapping(doc, "config", _TOP_KEYS)
    raw_policies = _mapping(top.get("policies"), "policies", set(top.get("policies") or {}))
    if not raw_policies:
        raise _fail("policies", "at least one policy is required")
    policies = {
        str(name): _policy(str(name), value, base, load_key, load_signer)
        for name, value in raw_policies.items()
    }
    tokens = _tokens(top.get("tokens"), policies)
    mtls = _mapping(top.get("mtls"), "mtls", {"client_ca", "policies"})
    mtls_policies = _strings(mtls.get("policies"), "mtls.policies")
    _known(mtls_policies, policies, "mtls.policies")
    anonymous = _bool(top.get("allow_anonymous"), "allow_anonymous")
    guard = _auth(top.get("auth"), base, policies)
    if not tokens and not mtls and not anonymous and guard is None:
        raise _fail("tokens", "no tokens and no mtls: set allow_anonymous: true to serve anyone")
    paths = {}
    for name in ("bundle_root", "cache_dir"):
        value = top.get(name)
        if value is not None and not isinstance(value, str):
            raise _fail(name, "must be a path")
        paths[name] = (base / value) if value else None
    client_ca = mtls.get("client_ca")
    if mtls and not isinstance(client_ca, str):
        raise _fail("mtls.client_ca", "must be the path of a CA certificate (PEM)")
    return ServiceConfig(
        policies=policies,
        tokens=tokens,
        mtls_ca=(base / client_ca) if isinstance(client_ca, str) else None,
        mtls_policies=mtls_policies,
        allow_anonymous=anonymous,
        bundle_root=paths["bundle_root"],
        bundle_urls=_url_prefixes(top.get("bundle_urls")),
        cache_dir=paths["cache_dir"],
        limits=_limits(top.get("limits")),
        admission=_admission(top.get("admission"), policies),
        auth=guard,
    )


def _auth(value: Any, base: Path, policies: Mapping[str, Policy]) -> Any:
    """The shared auth config named by ``auth`` (a path), its grants' policies all known."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail("auth", "must be the path of an auth config (docs/auth.md)")
    from atlas_intoto.auth import Guard

    guard = Guard.from_file(base / value)
    grants = [(t.name, t.policies) for t in guard.config.tokens]
    grants += [(i.name, i.policies) for i in guard.config.identities]
    for name, allowed in grants:
        _known(allowed, policies, f"auth ({value}): {name}.policies")
    return guard


def _load_key(path: Path) -> bytes:
    from atlas_intoto.fileio import read_bytes
    from atlas_intoto.keys import load_public_key_pem

    data = read_bytes(path, what="layout key")
    load_public_key_pem(data, source=str(path))
    return data


def _load_signer(path: Path) -> Any:
    from atlas_intoto.keys import load_signer

    return load_signer(path)


def load_config(path: Path) -> ServiceConfig:
    """Read and parse ``serve --config FILE`` (YAML or JSON)."""
    import yaml

    from atlas_intoto.fileio import read_bytes

    data = read_bytes(path, what="service config")
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ServiceConfigError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from exc
    try:
        return parse_config(doc, base=path.parent, load_key=_load_key, load_signer=_load_signer)
    except ServiceConfigError as exc:
        raise ServiceConfigError(f"{path}: {exc}") from exc


def quick_config(layout_keys: list[Path], *, cache_dir: Path | None = None) -> ServiceConfig:
    """``serve --layout-key K``: one policy ``default``, no tokens (a local quick start)."""
    keys = tuple(_load_key(p) for p in layout_keys)
    policy = Policy(name=DEFAULT_POLICY, layout_keys=keys)
    return ServiceConfig(
        policies={DEFAULT_POLICY: policy}, allow_anonymous=True, cache_dir=cache_dir
    )

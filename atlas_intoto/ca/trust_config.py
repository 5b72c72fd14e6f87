"""A Sigstore ClientTrustConfig (pure): the trusted root plus a SigningConfig v0.2 naming our
CA, Rekor log and TSA — what ``sigstore --trust-config`` and ``run --trust-config`` take
(sigstore/protobuf-specs ``sigstore_trustroot.proto``)::

    {"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
     "trustedRoot": {...},
     "signingConfig": {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                       "caUrls": [{"url", "majorApiVersion": 1, "validFor", "operator"}],
                       "oidcUrls": [], "rekorTlogUrls": [...], "tsaUrls": [...],
                       "rekorTlogConfig": {"selector": "ANY"}, "tsaConfig": {"selector": "ANY"}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atlas_intoto.errors import InputError
from atlas_intoto.tlog import signing_config as sc
from atlas_intoto.tlog.trusted_root import rfc3339

__all__ = [
    "MEDIA_TYPE",
    "KeylessServices",
    "client_trust_config",
    "read_services",
    "signing_config",
]

MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"


def _service(url: str, version: int, start: int, operator: str) -> dict[str, Any]:
    return {
        "url": url.rstrip("/"),
        "majorApiVersion": version,
        "validFor": {"start": rfc3339(start)},
        "operator": operator,
    }


def signing_config(
    *,
    ca_url: str,
    log_url: str,
    log_version: int = 1,
    tsa_url: str | None = None,
    oidc_url: str | None = None,
    valid_from: int,
    operator: str = "atlas-intoto",
) -> dict[str, Any]:
    """A SigningConfig v0.2: our CA (Fulcio API v1), the log (Rekor ``log_version``), the TSA
    and the OIDC provider when given, all valid from ``valid_from``."""
    if log_version not in (1, 2):
        raise InputError(f"log version {log_version}: must be 1 or 2")
    tsa_path = "/api/v1/timestamp"
    tsa = None if tsa_url is None else tsa_url.rstrip("/")
    if tsa is not None and not tsa.endswith(tsa_path):
        tsa += tsa_path
    return {
        "mediaType": sc.MEDIA_TYPE,
        "caUrls": [_service(ca_url, 1, valid_from, operator)],
        "oidcUrls": [] if oidc_url is None else [_service(oidc_url, 1, valid_from, operator)],
        "rekorTlogUrls": [_service(log_url, log_version, valid_from, operator)],
        "tsaUrls": [] if tsa is None else [_service(tsa, 1, valid_from, operator)],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    }


def client_trust_config(
    *, trusted_root: Mapping[str, Any], signing_config: Mapping[str, Any]
) -> dict[str, Any]:
    """The ClientTrustConfig holding both documents."""
    return {
        "mediaType": MEDIA_TYPE,
        "trustedRoot": dict(trusted_root),
        "signingConfig": dict(signing_config),
    }


@dataclass(frozen=True, kw_only=True)
class KeylessServices:
    """What keyless recording uses from a trust config: the CA, and the log and TSA."""

    ca_url: str
    log: sc.LogChoice


def _first_valid_ca(doc: Mapping[str, Any], now: float, source: str) -> str:
    cas = doc.get("caUrls") or []
    if not isinstance(cas, list):
        raise InputError(f"{source}: signingConfig.caUrls must be an array")
    for i, ca in enumerate(cas):
        if (
            sc._valid(ca, i, "caUrls", source, now)
            and sc._version({"majorApiVersion": 1, **ca}) == 1
        ):
            return str(ca["url"])
    raise InputError(f"{source}: no Fulcio v1 CA in signingConfig.caUrls is valid now")


def read_services(doc: Any, *, now: float, source: str = "trust config") -> KeylessServices:
    """The CA, log and TSA a ClientTrustConfig (or a bare SigningConfig) selects at ``now``,
    as sigstore clients choose them (InputError naming the field when malformed)."""
    if isinstance(doc, Mapping) and doc.get("mediaType") == MEDIA_TYPE:
        doc = doc.get("signingConfig")
        source = f"{source}: signingConfig"
    if not isinstance(doc, Mapping) or doc.get("mediaType") != sc.MEDIA_TYPE:
        raise InputError(f"{source}: neither a ClientTrustConfig nor a SigningConfig v0.2")
    return KeylessServices(
        ca_url=_first_valid_ca(doc, now, source), log=sc.choose(doc, now=now, source=source)
    )

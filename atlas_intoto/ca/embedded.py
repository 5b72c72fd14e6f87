"""The CA served in-process on loopback, trusting only the local test issuer — for the demo
(``demo --keyless``) and tests — and the ClientTrustConfig naming it with a log and a TSA."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from atlas_intoto.ca.authority import CertificateAuthority
from atlas_intoto.ca.oidc_dev import DevIssuer

__all__ = ["EmbeddedCa", "embedded_ca", "keyless_trust_config"]


@dataclass(frozen=True, kw_only=True)
class EmbeddedCa:
    """A running in-process CA: its URL, key directory, the authority and the test issuer
    whose tokens it accepts (``issuer.mint_token(subject=..., claims={"email": ...,
    "email_verified": True})``)."""

    url: str
    directory: Path
    authority: CertificateAuthority
    issuer: DevIssuer


@contextlib.contextmanager
def embedded_ca(directory: Path) -> Iterator[EmbeddedCa]:
    """Serve the CA kept in ``directory`` (created on first use) on a free 127.0.0.1 port until
    the block exits; it trusts the local test issuer as an ``email`` issuer."""
    from atlas_intoto.ca.keys import load_or_create_ca
    from atlas_intoto.ca.server import JwksSource, create_ca_app
    from atlas_intoto.tlog.serving import serve_in_thread

    authority = load_or_create_ca(directory)
    issuer = DevIssuer()
    issuers = {issuer.url: issuer.config("email")}
    jwks = JwksSource(issuers, inline={issuer.url: issuer.jwks()})
    app = create_ca_app(authority, issuers=issuers, jwks=jwks)
    with serve_in_thread(app, name="embedded CA") as url:
        yield EmbeddedCa(url=url, directory=directory, authority=authority, issuer=issuer)


def keyless_trust_config(
    *,
    ca_url: str,
    authority: CertificateAuthority,
    log_url: str,
    log_public_key_pem: bytes,
    log_origin: str,
    valid_from: int,
    log_version: int = 1,
    tsa_url: str | None = None,
    tsa_chain: Sequence[x509.Certificate] = (),
) -> dict[str, Any]:
    """The ClientTrustConfig (pure) for keyless signing with ``authority`` served at
    ``ca_url``, the log (Rekor ``log_version``) and optionally a TSA: what ``log trusted-root
    --trust-config --ca-dir`` writes."""
    from atlas_intoto.ca.trust_config import client_trust_config, signing_config
    from atlas_intoto.tlog.trusted_root import (
        certificate_authority,
        ct_log,
        timestamp_authority,
        trusted_root,
    )
    from atlas_intoto.tsa.client import timestamp_url

    start = min(valid_from, int(authority.root.not_valid_before_utc.timestamp()))
    tsas = [] if tsa_url is None else [timestamp_authority(tsa_chain, uri=timestamp_url(tsa_url))]
    root = trusted_root(
        public_key_pem=log_public_key_pem,
        url=log_url,
        origin=log_origin,
        valid_from=valid_from,
        authorities=[certificate_authority(authority.chain, uri=ca_url)],
        ct_logs=[ct_log(authority.ct_public_key_pem(), url=ca_url, valid_from=start, source="CA")],
        timestamp_authorities=tsas,
    )
    config = signing_config(
        ca_url=ca_url,
        log_url=log_url,
        log_version=log_version,
        tsa_url=tsa_url,
        valid_from=valid_from,
    )
    return client_trust_config(trusted_root=root, signing_config=config)

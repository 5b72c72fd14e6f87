"""``demo --keyless``: the demo pipeline signed by identities instead of key files.

Our Fulcio-compatible CA (:mod:`atlas_intoto.ca`), trusting the local OIDC issuer
(:mod:`atlas_intoto.ca.oidc_dev`: a published test key, so its tokens prove nothing outside
the demo), runs on 127.0.0.1 beside the embedded log. Each step gets a token for its functionary's e-mail identity
(``data-eng@demo.atlas-intoto.dev`` …), records keyless (an ephemeral key certified by the CA
just before signing, :mod:`atlas_intoto.keyless`), and the layout names the identities —
issuer and subject — and pins the CA chain and its CT log key under ``trust.ca``, in place
of functionary public keys. C2PA is off: it needs a certificate with a C2PA-accepted EKU,
which short-lived code-signing certificates do not have (docs/identity.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atlas_intoto.ca.oidc_dev import DevIssuer

__all__ = ["DOMAIN", "KeylessDemo", "keyless_layout", "keyless_services", "step_identity"]

#: The e-mail domain of the demo's identities.
DOMAIN = "demo.atlas-intoto.dev"


@dataclass(frozen=True, kw_only=True)
class KeylessDemo:
    """The running issuer and CA: the issuer URL (the tokens' ``iss``), the CA URL, and the
    files the layout pins (relative to the demo directory)."""

    issuer: DevIssuer
    ca_url: str
    ca_chain: str
    ct_key: str

    def token(self, functionary: str) -> str:
        """A fresh identity token for ``functionary``'s demo e-mail identity."""
        email = step_identity(functionary)
        return self.issuer.mint_token(
            subject=email, claims={"email": email, "email_verified": True}
        )


def step_identity(functionary: str) -> str:
    """The demo identity (an e-mail SAN) of a functionary."""
    return f"{functionary}@{DOMAIN}"


@contextlib.contextmanager
def keyless_services(directory: Path) -> Iterator[KeylessDemo]:
    """Serve our CA (kept in ``directory/ca``, trusting the local OIDC issuer:
    :func:`atlas_intoto.ca.embedded.embedded_ca`) on a free 127.0.0.1 port until the block
    exits; write the CA chain and CT key the layout pins."""
    from cryptography.hazmat.primitives import serialization

    from atlas_intoto.ca.embedded import embedded_ca

    with embedded_ca(directory / "ca") as ca:
        authority = ca.authority
        (directory / "ca" / "chain.pem").write_bytes(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in authority.chain)
        )
        (directory / "ca" / "ct.pub").write_bytes(authority.ct_public_key_pem())
        yield KeylessDemo(
            issuer=ca.issuer, ca_url=ca.url, ca_chain="ca/chain.pem", ct_key="ca/ct.pub"
        )


def keyless_layout(doc: dict[str, Any], services: KeylessDemo) -> None:
    """Turn the demo layout ``doc`` keyless, in place: every functionary an identity of the
    local issuer, ``trust.ca`` pinning the CA chain and CT key, no C2PA requirement."""
    doc["functionaries"] = {
        name: {"identity": {"issuer": services.issuer.url, "subject": step_identity(name)}}
        for name in doc["functionaries"]
    }
    trust: dict[str, Any] = doc.setdefault("trust", {})
    trust["ca"] = {"roots": [services.ca_chain], "ct_keys": [services.ct_key]}
    trust.pop("c2pa", None)
    for step in doc["steps"]:
        step.pop("c2pa", None)


def recording_fields(
    functionary: str, services: KeylessDemo | None, keys: Path
) -> Mapping[str, Any]:
    """The RecordingOptions fields that differ between the key-file and the keyless demo."""
    if services is None:
        return {"key_path": keys / f"{functionary}.key", "c2pa": True}
    return {"identity_token": services.token(functionary), "ca_url": services.ca_url, "c2pa": False}

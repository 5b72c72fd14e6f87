"""Test certificates for identity functionaries, issued by the package's CA (atlas_intoto.ca):
a root, an intermediate and a CT log key; 10-minute leaves with Fulcio's OIDC issuer
extensions, the subject as SAN and an embedded SCT. Only the broken certificates the verifier
must refuse use the CA's test knobs (``embed_sct=False``) or another CT key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atlas_intoto.ca.authority import CertificateAuthority
from atlas_intoto.ca.keys import create_authority
from atlas_intoto.ca.oidc import Principal


def pem_public(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class FakeFulcio:
    """The package's CA with what a layout pins of it and a way to issue broken leaves."""

    ca: CertificateAuthority

    @property
    def root_pem(self) -> str:
        return _pem(self.ca.root)

    @property
    def chain_pem(self) -> str:
        """Intermediate and root: what a layout pins as ``trust.ca.roots`` (as a Sigstore
        trusted root's CA ``certChain`` lists them)."""
        return _pem(self.ca.intermediate) + _pem(self.ca.root)

    @property
    def ct_pem(self) -> str:
        return self.ca.ct_public_key_pem().decode()

    def leaf(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        subject: str,
        issuer: str,
        not_before: dt.datetime,
        sct: bool = True,
        ct_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> x509.Certificate:
        """The CA's leaf for ``key`` and (issuer, subject) issued at ``not_before``; without
        ``sct`` the same leaf with no SCT; with ``ct_key`` an SCT by that (unpinned) key."""
        principal = Principal(
            issuer=issuer,
            name=subject,
            email=subject if "@" in subject and "/" not in subject else None,
            uri=None if "@" in subject and "/" not in subject else subject,
        )
        ca = self.ca if ct_key is None else replace(self.ca, ct_key=ct_key)
        when = not_before.replace(microsecond=0)
        return ca.issue(key.public_key(), principal, now=when, embed_sct=sct)[0]


def make_ca() -> FakeFulcio:
    """A fresh CA, valid from a day ago (so that leaves issued in the past chain to it)."""
    return FakeFulcio(ca=create_authority(now=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)))

"""Identity functionaries and the certificate authorities they are certified by (pure).

A functionary is either a key (``functionaries.NAME: {keyid, pem}``) or an identity::

    functionaries:
      trainer:
        identity:
          issuer: https://token.actions.githubusercontent.com
          subject: https://github.com/org/repo/.github/workflows/train.yml@refs/heads/main
      ci:
        identity: {issuer: https://gitlab.com, subject_pattern: "https://gitlab.com/org/.+"}
    trust:
      ca:
        roots: [ca/fulcio.pem]          # root (and intermediate) certificates, PEM
        ct_keys: [ca/ctlog.pub]         # keys of the CT logs whose SCTs certificates carry

An identity functionary signs with a short-lived certificate from a CA pinned under
``trust.ca`` (keyless signing, Sigstore's Fulcio or ``atlas-intoto ca serve``): the
certificate's OIDC issuer extension must equal ``issuer``, and one of its subject alternative
names must equal ``subject`` or fully match ``subject_pattern``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atlas_intoto.errors import KeyLoadError, LayoutSchemaError

__all__ = ["CaTrust", "FunctionaryIdentity", "parse_ca", "parse_identities"]


@dataclass(frozen=True, kw_only=True)
class FunctionaryIdentity:
    """An identity functionary: the OIDC issuer and subject its certificates must name."""

    name: str
    issuer: str
    #: the exact subject (a SAN: e-mail, URI or Sigstore other name), or None with a pattern
    subject: str | None = None
    #: a regular expression the whole subject must match (``re.fullmatch``)
    subject_pattern: str | None = None

    def subject_matches(self, value: str) -> bool:
        """Whether a certificate subject ``value`` is this functionary's."""
        if self.subject is not None:
            return value == self.subject
        assert self.subject_pattern is not None
        return re.fullmatch(self.subject_pattern, value) is not None

    def describe(self) -> str:
        """``subject`` (or ``pattern /…/``) ``from issuer``, for messages."""
        who = self.subject if self.subject is not None else f"pattern /{self.subject_pattern}/"
        return f"{who} from {self.issuer}"

    def to_dict(self) -> dict[str, Any]:
        """The ``functionaries.NAME`` document form ``{identity: {...}}``."""
        identity: dict[str, str] = {"issuer": self.issuer}
        if self.subject is not None:
            identity["subject"] = self.subject
        if self.subject_pattern is not None:
            identity["subject_pattern"] = self.subject_pattern
        return {"identity": identity}

    @classmethod
    def from_dict(cls, name: str, doc: Mapping[str, Any], *, source: str) -> FunctionaryIdentity:
        """An identity functionary of a schema-valid ``functionaries.NAME`` entry; a
        pattern that is not a regular expression is a :class:`LayoutSchemaError`."""
        identity = doc["identity"]
        pattern = identity.get("subject_pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise LayoutSchemaError(
                    f"{source}: functionaries.{name}.identity.subject_pattern: not a regular "
                    f"expression ({exc})"
                ) from exc
        return cls(
            name=name,
            issuer=str(identity["issuer"]),
            subject=identity.get("subject"),
            subject_pattern=pattern,
        )


@dataclass(frozen=True, kw_only=True)
class CaTrust:
    """``trust.ca``: the pinned certificates (roots and intermediates, PEM) and CT log keys
    (SPKI PEM) that identity functionaries' certificates are checked against."""

    roots: tuple[str, ...]
    ct_keys: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        from atlas_intoto.layout.pinning import pin_key

        return {
            "roots": [{"pem": pem} for pem in self.roots],
            "ct_keys": [pin_key(pem, source="trust.ca.ct_keys") for pem in self.ct_keys],
        }


def is_identity(ref: Any) -> bool:
    """Whether a ``functionaries.NAME`` entry is an identity (else a key reference)."""
    return isinstance(ref, Mapping) and "identity" in ref


def parse_identities(doc: Mapping[str, Any], *, source: str) -> dict[str, FunctionaryIdentity]:
    """The identity functionaries of a schema-valid layout document; an identity without
    ``trust.ca`` is a :class:`LayoutSchemaError` (no certificate could ever be checked)."""
    identities = {
        name: FunctionaryIdentity.from_dict(name, ref, source=source)
        for name, ref in doc["functionaries"].items()
        if is_identity(ref)
    }
    if identities and not (doc.get("trust") or {}).get("ca"):
        first = next(iter(identities))
        raise LayoutSchemaError(
            f"{source}: functionaries.{first}: an identity functionary needs trust.ca "
            "(the CA roots and CT log keys its certificates are checked against)"
        )
    return identities


def parse_ca(trust: Mapping[str, Any], *, source: str) -> CaTrust | None:
    """``trust.ca`` of a pinned document: every root a PEM certificate, every CT key a PEM
    public key whose pinned key id (if given) matches (LayoutSchemaError otherwise)."""
    from atlas_intoto.layout.pinning import check_certificates_pem, pin_key

    block = trust.get("ca")
    if not block:
        return None
    roots: list[str] = []
    for index, ref in enumerate(block["roots"]):
        where = f"trust.ca.roots[{index}]"
        try:
            roots.append(check_certificates_pem(_pinned(ref, source, where), source=where))
        except KeyLoadError as exc:
            raise LayoutSchemaError(f"{source}: {exc}") from exc
    keys: list[str] = []
    for index, ref in enumerate(block["ct_keys"]):
        where = f"trust.ca.ct_keys[{index}]"
        pem = _pinned(ref, source, where)
        try:
            computed = pin_key(pem, source=where)["keyid"]
        except KeyLoadError as exc:
            raise LayoutSchemaError(f"{source}: {exc}") from exc
        if ref.get("keyid", computed) != computed:
            raise LayoutSchemaError(f"{source}: {where}.keyid does not match the pinned key")
        keys.append(pem)
    return CaTrust(roots=tuple(roots), ct_keys=tuple(keys))


def _pinned(ref: Any, source: str, where: str) -> str:
    if not isinstance(ref, Mapping) or "pem" not in ref:
        raise LayoutSchemaError(f"{source}: {where}: not pinned (a path; sign the layout)")
    return str(ref["pem"])

"""in-toto v0.9 links in DSSE envelopes: naming, signing, verified and unverified reading (pure).

The envelope bytes are what in-toto's own ``Metadata.dump`` writes (``json.dumps(...,
sort_keys=True)``), so files made here and by upstream ``in-toto-run --use-dsse`` are
interchangeable. Our evidence lives in ``environment["atlas-intoto"]`` (:mod:`atlas_intoto.evidence`
reads it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atlas_intoto import dsse
from atlas_intoto.errors import DsseFormatError, DsseSignatureError, FormatError, LinkSignatureError

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer

#: DSSE payloadType of in-toto statements and links.
PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: Key of our evidence inside ``link.environment``.
EVIDENCE_KEY = "atlas-intoto"

ArtifactDigests = dict[str, dict[str, str]]

_LINK_FIELDS = frozenset(
    {"_type", "name", "materials", "products", "byproducts", "command", "environment"}
)


_PAYLOAD_FIELDS = (
    "name",
    "materials",
    "products",
    "command",
    "byproducts",
    "environment",
    "predicate_type",
)
#: Our name for a v0.9 link's predicate type (:data:`atlas_intoto.statement.LINK_V09`).
_LINK_V09 = "https://in-toto.io/Link/v0.9"
_STATEMENT_V1 = "https://in-toto.io/Statement/v1"


def link_file_name(step: str, keyid: str) -> str:
    """``NAME.KEYID8.link``: the name upstream ``in-toto-verify --link-dir`` looks for."""
    return f"{step}.{keyid[:8]}.link"


@dataclass(frozen=True, kw_only=True)
class LinkPayload:
    """The fields of an in-toto v0.9 link, as signed."""

    name: str
    materials: ArtifactDigests = field(default_factory=dict)
    products: ArtifactDigests = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    byproducts: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, Any] = field(default_factory=dict)
    #: the link's (v0.9) or Statement's predicate type (a layout step may require one)
    predicate_type: str = _LINK_V09

    @property
    def atlas(self) -> Mapping[str, Any]:
        """Our evidence block ``environment["atlas-intoto"]`` ({} when absent or not an object)."""
        value = self.environment.get(EVIDENCE_KEY)
        return value if isinstance(value, Mapping) else {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": "link",
            "name": self.name,
            "materials": {p: dict(d) for p, d in self.materials.items()},
            "products": {p: dict(d) for p, d in self.products.items()},
            "command": list(self.command),
            "byproducts": dict(self.byproducts),
            "environment": dict(self.environment),
        }

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "link") -> LinkPayload:
        """Validate a decoded link payload with in-toto's model (FormatError naming ``source``)."""
        from in_toto.models.link import Link
        from securesystemslib.exceptions import FormatError as SslibFormatError

        if not isinstance(data, dict) or data.get("_type") != "link":
            raise FormatError(f"{source}: payload is not an in-toto link (_type must be 'link')")
        unknown = set(data) - _LINK_FIELDS
        if unknown:
            raise FormatError(f"{source}: payload has unknown link fields {sorted(unknown)}")
        if not isinstance(data.get("name"), str) or not data["name"]:
            raise FormatError(f"{source}: field name must be a non-empty string")
        try:
            link = Link.read(data)
        except RecursionError as exc:
            raise FormatError(f"{source}: invalid link (nested too deeply)") from exc
        except (SslibFormatError, TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"{source}: invalid link ({exc})") from exc
        if not all(isinstance(part, str) for part in link.command):
            raise FormatError(f"{source}: field command must be a list of strings")
        return cls(
            name=link.name,
            materials=link.materials,
            products=link.products,
            command=list(link.command),
            byproducts=link.byproducts,
            environment=link.environment,
        )


@dataclass(frozen=True, kw_only=True)
class LoadedLink(LinkPayload):
    """A link whose envelope signature verified; fields as signed."""

    #: Key ids of the given keys whose signatures verified (sorted).
    signed_by: tuple[str, ...]
    #: The signed payload bytes (the link JSON).
    payload: bytes = field(repr=False)

    @property
    def evidence(self) -> dict[str, Any] | None:
        """Our evidence block ``environment["atlas-intoto"]``, if present."""
        value = self.environment.get(EVIDENCE_KEY)
        return value if isinstance(value, dict) else None


@dataclass(frozen=True, kw_only=True)
class UnverifiedLink(LinkPayload):
    """A link read WITHOUT verifying its signature: only to find the files that travel with it
    (bundle create) or to describe a bundle that was not verified (inspect)."""

    #: The key ids the signatures claim (unauthenticated hints).
    claimed_keyids: tuple[str, ...] = ()


def sign_link(
    *,
    name: str,
    materials: Mapping[str, Mapping[str, str]],
    products: Mapping[str, Mapping[str, str]],
    command: Sequence[str],
    byproducts: Mapping[str, Any],
    environment: Mapping[str, Any],
    signer: Signer,
) -> bytes:
    """Build an in-toto Link with in-toto's model, wrap it in DSSE, sign it; return the bytes."""
    import attr
    from in_toto.models.link import Link
    from securesystemslib.exceptions import FormatError as SslibFormatError

    try:
        link = Link(
            name=name,
            materials={path: dict(d) for path, d in materials.items()},
            products={path: dict(d) for path, d in products.items()},
            command=list(command),
            byproducts=dict(byproducts),
            environment=dict(environment),
        )
    except SslibFormatError as exc:
        raise FormatError(f"link {name}: {exc}") from exc
    # The payload bytes in-toto's Envelope.from_signable produces (regular JSON, sorted keys).
    payload = json.dumps(attr.asdict(link), sort_keys=True).encode("utf-8")
    envelope = dsse.sign(PAYLOAD_TYPE, payload, [signer])
    return json.dumps(envelope.to_dict(), sort_keys=True).encode("utf-8")


def _envelope(data: bytes, *, source: str) -> dsse.Envelope:
    try:
        envelope = dsse.parse(data, source=source)
    except DsseFormatError as exc:  # a malformed link is a link format error, as always
        reason = str(exc).removeprefix(f"{source}: ")
        if not reason.startswith(("not a JSON DSSE envelope", "DSSE envelope ")):
            reason = f"malformed DSSE envelope ({reason})"
        raise FormatError(f"{source}: {reason}") from exc
    if envelope.payload_type != PAYLOAD_TYPE:
        raise FormatError(
            f"{source}: payloadType is {envelope.payload_type!r}, expected {PAYLOAD_TYPE!r}"
        )
    return envelope


def _payload_fields(envelope: dsse.Envelope, *, source: str) -> dict[str, Any]:
    """The validated link fields of ``envelope``'s payload, as keyword arguments."""
    try:
        data = json.loads(envelope.payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise FormatError(f"{source}: payload is not JSON ({exc})") from exc
    if isinstance(data, dict) and data.get("_type") == _STATEMENT_V1:
        from atlas_intoto.statement import statement_fields

        return statement_fields(data, source=source)
    fields = LinkPayload.from_dict(data, source=source)
    return {name: getattr(fields, name) for name in _PAYLOAD_FIELDS}


def _claims_statement(envelope: dsse.Envelope) -> bool:
    """Whether the (not yet verified) payload says it is an in-toto Statement v1."""
    try:
        data = json.loads(envelope.payload)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("_type") == _STATEMENT_V1


def load_link(
    envelope: bytes, keys: Sequence[Key], *, threshold: int = 1, source: str = "link"
) -> LoadedLink:
    """Verify a DSSE-enveloped in-toto link and return what it signs.

    1. Parse the envelope (:func:`atlas_intoto.dsse.parse`).
    2. ``payloadType`` must be ``application/vnd.in-toto+json``.
    3. Signatures by at least ``threshold`` distinct keys of ``keys`` verify over the DSSE PAE
       (:func:`atlas_intoto.dsse.verify`).
    4. Only then parse the payload: an in-toto v0.9 link (``_type: link``), fields validated by
       in-toto's model, or an in-toto Statement v1 of a step (Link v0.3 or SLSA Provenance v1,
       :func:`atlas_intoto.statement.statement_fields`).

    Raises :class:`FormatError` (steps 1, 2, 4) or :class:`LinkSignatureError` (step 3).
    """
    parsed = _envelope(envelope, source=source)
    try:
        # v0.9 links: in-toto (and in-toto-verify) match signatures to keys by key id, so one
        # without a key id is not a functionary's signature. Statements in Sigstore bundles are
        # signed without key ids (sigstore clients leave them empty), as DSSE allows.
        accepted = dsse.verify(
            parsed, keys, threshold=threshold, keyid_required=not _claims_statement(parsed)
        )
    except DsseSignatureError as exc:
        reason = str(exc).removeprefix("envelope: ")
        raise LinkSignatureError(f"{source}: signature does not verify ({reason})") from exc
    fields = _payload_fields(parsed, source=source)
    return LoadedLink(**fields, signed_by=accepted, payload=parsed.payload)


def read_unverified_link(envelope: bytes, *, source: str = "link") -> UnverifiedLink:
    """The link inside ``envelope`` WITHOUT verifying any signature (FormatError if it is not a
    DSSE in-toto link). The one reader of unverified payloads: never trust what it returns."""
    parsed = _envelope(envelope, source=source)
    return UnverifiedLink(**_payload_fields(parsed, source=source), claimed_keyids=parsed.keyids)

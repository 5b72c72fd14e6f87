"""in-toto v0.9 links in DSSE envelopes: file naming, serialisation and verified loading (pure).

The envelope bytes are what in-toto's own ``Metadata.dump`` writes (``json.dumps(...,
sort_keys=True)``), so files made here and by upstream ``in-toto-run --use-dsse`` are
interchangeable.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atlas_intoto.errors import FormatError, LinkSignatureError

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer

#: DSSE payloadType of in-toto statements and links.
PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: Key of our evidence inside ``link.environment``.
EVIDENCE_KEY = "atlas-intoto"


def link_file_name(step: str, keyid: str) -> str:
    """``NAME.KEYID8.link``: the name upstream ``in-toto-verify --link-dir`` looks for."""
    return f"{step}.{keyid[:8]}.link"


@dataclass(frozen=True, kw_only=True)
class LoadedLink:
    """A link whose envelope signature verified; fields as signed."""

    name: str
    materials: dict[str, dict[str, str]]
    products: dict[str, dict[str, str]]
    command: list[str]
    byproducts: dict[str, Any]
    environment: dict[str, Any]
    #: Key ids of the given keys whose signatures verified.
    signed_by: tuple[str, ...]
    #: The signed payload bytes (the link JSON).
    payload: bytes

    @property
    def evidence(self) -> dict[str, Any] | None:
        """Our evidence block ``environment["atlas-intoto"]``, if present."""
        value = self.environment.get(EVIDENCE_KEY)
        return value if isinstance(value, dict) else None


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
    from in_toto.models.link import Link
    from in_toto.models.metadata import Envelope
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
    envelope = Envelope.from_signable(link)
    envelope.create_signature(signer)
    return json.dumps(envelope.to_dict(), sort_keys=True).encode("utf-8")


def load_link(
    envelope: bytes, keys: Sequence[Key], *, threshold: int = 1, source: str = "link"
) -> LoadedLink:
    """Verify a DSSE-enveloped in-toto link and return what it signs.

    1. Parse the envelope JSON: ``payload`` (base64), ``payloadType``, ``signatures``.
    2. ``payloadType`` must be ``application/vnd.in-toto+json``.
    3. Signatures by at least ``threshold`` distinct keys of ``keys`` verify over the DSSE PAE.
    4. Only then parse the payload: an in-toto v0.9 link (``_type: link``), fields validated by
       in-toto's model.

    Raises :class:`FormatError` (steps 1, 2, 4) or :class:`LinkSignatureError` (step 3).
    """
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import FormatError as SslibFormatError
    from securesystemslib.exceptions import VerificationError

    try:
        document = json.loads(envelope)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise FormatError(f"{source}: not a JSON DSSE envelope ({exc})") from exc
    if not isinstance(document, dict):
        raise FormatError(f"{source}: DSSE envelope must be a JSON object")
    try:
        parsed = Envelope.from_dict(document)
    except KeyError as exc:
        raise FormatError(f"{source}: DSSE envelope lacks field {exc}") from exc
    except (
        TypeError,
        ValueError,
        AttributeError,
        binascii.Error,
        SslibFormatError,
    ) as exc:
        raise FormatError(f"{source}: malformed DSSE envelope ({exc})") from exc
    if parsed.payload_type != PAYLOAD_TYPE:
        raise FormatError(
            f"{source}: payloadType is {parsed.payload_type!r}, expected {PAYLOAD_TYPE!r}"
        )
    try:
        accepted = parsed.verify(list(keys), threshold)
    except (VerificationError, ValueError) as exc:
        raise LinkSignatureError(f"{source}: signature does not verify ({exc})") from exc
    return _parse_payload(parsed.payload, signed_by=tuple(sorted(accepted)), source=source)


def _parse_payload(payload: bytes, *, signed_by: tuple[str, ...], source: str) -> LoadedLink:
    from in_toto.models.link import Link
    from securesystemslib.exceptions import FormatError as SslibFormatError

    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise FormatError(f"{source}: payload is not JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("_type") != "link":
        raise FormatError(f"{source}: payload is not an in-toto link (_type must be 'link')")
    unknown = set(data) - {
        "_type",
        "name",
        "materials",
        "products",
        "byproducts",
        "command",
        "environment",
    }
    if unknown:
        raise FormatError(f"{source}: payload has unknown link fields {sorted(unknown)}")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise FormatError(f"{source}: field name must be a non-empty string")
    try:
        link = Link.read(data)
    except (SslibFormatError, TypeError, ValueError) as exc:
        raise FormatError(f"{source}: invalid link ({exc})") from exc
    if not all(isinstance(part, str) for part in link.command):
        raise FormatError(f"{source}: field command must be a list of strings")
    return LoadedLink(
        name=link.name,
        materials=link.materials,
        products=link.products,
        command=link.command,
        byproducts=link.byproducts,
        environment=link.environment,
        signed_by=signed_by,
        payload=payload,
    )

"""Signed layouts: the DSSE envelope over a pinned layout document.

The payload is the RFC 8785 canonical JSON of the pinned document, payload type
:data:`LAYOUT_PAYLOAD_TYPE`, one signature per owner key; a verifier needs *every* owner key it
is given to have signed (in-toto's semantics for several layout keys). All DSSE work is done by
:mod:`atlas_intoto.dsse`; its errors become :class:`LayoutSignatureError`. Pure, apart from
:func:`load_signed_layout`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rfc8785

from atlas_intoto import dsse
from atlas_intoto.errors import (
    DsseFormatError,
    DsseSignatureError,
    InputError,
    LayoutExpiredError,
    LayoutSchemaError,
    LayoutSignatureError,
)
from atlas_intoto.layout.model import Layout, parse_layout

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer

__all__ = [
    "LAYOUT_PAYLOAD_TYPE",
    "layout_payload",
    "load_signed_layout",
    "sign_layout",
    "verify_signed_layout",
]

#: DSSE payload type of a signed atlas-intoto layout.
LAYOUT_PAYLOAD_TYPE = "application/vnd.atlas-intoto.layout+json"


def sign_layout(doc: Mapping[str, Any], signers: Sequence[Signer]) -> bytes:
    """A DSSE envelope (JSON bytes) over the canonical pinned document, one signature per owner.

    Steps:
      1. at least one signer (else :class:`InputError`);
      2. ``doc`` parses as a pinned layout (:func:`parse_layout`);
      3. :func:`atlas_intoto.dsse.sign` over the RFC 8785 JSON of ``doc``; a key given twice
         signs once;
      4. the envelope as two-space indented JSON (``payload, payloadType, signatures``) and a
         newline.
    """
    if not signers:
        raise InputError("layout sign: at least one owner key is required")
    parse_layout(doc)
    envelope = dsse.sign(LAYOUT_PAYLOAD_TYPE, rfc8785.dumps(dict(doc)), signers)
    # Two signatures under one key id would make the envelope malformed (dsse.parse rejects
    # them), so the same owner key given twice yields a single signature.
    unique: dict[str, dsse.Signature] = {}
    for signature in envelope.signatures:
        unique.setdefault(signature.keyid, signature)
    envelope = dataclasses.replace(envelope, signatures=tuple(unique.values()))
    return (json.dumps(envelope.to_dict(), indent=2) + "\n").encode()


def _open(envelope_doc: Any, *, source: str) -> dsse.Envelope:
    """The parsed envelope of a layout, checked to carry :data:`LAYOUT_PAYLOAD_TYPE`."""
    if not isinstance(envelope_doc, Mapping):
        raise LayoutSignatureError(f"{source}: signed layout is not a DSSE envelope object")
    try:
        envelope = dsse.Envelope.from_dict(envelope_doc, source=source)
    except DsseFormatError as exc:
        reason = str(exc).removeprefix(f"{source}: ")
        raise LayoutSignatureError(f"{source}: malformed DSSE envelope ({reason})") from exc
    if envelope.payload_type != LAYOUT_PAYLOAD_TYPE:
        raise LayoutSignatureError(
            f"{source}: payloadType {envelope.payload_type!r} is not {LAYOUT_PAYLOAD_TYPE}"
        )
    return envelope


def _parse_payload(envelope: dsse.Envelope, *, source: str) -> Layout:
    try:
        doc = json.loads(envelope.payload)
    except (ValueError, RecursionError) as exc:  # also huge integers, deep nesting
        raise LayoutSchemaError(f"{source}: layout payload is not JSON") from exc
    return parse_layout(doc, source=source)


def verify_signed_layout(
    envelope_doc: Any, *, layout_keys: Sequence[Key], now: int, source: str = "layout"
) -> Layout:
    """Verify a signed layout and return it.

    Steps (check 1, docs/ARCHITECTURE.md):
      1. the envelope is DSSE (:meth:`atlas_intoto.dsse.Envelope.from_dict`) with payload type
         :data:`LAYOUT_PAYLOAD_TYPE`;
      2. *every* given owner key has a valid signature over the PAE (in-toto semantics for
         multiple layout keys): :func:`atlas_intoto.dsse.verify` with the threshold the
         number of distinct owner key ids; no owner key at all is an error;
      3. the payload is JSON that satisfies the schema, with every anchor pinned;
      4. ``now`` is before the expiry.
    """
    envelope = _open(envelope_doc, source=source)
    if not layout_keys:
        raise LayoutSignatureError(f"{source}: no layout owner key given")
    owners = {key.keyid for key in layout_keys}
    try:
        dsse.verify(envelope, layout_keys, threshold=len(owners), source=source)
    except DsseSignatureError as exc:
        signed = set(dsse.verified_keyids(envelope, layout_keys))
        missing = next(key for key in layout_keys if key.keyid not in signed)
        raise LayoutSignatureError(
            f"{source}: no valid signature by layout key {missing.keyid[:16]}"
        ) from exc
    layout = _parse_payload(envelope, source=source)
    if now >= layout.expires_at:
        raise LayoutExpiredError(f"{source}: layout expired at {layout.expires}")
    return layout


def layout_payload(envelope_doc: Any, *, source: str = "layout") -> Layout:
    """The layout inside a signed envelope *without* verifying signatures or expiry (inspect).

    The payload type is checked: a link or other DSSE envelope is not a layout.
    """
    return _parse_payload(_open(envelope_doc, source=source), source=source)


def load_signed_layout(path: Path) -> tuple[Any, Layout]:
    """Read a signed layout file: its envelope document and (unverified) layout.

    Anything that is not a signed layout (a link, a source, a wrong payload type) is an
    :class:`InputError` naming the file: the user gave the wrong file (exit 2).
    """
    from atlas_intoto.errors import LayoutError
    from atlas_intoto.fileio import parse_json, read_bytes
    from atlas_intoto.filekind import wrong_file_hint

    data = read_bytes(path, what="signed layout")
    try:
        envelope = parse_json(data, source=str(path), what="signed layout")
    except InputError as exc:  # e.g. the YAML source: say so, not "invalid JSON at line 1"
        hint = wrong_file_hint(data, expected="signed-layout")
        if hint is None:
            raise
        raise InputError(f"{path}: {hint}") from exc
    try:
        return envelope, layout_payload(envelope, source=str(path))
    except LayoutError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        hint = wrong_file_hint(data, expected="signed-layout")
        more = f"; {hint}" if hint is not None else ""
        raise InputError(f"{path}: not a signed layout ({reason}){more}") from exc

"""Publishing at a log visibility (``--log-visibility``, :mod:`atlas_intoto.tlog.visibility`):
the signatures a pending marker keeps, and the publisher that logs by digest only.

With ``digest`` visibility the functionary signs, when the step is recorded, the exact bytes of
the link's envelope and of the step Statement's envelope (the one inside its Sigstore bundle);
the marker keeps both signatures, so publishing — now or later with ``log publish`` — needs no
key, and the log receives a digest, a signature and a key for each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas_intoto.errors import AtlasError, InputError, UsageError

if TYPE_CHECKING:
    from securesystemslib.signer import Signer

    from atlas_intoto.publishing import PendingMarker
    from atlas_intoto.tlog.backend import LogPublisher

__all__ = [
    "at_visibility",
    "read_visibility",
    "recording_signatures",
    "visibility_fields",
    "visible_publisher",
]


def visibility_fields(marker: PendingMarker) -> dict[str, Any]:
    """The marker fields of its visibility. Written only for digest visibility: full markers
    stay byte-identical to those of earlier releases."""
    if marker.visibility == "full":
        return {}
    out = {"visibility": marker.visibility, "envelope_signature": marker.envelope_signature}
    if marker.statement_signature is not None:
        out["statement_signature"] = marker.statement_signature
    return out


def _signature_field(doc: Mapping[str, Any], name: str, source: str, *, required: bool) -> Any:
    from atlas_intoto.tlog.visibility import decode_signature

    value = doc.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InputError(f"{source}: field {name} is missing or not a string")
    try:
        decode_signature(value, source=f"{source}: field {name}")
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    return value


def read_visibility(doc: Mapping[str, Any], source: str) -> tuple[str, str | None, str | None]:
    """A marker document's visibility, envelope signature and Statement signature
    (InputError naming ``source`` and the field when malformed)."""
    from atlas_intoto.tlog.visibility import VISIBILITIES

    visibility = doc.get("visibility", "full")
    if visibility not in VISIBILITIES:
        raise InputError(f"{source}: field visibility is not one of {', '.join(VISIBILITIES)}")
    if visibility == "full":
        return "full", None, None
    envelope = _signature_field(doc, "envelope_signature", source, required=True)
    statement = _signature_field(doc, "statement_signature", source, required=False)
    return str(visibility), envelope, statement


def _statement_envelope(evidence_dir: Path, stem: str) -> bytes | None:
    """The envelope bytes of the step's Statement (its Sigstore bundle), if recording wrote one."""
    from atlas_intoto.fileio import read_json
    from atlas_intoto.sigstore_bundle import parse_sigstore_bundle

    path = evidence_dir / f"{stem}.sigstore.json"
    if not path.is_file():
        return None
    try:
        return parse_sigstore_bundle(
            read_json(path, what="Sigstore bundle"), source=str(path)
        ).envelope
    except AtlasError as exc:
        raise InputError(f"{path}: {exc}") from exc


def recording_signatures(
    signer: Signer, envelope: bytes, evidence_dir: Path, stem: str
) -> tuple[str | None, str | None]:
    """The functionary's signatures (base64) over the link's envelope bytes and over the
    envelope of the Statement recording wrote beside it (None when there is none)."""
    from atlas_intoto.tlog.visibility import encode_signature, sign_envelope

    statement = _statement_envelope(evidence_dir, stem)
    return (
        encode_signature(sign_envelope(signer, envelope)),
        None if statement is None else encode_signature(sign_envelope(signer, statement)),
    )


def visible_publisher(
    publisher: LogPublisher, marker: PendingMarker, signature: str | None
) -> LogPublisher | None:
    """The publisher logging an envelope at the marker's visibility: ``publisher`` itself for
    full visibility, a :class:`~atlas_intoto.tlog.visibility.DigestPublisher` with
    ``signature`` for digest visibility, None when there is no signature to log."""
    if marker.visibility == "full":
        return publisher
    if signature is None:
        return None
    from atlas_intoto.tlog.visibility import DigestPublisher, decode_signature

    return DigestPublisher(publisher, decode_signature(signature, source=marker.link))


def at_visibility(
    evidence_dir: Path, marker: PendingMarker, visibility: str | None, signer: Signer | None
) -> PendingMarker:
    """``marker`` to be published at ``visibility`` (None: as recorded). Logging by digest a
    link recorded with full visibility needs ``signer``, the functionary's key (the marker's
    ``public_key``), to sign its envelopes now (UsageError otherwise)."""
    from atlas_intoto.tlog.visibility import DIGEST, FULL

    if visibility is None or visibility == marker.visibility:
        return marker
    if visibility == FULL:
        return replace(marker, visibility=FULL, envelope_signature=None, statement_signature=None)
    if visibility != DIGEST:
        raise UsageError(f"--log-visibility {visibility!r}: expected one of full, digest")
    link = evidence_dir / marker.link
    if signer is None:
        raise UsageError(
            f"{link}: recorded with full visibility; pass --key (the functionary's key) to "
            "sign its envelope for --log-visibility digest"
        )
    if not _same_key(signer, marker.public_key.encode()):
        raise UsageError(f"--key: not the key that signed {link} (the marker's public_key)")
    from atlas_intoto.fileio import read_bytes

    envelope = read_bytes(link, what="link")
    link_sig, statement_sig = recording_signatures(signer, envelope, evidence_dir, marker.stem)
    return replace(
        marker,
        visibility=DIGEST,
        envelope_signature=link_sig,
        statement_signature=statement_sig,
    )


def _same_key(signer: Signer, public_pem: bytes) -> bool:
    from atlas_intoto.keys import load_public_key_pem, sslib_key

    try:
        key = sslib_key(load_public_key_pem(public_pem, source="public_key"))
    except AtlasError:
        return False
    return bool(key.keyid == signer.public_key.keyid)

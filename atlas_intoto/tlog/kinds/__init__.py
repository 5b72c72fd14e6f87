"""Rekor v1 entry kinds, handled the way Rekor handles them (pure: bytes in, bytes out).

Supported kinds: ``hashedrekord`` 0.0.1, ``dsse`` 0.0.1 and ``intoto`` 0.0.2 (sigstore/rekor
``pkg/types/<kind>/<version>/entry.go``), one module each. For each proposed entry the log

1. validates the fields the kind's schema requires,
2. verifies every signature with the supplied public key or certificate (on upload),
3. builds the body Rekor stores — the kind's ``Canonicalize()`` output serialised with RFC 8785
   (JCS); its RFC 6962 leaf hash is the entry UUID,
4. derives the search-index keys of the kind's ``IndexKeys()``.

Each kind module also holds ``match_envelope``: the offline check that a stored body records a
given DSSE envelope (used by :func:`atlas_intoto.tlog.logentry.check_body_matches_envelope`).
Shared pieces: :mod:`.common` (field decoding, the result type), :mod:`.material` (keys,
certificates, signature checks, Rekor's envelope verification), :mod:`.match` (body matching).

Known difference from Rekor: a PEM key followed by trailing whitespace is accepted (Go would try
to parse it as a certificate chain).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from atlas_intoto.tlog.kinds import dsse, hashedrekord, intoto
from atlas_intoto.tlog.kinds.common import (
    INTOTO_PAYLOAD_TYPE,
    CanonicalEntry,
    fail,
    obj,
    string,
)
from atlas_intoto.tlog.kinds.match import EnvelopeFacts
from atlas_intoto.tlog.kinds.material import Verifier, load_verifier

__all__ = [
    "BODY_MATCHERS",
    "INTOTO_PAYLOAD_TYPE",
    "SUPPORTED_KINDS",
    "CanonicalEntry",
    "EnvelopeFacts",
    "Verifier",
    "canonical_entry",
    "load_verifier",
    "parse_proposed_entry",
]

_Canonicalize = Callable[..., CanonicalEntry]
_Matcher = Callable[..., None]

_CANONICALIZERS: Mapping[tuple[str, str], _Canonicalize] = {
    (hashedrekord.KIND, hashedrekord.API_VERSION): hashedrekord.canonicalize,
    (dsse.KIND, dsse.API_VERSION): dsse.canonicalize,
    (intoto.KIND, intoto.API_VERSION): intoto.canonicalize,
}

#: ``(kind, apiVersion)`` pairs this log accepts.
SUPPORTED_KINDS = frozenset(_CANONICALIZERS)

#: Each kind's ``match_envelope(spec, EnvelopeFacts, *, check_envelope_hash)``.
BODY_MATCHERS: Mapping[tuple[str, str], _Matcher] = {
    (hashedrekord.KIND, hashedrekord.API_VERSION): hashedrekord.match_envelope,
    (dsse.KIND, dsse.API_VERSION): dsse.match_envelope,
    (intoto.KIND, intoto.API_VERSION): intoto.match_envelope,
}


def canonical_entry(doc: Any, *, for_insert: bool = True) -> CanonicalEntry:
    """Validate a proposed entry (parsed JSON) and return what the log stores.

    1. ``kind`` and ``apiVersion`` name a supported kind; ``spec`` is an object.
    2. The kind's fields are present and well-formed.
    3. With ``for_insert`` (POST /log/entries) every signature verifies with its key and the
       entry is insertable; without it (search by entry) a dsse spec may already be in stored
       form, as Rekor's ``UnmarshalEntry`` allows.
    4. The canonical body is built (RFC 8785) and the index keys derived.

    Raises :class:`EntryFormatError` / :class:`EntrySignatureError` (HTTP 400).
    """
    entry = obj(doc, "proposed entry")
    kind = string(entry.get("kind"), "kind")
    api_version = string(entry.get("apiVersion"), "apiVersion")
    canonicalize = _CANONICALIZERS.get((kind, api_version))
    if canonicalize is None:
        supported = ", ".join(f"{k} {v}" for k, v in sorted(SUPPORTED_KINDS))
        raise fail(f"kind: unsupported {kind} {api_version} (supported: {supported})")
    spec = obj(entry.get("spec"), "spec")
    return canonicalize(spec, for_insert=for_insert)


def parse_proposed_entry(data: bytes, *, for_insert: bool = True) -> CanonicalEntry:
    """:func:`canonical_entry` for raw request bytes (JSON)."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # ValueError: also huge integers
        raise fail("request body: not valid JSON") from exc
    return canonical_entry(doc, for_insert=for_insert)

"""What every Rekor entry kind shares: the accepted-entry type, JSON field decoding as Rekor's
Go models decode it, the canonical body and the search-index keys (pure).

Field errors raise :class:`~atlas_intoto.errors.EntryFormatError` naming the JSON path, so an
HTTP 400 tells the client which field was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785

from atlas_intoto import dsse
from atlas_intoto.errors import DsseFormatError, EntryFormatError

__all__ = [
    "INTOTO_PAYLOAD_TYPE",
    "CanonicalEntry",
    "b64_dsse",
    "b64_std",
    "canonical_body",
    "dedupe",
    "fail",
    "hash_obj",
    "hex_digest",
    "non_empty_list",
    "obj",
    "statement_keys",
    "string",
]

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


@dataclass(frozen=True, kw_only=True)
class CanonicalEntry:
    """An accepted entry: what the log stores and indexes."""

    kind: str
    api_version: str
    #: RFC 8785 JSON of the canonicalised entry: the Merkle leaf.
    body: bytes
    #: Search-index keys (``sha256:<hex>`` digests, key hashes, certificate subjects).
    index_keys: tuple[str, ...]


def fail(message: str) -> EntryFormatError:
    """The error for a malformed proposed entry (HTTP 400)."""
    return EntryFormatError(message)


def obj(value: Any, field: str) -> Mapping[str, Any]:
    """``value`` as a JSON object, or an error naming ``field``."""
    if not isinstance(value, dict):
        raise fail(f"{field}: expected a JSON object")
    return value


def string(value: Any, field: str, *, required: bool = True) -> str:
    """``value`` as a string; ``required`` strings must also be non-empty, optional ones may be
    absent (``None`` reads as ``""``)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise fail(f"{field}: expected a string")
    if required and not value:
        raise fail(f"{field}: must not be empty")
    return value


def non_empty_list(value: Any, field: str) -> list[Any]:
    """``value`` as a non-empty JSON array."""
    if not isinstance(value, list) or not value:
        raise fail(f"{field}: expected a non-empty array")
    return value


def b64_std(value: str, field: str) -> bytes:
    """Go's ``base64.StdEncoding`` (what ``strfmt.Base64`` fields decode with): standard
    alphabet only, padded, strict."""
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise fail(f"{field}: not valid base64") from exc


def b64_dsse(value: str, field: str) -> bytes:
    """go-securesystemslib's ``b64Decode`` (standard alphabet, then URL-safe, both padded):
    the same rule as :func:`atlas_intoto.dsse.b64decode`, reported as an entry error."""
    try:
        return dsse.b64decode(value, field=field)
    except DsseFormatError as exc:
        raise fail(f"{field}: not valid base64") from exc


def hex_digest(value: bytes) -> str:
    """SHA-256 of ``value``, lowercase hex."""
    return hashlib.sha256(value).hexdigest()


def hash_obj(value: Any, field: str, allowed: Mapping[str, int]) -> dict[str, str]:
    """A ``{algorithm, value}`` hash object whose algorithm is one of ``allowed``."""
    doc = obj(value, field)
    algorithm = string(doc.get("algorithm"), f"{field}.algorithm")
    if algorithm not in allowed:
        raise fail(f"{field}.algorithm: unsupported {algorithm!r}")
    hex_value = string(doc.get("value"), f"{field}.value")
    return {"algorithm": algorithm, "value": hex_value}


def canonical_body(kind: str, api_version: str, spec: Mapping[str, Any]) -> bytes:
    """The stored leaf: RFC 8785 JSON of ``{apiVersion, kind, spec}``."""
    return rfc8785.dumps({"apiVersion": api_version, "kind": kind, "spec": spec})


def dedupe(keys: Sequence[str]) -> tuple[str, ...]:
    """``keys`` without repeats, first occurrence kept (Rekor indexes each key once)."""
    return tuple(dict.fromkeys(keys))


def accepted_entry(
    kind: str, api_version: str, spec: Mapping[str, Any], keys: Sequence[str]
) -> CanonicalEntry:
    """The entry the log stores: the canonical body of ``spec`` and its (deduplicated) keys."""
    return CanonicalEntry(
        kind=kind,
        api_version=api_version,
        body=canonical_body(kind, api_version, spec),
        index_keys=dedupe(keys),
    )


def statement_keys(payload: bytes) -> list[str]:
    """Subject digests (and SLSA v0.2 material digests) of an in-toto statement, as Rekor
    indexes them; anything that does not decode contributes nothing."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return []
    if not isinstance(doc, dict):
        return []
    keys = _digest_keys(doc.get("subject"))
    predicate = doc.get("predicate")
    if isinstance(predicate, dict):
        keys.extend(_digest_keys(predicate.get("materials")))
    return keys


def _digest_keys(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    keys: list[str] = []
    for item in items:
        digest = item.get("digest") if isinstance(item, dict) else None
        if isinstance(digest, dict):
            keys.extend(f"{alg}:{value}" for alg, value in digest.items() if isinstance(value, str))
    return keys

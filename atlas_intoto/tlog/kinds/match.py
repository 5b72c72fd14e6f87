"""Offline matching of a stored entry body against a DSSE envelope: what every kind's matcher
shares (pure).

A verifier holding an envelope and a LogEntry must know that the entry records *this* envelope:
each kind module compares its stored fields with the :class:`EnvelopeFacts` of the envelope.
Differences raise :class:`~atlas_intoto.errors.LogEntryMismatchError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atlas_intoto.errors import LogEntryMismatchError

__all__ = ["EnvelopeFacts", "envelope_facts", "field", "mismatch", "sha256_field", "sig_bytes"]


@dataclass(frozen=True, kw_only=True)
class EnvelopeFacts:
    """What a body may record about an envelope."""

    payload_type: str
    payload: bytes
    #: The raw signature bytes.
    signatures: frozenset[bytes]
    #: SHA-256 (hex) of the envelope bytes exactly as uploaded.
    envelope_hash: str
    #: SHA-256 (hex) of the payload.
    payload_hash: str


def mismatch(message: str) -> LogEntryMismatchError:
    """The error for a body that does not record the envelope."""
    return LogEntryMismatchError(f"log entry body: {message}")


def envelope_facts(envelope: bytes) -> EnvelopeFacts:
    """Parse the envelope a body should record. Payload and signatures are decoded with strict
    standard base64, as Rekor's stored fields are; anything else is not a DSSE envelope."""
    try:
        env = json.loads(envelope)
        payload_type = env["payloadType"]
        payload = base64.b64decode(env["payload"], validate=True)
        signatures = frozenset(base64.b64decode(s["sig"], validate=True) for s in env["signatures"])
        if not isinstance(payload_type, str) or not signatures:
            raise TypeError("bad envelope")
    except (ValueError, RecursionError, KeyError, TypeError, binascii.Error) as exc:
        raise mismatch("the envelope is not a DSSE envelope") from exc
    return EnvelopeFacts(
        payload_type=payload_type,
        payload=payload,
        signatures=signatures,
        envelope_hash=hashlib.sha256(envelope).hexdigest(),
        payload_hash=hashlib.sha256(payload).hexdigest(),
    )


def field(doc: Any, *path: str) -> Any:
    """The value at ``path`` in the body's JSON; missing is a mismatch."""
    for key in path:
        if not isinstance(doc, Mapping) or key not in doc:
            raise mismatch(f"missing {'.'.join(path)}")
        doc = doc[key]
    return doc


def sha256_field(doc: Any, *path: str) -> str:
    """The lowercase hex value of the ``{algorithm: sha256, value}`` object at ``path``."""
    h = field(doc, *path)
    if field(h, "algorithm") != "sha256" or not isinstance(h.get("value"), str):
        raise mismatch(f"{'.'.join(path)} is not a sha256 hash")
    return str(h["value"]).lower()


def sig_bytes(value: Any, name: str) -> bytes:
    """A stored signature (strict standard base64) as bytes."""
    if not isinstance(value, str):
        raise mismatch(f"{name} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise mismatch(f"{name} is not base64") from exc

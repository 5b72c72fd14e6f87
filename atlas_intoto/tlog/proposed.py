"""Proposed entries as a client sends them to a Rekor v1 log (pure: bytes in, JSON out).

The server side of the same kinds (validation, canonical bodies) is
:mod:`atlas_intoto.tlog.kinds`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from atlas_intoto.errors import EntryFormatError

__all__ = ["dsse_proposed_entry", "hashedrekord_proposed_entry", "intoto_proposed_entry"]


def dsse_proposed_entry(envelope: bytes, verifiers_pem: Sequence[bytes]) -> dict[str, Any]:
    """The ``dsse`` 0.0.1 proposed entry for an envelope and its keys/certificates (PEM)."""
    return {
        "kind": "dsse",
        "apiVersion": "0.0.1",
        "spec": {
            "proposedContent": {
                "envelope": envelope.decode("utf-8"),
                "verifiers": [base64.b64encode(pem).decode() for pem in verifiers_pem],
            }
        },
    }


def hashedrekord_proposed_entry(
    *, signature: bytes, public_key_pem: bytes, digest: bytes, algorithm: str = "sha256"
) -> dict[str, Any]:
    """The ``hashedrekord`` 0.0.1 proposed entry for a signature over an artifact digest."""
    return {
        "kind": "hashedrekord",
        "apiVersion": "0.0.1",
        "spec": {
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(public_key_pem).decode()},
            },
            "data": {"hash": {"algorithm": algorithm, "value": digest.hex()}},
        },
    }


def intoto_proposed_entry(envelope: bytes, public_key_pem: bytes) -> dict[str, Any]:
    """The ``intoto`` 0.0.2 proposed entry (as ``rekor-cli`` builds it) for an envelope whose
    signatures were all made with ``public_key_pem``.

    Raises :class:`EntryFormatError` if ``envelope`` is not a DSSE envelope.
    """
    try:
        env = json.loads(envelope)
        payload = env["payload"]
        signatures = env["signatures"]
        payload_type = env["payloadType"]
    except (ValueError, RecursionError, KeyError, TypeError) as exc:
        raise EntryFormatError("envelope: not a DSSE envelope") from exc

    def b64(text: str | bytes) -> str:
        raw = text.encode() if isinstance(text, str) else text
        return base64.b64encode(raw).decode()

    sigs: list[dict[str, str]] = []
    for sig in signatures:
        item = {"sig": b64(sig["sig"]), "publicKey": b64(public_key_pem)}
        if sig.get("keyid"):
            item = {"keyid": sig["keyid"], **item}
        sigs.append(item)
    return {
        "kind": "intoto",
        "apiVersion": "0.0.2",
        "spec": {
            "content": {
                "envelope": {
                    "payload": b64(payload),
                    "payloadType": payload_type,
                    "signatures": sigs,
                },
                # Verifiers recompute this from the envelope they hold (logentry's body
                # match): it must be the hash of these exact bytes, not a re-serialisation.
                "hash": {"algorithm": "sha256", "value": hashlib.sha256(envelope).hexdigest()},
            }
        },
    }

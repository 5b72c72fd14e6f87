"""C2SP tlog-cosignature (Ed25519, ``cosignature/v1``) over checkpoints (pure).

A witness's cosignature is a note signature line ``— <name> base64(key ID ‖ timestamp ‖ sig)``:

* key ID = ``SHA-256(<name> ‖ "\\n" ‖ 0x04 ‖ 32-byte Ed25519 key)[:4]``;
* timestamp = big-endian u64 POSIX seconds, never zero;
* sig = Ed25519 over ``"cosignature/v1\\ntime <timestamp>\\n" ‖ <checkpoint body>``.

Verifiers count cosignatures from distinct pinned witnesses toward a threshold (k of n) and
ignore lines of unknown keys; a line that names a pinned witness but does not verify is an
error, as in C2SP signed-note.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from atlas_intoto.errors import CheckpointError, WitnessCosignatureError
from atlas_intoto.tlog.checkpoint import Checkpoint, NoteSignature

__all__ = ["WitnessKey", "cosign", "count_cosignatures", "require_cosignatures", "witness_key"]

_ALG_COSIGNATURE_V1 = b"\x04"
_MAX_TIME = (1 << 63) - 1


@dataclass(frozen=True, kw_only=True)
class WitnessKey:
    """A witness: its note name and Ed25519 public key."""

    name: str
    public_key: ed25519.Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID of its cosignature lines."""
        data = self.name.encode() + b"\n" + _ALG_COSIGNATURE_V1 + self.raw
        return hashlib.sha256(data).digest()[:4]

    def pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def witness_key(name: str, pem: bytes | str) -> WitnessKey:
    """A :class:`WitnessKey` from a name and an Ed25519 SPKI PEM (CheckpointError otherwise)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"witness {name!r}: not a PEM public key ({exc})") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise CheckpointError(f"witness {name!r}: cosignature/v1 needs an Ed25519 key")
    if not name or "+" in name or any(c.isspace() for c in name):
        raise CheckpointError(f"witness {name!r}: not a valid note key name")
    return WitnessKey(name=name, public_key=key)


def signed_message(body: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 signs for a checkpoint body at ``timestamp``."""
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + body


def cosign(
    checkpoint: Checkpoint, *, key: ed25519.Ed25519PrivateKey, name: str, timestamp: int
) -> NoteSignature:
    """The witness's cosignature line over ``checkpoint`` at ``timestamp`` (seconds)."""
    if not 0 < timestamp <= _MAX_TIME:
        raise ValueError("cosignature timestamp must be in 1..2**63-1")
    wk = WitnessKey(name=name, public_key=key.public_key())
    sig = key.sign(signed_message(checkpoint.body, timestamp))
    return NoteSignature(
        name=name, key_hint=wk.key_id, signature=timestamp.to_bytes(8, "big") + sig
    )


def count_cosignatures(checkpoint: Checkpoint, witnesses: Sequence[WitnessKey]) -> set[str]:
    """Names of the pinned ``witnesses`` whose cosignature on ``checkpoint`` verifies.

    1. a line counts only if its name and key ID are a pinned witness's;
    2. its 8-byte timestamp is not zero and its Ed25519 signature verifies over
       ``cosignature/v1``, the time line and the checkpoint body; otherwise CheckpointError
       (a pinned witness's line that does not verify is a forgery, never ignored).
    """
    found: set[str] = set()
    for line in checkpoint.signatures:
        for wk in witnesses:
            if line.name != wk.name or line.key_hint != wk.key_id:
                continue
            if len(line.signature) != 8 + 64:
                raise WitnessCosignatureError(
                    f"checkpoint: cosignature of {wk.name!r} is malformed"
                )
            timestamp = int.from_bytes(line.signature[:8], "big")
            if not 0 < timestamp <= _MAX_TIME:
                raise WitnessCosignatureError(f"checkpoint: cosignature of {wk.name!r} has no time")
            try:
                wk.public_key.verify(line.signature[8:], signed_message(checkpoint.body, timestamp))
            except InvalidSignature as exc:
                raise WitnessCosignatureError(
                    f"checkpoint: cosignature of witness {wk.name!r} does not verify"
                ) from exc
            found.add(wk.name)
    return found


def require_cosignatures(
    checkpoint: Checkpoint, witnesses: Sequence[WitnessKey], threshold: int
) -> set[str]:
    """At least ``threshold`` distinct pinned witnesses cosigned ``checkpoint``
    (CheckpointError otherwise); returns their names."""
    found = count_cosignatures(checkpoint, witnesses)
    if len(found) < threshold:
        raise WitnessCosignatureError(
            f"checkpoint: {len(found)} of the {threshold} witness cosignatures the layout "
            f"requires (from {len(witnesses)} pinned witnesses)"
        )
    return found

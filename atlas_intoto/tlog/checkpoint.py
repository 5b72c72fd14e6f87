"""Signed-note checkpoints, as Rekor v1 writes them (pure).

The note text (C2SP tlog-checkpoint) is::

    <origin>\\n            e.g. "rekor.sigstore.dev - 2605736670972794746" (Rekor v1: "<name> - <treeID>")
    <tree size>\\n         decimal
    <root hash>\\n         standard base64 of the 32-byte RFC 6962 root
    [<extra line>\\n ...]  optional extension lines

followed by one blank line and one or more signature lines (golang.org/x/mod/sumdb/note)::

    — <name> <base64(key hint (4 bytes) ‖ signature)>\\n

Rekor v1 signs the note text with the log key (ECDSA: ASN.1 DER signature over SHA-256 of the
text; Ed25519: over the text) and sets the key hint to the first 4 bytes of the log ID, the
SHA-256 of the DER SubjectPublicKeyInfo. C2SP notes (Rekor v2, witnesses) hint Ed25519 keys with
the first 4 bytes of ``SHA-256(name ‖ "\\n" ‖ 0x01 ‖ raw key)``; both hints are recognised.
Signature lines of unknown keys (cosignatures from witnesses) are kept verbatim.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from atlas_intoto.errors import CheckpointError

__all__ = [
    "Checkpoint",
    "LogKey",
    "NoteSignature",
    "log_id",
    "log_key",
    "origin_for",
    "parse",
    "sign",
    "sign_data",
    "verify",
]

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_EM_DASH = "\u2014"
_MAX_NOTE = 1 << 20
#: golang.org/x/mod/sumdb/note refuses notes with more signatures than this.
_MAX_SIGNATURES = 100
_SIZE_RE = re.compile(r"(0|[1-9][0-9]{0,19})")
_B64_RE = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_C2SP_ED25519 = b"\x01"


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def _spki_der(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def log_id(key: PublicKey) -> bytes:
    """Rekor log ID: SHA-256 of the DER SubjectPublicKeyInfo of the log key."""
    return hashlib.sha256(_spki_der(key)).digest()


def _hash_for(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> hashes.HashAlgorithm:
    # Rekor/sigstore pair each curve with its natural digest (P-256/SHA-256, P-384/SHA-384).
    return hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()


@dataclass(frozen=True, kw_only=True)
class LogKey:
    """A pinned transparency-log public key with its Rekor log ID."""

    public_key: PublicKey
    log_id: bytes

    @property
    def key_hint(self) -> bytes:
        return self.log_id[:4]

    def note_hints(self, name: str) -> set[bytes]:
        """Key hints under which this key may sign a note line called ``name``."""
        hints = {self.key_hint}
        if isinstance(self.public_key, ed25519.Ed25519PublicKey):
            raw = self.public_key.public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            c2sp = name.encode() + b"\n" + _C2SP_ED25519 + raw
            hints.add(hashlib.sha256(c2sp).digest()[:4])
        return hints

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's signature over ``data``."""
        try:
            if isinstance(self.public_key, ed25519.Ed25519PublicKey):
                self.public_key.verify(signature, data)
            else:
                self.public_key.verify(signature, data, ec.ECDSA(_hash_for(self.public_key)))
        except (InvalidSignature, ValueError):
            return False
        return True


def log_key(key: bytes | PublicKey | LogKey) -> LogKey:
    """A :class:`LogKey` from SPKI PEM or DER bytes or a ``cryptography`` public key.

    Raises :class:`CheckpointError` for bytes that are not a supported public key.
    """
    if isinstance(key, LogKey):
        return key
    if isinstance(key, bytes | bytearray):
        data = bytes(key)
        try:
            loaded = (
                serialization.load_pem_public_key(data)
                if data.lstrip().startswith(b"-----")
                else serialization.load_der_public_key(data)
            )
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"log key: not a PEM/DER public key ({exc})") from exc
        if not isinstance(loaded, PublicKey):
            raise CheckpointError(f"log key: unsupported key type {type(loaded).__name__}")
        key = loaded
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size not in (256, 384):
        raise CheckpointError(f"log key: unsupported curve {key.curve.name}")
    return LogKey(public_key=key, log_id=log_id(key))


def sign_data(key: PrivateKey, data: bytes) -> bytes:
    """The log's signature over ``data`` as Rekor makes it (ECDSA: ASN.1 DER; Ed25519: raw)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, ec.ECDSA(_hash_for(key)))


# --------------------------------------------------------------------------------------------
# The note
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NoteSignature:
    """One signature line: ``— name base64(key_hint ‖ signature)``."""

    name: str
    key_hint: bytes
    signature: bytes

    def line(self) -> str:
        b64 = base64.b64encode(self.key_hint + self.signature).decode()
        return f"{_EM_DASH} {self.name} {b64}\n"


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A (possibly signed) checkpoint; :attr:`text` is the exact signed note."""

    origin: str
    size: int
    root_hash: bytes
    other_lines: tuple[str, ...] = ()
    signatures: tuple[NoteSignature, ...] = field(default=())

    @property
    def body(self) -> bytes:
        """The note text that signatures cover (ends with a newline)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return ("\n".join([*lines, *self.other_lines]) + "\n").encode()

    @property
    def text(self) -> str:
        """The signed note: body, blank line, signature lines."""
        return self.body.decode() + "\n" + "".join(s.line() for s in self.signatures)


def origin_for(name: str, tree_id: int) -> str:
    """Rekor v1 origin line: ``<name> - <treeID>``."""
    return f"{name} - {tree_id}"


def _valid_name(name: str) -> bool:
    # golang.org/x/mod/sumdb/note: non-empty, no spaces, no '+'.
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _parse_body(body: str) -> tuple[str, int, bytes, tuple[str, ...]]:
    lines = body.split("\n")[:-1]  # body ends with "\n"
    if len(lines) < 3:
        raise CheckpointError("checkpoint: fewer than 3 lines (origin, size, root hash)")
    origin, size_s, root_s, *extra = lines
    if not origin.strip():
        raise CheckpointError("checkpoint: empty origin line")
    if not _SIZE_RE.fullmatch(size_s) or int(size_s) >= 1 << 64:
        raise CheckpointError(f"checkpoint: tree size {size_s[:40]!r} is not a decimal uint64")
    try:
        if not _B64_RE.fullmatch(root_s):
            raise binascii.Error("bad alphabet")
        root = base64.b64decode(root_s, validate=True)
    except binascii.Error as exc:
        raise CheckpointError("checkpoint: root hash line is not base64") from exc
    if len(root) != 32:
        raise CheckpointError(f"checkpoint: root hash has {len(root)} bytes, expected 32")
    for line in extra:
        if not line:
            raise CheckpointError("checkpoint: empty extension line")
    return origin, int(size_s), root, tuple(extra)


def _parse_signature(line: str) -> NoteSignature:
    prefix = _EM_DASH + " "
    if not line.startswith(prefix):
        raise CheckpointError("checkpoint: signature line does not start with '— '")
    parts = line[len(prefix) :].split(" ")
    if len(parts) != 2 or not _valid_name(parts[0]):
        raise CheckpointError("checkpoint: signature line is not '— <name> <base64>'")
    name, b64 = parts
    try:
        if not _B64_RE.fullmatch(b64):
            raise binascii.Error("bad alphabet")
        raw = base64.b64decode(b64, validate=True)
    except binascii.Error as exc:
        raise CheckpointError(f"checkpoint: signature of {name!r} is not base64") from exc
    if len(raw) < 5:
        raise CheckpointError(f"checkpoint: signature of {name!r} is too short")
    return NoteSignature(name=name, key_hint=raw[:4], signature=raw[4:])


def parse(text: str | bytes) -> Checkpoint:
    """Parse a signed checkpoint note. Raises :class:`CheckpointError` on any deviation."""
    if isinstance(text, bytes | bytearray):
        if len(text) > _MAX_NOTE:
            raise CheckpointError("checkpoint: note larger than 1 MiB")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError("checkpoint: note is not UTF-8") from exc
    if len(text) > _MAX_NOTE:
        raise CheckpointError("checkpoint: note larger than 1 MiB")
    if any(c < " " and c != "\n" for c in text):
        raise CheckpointError("checkpoint: note contains control characters")
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint: note does not end with a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise CheckpointError("checkpoint: no blank line before the signatures")
    body, sig_block = text[: split + 1], text[split + 2 :]
    if "\n\n" in body:
        raise CheckpointError("checkpoint: more than one blank line")
    if not sig_block:
        raise CheckpointError("checkpoint: no signature lines")
    origin, size, root, extra = _parse_body(body)
    sig_lines = sig_block[:-1].split("\n")
    if len(sig_lines) > _MAX_SIGNATURES:
        raise CheckpointError(f"checkpoint: more than {_MAX_SIGNATURES} signatures")
    sigs = tuple(_parse_signature(line) for line in sig_lines)
    cp = Checkpoint(origin=origin, size=size, root_hash=root, other_lines=extra, signatures=sigs)
    if cp.text != text:
        # Only canonical encodings round-trip; anything else could hide a second reading.
        raise CheckpointError("checkpoint: note is not in canonical form")
    return cp


def sign(checkpoint: Checkpoint, *, key: PrivateKey, name: str) -> Checkpoint:
    """Append the log's signature (Rekor v1 style, key hint = log ID[:4]) to ``checkpoint``.

    Existing signatures are kept, so the result can be cosigned further. ``name`` is the signer
    name of the line (Rekor v1: the host name, the origin without `` - <treeID>``).
    """
    if not _valid_name(name):
        raise ValueError(f"invalid note signer name {name!r}")
    lk = log_key(key.public_key())
    sig = NoteSignature(name=name, key_hint=lk.key_hint, signature=sign_data(key, checkpoint.body))
    return replace(checkpoint, signatures=(*checkpoint.signatures, sig))


def verify(
    text: str | bytes,
    keys: Sequence[bytes | PublicKey | LogKey],
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Parse a checkpoint note and check it is signed by a pinned log key.

    1. the note parses as a checkpoint (:func:`parse`), and its origin equals ``origin`` if given;
    2. every signature line whose key hint names a pinned key (Rekor: log ID[:4]; C2SP
       Ed25519: note key hash) verifies over the note body; a bad one is an error;
    3. at least one pinned key signed it. Lines of unknown keys (witnesses) are ignored.

    Returns the parsed checkpoint. Raises :class:`CheckpointError`.
    """
    cp = parse(text)
    if origin is not None and cp.origin != origin:
        raise CheckpointError(f"checkpoint: origin {cp.origin!r} is not the expected {origin!r}")
    pinned = [log_key(k) for k in keys]
    if not pinned:
        raise CheckpointError("checkpoint: no pinned log keys to verify against")
    verified = False
    body = cp.body
    for sig in cp.signatures:
        for lk in pinned:
            if sig.key_hint not in lk.note_hints(sig.name):
                continue
            if not lk.verify(sig.signature, body):
                raise CheckpointError(
                    f"checkpoint: signature of {sig.name!r} (log ID {lk.log_id.hex()[:16]}…) "
                    "does not verify"
                )
            verified = True
    if not verified:
        raise CheckpointError("checkpoint: not signed by any pinned log key")
    return cp

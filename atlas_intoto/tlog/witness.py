"""A C2SP tlog-witness: ``POST /add-checkpoint`` cosigns a log's checkpoint only if it is
consistent with the last one the witness cosigned for that origin (C2SP tlog-cosignature,
Ed25519 ``cosignature/v1``). Its state — per origin, the last cosigned size and root — is a
SQLite file (``synchronous=FULL``) updated in the same transaction that checks it, so two
racing requests can never roll the witness back.

Answers (C2SP tlog-witness): 200 cosignature lines; 400 malformed or old size above the new
size; 403 no valid signature of a trusted log key; 404 unknown origin; 409 + ``text/x.tlog.size``
the old size is not the witness's; 422 bad consistency proof, or same size with another root.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from atlas_intoto.errors import (
    CheckpointError,
    ConsistencyProofError,
    StoreError,
    UsageError,
)
from atlas_intoto.tlog import checkpoint as checkpoints
from atlas_intoto.tlog import cosignature, merkle

__all__ = ["Witness", "WitnessReply", "create_witness_app"]

_MAX_REQUEST = 64 * 1024
_MAX_PROOF = 63


@dataclass(frozen=True, kw_only=True)
class WitnessReply:
    """An HTTP answer of the witness."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


def _reply(status: int, message: str) -> WitnessReply:
    return WitnessReply(status=status, body=message + "\n")


def _parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    text = body.decode("utf-8")
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise ValueError("no empty line before the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    if not first.startswith("old ") or not first[4:].isdigit() or len(first) > 24:
        raise ValueError("first line must be 'old <size>'")
    if first[4:] != str(int(first[4:])):
        raise ValueError("old size has leading zeroes")
    proof_lines = lines[1:]
    if len(proof_lines) > _MAX_PROOF:
        raise ValueError(f"more than {_MAX_PROOF} consistency proof lines")
    proof = [base64.b64decode(line, validate=True) for line in proof_lines]
    return int(first[4:]), proof, note


class Witness:
    """The witness logic (blocking; HTTP framing in :func:`create_witness_app`)."""

    def __init__(
        self,
        *,
        key: ed25519.Ed25519PrivateKey,
        name: str,
        logs: Mapping[str, Sequence[bytes]],
        state: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not name or "+" in name or any(c.isspace() for c in name):
            raise UsageError(f"witness name {name!r}: a note name has no spaces and no '+'")
        self.key = key
        self.name = name
        #: origin -> pinned log public keys (PEM)
        self.logs = {
            origin: [checkpoints.log_key(k) for k in keys] for origin, keys in logs.items()
        }
        self.clock = clock
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(state, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS latest (origin TEXT PRIMARY KEY, size INTEGER "
                "NOT NULL, root BLOB NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{state}: cannot open the witness state ({exc})") from exc

    @property
    def public_key(self) -> cosignature.WitnessKey:
        return cosignature.WitnessKey(name=self.name, public_key=self.key.public_key())

    def close(self) -> None:
        self._db.close()

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        """The last cosigned (size, root) for ``origin``."""
        with self._lock:
            row = self._db.execute(
                "SELECT size, root FROM latest WHERE origin = ?", (origin,)
            ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def add_checkpoint(self, body: bytes) -> WitnessReply:
        """``POST /add-checkpoint`` (the checks in the module docstring, in C2SP's order)."""
        if len(body) > _MAX_REQUEST:
            return _reply(400, "request too large")
        try:
            old, proof, note = _parse_request(body)
            cp = checkpoints.parse(note)
        except (ValueError, UnicodeDecodeError, binascii.Error, CheckpointError) as exc:
            return _reply(400, f"malformed request: {exc}")
        keys = self.logs.get(cp.origin)
        if keys is None:
            return _reply(404, f"unknown log origin {cp.origin[:100]!r}")
        try:
            checkpoints.verify(note, keys)
        except CheckpointError as exc:
            return _reply(403, str(exc))
        if old > cp.size:
            return _reply(400, f"old size {old} is above the checkpoint size {cp.size}")
        if cp.size == 0:
            return _reply(422, "will not cosign the empty tree")
        with self._lock:
            return self._check_and_cosign(old, proof, cp)

    def _check_and_cosign(
        self, old: int, proof: list[bytes], cp: checkpoints.Checkpoint
    ) -> WitnessReply:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(
                "SELECT size, root FROM latest WHERE origin = ?", (cp.origin,)
            ).fetchone()
            known_size, known_root = (0, b"") if row is None else (int(row[0]), bytes(row[1]))
            if old != known_size:
                self._db.execute("ROLLBACK")
                return WitnessReply(
                    status=409, body=f"{known_size}\n", content_type="text/x.tlog.size"
                )
            refusal = self._consistent(old, known_root, proof, cp)
            if refusal is not None:
                self._db.execute("ROLLBACK")
                return refusal
            self._db.execute(
                "INSERT OR REPLACE INTO latest (origin, size, root) VALUES (?, ?, ?)",
                (cp.origin, cp.size, cp.root_hash),
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StoreError(f"witness state: {exc}") from exc
        line = cosignature.cosign(
            cp, key=self.key, name=self.name, timestamp=max(1, int(self.clock()))
        )
        return WitnessReply(status=200, body=line.line())

    @staticmethod
    def _consistent(
        old: int, known_root: bytes, proof: list[bytes], cp: checkpoints.Checkpoint
    ) -> WitnessReply | None:
        if old == 0:
            return _reply(422, "proof must be empty from size 0") if proof else None
        if old == cp.size:
            if proof or known_root != cp.root_hash:
                return _reply(422, "same size, different root: a split view")
            return None
        try:
            merkle.verify_consistency(old, cp.size, proof, known_root, cp.root_hash)
        except ConsistencyProofError as exc:
            return _reply(422, f"inconsistent checkpoint: {exc}")
        return None


def create_witness_app(witness: Witness) -> Starlette:
    """``POST /add-checkpoint`` over ``witness``."""
    import anyio.to_thread

    async def add(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_REQUEST:
                return PlainTextResponse("request too large\n", status_code=413)
        reply = await anyio.to_thread.run_sync(witness.add_checkpoint, body)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    return Starlette(routes=[Route("/add-checkpoint", add, methods=["POST"])])


def load_or_create_witness_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """The witness's Ed25519 key at ``path`` (created with ``.pub`` beside it if missing)."""
    from cryptography.hazmat.primitives import serialization

    from atlas_intoto.errors import KeyLoadError
    from atlas_intoto.fileio import atomic_write

    if not path.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write(path, pem, mode=0o600)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyLoadError(f"{path}: cannot load the witness key ({exc})") from exc
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        raise KeyLoadError(f"{path}: a witness key must be Ed25519")
    public = loaded.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    atomic_write(path.with_suffix(".pub"), public)
    return loaded

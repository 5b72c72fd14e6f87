"""The Rekor v2 write API and the C2SP tlog-tiles read API over a
:class:`~atlas_intoto.tlog.store.LogStore` (its own shard beside the v1 tree).

==========================================  ====================================================
``POST /api/v2/log/entries``                hashedrekord 0.0.2: 201 TransparencyLogEntry;
                                            409 + ``x-log-index`` for a duplicate; 400 bad input
``GET  /checkpoint``                        the latest (cosigned) checkpoint, ``no-cache``
``GET  /tile/<L>/<N>[.p/<W>]``              hashes; full tiles ``immutable``
``GET  /tile/entries/<N>[.p/<W>]``          entry bundles; full bundles ``immutable``
==========================================  ====================================================

Checkpoints carry the origin alone (rekor-tiles: ``<host name>``) and are signed by the log key
(ECDSA; key ID = SHA-256 of its SPKI, also the entries' ``logId``). With witnesses configured,
a checkpoint is handed out only once every witness cosigned it (C2SP tlog-witness): concurrent
writes share one round of cosigning, as they share one group commit.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from atlas_intoto.errors import (
    AtlasError,
    DuplicateEntryError,
    EntryFormatError,
    LogServerError,
    NetworkError,
    UsageError,
)
from atlas_intoto.tlog import checkpoint as checkpoints
from atlas_intoto.tlog import cosignature
from atlas_intoto.tlog.store import LogStore, StoredEntry
from atlas_intoto.tlog.v2 import hashedrekord, tiles
from atlas_intoto.tlog.v2.entry import InclusionProof, TransparencyLogEntry

__all__ = ["V2ApiError", "V2LogService", "WitnessEndpoint"]

#: Full tiles kept in memory (at most 256 × 32 bytes each, entry bundles a few hundred KiB).
_TILE_CACHE = 512


class V2ApiError(Exception):
    """An HTTP error of the v2 API (``{"code", "message"}``, as grpc-gateway answers)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        entry: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        #: a duplicate's existing TransparencyLogEntry (an extension: clients need not read it)
        self.entry = entry


@dataclass(frozen=True, kw_only=True)
class WitnessEndpoint:
    """A witness the log asks for cosignatures: its submission URL prefix and key."""

    url: str
    key: cosignature.WitnessKey


#: (witness, request body) -> (HTTP status, response body); the HTTP edge (tests fake it).
WitnessPoster = Callable[[WitnessEndpoint, bytes], tuple[int, bytes]]


def http_post_witness(witness: WitnessEndpoint, body: bytes) -> tuple[int, bytes]:
    """POST ``add-checkpoint`` to a witness over HTTP."""
    import httpx

    from atlas_intoto.errors import NetworkError

    try:
        response = httpx.post(
            f"{witness.url.rstrip('/')}/add-checkpoint", content=body, timeout=10.0
        )
    except httpx.HTTPError as exc:
        raise NetworkError(f"witness {witness.url}: unreachable ({exc})") from exc
    return response.status_code, response.content


class V2LogService:
    """Rekor v2 API logic (blocking; call from worker threads)."""

    def __init__(
        self,
        store: LogStore,
        signer: ec.EllipticCurvePrivateKey,
        *,
        origin: str,
        witnesses: Sequence[WitnessEndpoint] = (),
        post: WitnessPoster = http_post_witness,
    ) -> None:
        if not origin or any(c.isspace() for c in origin) or "+" in origin:
            raise UsageError(f"log origin {origin!r}: must be a note name (no spaces or '+')")
        self.store = store
        self.signer = signer
        self.origin = origin
        self.log_id = checkpoints.log_id(signer.public_key())
        self.witnesses = tuple(witnesses)
        self._post = post
        self._lock = threading.Lock()
        self._latest: checkpoints.Checkpoint | None = None
        #: per witness URL: the size it last cosigned
        self._witness_sizes: dict[str, int] = {}
        #: full tiles never change: the most recently read are kept (LRU, bounded)
        self._full_tiles: OrderedDict[str, bytes] = OrderedDict()
        self._tile_lock = threading.Lock()

    # --- checkpoints -----------------------------------------------------------------------

    def checkpoint(self, at_least: int = 0) -> checkpoints.Checkpoint:
        """The latest signed (and, with witnesses, cosigned) checkpoint covering at least
        ``at_least`` entries; one signing and cosigning round serves every waiting writer."""
        with self._lock:
            latest = self._latest
            # A writer needs any checkpoint covering its entry; a reader wants the newest.
            wanted = at_least if at_least > 0 else self.store.size
            if latest is not None and latest.size >= wanted:
                return latest
            size = self.store.size
            cp = checkpoints.Checkpoint(
                origin=self.origin, size=size, root_hash=self.store.root_hash(size)
            )
            cp = checkpoints.sign(cp, key=self.signer, name=self.origin)
            if self.witnesses and size > 0:
                cp = self._cosign(cp)
            self._latest = cp
            return cp

    def _cosign(self, cp: checkpoints.Checkpoint) -> checkpoints.Checkpoint:
        lines: list[checkpoints.NoteSignature] = []
        for witness in self.witnesses:
            lines.extend(self._ask(witness, cp))
        return replace(cp, signatures=(*cp.signatures, *lines))

    def _ask(
        self, witness: WitnessEndpoint, cp: checkpoints.Checkpoint
    ) -> list[checkpoints.NoteSignature]:
        for _attempt in range(2):
            old = self._witness_sizes.get(witness.url, 0)
            proof = self.store.consistency_proof(old, cp.size) if 0 < old < cp.size else []
            head = f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof)
            status, body = self._post(witness, (head + "\n" + cp.text).encode())
            if status == 409:
                # The witness knows a size we do not: learn it and retry once (C2SP).
                self._witness_sizes[witness.url] = _size_of(body)
                continue
            if status != 200:
                raise LogServerError(
                    f"witness {witness.url}: refused the checkpoint ({status})", status=status
                )
            self._witness_sizes[witness.url] = cp.size
            return _verified_lines(cp, witness.key, body)
        raise NetworkError(f"witness {witness.url}: its tree size keeps changing")

    # --- writes ------------------------------------------------------------------------------

    def add(self, request: bytes) -> dict[str, Any]:
        """Validate, verify and durably append a hashedrekord 0.0.2 request; the
        TransparencyLogEntry with an inclusion proof against a (cosigned) checkpoint."""
        try:
            doc = json.loads(request)
        except (ValueError, RecursionError) as exc:
            raise V2ApiError(400, "request body: not valid JSON") from exc
        try:
            entry = hashedrekord.parse_request(doc)
        except EntryFormatError as exc:
            raise V2ApiError(400, f"invalid hashedrekord request: {exc}") from exc
        body = entry.canonical_body()
        if len(body) > tiles.MAX_ENTRY_SIZE:
            raise V2ApiError(400, "entry larger than 65535 bytes")
        try:
            stored = self.store.append(body, integrated_time=0)
        except DuplicateEntryError as exc:
            index = str(exc.existing.index)
            raise V2ApiError(
                409,
                f"an equivalent entry already exists at index {index}",
                headers={"x-log-index": index},
                entry=self.entry(exc.existing),
            ) from exc
        return self.entry(stored)

    def cosigned_checkpoint(self, at_least: int = 0) -> checkpoints.Checkpoint:
        """:meth:`checkpoint`, a witness failure answered as 503: the entries stay committed,
        and a retry (a 409 with the entry) gets them once the witnesses cosign again."""
        try:
            return self.checkpoint(at_least)
        except NetworkError as exc:
            raise V2ApiError(503, f"checkpoint not cosigned: {exc}; retry") from exc

    def entry(self, stored: StoredEntry) -> dict[str, Any]:
        """The TransparencyLogEntry of ``stored`` against the latest checkpoint."""
        cp = self.cosigned_checkpoint(stored.index + 1)
        proof = self.store.inclusion_proof(stored.index, cp.size)
        return TransparencyLogEntry(
            log_index=stored.index,
            log_id=self.log_id,
            kind=hashedrekord.KIND,
            version=hashedrekord.API_VERSION,
            inclusion_proof=InclusionProof(
                log_index=stored.index,
                root_hash=cp.root_hash,
                tree_size=cp.size,
                hashes=tuple(proof),
                checkpoint=cp.text,
            ),
            canonicalized_body=stored.body,
        ).to_dict()

    # --- reads -------------------------------------------------------------------------------

    def tile(self, path: str) -> tuple[bytes, bool]:
        """The bytes of ``tile/<path>`` and whether they are final (a full tile)."""
        cached = self.cached_tile(path)
        if cached is not None:
            return cached, True
        try:
            ref = tiles.parse_tile_path(path)
        except UsageError as exc:
            raise V2ApiError(404, str(exc)) from exc
        size = self.store.size
        level = 0 if ref.level is None else ref.level
        if tiles.available_width(level, ref.index, size) < ref.width:
            raise V2ApiError(404, f"tile/{path[:80]}: not (yet) in the tree")
        start = ref.index * tiles.TILE_WIDTH
        if ref.level is None:
            data = tiles.encode_bundle(self.store.bodies(start, ref.width))
        else:
            data = b"".join(self.store.node_hashes(tiles.TILE_HEIGHT * ref.level, start, ref.width))
        if ref.full:
            with self._tile_lock:
                self._full_tiles[path] = data
                while len(self._full_tiles) > _TILE_CACHE:
                    self._full_tiles.popitem(last=False)
        return data, ref.full

    def cached_tile(self, path: str) -> bytes | None:
        """A full tile already read (no I/O: the HTTP layer answers it on the event loop)."""
        with self._tile_lock:
            data = self._full_tiles.get(path)
            if data is not None:
                self._full_tiles.move_to_end(path)
            return data


def _size_of(body: bytes) -> int:
    text = body.decode("ascii", "replace").strip()
    if not text.isdigit() or len(text) > 19:
        raise NetworkError("witness: 409 without a tree size")
    return int(text)


def _verified_lines(
    cp: checkpoints.Checkpoint, key: cosignature.WitnessKey, body: bytes
) -> list[checkpoints.NoteSignature]:
    """The witness's cosignature lines from an add-checkpoint response, each verified."""
    try:
        note = checkpoints.parse(cp.text + body.decode("utf-8"))
        ours = [s for s in note.signatures if s.name == key.name and s.key_hint == key.key_id]
        probe = replace(cp, signatures=tuple(ours))
        if not ours or not cosignature.count_cosignatures(probe, [key]):
            raise NetworkError(f"witness {key.name}: no valid cosignature in its response")
    except (AtlasError, UnicodeDecodeError) as exc:
        if isinstance(exc, NetworkError):
            raise
        raise NetworkError(f"witness {key.name}: malformed response ({exc})") from exc
    return ours

"""The Rekor v1 REST API over a :class:`~atlas_intoto.tlog.store.LogStore` (Starlette + uvicorn).

Routes (under ``/api/v1``), shaped as sigstore/rekor's OpenAPI spec and ``pkg/api`` handlers:

==========================================  ====================================================
``POST /log/entries``                       add an entry: 201 ``{entryID: LogEntry}`` with
                                            ``ETag`` and ``Location``; 409 + ``Location`` for a
                                            duplicate; 400 ``{code, message}`` for bad input
``GET  /log/entries/{entryUUID}``           by 64-hex UUID (leaf hash) or 80-hex entry ID
``GET  /log/entries?logIndex=N``            by index
``POST /log/entries/retrieve[/]``           by entryUUIDs / logIndexes / entries (max 10)
``GET  /log``                               tree size, root, signed checkpoint, tree ID
``GET  /log/proof?firstSize&lastSize``      consistency proof
``GET  /log/publicKey``                     the log's public key (PEM)
``POST /index/retrieve``                    search the index by hash / public key / email
==========================================  ====================================================

A LogEntry is ``{body, integratedTime, logID, logIndex, verification: {inclusionProof,
signedEntryTimestamp}}``; the SET is the log's ECDSA signature over the RFC 8785 JSON of
``{body, integratedTime, logID, logIndex}`` and the inclusion proof carries a signed checkpoint
(``<origin> - <treeID>``). An entry ID is the 16-hex tree ID followed by the leaf hash.

Request bodies above ``max_body`` bytes get 413; anything malformed gets a 4xx JSON error; an
entry with more signatures or verifiers than the kinds allow gets 400 (their checks cost CPU);
an append the storage cannot take gets 507 (full) or 503, logged as one line.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import logging
import re
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from atlas_intoto.errors import DuplicateEntryError, EntryFormatError, StoreError
from atlas_intoto.tlog import checkpoint as checkpoints
from atlas_intoto.tlog import kinds, merkle, serving
from atlas_intoto.tlog.ids import entry_id, split_entry_id
from atlas_intoto.tlog.store import LogStore, StoredEntry

if TYPE_CHECKING:
    from atlas_intoto.auth import Guard

__all__ = [
    "DEFAULT_MAX_BODY",
    "LogService",
    "create_app",
    "entry_id",
    "serve",
]

DEFAULT_MAX_BODY = 128 * 1024
#: Rekor's limit on the number of queries in one /log/entries/retrieve request.
MAX_SEARCH_QUERIES = 10
#: Proposed entries verified at once (the rest wait their turn, off the event loop).
PARSE_WORKERS = 2
_INDEX_HASH = re.compile(
    r"(?:sha512:)?[0-9a-fA-F]{128}|(?:sha256:)?[0-9a-fA-F]{64}|(?:sha1:)?[0-9a-fA-F]{40}"
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class ApiError(Exception):
    """An HTTP error answered as Rekor does: ``{"code": status, "message": ...}``."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def set_payload(entry: StoredEntry, log_id: str) -> bytes:
    """RFC 8785 JSON of ``{body, integratedTime, logID, logIndex}``.

    Every value is a base64 or hex string or a non-negative integer below 2**53, so these keys
    in sorted order without whitespace are already the canonical form (no string needs
    escaping, such integers print as JCS prints them). Writing it directly is several times
    faster than a general JCS encoder, which matters once per append;
    tests/tlog/test_server.py checks it against ``rfc8785``.
    """
    return (
        f'{{"body":"{_b64(entry.body)}","integratedTime":{int(entry.integrated_time)},'
        f'"logID":"{log_id}","logIndex":{int(entry.index)}}}'
    ).encode()


class LogService:
    """The log's API logic, independent of HTTP framing (blocking; call from worker threads)."""

    def __init__(
        self,
        store: LogStore,
        signer: ec.EllipticCurvePrivateKey,
        *,
        origin: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.signer = signer
        self.name = origin
        self.clock = clock
        self.tree_id = int(store.tree_id)
        public = signer.public_key()
        self.public_pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.log_id = checkpoints.log_id(public).hex()
        self.origin = checkpoints.origin_for(origin, self.tree_id)
        self._checkpoint_lock = threading.Lock()
        self._checkpoint: tuple[int, bytes, str] | None = None

    # --- checkpoints -----------------------------------------------------------------------

    def checkpoint(self, size: int) -> tuple[bytes, str]:
        """Root hash and signed checkpoint of the tree of ``size`` leaves (latest cached, since
        every response of a group commit shares it)."""
        with self._checkpoint_lock:
            cached = self._checkpoint
            if cached is not None and cached[0] == size:
                return cached[1], cached[2]
        root = self.store.root_hash(size)
        note = checkpoints.sign(
            checkpoints.Checkpoint(origin=self.origin, size=size, root_hash=root),
            key=self.signer,
            name=self.name,
        ).text
        # Only the latest note is kept: persisting one per size would cost an fsync per group
        # commit. Re-signing a size after a restart yields another valid note for the same root.
        with self._checkpoint_lock:
            if self._checkpoint is None or self._checkpoint[0] <= size:
                self._checkpoint = (size, root, note)
        return root, note

    # --- log entries -----------------------------------------------------------------------

    def signed_entry_timestamp(self, entry: StoredEntry) -> bytes:
        """The log's ECDSA signature over the RFC 8785 JSON of body, integratedTime, logID and
        logIndex (what Rekor signs and sigstore clients verify)."""
        return self.signer.sign(set_payload(entry, self.log_id), ec.ECDSA(hashes.SHA256()))

    def log_entry(self, entry: StoredEntry, *, size: int | None = None) -> dict[str, Any]:
        """``{entryID: LogEntry}`` with an inclusion proof against the tree of ``size``."""
        tree_size = max(self.store.size if size is None else size, entry.index + 1)
        root, note = self.checkpoint(tree_size)
        proof = self.store.inclusion_proof(entry.index, tree_size)
        return {
            entry_id(self.tree_id, entry.leaf_hash): {
                "body": _b64(entry.body),
                "integratedTime": entry.integrated_time,
                "logID": self.log_id,
                "logIndex": entry.index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": note,
                        "hashes": [h.hex() for h in proof],
                        "logIndex": entry.index,
                        "rootHash": root.hex(),
                        "treeSize": tree_size,
                    },
                    "signedEntryTimestamp": _b64(self.signed_entry_timestamp(entry)),
                },
            }
        }

    def add(self, proposed: bytes) -> tuple[str, dict[str, Any]]:
        """Validate, verify, canonicalise and durably append an entry (POST /log/entries)."""
        return self.append(self.parse(proposed))

    @staticmethod
    def parse(proposed: bytes) -> kinds.CanonicalEntry:
        """Validate, verify and canonicalise a proposed entry (pure CPU, no I/O)."""
        try:
            return kinds.parse_proposed_entry(proposed)
        except EntryFormatError as exc:
            raise ApiError(400, f"error processing entry: {exc}") from exc

    def append(self, entry: kinds.CanonicalEntry) -> tuple[str, dict[str, Any]]:
        """Durably append a canonical entry and answer with its LogEntry."""
        doc = self.log_entry(self.commit(entry))
        return next(iter(doc)), doc

    def commit(self, entry: kinds.CanonicalEntry) -> StoredEntry:
        """Durably append a canonical entry; blocks until committed (group commit)."""
        try:
            return self.store.append(
                entry.body, integrated_time=int(self.clock()), index_keys=entry.index_keys
            )
        except DuplicateEntryError as exc:
            existing = entry_id(self.tree_id, exc.existing.leaf_hash)
            raise ApiError(
                409,
                f"An equivalent entry already exists in the transparency log with UUID {existing}",
                headers={"Location": f"/api/v1/log/entries/{existing}"},
            ) from exc
        except StoreError as exc:
            raise storage_fault(exc) from exc

    def get_by_uuid(self, text: str) -> dict[str, Any]:
        """GET /log/entries/{entryUUID}: by UUID (64 hex) or entry ID (80 hex)."""
        leaf = self._leaf_hash_of(text)
        if leaf is None:
            raise ApiError(400, f"incorrectly formatted uuid {text[:100]}")
        record = self.store.get_by_leaf_hash(leaf)
        if record is None:
            raise ApiError(404, "log entry not found")
        return self.log_entry(record)

    def _leaf_hash_of(self, text: str) -> bytes | None:
        """The leaf hash named by a 64-hex UUID or 80-hex entry ID; None if malformed.
        An entry ID of another tree names nothing here (a 404, as for an unknown shard)."""
        # Our API has always accepted upper-case hex; non-ASCII text never names an entry.
        named = split_entry_id(text.lower()) if text.isascii() else None
        if named is None:
            return None
        tree, leaf = named
        if tree is not None and tree != self.tree_id:
            return b""
        return leaf

    def get_by_index(self, index: int) -> dict[str, Any]:
        # Out-of-range indices never reach SQLite (which cannot even bind integers >= 2**63).
        record = self.store.get_by_index(index) if 0 <= index < self.store.size else None
        if record is None:
            raise ApiError(404, f"log entry at index {index} not found")
        return self.log_entry(record)

    def retrieve(self, query: Any) -> list[dict[str, Any]]:
        """POST /log/entries/retrieve: entries by UUID, by index or by (proposed) content."""
        if not isinstance(query, dict):
            raise ApiError(400, "request body: expected a JSON object")
        uuids = _list_field(query, "entryUUIDs")
        indexes = _list_field(query, "logIndexes")
        proposed = _list_field(query, "entries")
        if len(uuids) + len(indexes) + len(proposed) > MAX_SEARCH_QUERIES:
            raise ApiError(422, f"maximum number of search queries ({MAX_SEARCH_QUERIES}) exceeded")
        found: list[dict[str, Any]] = []
        leaves: list[bytes] = []
        for value in uuids:
            if not isinstance(value, str):
                raise ApiError(400, "entryUUIDs: expected strings")
            leaf = self._leaf_hash_of(value)
            if leaf is None:
                raise ApiError(400, f"invalid uuid {value[:100]}")
            leaves.append(leaf)
        for i, value in enumerate(proposed):
            try:
                entry = kinds.canonical_entry(value, for_insert=False)
            except EntryFormatError as exc:
                raise ApiError(400, f"entries[{i}]: {exc}") from exc
            leaves.append(merkle.leaf_hash(entry.body))
        for leaf in leaves:
            record = self.store.get_by_leaf_hash(leaf) if leaf else None
            if record is not None:
                found.append(self.log_entry(record))
        for value in indexes:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ApiError(400, "logIndexes: expected non-negative integers")
            record = self.store.get_by_index(value) if value < self.store.size else None
            if record is not None:
                found.append(self.log_entry(record))
        return found

    # --- the tree ----------------------------------------------------------------------------

    def log_info(self) -> dict[str, Any]:
        size = self.store.size
        root, note = self.checkpoint(size)
        return {
            "rootHash": root.hex(),
            "signedTreeHead": note,
            "treeID": str(self.tree_id),
            "treeSize": size,
        }

    def consistency(self, first: int, last: int) -> dict[str, Any]:
        size = self.store.size
        if first < 1 or last < 1:
            raise ApiError(400, "firstSize and lastSize must be at least 1")
        if first > last:
            raise ApiError(
                400, f"firstSize({first}) must be less than or equal to lastSize({last})"
            )
        if last > size:
            raise ApiError(400, f"lastSize({last}) is greater than the tree size ({size})")
        proof = self.store.consistency_proof(first, last)
        return {"hashes": [h.hex() for h in proof], "rootHash": self.store.root_hash(last).hex()}

    def search_index(self, query: Any) -> list[str]:
        """POST /index/retrieve: entry IDs by artifact hash, public key or email."""
        if not isinstance(query, dict):
            raise ApiError(400, "request body: expected a JSON object")
        lookups: list[list[str]] = []
        if query.get("hash"):
            value = query["hash"]
            if not isinstance(value, str) or not _INDEX_HASH.fullmatch(value):
                raise ApiError(400, "hash: expected [sha256:|sha1:|sha512:]<hex>")
            value = value.lower()
            if ":" not in value:
                value = {40: "sha1:", 64: "sha256:", 128: "sha512:"}[len(value)] + value
            lookups.append([value])
        if query.get("publicKey") is not None:
            lookups.append(self._key_lookups(query["publicKey"]))
        if query.get("email"):
            email = query["email"]
            if not isinstance(email, str) or not _EMAIL.fullmatch(email):
                raise ApiError(400, "email: not an email address")
            lookups.append([email.lower()])
        operator = query.get("operator") or "or"
        if operator not in ("and", "or"):
            raise ApiError(400, "operator: must be 'and' or 'or'")
        results: list[list[str]] = []
        for keys in lookups:
            ids: dict[str, None] = {}
            for key in keys:
                for leaf_hex in self.store.search(key):
                    ids[entry_id(self.tree_id, bytes.fromhex(leaf_hex))] = None
            results.append(list(ids))
        if not results:
            return []
        if operator == "and":
            common = set(results[0]).intersection(*results[1:])
            return [i for i in results[0] if i in common]
        merged: dict[str, None] = {}
        for ids_list in results:
            merged.update(dict.fromkeys(ids_list))
        return list(merged)

    def _key_lookups(self, value: Any) -> list[str]:
        if not isinstance(value, dict):
            raise ApiError(400, "publicKey: expected an object")
        if value.get("format") != "x509":
            raise ApiError(400, "publicKey.format: only x509 is supported by this log")
        if value.get("url"):
            raise ApiError(400, "publicKey.url: fetching keys by URL is not supported")
        content = value.get("content")
        if not isinstance(content, str):
            raise ApiError(400, "publicKey.content: expected base64")
        try:
            raw = base64.b64decode(content, validate=True)
            verifier = kinds.load_verifier(raw, field="publicKey.content")
        except (ValueError, EntryFormatError) as exc:
            raise ApiError(400, f"publicKey: malformed public key ({exc})") from exc
        digest = hashlib.sha256(verifier.canonical_pem).hexdigest()
        # Rekor looks up the bare hex digest, which hashedrekord entries index; dsse and intoto
        # index "sha256:<hex>" of the same canonical key, so look that up as well.
        return [digest, "sha256:" + digest]


_log = logging.getLogger("atlas_intoto.tlog.server")


def _storage_full(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if isinstance(seen, sqlite3.OperationalError) and "full" in str(seen):
            return True
        seen = seen.__cause__
    return False


def storage_fault(exc: StoreError) -> ApiError:
    """The answer to an append the store could not commit: 507 when the storage is full (the
    client may retry once space is freed; appends resume by themselves), else 503. Logged as
    one line, never a traceback: a full disk fails every append until it is fixed."""
    if _storage_full(exc):
        _log.error("append refused: log storage is full (%s)", " ".join(str(exc).split()))
        return ApiError(507, "log storage is full: the entry was not appended; retry later")
    _log.error("append failed: %s", " ".join(str(exc).split()))
    return ApiError(503, "log storage unavailable: the entry was not appended; retry later")


def _list_field(query: Mapping[str, Any], name: str) -> list[Any]:
    value = query.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, f"{name}: expected an array")
    return value


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": status, "message": message}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise ApiError(413, f"request body larger than {limit} bytes")
        except ValueError as exc:
            raise ApiError(400, "invalid Content-Length") from exc
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise ApiError(413, f"request body larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise ApiError(400, "client disconnected") from exc
    return b"".join(chunks)


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # ValueError: also huge integers
        raise ApiError(400, "request body: not valid JSON") from exc


def _int_param(request: Request, name: str, *, default: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        if default is None:
            raise ApiError(400, f"query parameter {name} is required")
        return default
    if not re.fullmatch(r"-?[0-9]{1,19}", raw):
        raise ApiError(400, f"query parameter {name}: expected an integer")
    return int(raw)


Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    store: LogStore,
    signer: ec.EllipticCurvePrivateKey,
    origin: str,
    max_body: int = DEFAULT_MAX_BODY,
    *,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The Starlette application serving the Rekor v1 API for ``store``."""
    service = LogService(store, signer, origin=origin, clock=clock)

    def guarded(fn: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                return await fn(request)
            except ApiError as exc:
                return _error(exc.status, exc.message, exc.headers)

        return handler

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args)

    writers: list[anyio.CapacityLimiter] = []

    async def parse(body: bytes) -> kinds.CanonicalEntry:
        # Signature checks run off the event loop, and at most PARSE_WORKERS at a time: reads
        # keep being answered while writes are flooded (each write's CPU is bounded by the
        # kinds' caps on signatures and verifiers).
        if not writers:
            writers.append(anyio.CapacityLimiter(PARSE_WORKERS))
        entry: kinds.CanonicalEntry = await anyio.to_thread.run_sync(
            service.parse, body, limiter=writers[0]
        )
        return entry

    async def create_entry(request: Request) -> Response:
        body = await _read_body(request, max_body)
        entry = await parse(body)
        # Only the wait for the durable commit leaves the event loop; the answer (a few
        # indexed reads and one signature) is cheaper than a second thread hop.
        doc = service.log_entry(await run(service.commit, entry))
        uuid = next(iter(doc))
        location = f"{request.url.path.rstrip('/')}/{uuid}"
        return JSONResponse(doc, status_code=201, headers={"ETag": uuid, "Location": location})

    async def get_entry(request: Request) -> Response:
        return JSONResponse(await run(service.get_by_uuid, request.path_params["uuid"]))

    async def get_entry_by_index(request: Request) -> Response:
        index = _int_param(request, "logIndex")
        return JSONResponse(await run(service.get_by_index, index))

    async def retrieve(request: Request) -> Response:
        query = _json(await _read_body(request, max_body))
        return JSONResponse(await run(service.retrieve, query))

    async def log_info(request: Request) -> Response:
        return JSONResponse(await run(service.log_info))

    async def proof(request: Request) -> Response:
        first = _int_param(request, "firstSize", default=1)
        last = _int_param(request, "lastSize")
        return JSONResponse(await run(service.consistency, first, last))

    async def public_key(request: Request) -> Response:
        return Response(service.public_pem, media_type="application/x-pem-file")

    async def search_index(request: Request) -> Response:
        query = _json(await _read_body(request, max_body))
        return JSONResponse(await run(service.search_index, query))

    async def entries_root(request: Request) -> Response:
        if request.method == "POST":
            return await create_entry(request)
        return await get_entry_by_index(request)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, exc.detail, exc.headers)

    async def internal_error(request: Request, exc: Exception) -> Response:
        return _error(500, "internal error")

    api = "/api/v1"
    routes = [
        Route(f"{api}/log/entries", guarded(entries_root), methods=["GET", "POST"]),
        Route(f"{api}/log/entries/retrieve", guarded(retrieve), methods=["POST"]),
        Route(f"{api}/log/entries/retrieve/", guarded(retrieve), methods=["POST"]),
        Route(f"{api}/log/entries/{{uuid}}", guarded(get_entry), methods=["GET"]),
        Route(f"{api}/log", guarded(log_info), methods=["GET"]),
        Route(f"{api}/log/proof", guarded(proof), methods=["GET"]),
        Route(f"{api}/log/publicKey", guarded(public_key), methods=["GET"]),
        Route(f"{api}/index/retrieve", guarded(search_index), methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.state.service = service
    return app


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def serve(
    *,
    db: Path,
    signer: ec.EllipticCurvePrivateKey,
    origin: str,
    host: str = "127.0.0.1",
    port: int = 3000,
    max_body: int = DEFAULT_MAX_BODY,
    sock: socket.socket | None = None,
    guard: Guard | None = None,
) -> None:
    """Open the store at ``db`` and serve the API until interrupted; on ``sock`` (already bound
    and listening, so the caller can report bind errors itself) instead of ``host:port``;
    behind ``guard`` (an auth config: :func:`atlas_intoto.auth.protect`) when given."""
    # The event loop shares the GIL with the store's committer and the commit-wait threads;
    # the default 5 ms switch interval would add up to 5 ms to every hand-over.
    sys.setswitchinterval(0.0005)
    store = LogStore(db)
    try:
        app: Any = create_app(store, signer, origin, max_body)
        if guard is not None:
            from atlas_intoto.auth import protect

            app = protect(app, guard)
        serving.serve_foreground(app, sock if sock is not None else serving.listen(host, port))
    finally:
        store.close()

"""A persistent cache of *successful* verifications, keyed by content digests and trust anchors.

Each entry's key is SHA-256 over the sorted-key JSON of ``{"kind", "v", **inputs}`` where
``inputs`` holds the digests of every byte string the check read *and* of every trust anchor it
used (pinned keys, roots, policy, reference time). A different anchor yields a different key, so
a result is never reused under other anchors. Failures are never cached: a failing check always
runs again and reports its reason.

Entries live in one SQLite file, ``atlas_home()/cache/verify/cache.sqlite3`` (WAL, so the
processes of a batch or of the verification service share it); new entries are written in one
transaction per verified bundle (:meth:`VerifyCache.flush`). Deleting the directory only costs
time; a damaged or unwritable cache degrades to memory only and never fails a verification.

Concurrency: one :class:`VerifyCache` may be used by many threads at once (the service's worker
threads). The memory layer is shared under a lock and bounded; each thread (and each process,
after a fork) opens its own SQLite connection, because a connection must not cross either.
:meth:`VerifyCache.session` gives one verification its own hit counter and pending writes over
the same shared layers, so concurrent verifications never count each other's hits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CACHE_VERSION = 2
DB_NAME = "cache.sqlite3"
#: Entries kept in the memory layer (least recently used dropped first); the file keeps all.
MEMORY_ENTRIES = 200_000


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_digest(value: Any) -> str:
    """Digest of a JSON value for cache keys: sorted keys, no whitespace (deterministic and
    injective for JSON data, and C-accelerated unlike RFC 8785, which signatures need)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # JSON may carry lone surrogates ("\ud800"): encode them (injectively) instead of crashing.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def default_cache_dir() -> Path:
    """``atlas_home()/cache/verify``."""
    from atlas_intoto.home import atlas_home

    return atlas_home() / "cache" / "verify"


class _SharedStore:
    """The layers every view of one cache shares: a bounded memory map, process-local objects
    and per-thread SQLite connections to one file."""

    def __init__(self, directory: Path | None, memory_entries: int) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        self.memory: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.memory_entries = memory_entries
        self.objects: dict[str, Any] = {}
        self.failed = directory is None
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []

    def remember(self, key: str, value: dict[str, Any]) -> None:
        with self.lock:
            self.memory[key] = value
            self.memory.move_to_end(key)
            while len(self.memory) > self.memory_entries:
                self.memory.popitem(last=False)

    def recall(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            value = self.memory.get(key)
            if value is not None:
                self.memory.move_to_end(key)
            return value

    def connection(self) -> sqlite3.Connection | None:
        """This thread's connection (opened on first use), or None when the file is unusable."""
        if self.failed:
            return None
        local = self._local
        # A connection opened before a fork belongs to the parent: open a new one.
        if getattr(local, "pid", None) == os.getpid():
            db: sqlite3.Connection = local.db
            return db
        assert self.directory is not None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.directory / DB_NAME,
                timeout=30,
                isolation_level=None,
                check_same_thread=False,
            )
            db.execute("PRAGMA journal_mode=WAL")
            # Losing the last entries in a crash only costs time: no fsync per transaction.
            db.execute("PRAGMA synchronous=OFF")
            db.execute(
                "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, kind TEXT, value TEXT)"
            )
        except (OSError, sqlite3.Error):
            self.failed = True
            return None
        local.db, local.pid = db, os.getpid()
        with self.lock:
            self._connections.append(db)
        return db

    def load(self, key: str) -> dict[str, Any] | None:
        db = self.connection()
        if db is None:
            return None
        # A damaged entry or database is a miss: the check simply runs again.
        with contextlib.suppress(sqlite3.Error, ValueError):
            row = db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
            loaded = json.loads(row[0]) if row is not None else None
            if isinstance(loaded, dict):
                self.remember(key, loaded)
                return loaded
        return None

    def store(self, pending: Mapping[str, tuple[str, str]]) -> None:
        db = self.connection()
        if db is None:
            return
        with contextlib.suppress(sqlite3.Error):
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO entries (key, kind, value) VALUES (?, ?, ?)",
                    [(key, kind, value) for key, (kind, value) in pending.items()],
                )
                db.execute("COMMIT")
            except sqlite3.Error:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self.lock:
            connections, self._connections = self._connections, []
        for db in connections:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        self._local = threading.local()


class VerifyCache:
    """Memory layer in front of an optional SQLite file (``None``: memory only).

    Safe to share between threads; :meth:`session` gives each verification its own counters.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        memory_entries: int = MEMORY_ENTRIES,
        _store: _SharedStore | None = None,
        _parent: VerifyCache | None = None,
    ) -> None:
        self._store = _store if _store is not None else _SharedStore(directory, memory_entries)
        #: the cache a session was taken from: it also counts the session's hits (totals)
        self._parent = _parent
        self.directory = self._store.directory
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, str]] = {}
        self.hits = 0
        self.misses = 0

    @property
    def objects(self) -> dict[str, Any]:
        """Process-local results that are not JSON (e.g. the parsed, verified layout); shared
        by every session. Values must be immutable: threads read them concurrently."""
        return self._store.objects

    @classmethod
    def default(cls) -> VerifyCache:
        return cls(default_cache_dir())

    def session(self) -> VerifyCache:
        """A view over the same layers with its own hit/miss counts and pending writes (one
        per verification: concurrent verifications do not see each other's counts; this
        cache's counters keep the totals)."""
        return VerifyCache(_store=self._store, _parent=self)

    @staticmethod
    def key(kind: str, inputs: Mapping[str, Any]) -> str:
        return json_digest({"kind": kind, "v": CACHE_VERSION, **inputs})

    def _count(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1
        if self._parent is not None:
            self._parent._count(hit)

    def get(self, kind: str, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
        """The cached result for ``kind`` and ``inputs`` (memory, then the file), or None."""
        key = self.key(kind, inputs)
        value = self._store.recall(key)
        if value is None:
            value = self._store.load(key)
        self._count(value is not None)
        return value

    def put(self, kind: str, inputs: Mapping[str, Any], value: Mapping[str, Any]) -> None:
        """Remember a successful result: in memory now, in the file at :meth:`flush`."""
        key = self.key(kind, inputs)
        self._store.remember(key, dict(value))
        if not self._store.failed:
            with self._lock:
                self._pending[key] = (kind, json.dumps(value))

    def flush(self) -> None:
        """Write new entries in one transaction; errors leave them in memory only."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if pending:
            self._store.store(pending)

    def close(self) -> None:
        """Flush and close every connection of the shared store (all sessions' too)."""
        self.flush()
        self._store.close()

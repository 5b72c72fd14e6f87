"""A persistent cache of *successful* verifications, keyed by content digests and trust anchors.

Each entry's key is SHA-256 over the RFC 8785 canonical JSON of ``{"kind", "v", **inputs}`` where
``inputs`` holds the digests of every byte string the check read *and* of every trust anchor it
used (pinned keys, roots, policy, reference time). A different anchor yields a different key, so
a result is never reused under other anchors. Failures are never cached: a failing check always
runs again and reports its reason.

Entries live in one SQLite file, ``atlas_home()/cache/verify/cache.sqlite3`` (WAL, so the
processes of a batch share it); new entries are written in one transaction per verified bundle
(:meth:`VerifyCache.flush`). Deleting the directory only costs time; a damaged or unwritable
cache degrades to memory only and never fails a verification.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CACHE_VERSION = 2
DB_NAME = "cache.sqlite3"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_digest(value: Any) -> str:
    """Digest of a JSON value for cache keys: sorted keys, no whitespace (deterministic and
    injective for JSON data, and C-accelerated unlike RFC 8785, which signatures need)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # JSON may carry lone surrogates ("\ud800"): encode them (injectively) instead of crashing.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def default_cache_dir() -> Path:
    from atlas_intoto.home import atlas_home

    return atlas_home() / "cache" / "verify"


class VerifyCache:
    """Memory layer in front of an optional SQLite file (``None``: memory only)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._memory: dict[str, dict[str, Any]] = {}
        #: process-local results that are not JSON (e.g. the parsed, verified layout)
        self.objects: dict[str, Any] = {}
        self._pending: dict[str, tuple[str, str]] = {}
        self._db: sqlite3.Connection | None = None
        self._db_failed = directory is None
        self.hits = 0
        self.misses = 0

    @classmethod
    def default(cls) -> VerifyCache:
        return cls(default_cache_dir())

    @staticmethod
    def key(kind: str, inputs: Mapping[str, Any]) -> str:
        return json_digest({"kind": kind, "v": CACHE_VERSION, **inputs})

    def _connection(self) -> sqlite3.Connection | None:
        if self._db is not None or self._db_failed:
            return self._db
        assert self.directory is not None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.directory / DB_NAME, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # Losing the last entries in a crash only costs time: no fsync per transaction.
            db.execute("PRAGMA synchronous=OFF")
            db.execute(
                "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, kind TEXT, value TEXT)"
            )
        except (OSError, sqlite3.Error):
            self._db_failed = True
            return None
        self._db = db
        return db

    def get(self, kind: str, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
        key = self.key(kind, inputs)
        value = self._memory.get(key)
        if value is None:
            db = self._connection()
            if db is not None:
                # A damaged entry or database is a miss: the check simply runs again.
                with contextlib.suppress(sqlite3.Error, ValueError):
                    row = db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
                    loaded = json.loads(row[0]) if row is not None else None
                    if isinstance(loaded, dict):
                        value = loaded
                        self._memory[key] = loaded
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, kind: str, inputs: Mapping[str, Any], value: Mapping[str, Any]) -> None:
        key = self.key(kind, inputs)
        self._memory[key] = dict(value)
        if not self._db_failed:
            self._pending[key] = (kind, json.dumps(value))

    def flush(self) -> None:
        """Write new entries in one transaction; errors leave them in memory only."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        db = self._connection()
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
        self.flush()
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

"""The digest cache: digests of files already measured on this machine since their last change.

A pipeline's steps measure their materials, which are the previous step's products, so without a
cache every byte of a dataset is hashed once per step. The cache keeps, per file and algorithm,
the digest together with everything that changes whenever the content can change: device,
inode, size, and modification and change times in nanoseconds. A lookup hits only when all of
them are equal, so any change of the key misses.

Why this is safe: the change time (ctime) cannot be set by a process (``utime`` restores mtime
but sets ctime to now), and a write, truncate, or rename over the file changes it or the inode.
Two gaps remain and are closed where the digest is computed (:mod:`atlas_intoto.measure`): a
file changed while it is read (the key is taken before and after reading, and a file whose key
moved is hashed again or refused), and a file changed again within the file system's timestamp
granularity of the change we keyed on (an entry is stored only when the file's ctime is older
than that granularity at the moment reading began — git's "racy clean" rule).

The cache trusts the file system's ctime as the kernel keeps it: on a file system where a client
can set it (some FUSE and network file systems), or where clocks of several writers disagree,
turn it off. The cache is an SQLite database under :func:`atlas_intoto.home.atlas_home` (WAL mode, so
concurrent processes share it). It is an accelerator, never evidence: a database that cannot be
opened, is locked for too long or is corrupt is set aside and measurement reads the files, and
verification never reads it. ``ATLAS_INTOTO_DIGEST_CACHE=0`` (or ``off``/``false``/``no``)
turns it off, as ``--no-digest-cache`` does per command.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from atlas_intoto.home import atlas_home

__all__ = ["CACHE_ENV", "CACHE_FILE", "DigestCache", "FileKey", "cache_enabled", "default_cache"]

CACHE_ENV = "ATLAS_INTOTO_DIGEST_CACHE"
CACHE_FILE = "digest-cache.sqlite3"
_OFF = frozenset({"0", "off", "false", "no"})
_SCHEMA_VERSION = 1
#: Entries beyond this are pruned, oldest first (files deleted long ago leave rows behind).
MAX_ENTRIES = 2_000_000
_BUSY_TIMEOUT_MS = 5000
_HEX64 = re.compile(r"[0-9a-f]{64}")

_log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class FileKey:
    """What identifies a file's content on this machine: changes whenever the content can."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        """The key of a ``stat``/``fstat`` result."""
        return cls(
            dev=st.st_dev,
            ino=st.st_ino,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            ctime_ns=st.st_ctime_ns,
        )

    def row(self) -> tuple[int, int, int, int, int]:
        # SQLite integers are signed 64-bit; device and inode numbers are unsigned.
        return (_signed(self.dev), _signed(self.ino), self.size, self.mtime_ns, self.ctime_ns)


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def cache_enabled() -> bool:
    """Whether the environment allows the cache (``ATLAS_INTOTO_DIGEST_CACHE``)."""
    return os.environ.get(CACHE_ENV, "").strip().lower() not in _OFF


def default_cache(*, enabled: bool = True) -> DigestCache | None:
    """The user's cache under the state directory, or None when turned off."""
    if not enabled or not cache_enabled():
        return None
    return DigestCache(atlas_home() / CACHE_FILE)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS digests (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, algorithm TEXT NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL, stored_at INTEGER NOT NULL,
    PRIMARY KEY (dev, ino, algorithm)
) WITHOUT ROWID
"""
_LOOKUP = (
    "SELECT digest FROM digests WHERE dev = ? AND ino = ? AND algorithm = ? "
    "AND size = ? AND mtime_ns = ? AND ctime_ns = ?"
)
_STORE = (
    "INSERT OR REPLACE INTO digests "
    "(dev, ino, algorithm, size, mtime_ns, ctime_ns, digest, stored_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class DigestCache:
    """A file digest cache in one SQLite file; used from the thread that opened it.

    Every failure is absorbed: a lookup that cannot be answered is a miss, a store that cannot
    be written is skipped, and a corrupt database is moved aside (``*.corrupt``) and started
    afresh. One entry per (device, inode, algorithm): re-measuring a changed file replaces it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._broken = False

    # -- connection -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is not None or self._broken:
            return self._conn
        try:
            self._conn = self._open()
        except sqlite3.OperationalError as exc:
            # Unwritable home, locked schema change, ...: run without the cache this time.
            self._give_up(exc)
        except sqlite3.DatabaseError as exc:
            self._set_aside(exc)
            try:
                self._conn = self._open()
            except sqlite3.DatabaseError as again:
                self._give_up(again)
        except OSError as exc:
            self._give_up(exc)
        return self._conn

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            # Created private before SQLite opens it: digests reveal what the user measured.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"unknown schema version {version}")
            with contextlib.suppress(sqlite3.OperationalError):
                # WAL lets readers and one writer from different processes work at once; where
                # the file system cannot do WAL (some network file systems) the default stays.
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if version == 0:
                conn.execute(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            conn.execute("SELECT count(*) FROM digests WHERE 0").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def _set_aside(self, exc: BaseException) -> None:
        _log.warning("%s: digest cache unreadable (%s); starting a new one", self.path, exc)
        self.close()
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")
        with contextlib.suppress(OSError):
            os.replace(self.path, f"{self.path}.corrupt")

    def _give_up(self, exc: BaseException) -> None:
        _log.warning("%s: digest cache not used (%s)", self.path, exc)
        self.close()
        self._broken = True

    def _fail(self, exc: sqlite3.Error) -> None:
        if isinstance(exc, sqlite3.OperationalError):
            self._give_up(exc)  # locked for too long, disk full, read-only: this run only
        else:
            self._set_aside(exc)
            self._broken = True

    def close(self) -> None:
        """Close the connection (the next use reopens it)."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> DigestCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookups and stores ---------------------------------------------------------------------

    def lookup(
        self, keys: Mapping[str, FileKey], algorithms: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        """Digests known for ``keys`` (name → key): name → {algorithm: hex}, only for names
        whose every algorithm is cached."""
        conn = self._connect()
        if conn is None or not keys:
            return {}
        found: dict[str, dict[str, str]] = {}
        try:
            for name, key in keys.items():
                dev, ino, size, mtime, ctime = key.row()
                digests = {}
                for algorithm in algorithms:
                    row = conn.execute(_LOOKUP, (dev, ino, algorithm, size, mtime, ctime))
                    hit = row.fetchone()
                    if hit is None or not isinstance(hit[0], str) or not _HEX64.fullmatch(hit[0]):
                        break
                    digests[algorithm] = hit[0]
                else:
                    found[name] = digests
        except sqlite3.Error as exc:
            self._fail(exc)
            return {}
        return found

    def store(self, entries: Iterable[tuple[FileKey, Mapping[str, str]]]) -> None:
        """Remember digests ({algorithm: hex}) of files with the given keys."""
        rows = [
            (*key.row()[:2], algorithm, *key.row()[2:], digest, time.time_ns())
            for key, digests in entries
            for algorithm, digest in digests.items()
        ]
        conn = self._connect() if rows else None
        if conn is None:
            return
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_STORE, rows)
            self._prune(conn)
        except sqlite3.Error as exc:
            self._fail(exc)

    @staticmethod
    def _prune(conn: sqlite3.Connection) -> None:
        (count,) = conn.execute("SELECT count(*) FROM digests").fetchone()
        if count > MAX_ENTRIES:
            excess = count - MAX_ENTRIES * 9 // 10
            conn.execute(
                "DELETE FROM digests WHERE (dev, ino, algorithm) IN (SELECT dev, ino, algorithm "
                "FROM digests ORDER BY stored_at LIMIT ?)",
                (excess,),
            )

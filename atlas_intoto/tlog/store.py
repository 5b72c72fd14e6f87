"""The log's storage: SQLite in WAL mode, durable group commit, stored Merkle subtrees.

Durability. ``journal_mode=WAL`` with ``synchronous=FULL``: every commit fsyncs the WAL before
:meth:`LogStore.append` returns, so an acknowledged entry survives a crash of the process *and*
of the machine. (``NORMAL`` would only survive a process crash: WAL frames not yet synced can be
lost on power failure, and a transparency log must never lose an entry it has promised.)

Group commit. One committer thread owns the only write connection. Appenders enqueue their
entries and block; the committer drains the queue, assigns consecutive indices, writes every
queued entry and the tree nodes they complete in one transaction, fsyncs once, and then wakes
all of them. Indices are assigned only inside that transaction, so a failed commit leaves no gap.

Tree. Every *complete* subtree hash is stored once, keyed by its node id ``(level, index)``
(level 0: the entries' leaf hashes; levels >= 1: table ``nodes``). They are computed
incrementally: the committer keeps the right border of the tree (at most 64 hashes) in memory.
A root, inclusion or consistency proof for any size up to the current one needs O(log n) of
these immutable hashes (:mod:`atlas_intoto.tlog.merkle` says which and folds the ragged right
edge), read in two indexed queries.
"""

from __future__ import annotations

import queue
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_intoto.errors import DuplicateEntryError, StoreError, UsageError
from atlas_intoto.tlog import merkle

__all__ = [
    "DuplicateEntryError",
    "LogStore",
    "NewEntry",
    "StoreError",
    "StoredEntry",
]

_SCHEMA_VERSION = 1
#: Upper bound of entries per transaction: bounds the latency of the first waiter.
_MAX_BATCH = 4096
_LEVEL_SHIFT = 56


@dataclass(frozen=True, kw_only=True)
class StoredEntry:
    """One committed log entry."""

    index: int
    leaf_hash: bytes
    body: bytes
    integrated_time: int
    tree_id: int

    @property
    def entry_id(self) -> str:
        """Rekor's entry ID (80 hex): the tree id and the leaf hash (:func:`tlog.ids.entry_id`)."""
        from atlas_intoto.tlog.ids import entry_id

        return entry_id(self.tree_id, self.leaf_hash)


@dataclass(frozen=True, kw_only=True)
class NewEntry:
    """An entry to append (for :meth:`LogStore.append_many`)."""

    body: bytes
    integrated_time: int
    index_keys: tuple[str, ...] = ()


def _node_key(level: int, index: int) -> int:
    # One integer key per node: each level is a contiguous range, so appends stay local.
    return (level << _LEVEL_SHIFT) | index


@dataclass
class _Request:
    entries: list[NewEntry]
    done: threading.Event = field(default_factory=threading.Event)
    results: list[StoredEntry | DuplicateEntryError] = field(default_factory=list)
    error: BaseException | None = None


_STOP = object()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL UNIQUE,
    body BLOB NOT NULL,
    integrated_time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS index_keys (
    key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (key, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, text TEXT NOT NULL);
"""


class LogStore:
    """A durable append-only Merkle log in one SQLite file. Thread-safe.

    ``tree_id`` is fixed when the database is created (random 63-bit unless given) and
    persisted; opening an existing database with a different ``tree_id`` is an error.
    """

    def __init__(self, path: Path | str, *, tree_id: int | None = None) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        try:
            self._writer = self._connect()
            self._writer.executescript(_SCHEMA)
            self._tree_id = self._init_meta(tree_id)
            self._size = self._check_and_count()
            self._frontier = self._load_frontier(self._writer, self._size)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open log database ({exc})") from exc
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(
            target=self._commit_loop, name="tlog-committer", daemon=True
        )
        self._thread.start()

    # ----------------------------------------------------------------------------------------
    # Connections and setup
    # ----------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"{self.path}: log store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot open log database ({exc})") from exc
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _init_meta(self, tree_id: int | None) -> int:
        w = self._writer
        rows = dict(w.execute("SELECT key, value FROM meta").fetchall())
        if not rows:
            tid = tree_id if tree_id is not None else secrets.randbits(63)
            if not 0 <= tid < 1 << 63:
                raise UsageError(f"tree id {tid} is not a 63-bit unsigned integer")
            w.execute("BEGIN IMMEDIATE")
            w.execute(
                "INSERT INTO meta VALUES ('schema', ?), ('tree_id', ?)", (_SCHEMA_VERSION, tid)
            )
            w.execute("COMMIT")
            return tid
        if rows.get("schema") != _SCHEMA_VERSION:
            raise StoreError(f"{self.path}: unsupported log schema {rows.get('schema')!r}")
        stored = int(rows["tree_id"])
        if tree_id is not None and tree_id != stored:
            raise UsageError(f"{self.path}: database has tree id {stored}, not {tree_id}")
        return stored

    def _check_and_count(self) -> int:
        count, top = self._writer.execute("SELECT count(*), max(idx) FROM entries").fetchone()
        if count and top != count - 1:
            raise StoreError(f"{self.path}: entries table has gaps ({count} rows, max {top})")
        return int(count)

    @staticmethod
    def _fetch(conn: sqlite3.Connection, ids: Sequence[merkle.NodeId]) -> list[bytes]:
        leaves = [n.index for n in ids if n.level == 0]
        inner = [_node_key(n.level, n.index) for n in ids if n.level > 0]
        found: dict[tuple[int, int], bytes] = {}
        if leaves:
            q = f"SELECT idx, leaf_hash FROM entries WHERE idx IN ({','.join('?' * len(leaves))})"
            for idx, h in conn.execute(q, leaves):
                found[(0, idx)] = h
        if inner:
            q = f"SELECT id, hash FROM nodes WHERE id IN ({','.join('?' * len(inner))})"
            mask = (1 << _LEVEL_SHIFT) - 1
            for key, h in conn.execute(q, inner):
                found[(key >> _LEVEL_SHIFT, key & mask)] = h
        try:
            return [found[(n.level, n.index)] for n in ids]
        except KeyError as exc:
            raise StoreError(f"log database lacks tree node {exc.args[0]}") from exc

    def _load_frontier(self, conn: sqlite3.Connection, size: int) -> list[tuple[int, bytes]]:
        ids = merkle.range_node_ids(0, size)
        return [(n.level, h) for n, h in zip(ids, self._fetch(conn, ids), strict=True)]

    # ----------------------------------------------------------------------------------------
    # Appending (group commit)
    # ----------------------------------------------------------------------------------------

    def append(
        self, body: bytes, *, integrated_time: int, index_keys: Iterable[str] = ()
    ) -> StoredEntry:
        """Append one entry; returns once it is durably committed.

        Raises :class:`DuplicateEntryError` (carrying the stored entry) if an entry with the
        same leaf hash exists, :class:`StoreError` if the commit fails.
        """
        result = self._submit(
            [NewEntry(body=body, integrated_time=integrated_time, index_keys=tuple(index_keys))]
        )[0]
        if isinstance(result, DuplicateEntryError):
            raise result
        return result

    def append_many(self, entries: Sequence[NewEntry]) -> list[StoredEntry | DuplicateEntryError]:
        """Append entries in order, committed together (bulk loading); duplicates are reported
        in place rather than raised."""
        return self._submit(list(entries)) if entries else []

    def _submit(self, entries: list[NewEntry]) -> list[StoredEntry | DuplicateEntryError]:
        if self._closed:
            raise StoreError(f"{self.path}: log store is closed")
        req = _Request(entries=entries)
        self._queue.put(req)
        req.done.wait()
        if req.error is not None:
            raise StoreError(f"{self.path}: append failed ({req.error})") from req.error
        return req.results

    def _commit_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Request] = [first]
            pending = len(first.entries)
            stop = False
            while pending < _MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
                pending += len(nxt.entries)
            self._commit(batch)
            for req in batch:
                req.done.set()
            if stop:
                return

    def _commit(self, batch: list[_Request]) -> None:
        w = self._writer
        size, frontier = self._size, list(self._frontier)
        entry_rows: list[tuple[int, bytes, bytes, int]] = []
        node_rows: list[tuple[int, bytes]] = []
        key_rows: list[tuple[str, int]] = []
        new_in_batch: dict[bytes, StoredEntry] = {}
        outcomes: list[list[StoredEntry | DuplicateEntryError]] = []
        try:
            w.execute("BEGIN IMMEDIATE")
            for req in batch:
                out: list[StoredEntry | DuplicateEntryError] = []
                for e in req.entries:
                    lh = merkle.leaf_hash(e.body)
                    existing = new_in_batch.get(lh) or self._by_leaf(w, lh)
                    if existing is not None:
                        out.append(DuplicateEntryError(existing))
                        continue
                    stored = StoredEntry(
                        index=size,
                        leaf_hash=lh,
                        body=e.body,
                        integrated_time=e.integrated_time,
                        tree_id=self._tree_id,
                    )
                    new_in_batch[lh] = stored
                    entry_rows.append((size, lh, e.body, e.integrated_time))
                    key_rows.extend((k, size) for k in dict.fromkeys(e.index_keys))
                    # Merge equal-level subtrees on the right border: each merge completes a node.
                    h, level, pos = lh, 0, size
                    while frontier and frontier[-1][0] == level:
                        h = merkle.node_hash(frontier.pop()[1], h)
                        level += 1
                        pos >>= 1
                        node_rows.append((_node_key(level, pos), h))
                    frontier.append((level, h))
                    size += 1
                    out.append(stored)
                outcomes.append(out)
            w.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)", entry_rows)
            w.executemany("INSERT INTO nodes VALUES (?, ?)", node_rows)
            w.executemany("INSERT OR IGNORE INTO index_keys VALUES (?, ?)", key_rows)
            w.execute("COMMIT")
        except BaseException as exc:  # every waiter must learn of the failure, whatever it is
            try:
                if w.in_transaction:
                    w.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            for req in batch:
                req.error = exc
            return
        self._size, self._frontier = size, frontier
        for req, out in zip(batch, outcomes, strict=True):
            req.results = out

    def _by_leaf(self, conn: sqlite3.Connection, lh: bytes) -> StoredEntry | None:
        row = conn.execute(
            "SELECT idx, leaf_hash, body, integrated_time FROM entries WHERE leaf_hash = ?", (lh,)
        ).fetchone()
        return self._entry(row)

    def _entry(self, row: tuple[int, bytes, bytes, int] | None) -> StoredEntry | None:
        if row is None:
            return None
        idx, lh, body, t = row
        return StoredEntry(
            index=idx, leaf_hash=lh, body=body, integrated_time=t, tree_id=self._tree_id
        )

    # ----------------------------------------------------------------------------------------
    # Reading
    # ----------------------------------------------------------------------------------------

    @property
    def tree_id(self) -> int:
        return self._tree_id

    @property
    def size(self) -> int:
        """Number of committed entries."""
        return self._size

    def _read(self, sql: str, args: Sequence[Any]) -> list[Any]:
        try:
            return self._reader().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed ({exc})") from exc

    def get_by_index(self, index: int) -> StoredEntry | None:
        rows = self._read(
            "SELECT idx, leaf_hash, body, integrated_time FROM entries WHERE idx = ?", (index,)
        )
        return self._entry(rows[0]) if rows else None

    def get_by_leaf_hash(self, leaf_hash: bytes) -> StoredEntry | None:
        rows = self._read(
            "SELECT idx, leaf_hash, body, integrated_time FROM entries WHERE leaf_hash = ?",
            (bytes(leaf_hash),),
        )
        return self._entry(rows[0]) if rows else None

    def search(self, key: str) -> list[str]:
        """Leaf hashes (hex) of the entries indexed under ``key``, in log order."""
        rows = self._read(
            "SELECT e.leaf_hash FROM index_keys k JOIN entries e ON e.idx = k.idx "
            "WHERE k.key = ? ORDER BY k.idx",
            (key,),
        )
        return [bytes(r[0]).hex() for r in rows]

    def _size_arg(self, size: int | None, what: str) -> int:
        current = self._size
        if size is None:
            return current
        if not 0 <= size <= current:
            raise UsageError(f"{what}: tree size {size} outside [0, {current}]")
        return size

    def _hashes(self, ids: Sequence[merkle.NodeId]) -> list[bytes]:
        try:
            return self._fetch(self._reader(), ids)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed ({exc})") from exc

    def root_hash(self, size: int | None = None) -> bytes:
        """Root of the tree of the first ``size`` entries (default: all)."""
        n = self._size_arg(size, "root hash")
        return merkle.root_from_range(self._hashes(merkle.range_node_ids(0, n)))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 audit path of entry ``index`` in the tree of ``size`` entries."""
        n = self._size_arg(size, "inclusion proof")
        if not 0 <= index < n:
            raise UsageError(f"inclusion proof: index {index} not below tree size {n}")
        plan = merkle.inclusion_node_ids(index, n)
        return plan.rehash(self._hashes(plan.ids))

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 6962 consistency proof from ``size1`` to ``size2`` entries (default: all)."""
        n = self._size_arg(size2, "consistency proof")
        if not 0 <= size1 <= n:
            raise UsageError(f"consistency proof: first size {size1} outside [0, {n}]")
        plan = merkle.consistency_node_ids(size1, n)
        return plan.rehash(self._hashes(plan.ids))

    def node_hashes(self, level: int, start: int, count: int) -> list[bytes]:
        """Hashes of the complete subtrees ``(level, start) .. (level, start + count - 1)``
        (C2SP tlog-tiles reads them a tile at a time); each must be complete at this size."""
        if level < 0 or start < 0 or count < 0 or (start + count) << level > self._size:
            raise UsageError(f"tree nodes: level {level} [{start}, {start + count}) not complete")
        return self._hashes([merkle.NodeId(level, i) for i in range(start, start + count)])

    def bodies(self, start: int, count: int) -> list[bytes]:
        """Bodies of the entries ``start .. start + count - 1`` (all committed), in order."""
        if start < 0 or count < 0 or start + count > self._size:
            raise UsageError(f"entries [{start}, {start + count}) outside the tree")
        rows = self._read(
            "SELECT body FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx",
            (start, start + count),
        )
        return [bytes(r[0]) for r in rows]

    # ----------------------------------------------------------------------------------------
    # Checkpoints handed out (so the log can prove consistency with each of them later)
    # ----------------------------------------------------------------------------------------

    def put_checkpoint(self, size: int, text: str) -> str:
        """Remember the signed checkpoint for ``size``; returns the one stored first."""
        self._size_arg(size, "checkpoint")
        conn = self._reader()
        try:
            conn.execute("INSERT OR IGNORE INTO checkpoints VALUES (?, ?)", (size, text))
            row = conn.execute("SELECT text FROM checkpoints WHERE size = ?", (size,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot store checkpoint ({exc})") from exc
        return str(row[0])

    def get_checkpoint(self, size: int) -> str | None:
        rows = self._read("SELECT text FROM checkpoints WHERE size = ?", (size,))
        return str(rows[0][0]) if rows else None

    def checkpoints(self) -> list[tuple[int, str]]:
        """Every stored checkpoint, by size."""
        return [
            (int(s), str(t))
            for s, t in self._read("SELECT size, text FROM checkpoints ORDER BY size", ())
        ]

    # ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Finish pending appends, stop the committer and close every connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        # An append that raced with close() may sit behind the stop marker: fail it.
        while True:
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(req, _Request):
                req.error = StoreError(f"{self.path}: log store is closed")
                req.done.set()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._writer.close()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

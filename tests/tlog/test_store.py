"""SQLite log store: group commit, duplicates, proofs from stored subtrees, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_intoto.errors import UsageError
from atlas_intoto.tlog import merkle
from atlas_intoto.tlog.store import (
    DuplicateEntryError,
    LogStore,
    NewEntry,
    StoreError,
)

REPO = Path(__file__).resolve().parents[2]


def _body(i: int) -> bytes:
    return f'{{"entry": {i}}}'.encode()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    s = LogStore(tmp_path / "log.db")
    yield s
    s.close()


def test_append_assigns_consecutive_indices(store: LogStore) -> None:
    assert store.size == 0
    assert store.root_hash() == merkle.EMPTY_ROOT
    e0 = store.append(_body(0), integrated_time=100, index_keys=["sha256:aa", "a@example.com"])
    e1 = store.append(_body(1), integrated_time=101, index_keys=["sha256:aa"])
    assert (e0.index, e1.index) == (0, 1)
    assert e0.leaf_hash == merkle.leaf_hash(_body(0))
    assert e0.entry_id == f"{store.tree_id:016x}{e0.leaf_hash.hex()}"
    assert len(e0.entry_id) == 80
    assert store.size == 2
    assert store.get_by_index(1) == e1
    assert store.get_by_leaf_hash(e0.leaf_hash) == e0
    assert store.get_by_index(2) is None
    assert store.get_by_leaf_hash(bytes(32)) is None
    assert store.search("sha256:aa") == [e0.leaf_hash.hex(), e1.leaf_hash.hex()]
    assert store.search("a@example.com") == [e0.leaf_hash.hex()]
    assert store.search("nothing") == []


def test_duplicate_detected_with_existing_entry(store: LogStore) -> None:
    first = store.append(_body(7), integrated_time=1)
    with pytest.raises(DuplicateEntryError) as info:
        store.append(_body(7), integrated_time=2)
    assert info.value.existing == first
    assert info.value.exit_code == 2
    assert store.size == 1
    # Within one batch too, and the batch's other entries still land without gaps.
    out = store.append_many(
        [
            NewEntry(body=_body(8), integrated_time=3),
            NewEntry(body=_body(8), integrated_time=3),
            NewEntry(body=_body(9), integrated_time=3),
        ]
    )
    assert [getattr(o, "index", None) for o in out] == [1, None, 2]
    assert isinstance(out[1], DuplicateEntryError) and out[1].existing.index == 1


def test_proofs_from_store_verify_for_every_size(store: LogStore) -> None:
    bodies = [_body(i) for i in range(70)]
    leaves = [merkle.leaf_hash(b) for b in bodies]
    store.append_many([NewEntry(body=b, integrated_time=0) for b in bodies[:33]])
    for b in bodies[33:]:
        store.append(b, integrated_time=0)
    for n in range(1, 71):
        root = merkle.root_from_leaves(leaves[:n], hashed=True)
        assert store.root_hash(n) == root
        for i in range(n):
            proof = store.inclusion_proof(i, n)
            assert proof == merkle.inclusion_proof_from_leaves(leaves[:n], i)
            merkle.verify_inclusion(leaves[i], i, n, proof, root)
        for m in range(1, n + 1):
            cproof = store.consistency_proof(m, n)
            merkle.verify_consistency(m, n, cproof, store.root_hash(m), root)
    assert store.consistency_proof(0, 70) == []


def test_proofs_read_logarithmically_many_stored_hashes(
    store: LogStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 1000
    store.append_many([NewEntry(body=_body(i), integrated_time=0) for i in range(n)])
    fetched: list[int] = []
    real_fetch = LogStore._fetch

    def counting_fetch(conn: object, ids: list[merkle.NodeId]) -> list[bytes]:
        fetched.append(len(ids))
        return real_fetch(conn, ids)  # type: ignore[arg-type]

    monkeypatch.setattr(LogStore, "_fetch", staticmethod(counting_fetch))
    bound = 2 * n.bit_length()  # stored subtree roots, never one read per leaf
    for index in (0, 1, 499, 998, 999):
        store.inclusion_proof(index, n)
        assert sum(fetched) <= bound, (index, fetched)
        fetched.clear()
    for size1 in (1, 2, 333, 512, 999):
        store.consistency_proof(size1, n)
        assert sum(fetched) <= bound, (size1, fetched)
        fetched.clear()


def test_bad_ranges_are_usage_errors(store: LogStore) -> None:
    store.append(_body(0), integrated_time=0)
    with pytest.raises(UsageError):
        store.inclusion_proof(1, 1)
    with pytest.raises(UsageError):
        store.inclusion_proof(0, 2)
    with pytest.raises(UsageError):
        store.consistency_proof(2, 1)
    with pytest.raises(UsageError):
        store.root_hash(5)


def test_concurrent_appends_share_commits_without_gaps(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    batch_sizes: list[int] = []
    original = store._commit

    def holding(batch: list) -> None:  # type: ignore[type-arg]
        if not batch_sizes:
            # Hold the first commit until every appender is either in it or queued behind it,
            # so one of the first two transactions must carry at least half of the 8 of them
            # (no reliance on timing: the first batch may already hold several).
            deadline = time.monotonic() + 30
            while len(batch) + store._queue.qsize() < 8 and time.monotonic() < deadline:
                time.sleep(0.001)
        batch_sizes.append(len(batch))
        original(batch)

    store._commit = holding  # type: ignore[method-assign]
    results: list[int] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(50):
            e = store.append(_body(t * 1000 + i), integrated_time=0)
            with lock:
                results.append(e.index)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(400))
    assert max(batch_sizes[:2]) >= 4  # queued appenders shared one transaction
    assert len(batch_sizes) < 400
    store.close()
    reopened = LogStore(tmp_path / "log.db")
    assert reopened.size == 400
    leaves = [reopened.get_by_index(i).leaf_hash for i in range(400)]  # type: ignore[union-attr]
    assert reopened.root_hash() == merkle.root_from_leaves(leaves, hashed=True)
    reopened.close()


def test_tree_id_persisted(tmp_path: Path) -> None:
    with LogStore(tmp_path / "a.db") as s:
        tid = s.tree_id
        assert 0 <= tid < 1 << 63
    with LogStore(tmp_path / "a.db") as s:
        assert s.tree_id == tid
    with pytest.raises(UsageError):
        LogStore(tmp_path / "a.db", tree_id=tid ^ 1)
    with LogStore(tmp_path / "b.db", tree_id=1234) as s:
        assert s.tree_id == 1234


def test_checkpoints_remembered(store: LogStore) -> None:
    store.append(_body(0), integrated_time=0)
    assert store.put_checkpoint(1, "first") == "first"
    assert store.put_checkpoint(1, "second") == "first"
    assert store.get_checkpoint(1) == "first"
    assert store.get_checkpoint(0) is None
    assert store.checkpoints() == [(1, "first")]


def test_closed_store_and_garbage_file(tmp_path: Path) -> None:
    s = LogStore(tmp_path / "log.db")
    s.close()
    with pytest.raises(StoreError):
        s.append(b"x", integrated_time=0)
    with pytest.raises(StoreError):
        s.get_by_index(0)
    bad = tmp_path / "garbage.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        LogStore(bad)


_CHILD = r"""
import os, sys, threading
from atlas_intoto.tlog.store import LogStore
store = LogStore(sys.argv[1])
lock = threading.Lock()
def worker(t):
    i = 0
    while True:
        e = store.append(f"{os.getpid()}-{t}-{i}".encode() * 20, integrated_time=i)
        with lock:
            sys.stdout.write(f"{e.index} {e.leaf_hash.hex()}\n")
            sys.stdout.flush()
        i += 1
for t in range(6):
    threading.Thread(target=worker, args=(t,), daemon=True).start()
threading.Event().wait()
"""


def test_survives_kill_9_mid_append(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    acked: dict[int, str] = {}
    for _round in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(db)],
            stdout=subprocess.PIPE,
            cwd=REPO,
            text=True,
        )
        # A stuck child must fail the test, not hang it: killing it ends readline() with EOF.
        watchdog = threading.Timer(120, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            target = len(acked) + 300
            while len(acked) < target:
                line = proc.stdout.readline()
                assert line, "child died early"
                idx, lh = line.split()
                acked[int(idx)] = lh
        finally:
            watchdog.cancel()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        with LogStore(db) as store:
            size = store.size
            assert size >= len(acked)
            leaves = [store.get_by_index(i).leaf_hash for i in range(size)]  # type: ignore[union-attr]
            root = store.root_hash()
            assert root == merkle.root_from_leaves(leaves, hashed=True)
            for idx, lh in acked.items():
                assert leaves[idx].hex() == lh
                merkle.verify_inclusion(leaves[idx], idx, size, store.inclusion_proof(idx), root)
            for first in (1, len(acked) // 2, size):
                merkle.verify_consistency(
                    first, size, store.consistency_proof(first), store.root_hash(first), root
                )
            # Entries committed but not yet acknowledged before the kill are kept too.
            acked.update({i: leaves[i].hex() for i in range(size)})

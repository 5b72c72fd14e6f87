"""Transparency-log storage benchmark: proof latency and bytes per entry at 1,000,000 entries.

Bulk-loads N entries (default 1,000,000; dsse-sized bodies of ~600 bytes) into a
:class:`~atlas_intoto.tlog.store.LogStore` through ``append_many`` (the same committer and
durable commits as ``append``, 20,000 entries per transaction), then measures from a fresh
process-local connection:

* inclusion-proof generation at the full size (random leaves) and at random older sizes
  (ragged right edges that need rehashing), p50/p99 — target p99 < 5 ms;
* consistency-proof generation and root computation for random sizes;
* storage bytes per entry (database file after a WAL checkpoint) against the body bytes;
* durable group-commit throughput of ``append`` from 8 threads (no HTTP, no signatures).

Every 100th proof is verified against the root. Writes ``## Transparency log: storage and
proofs`` in benchmarks/RESULTS.md (not with ``--quick``).

    .venv/bin/python benchmarks/tlog_store.py            # 1,000,000 entries
    .venv/bin/python benchmarks/tlog_store.py --quick    # 20,000 entries, no RESULTS.md update
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import percentile, time_ms, write_section  # noqa: E402

from atlas_intoto.tlog import merkle  # noqa: E402
from atlas_intoto.tlog.store import LogStore, NewEntry  # noqa: E402

SECTION = "## Transparency log: storage and proofs"
CHUNK = 20_000


def _body(i: int) -> bytes:
    # Shaped like a canonical dsse 0.0.1 body: two hashes, a signature, a PEM verifier.
    h = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
    return (
        '{"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha256",'
        f'"value":"{h}"}},"payloadHash":{{"algorithm":"sha256","value":"{h[::-1]}"}},'
        f'"signatures":[{{"signature":"{"M" * 96}","verifier":"{"L" * 236}{i:012d}"}}]}}}}'
    ).encode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: temp)")
    args = ap.parse_args()
    n = 20_000 if args.quick else args.entries
    samples = 1000 if args.quick else args.samples
    work = Path(tempfile.mkdtemp(prefix="tlog-bench-", dir=args.dir))
    rng = random.Random(1234)
    load_before = os.getloadavg()
    try:
        db = work / "log.db"
        store = LogStore(db, tree_id=42)
        body_bytes = 0
        t0 = time.perf_counter()
        for start in range(0, n, CHUNK):
            batch = [
                NewEntry(
                    body=_body(i),
                    integrated_time=1_700_000_000 + i,
                    index_keys=(f"sha256:{i:064x}",),
                )
                for i in range(start, min(n, start + CHUNK))
            ]
            body_bytes += sum(len(e.body) for e in batch)
            store.append_many(batch)
            print(f"\rloaded {store.size:,}/{n:,}", end="", file=sys.stderr, flush=True)
        load_s = time.perf_counter() - t0
        print(file=sys.stderr)
        assert store.size == n
        root = store.root_hash()

        # Inclusion proofs at the full size, random leaves.
        idx = [rng.randrange(n) for _ in range(samples)]
        it = iter(idx)
        incl = time_ms(lambda: store.inclusion_proof(next(it), n), samples)
        for i in idx[::100]:
            merkle.verify_inclusion(
                store.get_by_index(i).leaf_hash,
                i,
                n,  # type: ignore[union-attr]
                store.inclusion_proof(i, n),
                root,
            )
        # At random older sizes: ragged right edges, ephemeral nodes rehashed.
        pairs = []
        for _ in range(samples):
            size = rng.randrange(1, n + 1)
            pairs.append((rng.randrange(size), size))
        ip = iter(pairs)
        incl_old = time_ms(lambda: store.inclusion_proof(*next(ip)), samples)
        for i, size in pairs[::100]:
            merkle.verify_inclusion(
                store.get_by_index(i).leaf_hash,
                i,
                size,  # type: ignore[union-attr]
                store.inclusion_proof(i, size),
                store.root_hash(size),
            )
        sizes = [rng.randrange(1, n + 1) for _ in range(samples)]
        cs = iter(sizes)
        cons = time_ms(lambda: store.consistency_proof(next(cs), n), samples)
        for s in sizes[::100]:
            merkle.verify_consistency(s, n, store.consistency_proof(s, n), store.root_hash(s), root)
        rs = iter(sizes)
        roots = time_ms(lambda: store.root_hash(next(rs)), samples)

        # Durable group commit straight into the store: 8 threads, no HTTP, no signatures.
        threads, per_thread = 8, (100 if args.quick else 400)
        lat: list[float] = []
        lock = threading.Lock()

        def worker(t: int) -> None:
            for k in range(per_thread):
                b = _body(10**9 + t * 10**6 + k)
                t1 = time.perf_counter()
                store.append(b, integrated_time=0)
                with lock:
                    lat.append((time.perf_counter() - t1) * 1000)

        t0 = time.perf_counter()
        ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        appends_per_s = threads * per_thread / (time.perf_counter() - t0)
        store.close()

        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        total = sum(p.stat().st_size for p in work.iterdir() if p.name.startswith("log.db"))
        final_n = n + threads * per_thread
        per_entry = total / final_n
        body_per_entry = body_bytes / n
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def row(name: str, s: list[float]) -> str:
        return f"| {name} | {statistics.median(s):.3f} | {percentile(s, 0.99):.3f} | {max(s):.3f} |"

    p99 = percentile(incl, 0.99)
    text = "\n".join(
        [
            SECTION,
            "",
            f"`benchmarks/tlog_store.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
            f"{n:,} entries bulk-loaded through `LogStore.append_many` (durable commits of {CHUNK:,}), "
            f"~{body_per_entry:.0f}-byte dsse-shaped bodies, one search key each. "
            f"{platform.machine()}, {os.cpu_count()} CPUs (shared), Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}.",
            "",
            f"Bulk load: {load_s:.1f} s ({n / load_s:,.0f} entries/s).",
            "",
            f"| operation ({samples:,} random samples) | p50 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|",
            row(f"inclusion proof at size {n:,}", incl),
            row("inclusion proof at a random older size (ragged edge)", incl_old),
            row(f"consistency proof random size → {n:,}", cons),
            row("root hash at a random size", roots),
            row(f"durable `append`, {threads} threads (group commit)", lat),
            "",
            f"- inclusion-proof p99 at {n:,} entries: **{p99:.3f} ms** (target < 5 ms: "
            f"{'met' if p99 < 5 else 'missed'}); every 100th proof verified against the root. "
            "Timed warm (the database fits in the page cache); each proof is two indexed "
            "SELECTs of O(log n) stored subtree hashes.",
            f"- storage: **{per_entry:,.0f} bytes per entry** in total (database after a WAL "
            f"checkpoint), of which {body_per_entry:,.0f} are the entry body; the rest is the "
            "leaf-hash index (duplicate detection), the stored subtree hashes (~1 per entry), "
            "the search index and SQLite page overhead.",
            f"- store-level durable appends from {threads} threads: {appends_per_s:,.0f}/s "
            "(`synchronous=FULL`, WAL; one fsync per group commit).",
            "- load average (1/5/15 min) before: "
            f"{' '.join(f'{x:.2f}' for x in load_before)}; after: "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores shared with the team).",
        ]
    )
    print(text)
    if not args.quick:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

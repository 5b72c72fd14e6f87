"""Verify many bundles on all cores, verifying evidence they share only once.

Bundles of one pipeline share the signed layout and often whole steps (one data-preparation run
feeding many training runs). The first bundle is verified in this process, which puts the shared
evidence's results in the cache; the rest are spread over worker processes that read the same
cache (memory layer per worker, files on disk between workers). Without the persistent cache
(``use_cache=False``) the batch still shares work through a temporary cache directory that is
removed afterwards.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from atlas_intoto.errors import AtlasError, OperationalError
from atlas_intoto.fileio import read_bytes
from atlas_intoto.verify.cache import VerifyCache, default_cache_dir
from atlas_intoto.verify.checks import failed
from atlas_intoto.verify.engine import verify_bundle
from atlas_intoto.verify.report import VerificationReport

_worker_cache: VerifyCache | None = None
_worker_keys: Sequence[bytes] = ()
_worker_now: int | None = None


def _init_worker(cache_dir: str, layout_keys: Sequence[bytes], now: int | None) -> None:
    global _worker_cache, _worker_keys, _worker_now
    _worker_cache = VerifyCache(Path(cache_dir))
    _worker_keys = tuple(layout_keys)
    _worker_now = now


#: check name of the single row reported for a bundle that cannot be read or parsed
UNREADABLE = "unreadable"


def _verify_one(
    path: str, *, cache: VerifyCache | None, keys: Sequence[bytes], now: int | None
) -> VerificationReport:
    try:
        data = read_bytes(Path(path), what="bundle")
        return verify_bundle(data, layout_keys=keys, cache=cache, now=now, source=path)
    except AtlasError as exc:
        return _error_report(exc)
    except Exception as exc:  # one bad bundle never aborts the batch: it fails, alone
        return VerificationReport(results=(failed("layout", None, exc),))


def _error_report(exc: AtlasError) -> VerificationReport:
    # A file that cannot be read or parsed says nothing about the evidence (exit 2).
    check = UNREADABLE if isinstance(exc, OperationalError) else "layout"
    return VerificationReport(results=(failed(check, None, exc),))


def is_unreadable(report: VerificationReport) -> bool:
    """Whether ``report`` is the row of a bundle that could not be read or parsed."""
    first = report.first_failure
    return first is not None and first.check == UNREADABLE


def _worker(path: str) -> VerificationReport:
    return _verify_one(path, cache=_worker_cache, keys=_worker_keys, now=_worker_now)


def verify_batch(
    paths: Sequence[Path],
    *,
    layout_keys: Sequence[bytes],
    jobs: int | None = None,
    use_cache: bool = True,
    cache_dir: Path | None = None,
    now: int | None = None,
) -> list[VerificationReport]:
    """Reports for ``paths``, in order.

    Steps:
      1. choose the cache: the persistent one (or ``cache_dir``), else a temporary directory;
      2. verify the first bundle here, so evidence shared with the others is verified once;
      3. verify the remaining bundles in ``jobs`` worker processes sharing that cache.
    A bundle that cannot be read or parsed yields a report with one failed row whose check
    is :data:`UNREADABLE` (:func:`is_unreadable`).
    """
    if not paths:
        return []
    jobs = max(1, jobs or os.cpu_count() or 1)
    temporary = None
    if cache_dir is None:
        if use_cache:
            cache_dir = default_cache_dir()
        else:
            temporary = tempfile.mkdtemp(prefix="atlas-verify-batch-")
            cache_dir = Path(temporary)
    try:
        shared = VerifyCache(cache_dir)
        first = _verify_one(str(paths[0]), cache=shared, keys=layout_keys, now=now)
        rest = [str(p) for p in paths[1:]]
        # Workers open their own connection: a SQLite handle must not cross a fork.
        shared.close()
        if not rest:
            return [first]
        if jobs == 1 or len(rest) < 2:
            return [first, *(_verify_one(p, cache=shared, keys=layout_keys, now=now) for p in rest)]
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        chunk = max(1, len(rest) // (jobs * 8))
        with ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context(method),
            initializer=_init_worker,
            initargs=(str(cache_dir), tuple(layout_keys), now),
        ) as pool:
            return [first, *pool.map(_worker, rest, chunksize=chunk)]
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)

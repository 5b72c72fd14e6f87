"""Artifact measurement: files and directories → ``{"rel/path": {"sha256": hex}}``.

The digest of a file is the plain SHA-256 of its bytes, exactly what in-toto's
``record_artifacts_as_dict`` records, so links made here and by upstream tools agree. BLAKE3
(``algorithms=("blake3",)``, alone or beside SHA-256, each file read once for all of them) is
the plain BLAKE3-256 of the bytes, as model-signing's BLAKE3 manifests record it. Paths follow
in-toto's conventions too: a relative PATH is taken relative to ``base_path`` and recorded with
``/`` separators and without a leading ``./``.

Files are streamed through a reused buffer per worker (memory stays at ``workers × chunk``
whatever the file sizes) and hashed by a thread pool sized to the usable cores: hashlib and file
reads release the GIL on large buffers, so threads scale without the cost of processes. SHA-256
of one file is inherently sequential, so the unit of parallel work is a file; files are handed
out largest first, which keeps every core busy until the end when a few huge files and many
small ones are mixed.

With a :class:`~atlas_intoto.digestcache.DigestCache`, files whose key (device, inode, size,
mtime, ctime) is cached are not read at all. Every file is keyed by ``fstat`` before and after
reading: a file that changed while read is read again, and refused after a few attempts.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pathspec

from atlas_intoto.digestcache import DigestCache, FileKey
from atlas_intoto.errors import InputError, UsageError

#: ``progress(bytes_done, bytes_total)``; called from the calling thread.
ProgressCallback = Callable[[int, int], None]
ArtifactDigests = dict[str, dict[str, str]]

#: Always excluded (a user pattern ``!.git/`` re-includes, as in .gitignore).
DEFAULT_EXCLUDES: tuple[str, ...] = (".git/",)
#: Read size: large enough that hashlib releases the GIL and per-call overhead vanishes, small
#: enough that memory stays bounded.
CHUNK_SIZE = 1 << 20
_PROGRESS_INTERVAL = 0.1
#: A file that changes under every one of this many reads is refused.
READ_ATTEMPTS = 3
#: How long after its last change a file's key can still be reused by another change: one
#: tick of the kernel's coarse clock (≤ 10 ms at HZ ≥ 100) with margin; file systems that keep
#: whole seconds (FAT, old ext) need seconds.
RACY_WINDOW_NS = 20_000_000
RACY_WINDOW_COARSE_NS = 2_000_000_000


class _Hash(Protocol):
    def update(self, data: memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


def _sha256() -> _Hash:
    return hashlib.sha256()


def _blake3() -> _Hash:
    import blake3

    # Rayon threads inside one file: a single large shard still uses every core.
    hasher: _Hash = blake3.blake3(max_threads=blake3.blake3.AUTO)
    return hasher


#: Digest algorithms links can record, in the order they are written.
HASHERS: dict[str, Callable[[], _Hash]] = {"sha256": _sha256, "blake3": _blake3}
DIGEST_ALGORITHMS: tuple[str, ...] = tuple(HASHERS)
DEFAULT_ALGORITHMS: tuple[str, ...] = ("sha256",)


def check_algorithms(algorithms: Iterable[str], *, what: str = "--digest") -> tuple[str, ...]:
    """``algorithms`` validated and in canonical order (UsageError on unknown, duplicate, none)."""
    given = [str(a).strip().lower() for a in algorithms]
    unknown = sorted(set(given) - set(DIGEST_ALGORITHMS))
    if unknown:
        raise UsageError(
            f"{what} {', '.join(unknown)}: unknown digest (one of {', '.join(DIGEST_ALGORITHMS)})"
        )
    if not given or len(set(given)) != len(given):
        raise UsageError(f"{what}: give each digest algorithm once, at least one")
    return tuple(a for a in DIGEST_ALGORITHMS if a in given)


def display_digest(digests: Mapping[str, str]) -> str:
    """One digest of an artifact for reports: the SHA-256 hex, else ``alg:hex`` of another."""
    if "sha256" in digests:
        return str(digests["sha256"])
    return next((f"{alg}:{value}" for alg, value in sorted(digests.items())), "")


def digest_set(displayed: str) -> dict[str, str]:
    """The in-toto DigestSet of a :func:`display_digest` string: ``{"sha256": hex}``, or
    ``{alg: hex}`` when the artifact carries no SHA-256 (a BLAKE3-only product must not be
    labelled SHA-256 in an export)."""
    alg, sep, value = displayed.partition(":")
    return {alg: value} if sep else {"sha256": displayed}


def _racy_window(key: FileKey) -> int:
    # A ctime in whole milliseconds is a file system without fine timestamps (a fine one ends
    # in 000000 once in a million).
    return RACY_WINDOW_COARSE_NS if key.ctime_ns % 1_000_000 == 0 else RACY_WINDOW_NS


def _settled(key: FileKey, started_ns: int) -> bool:
    """Whether any change after ``started_ns`` gives the file another ctime than ``key``'s:
    only then may the digest read since ``started_ns`` be cached under ``key``."""
    return key.ctime_ns < started_ns - _racy_window(key)


@dataclass(frozen=True, kw_only=True)
class _Job:
    name: str  # recorded path
    path: str  # absolute path to open
    size: int
    key: FileKey


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """What :func:`measure_files` found, and how much it had to read to find it."""

    digests: ArtifactDigests
    files_hashed: int = 0
    bytes_hashed: int = 0
    files_cached: int = 0
    bytes_cached: int = 0


def usable_cores() -> int:
    """Cores this process may run on (affinity-aware where the OS tells)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _compile_excludes(patterns: Iterable[str]) -> Callable[[str], bool]:
    try:
        spec = pathspec.GitIgnoreSpec.from_lines([*DEFAULT_EXCLUDES, *patterns])
    except (ValueError, TypeError, re.error) as exc:
        raise UsageError(f"--exclude: invalid pattern ({exc})") from exc
    return spec.match_file


def _escape_pattern(text: str) -> str:
    return "".join("\\" + ch if ch in "\\*?[]" else ch for ch in text)


def exclude_pattern_for(directory: Path, *, base_path: Path) -> str | None:
    """A gitignore pattern excluding ``directory`` if it lies inside ``base_path`` (else None).

    Used so that an evidence directory inside the measured tree never measures itself.
    """
    base = os.path.realpath(base_path)
    target = os.path.realpath(directory)
    if target == base or not target.startswith(base.rstrip(os.sep) + os.sep):
        return None
    rel = os.path.relpath(target, base).replace(os.sep, "/")
    return "/" + _escape_pattern(rel) + "/"


class _Collector:
    """Expands PATH arguments into the list of files to hash, applying all path rules."""

    def __init__(self, base_path: Path, excluded: Callable[[str], bool]) -> None:
        try:
            base_stat = os.stat(base_path)
        except OSError as exc:
            raise InputError(
                f"{os.path.abspath(base_path)}: base path not accessible ({exc.strerror or exc})"
            ) from exc
        if not stat.S_ISDIR(base_stat.st_mode):
            raise InputError(f"{os.path.abspath(base_path)}: base path is not a directory")
        self.base_abs = os.path.abspath(base_path)
        self.base_real = os.path.realpath(base_path)
        self.excluded = excluded
        self.jobs: dict[str, _Job] = {}

    def _inside_base(self, real: str) -> bool:
        return real == self.base_real or real.startswith(self.base_real.rstrip(os.sep) + os.sep)

    def add_argument(self, raw: str) -> None:
        if not raw:
            raise InputError("'': empty path")
        joined = os.path.normpath(os.path.join(self.base_abs, raw))
        rel = os.path.relpath(joined, self.base_abs).replace(os.sep, "/")
        if rel == ".." or rel.startswith("../"):
            raise InputError(f"{raw}: path is outside the base path {self.base_abs}")
        if not os.path.lexists(joined):
            raise InputError(f"{raw}: not found (looked for {joined})")
        real = os.path.realpath(joined)
        if not self._inside_base(real):
            raise InputError(f"{raw}: symlink leads outside the base path ({real})")
        try:
            st = os.stat(joined)
        except OSError as exc:
            raise InputError(f"{raw}: cannot access ({exc.strerror or exc})") from exc
        is_dir = stat.S_ISDIR(st.st_mode)
        if rel != "." and self.excluded(rel + "/" if is_dir else rel):
            return
        if is_dir:
            self._walk(joined, "" if rel == "." else rel, frozenset({real}))
        elif stat.S_ISREG(st.st_mode):
            self.jobs[rel] = _Job(name=rel, path=joined, size=st.st_size, key=FileKey.of(st))
        else:
            raise InputError(f"{raw}: not a regular file or directory")

    def _walk(self, directory: str, rel: str, ancestors: frozenset[str]) -> None:
        try:
            with os.scandir(directory) as entries:
                listing = sorted(entries, key=lambda e: e.name)
        except OSError as exc:
            shown = rel or "."
            raise InputError(f"{shown}: cannot list directory ({exc.strerror or exc})") from exc
        for entry in listing:
            name = f"{rel}/{entry.name}" if rel else entry.name
            path = entry.path
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir()  # follows symlinks
            except OSError as exc:
                raise InputError(f"{name}: cannot access ({exc.strerror or exc})") from exc
            if self.excluded(name + "/" if is_dir else name):
                continue
            real = os.path.realpath(path) if is_link else None
            if real is not None:
                if not self._inside_base(real):
                    raise InputError(f"{name}: symlink leads outside the base path ({real})")
                if not os.path.exists(path):
                    # Dangling symlink: in-toto skips it too, so links agree.
                    continue
            if is_dir:
                real_dir = real or os.path.realpath(path)
                if real_dir in ancestors:
                    raise InputError(f"{name}: symlink loop (points to an enclosing directory)")
                self._walk(path, name, ancestors | {real_dir})
                continue
            try:
                st = entry.stat()
            except OSError as exc:
                raise InputError(f"{name}: cannot access ({exc.strerror or exc})") from exc
            if not stat.S_ISREG(st.st_mode):
                raise InputError(f"{name}: not a regular file (fifo, socket or device)")
            self.jobs[name] = _Job(name=name, path=path, size=st.st_size, key=FileKey.of(st))


class _Hasher:
    """Hashes jobs on worker threads; errors and progress are reported to the calling thread."""

    def __init__(
        self,
        jobs: Sequence[_Job],
        *,
        chunk_size: int,
        workers: int,
        algorithms: Sequence[str],
        caching: bool,
    ) -> None:
        self.jobs = jobs
        self.chunk_size = chunk_size
        self.algorithms = tuple(algorithms)
        self.caching = caching
        self.results: dict[str, dict[str, str]] = {}
        #: digests that may be cached, with the key they were read under
        self.settled: list[tuple[FileKey, dict[str, str]]] = []
        # One counter per worker, written only by its worker: no lock on the per-chunk path.
        self._done = [0] * workers
        self.error: InputError | None = None
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def done(self) -> int:
        return sum(self._done)

    def stop(self) -> None:
        self._stop.set()

    def _take(self) -> _Job | None:
        with self._lock:
            if self._stop.is_set() or self._next >= len(self.jobs):
                return None
            job = self.jobs[self._next]
            self._next += 1
            return job

    def _key_before(self, fd: int) -> tuple[FileKey, int]:
        """The file's key and the time it was taken. With the cache on, a file changed a
        moment ago is given the few milliseconds that make its digest cacheable."""
        started = time.time_ns()
        key = FileKey.of(os.fstat(fd))
        wait = key.ctime_ns + _racy_window(key) - started
        if self.caching and 0 <= wait <= RACY_WINDOW_NS:
            time.sleep((wait + 1_000_000) / 1e9)
            started = time.time_ns()
            key = FileKey.of(os.fstat(fd))
        return key, started

    def _read(self, handle: io.FileIO, view: memoryview, index: int) -> dict[str, str] | None:
        hashers = [HASHERS[algorithm]() for algorithm in self.algorithms]
        readinto = handle.readinto
        done = self._done
        while True:
            n = readinto(view)
            if not n:
                break
            chunk = view[:n]
            for hasher in hashers:
                hasher.update(chunk)
            done[index] += n
            if self._stop.is_set():
                return None
        return {a: h.hexdigest() for a, h in zip(self.algorithms, hashers, strict=True)}

    def _hash_one(self, job: _Job, view: memoryview, index: int) -> dict[str, str] | None:
        for _ in range(READ_ATTEMPTS):
            try:
                with open(job.path, "rb", buffering=0) as handle:
                    fd = handle.fileno()
                    key, started = self._key_before(fd)
                    if key.size > 4 * self.chunk_size:
                        with contextlib.suppress(AttributeError, OSError):
                            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
                    digests = self._read(handle, view, index)
                    after = FileKey.of(os.fstat(fd))
            except OSError as exc:
                raise InputError(f"{job.name}: cannot read ({exc.strerror or exc})") from exc
            if digests is None:
                return None
            if after == key:
                if self.caching and _settled(key, started):
                    with self._lock:
                        self.settled.append((key, digests))
                return digests
        raise InputError(
            f"{job.name}: changed while being measured ({READ_ATTEMPTS} reads); "
            "measure it when nothing writes to it"
        )

    def work(self, index: int = 0) -> None:
        view = memoryview(bytearray(self.chunk_size))
        while (job := self._take()) is not None:
            try:
                digests = self._hash_one(job, view, index)
            except InputError as exc:
                with self._lock:
                    if self.error is None:
                        self.error = exc
                self._stop.set()
                return
            if digests is None:
                return
            with self._lock:
                self.results[job.name] = digests


def _run(hasher: _Hasher, count: int, total: int, progress: ProgressCallback | None) -> None:
    if count <= 1 and progress is None:
        hasher.work()
        return
    threads = [
        threading.Thread(target=hasher.work, args=(i,), name=f"measure-{i}", daemon=True)
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(_PROGRESS_INTERVAL)
                if progress is not None:
                    progress(hasher.done, total)
    except BaseException:
        hasher.stop()
        raise


def measure_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    base_path: str | os.PathLike[str],
    exclude: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
    cache: DigestCache | None = None,
) -> Measurement:
    """:func:`measure`, also saying how many files and bytes were read and how many came from
    the digest cache.

    Steps:
      1. expand ``paths`` into files (path rules of :func:`measure`), each with its key;
      2. with ``cache``: files whose key is cached for every algorithm are not read;
      3. the rest are read once each (all algorithms per read), largest first, on
         ``workers`` threads; a file whose key changed while read is read again, and refused
         with InputError after :data:`READ_ATTEMPTS` reads;
      4. digests of files whose key was settled before reading began go into the cache.
    ``progress`` counts the bytes read against the bytes to read.
    """
    if chunk_size < 4096:
        raise UsageError("chunk_size must be at least 4096 bytes")
    algorithms = check_algorithms(algorithms, what="algorithms")
    collector = _Collector(Path(base_path), _compile_excludes(exclude))
    for raw in paths:
        collector.add_argument(os.fspath(raw))
    everything = collector.jobs
    cached = cache.lookup({n: j.key for n, j in everything.items()}, algorithms) if cache else {}
    jobs = sorted(
        (job for name, job in everything.items() if name not in cached),
        key=lambda job: (-job.size, job.name),
    )
    total = sum(job.size for job in jobs)
    count = max(1, min(workers or usable_cores(), len(jobs)))
    hasher = _Hasher(
        jobs,
        chunk_size=chunk_size,
        workers=count,
        algorithms=algorithms,
        caching=cache is not None,
    )
    _run(hasher, count, total, progress)
    if hasher.error is not None:
        raise hasher.error
    if progress is not None:
        progress(hasher.done, total)
    if cache is not None:
        cache.store(hasher.settled)
    results = {**cached, **hasher.results}
    return Measurement(
        digests={name: results[name] for name in sorted(results)},
        files_hashed=len(jobs),
        bytes_hashed=hasher.done,
        files_cached=len(cached),
        bytes_cached=sum(everything[name].size for name in cached),
    )


def measure(
    paths: Iterable[str | os.PathLike[str]],
    *,
    base_path: str | os.PathLike[str],
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
    cache: DigestCache | None = None,
    exclude: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ArtifactDigests:
    """Measure files and directories as in-toto records artifacts.

    ``paths`` are files or directories, relative ones taken relative to ``base_path`` (as in-toto
    does); results are keyed by their ``/``-separated path relative to ``base_path``, sorted,
    each with a digest per algorithm of ``algorithms`` (:data:`DIGEST_ALGORITHMS`).
    ``exclude`` holds gitignore-style patterns added to :data:`DEFAULT_EXCLUDES`. Symlinks are
    followed when they stay inside ``base_path`` and refused otherwise; dangling symlinks inside
    a directory are skipped (like in-toto). Missing or unreadable paths, paths outside the base,
    special files and files that keep changing while read raise :class:`InputError`. ``cache``
    (:func:`atlas_intoto.digestcache.default_cache`) skips files measured since their last
    change.
    """
    return measure_files(
        paths,
        base_path=base_path,
        exclude=exclude,
        progress=progress,
        workers=workers,
        chunk_size=chunk_size,
        algorithms=algorithms,
        cache=cache,
    ).digests

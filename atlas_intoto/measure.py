"""Artifact measurement: files and directories → ``{"rel/path": {"sha256": hex}}``.

The digest of a file is the plain SHA-256 of its bytes, exactly what in-toto's
``record_artifacts_as_dict`` records, so links made here and by upstream tools agree. Paths follow
in-toto's conventions too: a relative PATH is taken relative to ``base_path`` and recorded with
``/`` separators and without a leading ``./``.

Files are streamed through a reused buffer per worker (memory stays at ``workers × chunk``
whatever the file sizes) and hashed by a thread pool sized to the usable cores: hashlib and file
reads release the GIL on large buffers, so threads scale without the cost of processes. SHA-256
of one file is inherently sequential, so the unit of parallel work is a file; files are handed
out largest first, which keeps every core busy until the end when a few huge files and many
small ones are mixed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

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


@dataclass(frozen=True, kw_only=True)
class _Job:
    name: str  # recorded path
    path: str  # absolute path to open
    size: int


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
            self.jobs[rel] = _Job(name=rel, path=joined, size=st.st_size)
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
            self.jobs[name] = _Job(name=name, path=path, size=st.st_size)


class _Hasher:
    """Hashes jobs on worker threads; errors and progress are reported to the calling thread."""

    def __init__(self, jobs: Sequence[_Job], chunk_size: int, workers: int) -> None:
        self.jobs = jobs
        self.chunk_size = chunk_size
        self.results: dict[str, str] = {}
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

    def _hash_one(self, job: _Job, view: memoryview, index: int) -> str:
        digest = hashlib.sha256()
        done = self._done
        try:
            with open(job.path, "rb", buffering=0) as handle:
                if job.size > 4 * self.chunk_size:
                    with contextlib.suppress(AttributeError, OSError):
                        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                while True:
                    n = handle.readinto(view)
                    if not n:
                        break
                    digest.update(view[:n])
                    done[index] += n
                    if self._stop.is_set():
                        break
        except OSError as exc:
            raise InputError(f"{job.name}: cannot read ({exc.strerror or exc})") from exc
        return digest.hexdigest()

    def work(self, index: int = 0) -> None:
        view = memoryview(bytearray(self.chunk_size))
        while (job := self._take()) is not None:
            try:
                hexdigest = self._hash_one(job, view, index)
            except InputError as exc:
                with self._lock:
                    if self.error is None:
                        self.error = exc
                self._stop.set()
                return
            with self._lock:
                self.results[job.name] = hexdigest


def measure(
    paths: Iterable[str | os.PathLike[str]],
    *,
    base_path: str | os.PathLike[str],
    exclude: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ArtifactDigests:
    """Measure files and directories as in-toto records artifacts.

    ``paths`` are files or directories, relative ones taken relative to ``base_path`` (as in-toto
    does); results are keyed by their ``/``-separated path relative to ``base_path``, sorted.
    ``exclude`` holds gitignore-style patterns added to :data:`DEFAULT_EXCLUDES`. Symlinks are
    followed when they stay inside ``base_path`` and refused otherwise; dangling symlinks inside
    a directory are skipped (like in-toto). Missing or unreadable paths, paths outside the base
    and special files raise :class:`InputError`.
    """
    if chunk_size < 4096:
        raise UsageError("chunk_size must be at least 4096 bytes")
    collector = _Collector(Path(base_path), _compile_excludes(exclude))
    for raw in paths:
        collector.add_argument(os.fspath(raw))
    jobs = sorted(collector.jobs.values(), key=lambda job: (-job.size, job.name))
    total = sum(job.size for job in jobs)
    count = max(1, min(workers or usable_cores(), len(jobs)))
    hasher = _Hasher(jobs, chunk_size, count)
    if count <= 1 and progress is None:
        hasher.work()
    else:
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
    if hasher.error is not None:
        raise hasher.error
    if progress is not None:
        progress(hasher.done, total)
    return {name: {"sha256": hasher.results[name]} for name in sorted(hasher.results)}

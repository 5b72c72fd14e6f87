"""The digest cache: hits only for files unchanged since measured, safe under every change."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atlas_intoto import measure as measure_mod
from atlas_intoto.cli import main
from atlas_intoto.digestcache import CACHE_FILE, DigestCache, FileKey, default_cache
from atlas_intoto.errors import InputError
from atlas_intoto.home import atlas_home
from atlas_intoto.measure import Measurement, measure_files
from atlas_intoto.verify.checks.artifacts import hash_artifacts


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _settle() -> None:
    # Past the racy window, so that a later change gets another ctime than the one keyed.
    time.sleep(measure_mod.RACY_WINDOW_NS / 1e9 * 2)


@pytest.fixture
def cache(tmp_path: Path) -> DigestCache:
    with DigestCache(tmp_path / "state" / CACHE_FILE) as opened:
        yield opened


def _measure(base: Path, cache: DigestCache, *paths: str) -> Measurement:
    return measure_files(list(paths) or ["."], base_path=base, cache=cache)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    base = tmp_path / "data"
    base.mkdir()
    (base / "a.bin").write_bytes(b"A" * 100_000)
    (base / "b.bin").write_bytes(b"B" * 5000)
    return base


def test_second_measurement_reads_nothing(
    data: Path, cache: DigestCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _measure(data, cache)
    assert (first.files_hashed, first.files_cached) == (2, 0)
    assert first.bytes_hashed == 105_000

    def no_reads(*args: object, **kwargs: object) -> object:
        raise AssertionError("a cached file was opened")

    monkeypatch.setattr(measure_mod, "open", no_reads, raising=False)
    second = _measure(data, cache)
    assert second.digests == first.digests
    assert (second.files_hashed, second.bytes_hashed) == (0, 0)
    assert (second.files_cached, second.bytes_cached) == (2, 105_000)


def test_modify_in_place_misses(data: Path, cache: DigestCache) -> None:
    _measure(data, cache)
    _settle()
    with (data / "a.bin").open("r+b") as handle:
        handle.write(b"Z")
    result = _measure(data, cache)
    assert result.digests["a.bin"] == {"sha256": sha(b"Z" + b"A" * 99_999)}
    assert result.files_hashed == 1 and result.files_cached == 1


def test_same_size_rewrite_with_restored_mtime_is_caught_by_ctime(
    data: Path, cache: DigestCache
) -> None:
    path = data / "a.bin"
    _measure(data, cache)
    before = path.stat()
    _settle()
    path.write_bytes(b"X" * 100_000)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    assert after.st_ctime_ns != before.st_ctime_ns
    assert _measure(data, cache, "a.bin").digests == {"a.bin": {"sha256": sha(b"X" * 100_000)}}


def test_rename_keeps_the_digest_and_rename_over_misses(data: Path, cache: DigestCache) -> None:
    _measure(data, cache)
    _settle()
    (data / "a.bin").rename(data / "moved.bin")
    result = _measure(data, cache)
    assert result.digests["moved.bin"] == {"sha256": sha(b"A" * 100_000)}
    # Another file of the same size renamed over b.bin: another inode, so never b.bin's digest.
    (data / "new.tmp").write_bytes(b"C" * 5000)
    os.replace(data / "new.tmp", data / "b.bin")
    assert _measure(data, cache, "b.bin").digests["b.bin"] == {"sha256": sha(b"C" * 5000)}


def test_hard_links_share_the_entry_and_a_change_through_one_misses_for_both(
    data: Path, cache: DigestCache
) -> None:
    os.link(data / "a.bin", data / "twin.bin")
    first = _measure(data, cache, "a.bin")
    assert first.files_hashed == 1
    second = _measure(data, cache, "twin.bin")
    assert (second.files_hashed, second.files_cached) == (0, 1)
    assert second.digests["twin.bin"] == first.digests["a.bin"]
    _settle()
    with (data / "twin.bin").open("r+b") as handle:
        handle.write(b"Q")
    expected = {"sha256": sha(b"Q" + b"A" * 99_999)}
    for name in ("a.bin", "twin.bin"):
        result = _measure(data, cache, name)
        assert result.digests[name] == expected


def _truncating(path: Path, times: int, *, rewrite: bool = False) -> object:
    """A SHA-256 factory whose first update truncates ``path`` (or, with ``rewrite``, changes
    its first byte, already read) — ``times`` reads in a row."""
    left = [times]

    class Truncating:
        def __init__(self) -> None:
            self._inner = hashlib.sha256()
            self._first = True

        def update(self, data: memoryview) -> None:
            if self._first and left[0] > 0:
                left[0] -= 1
                if rewrite:
                    with path.open("r+b") as handle:
                        handle.write(b"W")
                else:
                    os.truncate(path, path.stat().st_size - 1)
            self._first = False
            self._inner.update(data)

        def hexdigest(self) -> str:
            return self._inner.hexdigest()

    return Truncating


def test_truncation_during_hashing_is_read_again(
    data: Path, cache: DigestCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = data / "a.bin"
    _settle()
    monkeypatch.setitem(measure_mod.HASHERS, "sha256", _truncating(path, 1))
    result = measure_files(["a.bin"], base_path=data, cache=cache, chunk_size=4096)
    assert result.digests == {"a.bin": {"sha256": sha(b"A" * 99_999)}}
    assert result.bytes_hashed == 2 * 99_999  # read again after the truncation
    monkeypatch.undo()
    # What the cache keeps is the digest of the file as it is now.
    again = _measure(data, cache, "a.bin")
    assert again.digests == result.digests


def test_a_region_rewritten_after_it_was_read_is_read_again(
    data: Path, cache: DigestCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = data / "a.bin"
    _settle()
    monkeypatch.setitem(measure_mod.HASHERS, "sha256", _truncating(path, 1, rewrite=True))
    result = measure_files(["a.bin"], base_path=data, cache=cache, chunk_size=4096)
    assert result.digests == {"a.bin": {"sha256": sha(b"W" + b"A" * 99_999)}}


def test_a_file_that_keeps_changing_is_refused_and_not_cached(
    data: Path, cache: DigestCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = data / "a.bin"
    monkeypatch.setitem(measure_mod.HASHERS, "sha256", _truncating(path, measure_mod.READ_ATTEMPTS))
    with pytest.raises(InputError, match=r"a\.bin: changed while being measured"):
        measure_files(["a.bin"], base_path=data, cache=cache, chunk_size=4096)
    monkeypatch.undo()
    result = _measure(data, cache, "a.bin")
    assert result.files_hashed == 1
    assert result.digests["a.bin"] == {"sha256": sha(path.read_bytes())}


def test_a_file_changed_a_moment_ago_is_cached_only_once_settled() -> None:
    now = time.time_ns()

    def key(ctime: int) -> FileKey:
        return FileKey(dev=1, ino=2, size=3, mtime_ns=ctime, ctime_ns=ctime)

    assert not measure_mod._settled(key(now - 1_000_001), now)
    assert measure_mod._settled(key(now - 1_000_001 - measure_mod.RACY_WINDOW_NS), now)
    # Whole-millisecond timestamps: a file system without fine times needs seconds.
    coarse = (now // 1_000_000_000 - 1) * 1_000_000_000
    assert not measure_mod._settled(key(coarse), now)
    assert measure_mod._settled(key(coarse - 2_000_000_000), now)
    assert not measure_mod._settled(key(now + 10**9), now)  # ctime in the future: clock skew


def test_corrupt_cache_file_is_set_aside_and_replaced(data: Path, tmp_path: Path) -> None:
    path = tmp_path / "state" / CACHE_FILE
    path.parent.mkdir()
    path.write_bytes(b"this is not an SQLite database" * 100)
    with DigestCache(path) as cache:
        result = _measure(data, cache)
    assert result.digests["b.bin"] == {"sha256": sha(b"B" * 5000)}
    assert (tmp_path / "state" / f"{CACHE_FILE}.corrupt").exists()
    with DigestCache(path) as cache:
        assert _measure(data, cache).files_cached == 2


def test_garbage_rows_are_misses(data: Path, cache: DigestCache) -> None:
    _measure(data, cache)
    cache.close()
    with sqlite3.connect(cache.path) as conn:
        conn.execute("UPDATE digests SET digest = 'not-hex'")
    result = _measure(data, cache)
    assert result.files_cached == 0
    assert result.digests["b.bin"] == {"sha256": sha(b"B" * 5000)}


def test_cache_keys_digests_per_algorithm(data: Path, cache: DigestCache) -> None:
    measure_files(["."], base_path=data, cache=cache)
    both = measure_files(["."], base_path=data, cache=cache, algorithms=("sha256", "blake3"))
    assert both.files_hashed == 2  # blake3 was not cached yet
    again = measure_files(["."], base_path=data, cache=cache, algorithms=("blake3",))
    assert again.files_cached == 2
    assert again.digests["a.bin"] == {"blake3": both.digests["a.bin"]["blake3"]}


def test_verification_never_trusts_the_cache(data: Path, cache: DigestCache) -> None:
    measure_files(["."], base_path=data, cache=cache)
    key = FileKey.of((data / "a.bin").stat())
    cache.store([(key, {"sha256": "0" * 64})])  # a poisoned entry
    assert _measure(data, cache, "a.bin").digests["a.bin"] == {"sha256": "0" * 64}
    assert hash_artifacts(data / "a.bin").files == {"a.bin": sha(b"A" * 100_000)}


def test_environment_and_flag_turn_the_cache_off(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATLAS_INTOTO_HOME", str(tmp_path / "home"))
    assert default_cache() is not None
    assert default_cache(enabled=False) is None
    monkeypatch.setenv("ATLAS_INTOTO_DIGEST_CACHE", "0")
    assert default_cache() is None
    monkeypatch.delenv("ATLAS_INTOTO_DIGEST_CACHE")
    args = ["measure", ".", "--base-path", str(data)]
    assert main([*args, "--no-digest-cache"]) == 0
    assert not (atlas_home() / CACHE_FILE).exists()
    monkeypatch.setenv("ATLAS_INTOTO_DIGEST_CACHE", "off")
    assert main(args) == 0
    assert not (atlas_home() / CACHE_FILE).exists()
    monkeypatch.delenv("ATLAS_INTOTO_DIGEST_CACHE")
    assert main(args) == 0
    _settle()
    assert main(args) == 0
    assert "2 file(s) measured (2 unchanged since measured)" in capsys.readouterr().err
    assert main([*args, "--no-digest-cache"]) == 0
    assert "unchanged" not in capsys.readouterr().err


def test_concurrent_processes_share_the_cache(data: Path, tmp_path: Path) -> None:
    env = {**os.environ, "ATLAS_INTOTO_HOME": str(tmp_path / "shared-home")}
    for i in range(20):
        (data / f"f{i}").write_bytes(os.urandom(2000 + i))
    cmd = [sys.executable, "-m", "atlas_intoto", "measure", ".", "--json", "--base-path", str(data)]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1
    assert all(b"digest cache" not in err for _, err in outputs)

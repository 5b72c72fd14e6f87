"""Artifact measurement: digests, paths, excludes, symlink rules, errors, progress, CLI."""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import string
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas_intoto.cli import main
from atlas_intoto.cli._common import Output
from atlas_intoto.cli.measure import ProgressBar
from atlas_intoto.errors import InputError, UsageError
from atlas_intoto.measure import exclude_pattern_for, measure


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.txt").write_bytes(b"alpha")
    (tmp_path / "data" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)
    (tmp_path / "data" / "empty").write_bytes(b"")
    (tmp_path / "top.txt").write_bytes(b"top")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_bytes(b"ref: refs/heads/main\n")
    return tmp_path


@pytest.fixture
def deny_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Make a path unreadable. Permission bits do not bind root, so opens are also refused."""
    denied: set[str] = set()
    real_open = builtins.open
    real_scandir = os.scandir

    def fake_open(file: object, *args: object, **kwargs: object) -> object:
        if isinstance(file, str | os.PathLike) and os.path.abspath(file) in denied:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    def fake_scandir(path: str) -> object:
        if os.path.abspath(path) in denied:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "scandir", fake_scandir)
    chmodded: list[tuple[Path, int]] = []

    def deny(path: Path) -> None:
        chmodded.append((path, path.stat().st_mode & 0o777))
        path.chmod(0)
        denied.add(os.path.abspath(path))

    yield deny
    for path, mode in chmodded:
        path.chmod(mode)


# --- digests and paths ---------------------------------------------------------------------------


def test_files_and_directories_are_measured_with_sorted_slash_paths(tree: Path) -> None:
    result = measure(["data", "top.txt"], base_path=tree)
    assert list(result) == ["data/a.txt", "data/empty", "data/sub/b.bin", "top.txt"]
    assert result["data/a.txt"] == {"sha256": sha(b"alpha")}
    assert result["data/empty"] == {"sha256": sha(b"")}
    assert result["data/sub/b.bin"] == {"sha256": sha(bytes(range(256)) * 100)}


def test_dot_base_excludes_git_and_strips_dot_slash(tree: Path) -> None:
    result = measure(["."], base_path=tree)
    assert "top.txt" in result and not any(name.startswith(".git") for name in result)
    assert measure(["./data/../top.txt"], base_path=tree) == {"top.txt": {"sha256": sha(b"top")}}


def test_git_can_be_reincluded_with_negation(tree: Path) -> None:
    result = measure(["."], base_path=tree, exclude=["!.git/"])
    assert ".git/HEAD" in result


def test_relative_paths_are_taken_from_base_path_and_absolute_ones_must_lie_inside(
    tree: Path,
) -> None:
    assert list(measure(["a.txt"], base_path=tree / "data")) == ["a.txt"]
    assert list(measure([tree / "data" / "a.txt"], base_path=tree)) == ["data/a.txt"]
    with pytest.raises(InputError, match="outside the base path"):
        measure(["../top.txt"], base_path=tree / "data")
    with pytest.raises(InputError, match="outside the base path"):
        measure([tree / "top.txt"], base_path=tree / "data")


@pytest.mark.parametrize("chunk_size", [4096, 1 << 20])
@pytest.mark.parametrize("workers", [1, 2, 5])
def test_chunking_and_workers_do_not_change_digests(
    tmp_path: Path, chunk_size: int, workers: int
) -> None:
    sizes = [0, 1, 4095, 4096, 4097, 3 * 4096, 1 << 20, (1 << 20) + 3, 5_000_000]
    expected = {}
    for i, size in enumerate(sizes):
        data = os.urandom(size)
        (tmp_path / f"f{i:02}").write_bytes(data)
        expected[f"f{i:02}"] = {"sha256": sha(data)}
    assert measure(["."], base_path=tmp_path, workers=workers, chunk_size=chunk_size) == expected


def test_chunk_size_too_small_is_a_usage_error(tree: Path) -> None:
    with pytest.raises(UsageError):
        measure(["data"], base_path=tree, chunk_size=16)


# --- excludes ------------------------------------------------------------------------------------


def test_gitignore_style_excludes(tree: Path) -> None:
    (tree / "data" / "sub" / "skip.tmp").write_bytes(b"x")
    (tree / "data" / "cache").mkdir()
    (tree / "data" / "cache" / "big").write_bytes(b"x")
    result = measure(["."], base_path=tree, exclude=["*.tmp", "cache/", "/top.txt"])
    assert set(result) == {"data/a.txt", "data/empty", "data/sub/b.bin"}


def test_explicit_excluded_paths_are_skipped_like_in_toto(tree: Path) -> None:
    assert measure(["data/a.txt", "top.txt"], base_path=tree, exclude=["*.txt"]) == {}
    assert measure(["data"], base_path=tree, exclude=["data/"]) == {}


@pytest.mark.parametrize("pattern", ["!", "\\", "[z-a]"])
def test_invalid_exclude_pattern_is_a_usage_error(tree: Path, pattern: str) -> None:
    with pytest.raises(UsageError, match="--exclude"):
        measure(["data"], base_path=tree, exclude=[pattern])


def test_exclude_pattern_for_evidence_directory(tmp_path: Path) -> None:
    assert exclude_pattern_for(tmp_path / ".atlas", base_path=tmp_path) == "/.atlas/"
    assert exclude_pattern_for(tmp_path / "a[1]", base_path=tmp_path) == "/a\\[1\\]/"
    assert exclude_pattern_for(tmp_path.parent, base_path=tmp_path) is None
    assert exclude_pattern_for(tmp_path, base_path=tmp_path) is None


# --- symlinks ------------------------------------------------------------------------------------


def test_symlinks_inside_base_are_followed_and_recorded_under_their_name(tree: Path) -> None:
    (tree / "data" / "link.txt").symlink_to("a.txt")
    (tree / "linkdir").symlink_to("data/sub")
    result = measure(["data", "linkdir"], base_path=tree)
    assert result["data/link.txt"] == result["data/a.txt"]
    assert result["linkdir/b.bin"] == result["data/sub/b.bin"]


def test_symlink_leaving_base_is_refused(
    tree: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret").write_bytes(b"s")
    (tree / "data" / "escape").symlink_to(outside / "secret")
    with pytest.raises(InputError, match=r"data/escape: symlink leads outside the base path"):
        measure(["data"], base_path=tree)
    (tree / "data" / "escape").unlink()
    (tree / "data" / "escape-dir").symlink_to(outside)
    with pytest.raises(InputError, match="outside the base path"):
        measure(["."], base_path=tree)
    with pytest.raises(InputError, match="outside the base path"):
        measure(["data/escape-dir"], base_path=tree)


def test_symlink_loop_is_refused(tree: Path) -> None:
    (tree / "data" / "sub" / "loop").symlink_to("..")
    with pytest.raises(InputError, match="symlink loop"):
        measure(["data"], base_path=tree)


def test_dangling_symlinks_are_skipped_in_directories_but_refused_when_named(tree: Path) -> None:
    (tree / "data" / "dangling").symlink_to("nowhere")
    assert "data/dangling" not in measure(["data"], base_path=tree)
    with pytest.raises(InputError, match="data/dangling"):
        measure(["data/dangling"], base_path=tree)


# --- bad input -----------------------------------------------------------------------------------


def test_missing_path_is_an_input_error(tree: Path) -> None:
    with pytest.raises(InputError, match=r"^data/nope: not found \(looked for .*/data/nope\)$"):
        measure(["data/nope"], base_path=tree)
    with pytest.raises(InputError, match="empty path"):
        measure([""], base_path=tree)


def test_missing_or_file_base_path_is_an_input_error(tree: Path) -> None:
    with pytest.raises(InputError, match="base path not accessible"):
        measure(["x"], base_path=tree / "missing")
    with pytest.raises(InputError, match="base path is not a directory"):
        measure(["x"], base_path=tree / "top.txt")


def test_unreadable_file_is_an_input_error(tree: Path, deny_read: Callable[[Path], None]) -> None:
    deny_read(tree / "data" / "sub" / "b.bin")
    for workers in (1, 3):
        with pytest.raises(
            InputError, match=r"^data/sub/b\.bin: cannot read \(Permission denied\)"
        ):
            measure(["data"], base_path=tree, workers=workers)


def test_unreadable_directory_is_an_input_error(
    tree: Path, deny_read: Callable[[Path], None]
) -> None:
    deny_read(tree / "data" / "sub")
    with pytest.raises(InputError, match=r"^data/sub: cannot list directory"):
        measure(["data"], base_path=tree)


def test_special_files_are_refused(tree: Path) -> None:
    os.mkfifo(tree / "data" / "fifo")
    with pytest.raises(InputError, match="data/fifo: not a regular file"):
        measure(["data"], base_path=tree)
    with pytest.raises(InputError, match="not a regular file"):
        measure(["data/fifo"], base_path=tree)


# --- progress ------------------------------------------------------------------------------------


def test_progress_reports_bytes_done_of_total(tmp_path: Path) -> None:
    for i in range(6):
        (tmp_path / f"f{i}").write_bytes(b"x" * (300_000 + i))
    total = sum(300_000 + i for i in range(6))
    calls: list[tuple[int, int]] = []
    measure(["."], base_path=tmp_path, progress=lambda d, t: calls.append((d, t)), chunk_size=4096)
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_progress_bar_is_silent_when_disabled_and_clears_when_done() -> None:
    silent = io.StringIO()
    ProgressBar("measuring", enabled=False, stream=silent, delay=0)(5, 10)
    assert silent.getvalue() == ""
    shown = io.StringIO()
    bar = ProgressBar("measuring", enabled=True, stream=shown, delay=0)
    bar(5, 10)
    assert "measuring [" in shown.getvalue() and " 50%" in shown.getvalue()
    bar(10, 10)
    assert shown.getvalue().endswith("\r\x1b[2K")
    delayed = io.StringIO()
    ProgressBar("measuring", enabled=True, stream=delayed, delay=3600)(5, 10)
    assert delayed.getvalue() == ""


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("json_mode", "tty", "enabled"),
    [(False, True, True), (True, True, False), (False, False, False), (True, False, False)],
)
def test_cli_progress_bar_is_hidden_with_json_or_without_a_terminal(
    monkeypatch: pytest.MonkeyPatch, json_mode: bool, tty: bool, enabled: bool
) -> None:
    monkeypatch.setattr(sys, "stderr", _Tty() if tty else io.StringIO())
    bar = ProgressBar.for_output("measuring", Output(json_mode=json_mode, debug=False))
    assert bar.enabled is enabled


# --- agreement with in-toto on random trees -------------------------------------------------------

_names = st.text(alphabet=string.ascii_letters + string.digits + "-_. ", min_size=1, max_size=12)
_tree = st.dictionaries(
    st.lists(_names, min_size=1, max_size=3).map(tuple),
    st.binary(max_size=9000),
    max_size=12,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(files=_tree)
def test_random_trees_agree_with_in_toto(
    tmp_path_factory: pytest.TempPathFactory, files: dict[tuple[str, ...], bytes]
) -> None:
    from in_toto.runlib import record_artifacts_as_dict

    root = tmp_path_factory.mktemp("random")
    for parts, data in files.items():
        if any(p in (".", "..") or p.strip() != p for p in parts):
            continue
        path = root.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue  # a name is both a file and a directory in this example
    ours = measure(["."], base_path=root, exclude=["never-matches-anything"])
    theirs = record_artifacts_as_dict(
        ["."], exclude_patterns=[".git/"], base_path=str(root), follow_symlink_dirs=True
    )
    assert ours == theirs


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_text_output_is_sha256sum_style(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measure", "data/a.txt", "top.txt", "--base-path", str(tree)]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == [f"{sha(b'alpha')}  data/a.txt", f"{sha(b'top')}  top.txt"]
    assert "2 file(s) measured" in out.err


def test_cli_json_is_the_link_format(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["measure", "data", "--exclude", "sub/", "--base-path", str(tree), "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"data/a.txt": {"sha256": sha(b"alpha")}, "data/empty": {"sha256": sha(b"")}}


def test_cli_missing_path_is_one_line_exit_2(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["measure", "nope", "--base-path", str(tree), "--json"]) == 2
    out = capsys.readouterr()
    assert json.loads(out.out)["error"]["type"] == "InputError"
    assert out.err == f"atlas-intoto: error: nope: not found (looked for {tree / 'nope'})\n"


def test_memory_is_bounded_by_workers_times_chunk(tmp_path: Path) -> None:
    import tracemalloc

    big = tmp_path / "big"
    with big.open("wb") as handle:
        for _ in range(48):
            handle.write(os.urandom(1 << 20))
    tracemalloc.start()
    try:
        measure(["big"], base_path=tmp_path, workers=2, chunk_size=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * (1 << 20)  # a 48 MiB file never sits in memory


# --- BLAKE3 and several algorithms -------------------------------------------------------------


def b3(data: bytes) -> str:
    import blake3

    return blake3.blake3(data).hexdigest()


def test_blake3_alone_and_beside_sha256_in_one_read(tree: Path) -> None:
    data = bytes(range(256)) * 100
    assert measure(["data/sub"], base_path=tree, algorithms=("blake3",)) == {
        "data/sub/b.bin": {"blake3": b3(data)}
    }
    both = measure(["data"], base_path=tree, algorithms=("blake3", "sha256"), chunk_size=4096)
    assert both["data/sub/b.bin"] == {"sha256": sha(data), "blake3": b3(data)}
    assert list(both["data/a.txt"]) == ["sha256", "blake3"]  # canonical order
    assert both["data/empty"] == {"sha256": sha(b""), "blake3": b3(b"")}


def test_a_large_file_gives_the_same_blake3_whatever_the_chunk(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 12345)
    (tmp_path / "big").write_bytes(data)
    for chunk in (4096, 1 << 20, 8 << 20):
        result = measure(["big"], base_path=tmp_path, algorithms=("blake3",), chunk_size=chunk)
        assert result == {"big": {"blake3": b3(data)}}


@pytest.mark.parametrize("algorithms", [(), ("md5",), ("sha256", "sha256")])
def test_unknown_or_repeated_algorithms_are_usage_errors(
    tree: Path, algorithms: tuple[str, ...]
) -> None:
    with pytest.raises(UsageError):
        measure(["data"], base_path=tree, algorithms=algorithms)


def test_cli_digest_option(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["measure", "data/a.txt", "--base-path", str(tree)]
    assert main([*base, "--digest", "blake3"]) == 0
    assert capsys.readouterr().out == f"{b3(b'alpha')}  data/a.txt\n"  # b3sum style
    assert main([*base, "--digest", "sha256,blake3"]) == 0
    assert capsys.readouterr().out == f"sha256:{sha(b'alpha')} blake3:{b3(b'alpha')}  data/a.txt\n"
    assert main([*base, "--digest", "blake3", "--digest", "sha256", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"data/a.txt": {"sha256": sha(b"alpha"), "blake3": b3(b"alpha")}}
    assert main([*base, "--digest", ",", "--json"]) == 2
    assert "at least one" in json.loads(capsys.readouterr().out)["error"]["message"]
    assert main([*base, "--digest", "md5", "--json"]) == 2
    out = capsys.readouterr()
    assert json.loads(out.out)["error"]["type"] == "UsageError"
    assert out.err.count("\n") == 1 and "--digest md5: unknown digest" in out.err

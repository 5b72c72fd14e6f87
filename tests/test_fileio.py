"""File helpers at the edge: every unreadable or malformed file is one InputError line."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_intoto.errors import InputError, OutputError
from atlas_intoto.fileio import atomic_write, read_bytes, read_json


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "invalid JSON at line 1 column 1"),
        (b'{"a": [1, 2', "invalid JSON at line 1"),
        (b'{"a": "\xff"}', "is not UTF-8"),
        # json.loads raises RecursionError for deep nesting and a bare ValueError for integers
        # past Python's digit limit; both used to escape as internal errors.
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        (b'{"a": ' + b"9" * 5000 + b"}", "invalid JSON"),
    ],
)
def test_read_json_malformed(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_json(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_read_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_bytes(tmp_path / "missing")
    with pytest.raises(InputError, match="is a directory"):
        read_json(tmp_path)


def test_atomic_write_leaves_nothing_on_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError):
        atomic_write(tmp_path / "file" / "sub", b"data")
    atomic_write(tmp_path / "out" / "a.json", b"{}")
    assert (tmp_path / "out" / "a.json").read_bytes() == b"{}"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.json"]


def test_path_with_nul_byte_is_an_input_error(tmp_path: Path) -> None:
    # Paths come from layouts and JSON documents too; open() raises ValueError on NUL.
    with pytest.raises(InputError, match="invalid key path"):
        read_bytes(tmp_path / "a\0b.pub", what="key")
    with pytest.raises(InputError, match="invalid JSON file path"):
        read_json(tmp_path / "a\0b.json")

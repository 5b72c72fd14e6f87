"""C2SP tlog-tiles paths and entry bundles."""

from __future__ import annotations

import pytest

from atlas_intoto.errors import UsageError
from atlas_intoto.tlog.v2 import tiles


@pytest.mark.parametrize(
    ("index", "path"), [(0, "000"), (7, "007"), (1000, "x001/000"), (1234067, "x001/x234/067")]
)
def test_index_encoding_round_trips(index: int, path: str) -> None:
    assert tiles.encode_index(index) == path
    ref = tiles.parse_tile_path(f"2/{path}")
    assert (ref.level, ref.index, ref.width, ref.full) == (2, index, 256, True)


def test_partial_and_entry_paths() -> None:
    assert tiles.tile_path(None, 1000, 5) == "tile/entries/x001/000.p/5"
    ref = tiles.parse_tile_path("entries/x001/000.p/5")
    assert (ref.level, ref.index, ref.width, ref.full) == (None, 1000, 5, False)


@pytest.mark.parametrize(
    "path",
    [
        "0",
        "0/1",
        "0/0001",
        "0/x000/001",
        "0/001.p/0",
        "0/001.p/256",
        "0/001.p/07",
        "64/000",
        "a/000",
        "0/x1/000",
    ],
)
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(UsageError):
        tiles.parse_tile_path(path)


def test_available_width() -> None:
    assert tiles.available_width(0, 0, 10) == 10
    assert tiles.available_width(0, 1, 300) == 44
    assert tiles.available_width(1, 0, 300) == 1
    assert tiles.available_width(1, 0, 255) == 0


def test_bundles_round_trip_and_truncation_is_detected() -> None:
    data = tiles.encode_bundle([b"a", b"", b"xyz"])
    assert tiles.decode_bundle(data) == [b"a", b"", b"xyz"]
    with pytest.raises(ValueError, match="truncated"):
        tiles.decode_bundle(data[:-1])
    with pytest.raises(ValueError):
        tiles.encode_bundle([b"x" * 70000])

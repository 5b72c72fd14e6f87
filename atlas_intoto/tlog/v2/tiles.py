"""C2SP tlog-tiles (pure): tile paths, tile widths and entry bundles.

A tile ``<L>/<N>`` holds up to 256 hashes of level ``8·L`` of the Merkle tree, nodes
``N·256 .. N·256+255``; level-0 tiles hold leaf hashes. A partial tile (``.p/<W>``, 1 ≤ W ≤ 255)
holds the first W. ``N`` is written in groups of three digits, every group but the last
prefixed with ``x`` (1234067 → ``x001/x234/067``). An entry bundle ``entries/<N>`` holds the
entries ``N·256 ..`` each as a big-endian uint16 length and the bytes. Full tiles never change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from atlas_intoto.errors import UsageError

__all__ = ["TILE_HEIGHT", "TILE_WIDTH", "TileRef", "encode_bundle", "parse_tile_path", "tile_path"]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
#: An entry bundle stores lengths as uint16.
MAX_ENTRY_SIZE = 0xFFFF
_LEVEL = re.compile(r"0|[1-9][0-9]?")
_GROUP = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")


@dataclass(frozen=True, kw_only=True)
class TileRef:
    """A parsed tile request: ``level`` is None for an entry bundle; ``width`` 256 = full."""

    level: int | None
    index: int
    width: int

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH


def encode_index(index: int) -> str:
    """``N`` as a tile path: groups of three digits, non-final groups prefixed with ``x``."""
    if index < 0:
        raise ValueError("tile index must not be negative")
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def tile_path(level: int | None, index: int, width: int = TILE_WIDTH) -> str:
    """The path below the log's root: ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[...]``."""
    head = "entries" if level is None else str(level)
    tail = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{head}/{encode_index(index)}{tail}"


def parse_tile_path(path: str) -> TileRef:
    """Parse what follows ``tile/`` (UsageError: a malformed path, a 400/404)."""
    parts = path.split("/")
    width = TILE_WIDTH
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        if not _WIDTH.fullmatch(parts[-1]) or int(parts[-1]) >= TILE_WIDTH:
            raise UsageError(f"tile path {path[:80]!r}: partial width must be 1..255")
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][:-2]]
    if len(parts) < 2:
        raise UsageError(f"tile path {path[:80]!r}: expected <L>/<N>")
    head, *groups = parts
    if head == "entries":
        level: int | None = None
    elif _LEVEL.fullmatch(head) and int(head) < 64:
        level = int(head)
    else:
        raise UsageError(f"tile path {path[:80]!r}: bad level")
    if len(groups) > 7 or not _LAST.fullmatch(groups[-1]):
        raise UsageError(f"tile path {path[:80]!r}: bad index")
    if not all(_GROUP.fullmatch(g) for g in groups[:-1]):
        raise UsageError(f"tile path {path[:80]!r}: bad index")
    index = int("".join(g.lstrip("x") for g in groups))
    if encode_index(index) != "/".join(groups):
        # Only the canonical spelling names a tile (x000/001 is not 001).
        raise UsageError(f"tile path {path[:80]!r}: index not in canonical form")
    return TileRef(level=level, index=index, width=width)


def available_width(level: int, index: int, tree_size: int) -> int:
    """How many hashes tile ``level/index`` holds in a tree of ``tree_size`` leaves (0..256)."""
    nodes = tree_size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, nodes - index * TILE_WIDTH))


def encode_bundle(entries: list[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError("entry larger than 65535 bytes")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle (ValueError: truncated)."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("entry bundle: truncated length")
        size = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + size > len(data):
            raise ValueError("entry bundle: truncated entry")
        entries.append(data[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return entries

"""A Rekor v2 client (at the edge): writing entries (``POST /api/v2/log/entries``) and reading
the tree through C2SP tlog-tiles: the checkpoint, any subtree hash, inclusion and consistency
proofs (computed from tiles, since tile logs serve no proofs), and entries by index.

A node at level ``l`` is read from the tile of level ``l // 8`` holding its ``2**(l % 8)``
descendants there, and folded; a tile is read at the width the tree size allows (partial
tiles ``.p/<W>``), so proofs are for exactly the checkpoint asked about.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from atlas_intoto.auth.client import bearer_headers
from atlas_intoto.errors import LogServerError, NetworkError
from atlas_intoto.tlog import merkle
from atlas_intoto.tlog.v2 import tiles

__all__ = ["DuplicateV2Entry", "RekorV2Client"]

_TIMEOUT = 30.0


class DuplicateV2Entry(Exception):
    """The log already holds the proposed entry, at ``index``."""

    def __init__(self, index: int, entry: dict[str, Any] | None) -> None:
        super().__init__(f"entry already logged at index {index}")
        self.index = index
        #: the existing TransparencyLogEntry, when the log returns it (ours does)
        self.entry = entry


class RekorV2Client:
    """One Rekor v2 log at ``url`` (the origin of ``/api/v2``, ``/checkpoint`` and ``/tile``)."""

    def __init__(self, url: str, *, http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        # the log's write token (docs/auth.md), from the environment, never the command line
        self._http = http or httpx.Client(timeout=_TIMEOUT, headers=bearer_headers())
        self._tiles: dict[tuple[int | None, int, int], bytes] = {}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RekorV2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str) -> bytes:
        try:
            response = self._http.get(f"{self.url}/{path}")
        except httpx.HTTPError as exc:
            raise NetworkError(f"log {self.url}: unreachable ({exc})") from exc
        if response.status_code != 200:
            raise LogServerError(
                f"log {self.url}/{path}: HTTP {response.status_code}",
                status=response.status_code,
            )
        return response.content

    # --- writes ------------------------------------------------------------------------------

    def create_entry(self, request: dict[str, Any]) -> dict[str, Any]:
        """Propose an entry; the TransparencyLogEntry (DuplicateV2Entry on 409)."""
        try:
            response = self._http.post(f"{self.url}/api/v2/log/entries", json=request)
        except httpx.HTTPError as exc:
            raise NetworkError(f"log {self.url}: unreachable ({exc})") from exc
        if response.status_code == 409 and response.headers.get("x-log-index", "").isdigit():
            raise DuplicateV2Entry(int(response.headers["x-log-index"]), _existing(response))
        if response.status_code not in (200, 201):
            raise LogServerError(
                f"log {self.url}: HTTP {response.status_code} creating an entry "
                f"({response.text[:200]})",
                status=response.status_code,
            )
        try:
            doc = json.loads(response.content)
        except ValueError as exc:
            raise NetworkError(f"log {self.url}: the answer is not JSON") from exc
        if not isinstance(doc, dict):
            raise NetworkError(f"log {self.url}: the answer is not a TransparencyLogEntry")
        return doc

    # --- reads -------------------------------------------------------------------------------

    def checkpoint(self) -> str:
        """The log's latest checkpoint note (unverified)."""
        try:
            return self._get("checkpoint").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NetworkError(f"log {self.url}: checkpoint is not UTF-8") from exc

    def tile(self, level: int | None, index: int, width: int) -> bytes:
        """Tile ``level/index`` (``None``: entry bundle) at ``width``; full tiles are cached."""
        key = (level, index, width)
        cached = self._tiles.get(key)
        if cached is not None:
            return cached
        data = self._get(tiles.tile_path(level, index, width))
        if level is not None and len(data) != width * merkle.HASH_SIZE:
            raise NetworkError(f"log {self.url}: tile {level}/{index} has the wrong size")
        if width == tiles.TILE_WIDTH:
            self._tiles[key] = data
        return data

    def node_hash(self, node: merkle.NodeId, size: int) -> bytes:
        """The hash of the complete subtree ``node`` of the tree of ``size`` leaves."""
        tile_level, rise = divmod(node.level, tiles.TILE_HEIGHT)
        first = node.index << rise
        count = 1 << rise
        tile_index, offset = divmod(first, tiles.TILE_WIDTH)
        width = tiles.available_width(tile_level, tile_index, size)
        if offset + count > width:
            raise NetworkError(f"log {self.url}: node {node} is not in a tree of size {size}")
        data = self.tile(tile_level, tile_index, width)
        hashes = [data[(offset + i) * 32 : (offset + i + 1) * 32] for i in range(count)]
        return merkle.root_from_leaves(hashes, hashed=True)

    def _proof(self, plan: merkle.ProofNodes, size: int) -> list[bytes]:
        return plan.rehash([self.node_hash(n, size) for n in plan.ids])

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of ``size`` leaves."""
        return self._proof(merkle.inclusion_node_ids(index, size), size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """The RFC 6962 consistency proof from ``size1`` to ``size2``."""
        return self._proof(merkle.consistency_node_ids(size1, size2), size2)

    def root_hash(self, size: int) -> bytes:
        """The root of the tree of ``size`` leaves, from tiles."""
        ids = merkle.range_node_ids(0, size)
        return merkle.root_from_range([self.node_hash(n, size) for n in ids])

    def entry(self, index: int, size: int) -> bytes:
        """The body of entry ``index`` (from its entry bundle, as wide as ``size`` allows)."""
        bundle_index, offset = divmod(index, tiles.TILE_WIDTH)
        width = tiles.available_width(0, bundle_index, size)
        if offset >= width:
            raise NetworkError(f"log {self.url}: entry {index} not in a tree of size {size}")
        try:
            entries = tiles.decode_bundle(self.tile(None, bundle_index, width))
        except ValueError as exc:
            raise NetworkError(f"log {self.url}: {exc}") from exc
        if len(entries) != width:
            raise NetworkError(f"log {self.url}: entry bundle {bundle_index} has the wrong size")
        return entries[offset]


def _existing(response: httpx.Response) -> dict[str, Any] | None:
    try:
        doc = json.loads(response.content)
    except ValueError:
        return None
    entry = doc.get("entry") if isinstance(doc, dict) else None
    return entry if isinstance(entry, dict) else None

"""A persistent cache of *successful* verifications, keyed by content digests and trust anchors.

Each entry's key is SHA-256 over the RFC 8785 canonical JSON of ``{"kind", "v", **inputs}`` where
``inputs`` holds the digests of every byte string the check read *and* of every trust anchor it
used (pinned keys, roots, policy, reference time). A different anchor yields a different key, so
a result is never reused under other anchors. Failures are never cached: a failing check always
runs again and reports its reason. Files live under ``atlas_home()/cache/verify`` (one small JSON
file per entry, written atomically); deleting the directory only costs time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rfc8785

CACHE_VERSION = 1


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_digest(value: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def default_cache_dir() -> Path:
    from atlas_intoto.home import atlas_home

    return atlas_home() / "cache" / "verify"


class VerifyCache:
    """Memory layer in front of an optional directory (``None``: memory only, e.g. one batch)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._memory: dict[str, dict[str, Any]] = {}
        self.hits = 0
        self.misses = 0

    @classmethod
    def default(cls) -> VerifyCache:
        return cls(default_cache_dir())

    @staticmethod
    def key(kind: str, inputs: Mapping[str, Any]) -> str:
        return json_digest({"kind": kind, "v": CACHE_VERSION, **inputs})

    def _path(self, key: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, kind: str, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
        key = self.key(kind, inputs)
        value = self._memory.get(key)
        if value is None:
            path = self._path(key)
            if path is not None:
                # A corrupt or vanished entry is a miss: the check simply runs again.
                with contextlib.suppress(OSError, ValueError):
                    loaded = json.loads(path.read_bytes())
                    if isinstance(loaded, dict) and loaded.get("key") == key:
                        value = loaded.get("value")
                        if isinstance(value, dict):
                            self._memory[key] = value
                        else:
                            value = None
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, kind: str, inputs: Mapping[str, Any], value: Mapping[str, Any]) -> None:
        key = self.key(kind, inputs)
        self._memory[key] = dict(value)
        path = self._path(key)
        if path is None:
            return
        # A cache that cannot be written must never fail a verification.
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(json.dumps({"key": key, "kind": kind, "value": value}).encode())
                os.replace(tmp, path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

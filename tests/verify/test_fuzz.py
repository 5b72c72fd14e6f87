"""Bad input never crashes the verifier: random corruptions of a real bundle end in an
AtlasError (malformed file) or a report whose failures carry a specific error, never an
internal error."""

from __future__ import annotations

import base64
import copy
import json
import random
from collections.abc import Iterator
from typing import Any

from bundle_builder import Pipeline

from atlas_intoto.errors import AtlasError
from atlas_intoto.verify import verify_bundle


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield path


def _mutate(value: Any, rng: random.Random) -> Any:
    choice = rng.randrange(5)
    if isinstance(value, str) and value and choice < 3:
        if choice == 0:
            return value[: len(value) // 2]
        if choice == 1:
            try:
                raw = bytearray(base64.b64decode(value, validate=True))
                raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
                return base64.b64encode(bytes(raw)).decode()
            except ValueError:
                return value + "x"
        return value[::-1]
    return None if choice == 3 else 12345


def test_random_corruptions_never_crash(full_pipeline: Pipeline) -> None:
    original = full_pipeline.bundle_doc()
    paths = list(_leaves(original))
    rng = random.Random(6)
    outcomes = {"rejected": 0, "failed": 0, "passed": 0}
    for _ in range(120):
        doc = copy.deepcopy(original)
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = _mutate(parent[path[-1]], rng)
        try:
            report = verify_bundle(json.dumps(doc).encode(), layout_keys=[full_pipeline.owner_pem])
        except AtlasError:
            outcomes["rejected"] += 1
            continue
        assert [r for r in report.results if r.code == "internal"] == [], report.text()
        assert all(r.error for r in report.failures)
        outcomes["passed" if report.ok else "failed"] += 1
    assert outcomes["failed"] > 60

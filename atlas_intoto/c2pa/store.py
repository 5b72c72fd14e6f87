"""c2pa-rs settings shared by signing and validation, reading a sidecar, and stream adapters.

c2pa-python is imported inside the functions: it loads a large native library, and the CLI
must stay fast for commands that never touch C2PA.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

#: Label of the assertion tying a manifest to the step's link (docs/ARCHITECTURE.md).
STEP_ASSERTION = "org.atlas-intoto.step"
#: The commitments of a step's private materials (docs/confidentiality.md): a public product's
#: manifest names its private ingredients only this way, never by path or hash.
PRIVATE_INGREDIENTS_ASSERTION = "org.atlas-intoto.private-ingredients"
#: The only hard binding we produce and accept: SHA-256 over the whole file.
DATA_HASH = "c2pa.hash.data"
#: Validation codes (C2PA 2.x §15) this package relies on.
CODE_TRUSTED = "signingCredential.trusted"
CODE_SIGNATURE_OK = "claimSignature.validated"
CODE_DATA_HASH_MISMATCH = "assertion.dataHash.mismatch"
#: Spill c2pa-rs's intermediate copy of the asset to a temporary file beyond this size, so
#: signing a large model does not hold it in memory (c2pa-rs's own default is 512 MB).
_BACKING_STORE_MB = 8


def settings(anchors_pem: Sequence[bytes] = ()) -> dict[str, Any]:
    """c2pa-rs settings: trust only ``anchors_pem``; never touch the network."""
    config: dict[str, Any] = {
        "verify": {
            "verify_after_reading": True,
            "verify_after_sign": True,
            "verify_trust": True,
            "ocsp_fetch": False,
            "remote_manifest_fetch": False,
        },
        "core": {
            "allowed_network_hosts": [],
            "backing_store_memory_threshold_in_mb": _BACKING_STORE_MB,
        },
        "builder": {"thumbnail": {"enabled": False}},
    }
    if anchors_pem:
        pem = b"".join(anchor.rstrip(b"\n") + b"\n" for anchor in anchors_pem)
        config["trust"] = {"trust_anchors": pem.decode("ascii", errors="replace")}
    return config


@contextmanager
def context(anchors_pem: Sequence[bytes] = ()) -> Iterator[Any]:
    """A c2pa ``Context`` with :func:`settings`, closed afterwards."""
    import c2pa

    config = settings(anchors_pem)
    ctx = c2pa.Context.from_dict(config)
    _CONTEXT_SETTINGS[id(ctx)] = hashlib.sha256(
        json.dumps(config, sort_keys=True).encode()
    ).digest()
    try:
        yield ctx
    finally:
        _CONTEXT_SETTINGS.pop(id(ctx), None)
        ctx.close()


# Verifying a bundle reads each sidecar several times (as a product, then as an ingredient of
# every later step's manifests; batches share whole steps). Reports of sidecars read without an
# asset are pure functions of (sidecar, format, settings): remember the latest ones.
_CONTEXT_SETTINGS: dict[int, bytes] = {}
_READ_MEMO: dict[tuple[bytes, str, bytes], ManifestStore] = {}
_READ_MEMO_SIZE = 512
_READ_MEMO_LOCK = threading.Lock()


class DiscardingSink(io.RawIOBase):
    """A seekable destination that drops what is written.

    With ``no_embed`` c2pa-rs still copies the asset to the destination stream; a sidecar has
    no use for that copy, and for a large model it would double the disk traffic.
    """

    def __init__(self) -> None:
        super().__init__()
        self._position = 0
        self._end = 0

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = len(memoryview(data))
        self._position += size
        self._end = max(self._end, self._position)
        return size

    def readinto(self, buffer: Any) -> int:
        return 0

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._end}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position


def one_line(exc: BaseException) -> str:
    """c2pa-rs messages can span lines; reports want one."""
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


@dataclass(frozen=True, kw_only=True)
class ManifestStore:
    """A parsed and validated manifest store (what ``c2pa.Reader`` reports)."""

    store: Mapping[str, Any]  # Reader.json()
    detailed: Mapping[str, Any]  # Reader.detailed_json(): claims and raw assertion store
    state: str | None
    results: Mapping[str, Any]

    @property
    def active_label(self) -> str:
        label = self.store.get("active_manifest")
        return label if isinstance(label, str) else ""

    def manifest(self, label: str) -> Mapping[str, Any]:
        manifests = self.store.get("manifests")
        found = manifests.get(label) if isinstance(manifests, dict) else None
        return found if isinstance(found, dict) else {}

    def detailed_manifest(self, label: str) -> Mapping[str, Any]:
        manifests = self.detailed.get("manifests")
        found = manifests.get(label) if isinstance(manifests, dict) else None
        return found if isinstance(found, dict) else {}

    def assertions(self, label: str, name: str) -> list[Any]:
        """Data of every assertion called ``name`` in manifest ``label``."""
        items = self.manifest(label).get("assertions")
        if not isinstance(items, list):
            return []
        return [
            item.get("data")
            for item in items
            if isinstance(item, dict) and item.get("label") == name
        ]

    def hard_bindings(self, label: str) -> dict[str, Any]:
        """Raw ``c2pa.hash.*`` assertions of manifest ``label`` (``json()`` hides them)."""
        store = self.detailed_manifest(label).get("assertion_store")
        if not isinstance(store, dict):
            return {}
        return {key: value for key, value in store.items() if key.startswith("c2pa.hash.")}

    def ingredients(self, label: str) -> list[Mapping[str, Any]]:
        items = self.manifest(label).get("ingredients")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    def codes(self, kind: str) -> list[Mapping[str, Any]]:
        """Status entries of ``kind`` (success, informational, failure) for the active manifest
        and every ingredient delta."""
        found: list[Mapping[str, Any]] = []
        active = self.results.get("activeManifest")
        if isinstance(active, dict) and isinstance(active.get(kind), list):
            found.extend(entry for entry in active[kind] if isinstance(entry, dict))
        deltas = self.results.get("ingredientDeltas")
        if isinstance(deltas, list):
            for delta in deltas:
                inner = delta.get("validationDeltas") if isinstance(delta, dict) else None
                if isinstance(inner, dict) and isinstance(inner.get(kind), list):
                    found.extend(entry for entry in inner[kind] if isinstance(entry, dict))
        return found


def read_store(sidecar: bytes, *, fmt: str, asset: BinaryIO | None, ctx: Any) -> ManifestStore:
    """Parse and validate ``sidecar`` against ``asset`` (an empty stream when absent).

    Raises ``c2pa.C2paError`` (and ValueError for non-JSON reports) for the caller to map.
    """
    import c2pa

    memo_key = None
    if asset is None and id(ctx) in _CONTEXT_SETTINGS:
        memo_key = (hashlib.sha256(sidecar).digest(), fmt, _CONTEXT_SETTINGS[id(ctx)])
        hit = _READ_MEMO.get(memo_key)
        if hit is not None:
            return hit
    stream: BinaryIO = asset if asset is not None else io.BytesIO(b"")
    with c2pa.Reader(fmt, stream, sidecar, context=ctx) as reader:
        store = json.loads(reader.json())
        detailed = json.loads(reader.detailed_json())
        state = reader.get_validation_state()
        results = reader.get_validation_results() or {}
    if not isinstance(store, dict) or not isinstance(detailed, dict):
        raise ValueError("manifest store report is not a JSON object")
    parsed = ManifestStore(
        store=store,
        detailed=detailed,
        state=state if isinstance(state, str) else None,
        results=results if isinstance(results, dict) else {},
    )
    if memo_key is not None:
        with _READ_MEMO_LOCK:  # sidecars are signed, and bundles verified, on several threads
            if len(_READ_MEMO) >= _READ_MEMO_SIZE:
                _READ_MEMO.pop(next(iter(_READ_MEMO)))
            _READ_MEMO[memo_key] = parsed
    return parsed


def decode_hash(value: Any) -> bytes | None:
    """A hash as c2pa-rs reports it (base64 text, or a list of byte values)."""
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return None
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    return None

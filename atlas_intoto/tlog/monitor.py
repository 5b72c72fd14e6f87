"""A log monitor (at the edge): per log, the last verified checkpoint is kept in a state
directory; every run fetches the log's checkpoint (Rekor v2: ``/checkpoint``), verifies its
signature and witness cosignatures, and proves — from the log's tiles — that it extends the
saved one. A checkpoint under the same key that does not (another tree: a split view, or a
rollback) is evidence: ConsistencyProofError, exit 1; the saved state is then left as it was.

State: ``DIR/<sha256(origin)[:16]>.checkpoint`` holds the last verified note, written
atomically after each successful run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_intoto.errors import ConsistencyProofError
from atlas_intoto.fileio import atomic_write, ensure_writable_dir
from atlas_intoto.tlog import checkpoint as checkpoints
from atlas_intoto.tlog import merkle
from atlas_intoto.tlog.cosignature import WitnessKey, require_cosignatures
from atlas_intoto.tlog.v2.client import RekorV2Client

__all__ = ["MonitorResult", "monitor_log"]


@dataclass(frozen=True, kw_only=True)
class MonitorResult:
    """One monitoring run of one log."""

    origin: str
    previous_size: int | None
    size: int
    root_hash: bytes
    cosigned_by: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "previous_size": self.previous_size,
            "size": self.size,
            "root_hash": self.root_hash.hex(),
            "cosigned_by": list(self.cosigned_by),
        }


def _state_file(state_dir: Path, origin: str) -> Path:
    return state_dir / f"{hashlib.sha256(origin.encode()).hexdigest()[:16]}.checkpoint"


def check_extension(
    client: RekorV2Client, old: checkpoints.Checkpoint, new: checkpoints.Checkpoint
) -> None:
    """``new`` extends ``old`` (ConsistencyProofError: a split view or a rollback).

    1. a smaller tree is a rollback; the same size with another root a split view;
    2. otherwise the consistency proof computed from the log's tiles for ``new`` must take
       ``old``'s root to ``new``'s (tiles of another tree cannot do both).
    """
    if new.size < old.size:
        raise ConsistencyProofError(
            f"log {new.origin}: tree shrank from {old.size} to {new.size} (rollback or split view)"
        )
    if new.size == old.size:
        if new.root_hash != old.root_hash:
            raise ConsistencyProofError(
                f"log {new.origin}: two roots for tree size {new.size}: a split view"
            )
        return
    if old.size == 0:
        return
    proof = client.consistency_proof(old.size, new.size)
    try:
        merkle.verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
    except ConsistencyProofError as exc:
        raise ConsistencyProofError(
            f"log {new.origin}: checkpoint {new.size} does not extend the saved {old.size} "
            f"(split view) — {exc}"
        ) from exc


def monitor_log(
    url: str,
    *,
    state_dir: Path,
    log_keys: Sequence[bytes],
    witnesses: Sequence[WitnessKey] = (),
    threshold: int = 0,
) -> MonitorResult:
    """One monitoring run of the Rekor v2 log at ``url`` (the steps of the module docstring).

    1. the live checkpoint is signed by a pinned log key (CheckpointError) and carries
       ``threshold`` witness cosignatures (WitnessCosignatureError);
    2. it extends the saved checkpoint of its origin, if any (:func:`check_extension`);
    3. only then is it saved as the new state.
    """
    with RekorV2Client(url) as client:
        text = client.checkpoint()
        live = checkpoints.verify(text, list(log_keys))
        cosigned = require_cosignatures(live, witnesses, threshold) if threshold else set()
        path = _state_file(state_dir, live.origin)
        previous = None
        if path.exists():
            previous = checkpoints.verify(path.read_text(encoding="utf-8"), list(log_keys))
            check_extension(client, previous, live)
    ensure_writable_dir(state_dir)
    atomic_write(path, text.encode())
    return MonitorResult(
        origin=live.origin,
        previous_size=None if previous is None else previous.size,
        size=live.size,
        root_hash=live.root_hash,
        cosigned_by=tuple(sorted(cosigned)),
    )

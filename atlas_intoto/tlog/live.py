"""Checking a saved checkpoint against a live log: the one rule ``verify --online``,
``log verify --url`` and ``log consistency`` share.

A log that showed one tree to a pipeline and another to the world (a split view), or that
rewrote its history, cannot prove the tree it serves now consistent with the tree it signed
then. The steps, each with one error class whichever command runs them:

1. fetch the log's current signed checkpoint and verify it with the pinned log keys
   (:class:`CheckpointError`); with ``origin``, it must be the same log
   (:class:`ConsistencyProofError`);
2. the saved tree must not be larger than the current one (:class:`ConsistencyProofError`:
   split view or rollback);
3. the same size must have the same root (:class:`ConsistencyProofError`: split view);
4. otherwise fetch the RFC 9162 consistency proof and verify it (:class:`ConsistencyProofError`
   for a malformed or invalid proof).

Network faults stay :class:`NetworkError` / :class:`LogServerError` (from the client). The
only I/O is the client's two requests; everything else is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from atlas_intoto.errors import CheckpointError, ConsistencyProofError
from atlas_intoto.tlog import checkpoint as cpmod
from atlas_intoto.tlog import merkle

__all__ = [
    "LiveLog",
    "LiveTree",
    "check_against_live_log",
    "check_extends",
    "fetch_live_tree",
    "proof_hashes",
]

#: Pinned log keys, as :func:`atlas_intoto.tlog.checkpoint.verify` takes them.
LogKeys = Sequence[bytes | cpmod.PublicKey | cpmod.LogKey]


class LiveLog(Protocol):
    """What this module needs of a log client (:class:`~atlas_intoto.tlog.client.RekorClient`)."""

    url: str

    def log_info(self) -> dict[str, Any]:
        """GET /log."""
        ...

    def consistency_proof(
        self, first: int, last: int, tree_id: str | None = None
    ) -> dict[str, Any]:
        """GET /log/proof."""
        ...


@dataclass(frozen=True, kw_only=True)
class LiveTree:
    """The tree a log serves now, from its (verified) signed checkpoint."""

    size: int
    root_hash: bytes
    checkpoint: cpmod.Checkpoint
    #: The signed note exactly as served (what ``log consistency --update`` saves).
    note: str


def fetch_live_tree(
    client: LiveLog, *, log_keys: LogKeys | None, origin: str | None = None
) -> LiveTree:
    """Step 1: the log's current checkpoint, verified with ``log_keys``.

    ``log_keys=None`` skips the signature check, for callers that pinned no key (``log
    consistency`` without ``--log-key``); an empty sequence fails closed.
    """
    note = client.log_info()["signedTreeHead"]
    if not isinstance(note, str):
        raise CheckpointError(f"{client.url}: signedTreeHead is not a signed note")
    cp = cpmod.parse(note) if log_keys is None else cpmod.verify(note, log_keys)
    if origin is not None and cp.origin != origin:
        raise ConsistencyProofError(
            f"{client.url}: checkpoint origin {cp.origin!r} is not the saved {origin!r}"
        )
    return LiveTree(size=cp.size, root_hash=cp.root_hash, checkpoint=cp, note=note)


def proof_hashes(client: LiveLog, first: int, last: int) -> list[bytes]:
    """The hashes of the log's consistency proof from tree ``first`` to tree ``last``; none
    when there is nothing to prove (``first`` is 0 or not below ``last``).

    Raises :class:`ConsistencyProofError` if the answer's hashes are not hex strings.
    """
    if first <= 0 or first >= last:
        return []
    hashes = client.consistency_proof(first, last).get("hashes")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise ConsistencyProofError(f"{client.url}: malformed consistency proof (hashes)")
    try:
        return [bytes.fromhex(h) for h in hashes]
    except ValueError as exc:
        raise ConsistencyProofError(
            f"{client.url}: malformed consistency proof (hashes are not hex)"
        ) from exc


def check_extends(client: LiveLog, live: LiveTree, *, size: int, root_hash: bytes) -> None:
    """Steps 2-4: the live tree extends the saved tree ``(size, root_hash)``."""
    if size < 0:
        raise ConsistencyProofError(f"saved tree size {size} is negative")
    if size > live.size:
        raise ConsistencyProofError(
            f"{client.url}: the log now serves tree size {live.size}, smaller than the "
            f"checkpoint {size} it signed: the log shrank (split view or rollback)"
        )
    if size == live.size:
        if root_hash != live.root_hash:
            raise ConsistencyProofError(
                f"{client.url}: the log serves another root for tree size {size} (split view)"
            )
        return
    if size == 0:
        return  # the empty tree is a prefix of every tree: nothing to prove
    hashes = proof_hashes(client, size, live.size)
    merkle.verify_consistency(size, live.size, hashes, root_hash, live.root_hash)


def check_against_live_log(
    client: LiveLog,
    *,
    size: int,
    root_hash: bytes,
    log_keys: LogKeys | None,
    origin: str | None = None,
) -> LiveTree:
    """Steps 1-4: fetch and verify the log's current checkpoint, then prove that it extends the
    saved tree ``(size, root_hash)``. Returns the live tree."""
    live = fetch_live_tree(client, log_keys=log_keys, origin=origin)
    check_extends(client, live, size=size, root_hash=root_hash)
    return live

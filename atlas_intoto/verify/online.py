"""``verify --online``: prove each logged checkpoint consistent with the log's current one.

A log that showed one tree to the pipeline and another to the world (split view) cannot produce
a consistency proof from the checkpoint in the bundle to the checkpoint it serves now. This is
the verifier's only network code; it goes through :class:`atlas_intoto.tlog.client.RekorClient`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atlas_intoto.errors import ConsistencyProofError, UsageError
from atlas_intoto.layout import Layout
from atlas_intoto.verify.checks import passed
from atlas_intoto.verify.report import CheckResult


class OnlineConsistency:
    """A ``ConsistencyChecker`` for verify_bundle; fetches the current checkpoint once."""

    def __init__(self, *, url: str | None = None, client: Any = None) -> None:
        self.url = url
        self._client = client
        self._current: tuple[int, bytes] | None = None

    def _get_client(self, layout: Layout) -> Any:
        if self._client is None:
            from atlas_intoto.tlog.client import RekorClient

            url = self.url or next((log.url for log in layout.logs if log.url), None)
            if url is None:
                raise UsageError("--online: no --log-url given and the layout pins no log url")
            self._client = RekorClient(url)
        return self._client

    def _current_tree(self, layout: Layout, client: Any) -> tuple[int, bytes]:
        if self._current is None:
            from atlas_intoto.tlog.checkpoint import verify

            info = client.log_info()
            cp = verify(info["signedTreeHead"], [log.pem.encode() for log in layout.logs])
            self._current = (int(cp.size), bytes(cp.root_hash))
        return self._current

    def __call__(self, layout: Layout, step: str, summary: Mapping[str, Any]) -> CheckResult:
        """Steps:
        1. fetch the log's current checkpoint and verify its signature with the pinned keys;
        2. the logged tree must not be larger than the current one;
        3. fetch and verify the RFC 9162 consistency proof from the logged tree to the current.
        """
        from atlas_intoto.tlog.merkle import verify_consistency

        client = self._get_client(layout)
        size2, root2 = self._current_tree(layout, client)
        size1, root1 = int(summary["tree_size"]), bytes.fromhex(str(summary["root_hash"]))
        if size1 > size2:
            raise ConsistencyProofError(
                f"step {step}: the log now serves tree size {size2}, smaller than the "
                f"checkpoint {size1} it signed (split view or rollback)"
            )
        if size1 == size2:
            if root1 != root2:
                raise ConsistencyProofError(
                    f"step {step}: the log serves another root for tree size {size1} (split view)"
                )
            return passed("tlog", step, f"online: checkpoint {size1} is the log's current tree")
        proof = client.consistency_proof(size1, size2)
        try:
            hashes = [bytes.fromhex(h) for h in proof["hashes"]]
        except (TypeError, ValueError) as exc:
            raise ConsistencyProofError(f"step {step}: malformed consistency proof") from exc
        verify_consistency(size1, size2, hashes, root1, root2)
        return passed(
            "tlog", step, f"online: checkpoint {size1} is consistent with the current tree {size2}"
        )


def consistency_checker(url: str | None = None) -> OnlineConsistency:
    return OnlineConsistency(url=url)

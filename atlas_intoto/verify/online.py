"""``verify --online``: prove each logged checkpoint consistent with the log's current one.

A log that showed one tree to the pipeline and another to the world (split view) cannot produce
a consistency proof from the checkpoint in the bundle to the checkpoint it serves now. This is
the verifier's only network code; it goes through :class:`atlas_intoto.tlog.client.RekorClient`
and the rule is :mod:`atlas_intoto.tlog.live`'s, the same as ``log verify --url``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from atlas_intoto.errors import ConsistencyProofError, UsageError
from atlas_intoto.layout import Layout
from atlas_intoto.verify.checks import passed
from atlas_intoto.verify.report import CheckResult

if TYPE_CHECKING:
    from atlas_intoto.tlog.live import LiveTree


class OnlineConsistency:
    """A ``ConsistencyChecker`` for verify_bundle; fetches the current checkpoint once."""

    def __init__(self, *, url: str | None = None, client: Any = None) -> None:
        self.url = url
        self._client = client
        self._current: LiveTree | None = None

    def _get_client(self, layout: Layout) -> Any:
        if self._client is None:
            from atlas_intoto.tlog.client import RekorClient

            url = self.url or next((log.url for log in layout.logs if log.url), None)
            if url is None:
                raise UsageError("--online: no --log-url given and the layout pins no log url")
            self._client = RekorClient(url)
        return self._client

    def _current_tree(self, layout: Layout, client: Any) -> LiveTree:
        if self._current is None:
            from atlas_intoto.tlog.live import fetch_live_tree

            keys = [log.pem.encode() for log in layout.logs]
            self._current = fetch_live_tree(client, log_keys=keys)
        return self._current

    def __call__(self, layout: Layout, step: str, summary: Mapping[str, Any]) -> CheckResult:
        """Steps (:func:`atlas_intoto.tlog.live.check_against_live_log`):
        1. fetch the log's current checkpoint and verify its signature with the pinned keys;
           its origin must be the entry's (an instance sharing the key is another log);
        2. the logged tree must not be larger than the current one;
        3. fetch and verify the RFC 9162 consistency proof from the logged tree to the current.
        """
        from atlas_intoto.tlog.live import check_extends

        client = self._get_client(layout)
        current = self._current_tree(layout, client)
        origin = summary.get("origin")
        if isinstance(origin, str) and origin and current.checkpoint.origin != origin:
            raise ConsistencyProofError(
                f"step {step}: the entry's checkpoint is of log {origin!r}, but "
                f"{getattr(client, 'url', 'the log')} serves {current.checkpoint.origin!r}: "
                "another log instance"
            )
        size1, root1 = int(summary["tree_size"]), bytes.fromhex(str(summary["root_hash"]))
        try:
            check_extends(client, current, size=size1, root_hash=root1)
        except ConsistencyProofError as exc:
            raise ConsistencyProofError(f"step {step}: {exc}") from exc
        if size1 == current.size:
            return passed("tlog", step, f"online: checkpoint {size1} is the log's current tree")
        return passed(
            "tlog",
            step,
            f"online: checkpoint {size1} is consistent with the current tree {current.size}",
        )


def consistency_checker(url: str | None = None) -> OnlineConsistency:
    """The ``verify --online`` checker for the log at ``url`` (default: the layout's)."""
    return OnlineConsistency(url=url)

"""Evidence kinds in a layout document: where each kind's step policy and trust block live.

Evidence kinds (today only ``tdx``) are plug-ins: a layout carries, per kind, each step's
policy document (``steps[].evidence.KIND``) and the layout's trust block
(``trust.evidence.KIND``); the kind checks its own policy when verifying. ``steps[].tee`` and
``trust.tee`` predate the plug-ins and *are* kind ``tdx``: a block may give one spelling or
the other, never both. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["TDX", "kind_blocks", "kind_path", "spelled_twice"]

#: The Intel TDX quote kind, spelled ``tee`` in steps and trust before kinds were plug-ins.
TDX = "tdx"
_TDX_FIELD = "tee"


def kind_blocks(node: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Kind name → block of a step (its policies) or of ``trust`` (trust blocks).

    ``node`` must be schema-valid; its ``tee`` block is returned as kind ``tdx``.
    """
    blocks: dict[str, Mapping[str, Any]] = {}
    if _TDX_FIELD in node:
        blocks[TDX] = node[_TDX_FIELD]
    blocks.update(node.get("evidence") or {})
    return blocks


def kind_path(node: Mapping[str, Any], kind: str) -> tuple[str, ...]:
    """Where ``kind``'s block is in ``node`` (for field names in messages and pinning)."""
    if kind == TDX and _TDX_FIELD in node:
        return (_TDX_FIELD,)
    return ("evidence", kind)


def spelled_twice(node: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The path of a kind block ``node`` gives under both spellings (``evidence.tdx`` beside
    ``tee``), or None."""
    evidence = node.get("evidence")
    if _TDX_FIELD in node and isinstance(evidence, Mapping) and TDX in evidence:
        return ("evidence", TDX)
    return None

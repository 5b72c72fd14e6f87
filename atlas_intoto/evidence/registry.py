"""The registry of evidence kinds: name → :class:`~atlas_intoto.evidence.kind.EvidenceKind`.

Built-in kinds are registered lazily on first use (one line each in :func:`_builtins`), so
importing the registry stays cheap; plug-ins call :func:`register`.
"""

from __future__ import annotations

import threading

from atlas_intoto.errors import UnknownEvidenceKindError, UsageError
from atlas_intoto.evidence.kind import EvidenceKind
from atlas_intoto.evidence.model import KIND_NAME

_kinds: dict[str, EvidenceKind] = {}
_lock = threading.Lock()
_loaded = False


def _builtins() -> list[EvidenceKind]:
    from atlas_intoto.tee.kind import TdxEvidenceKind

    return [TdxEvidenceKind()]


def _ensure_builtins() -> None:
    global _loaded
    with _lock:
        if _loaded:
            return
        # An ImportError (an integration blocked or missing) propagates and is retried next time.
        for kind in _builtins():
            _kinds.setdefault(kind.name, kind)
        _loaded = True


def register(kind: EvidenceKind, *, replace: bool = False) -> None:
    """Make ``kind`` available to recording and verification under ``kind.name``."""
    if not KIND_NAME.fullmatch(kind.name):
        raise UsageError(f"evidence kind name {kind.name!r} must match {KIND_NAME.pattern}")
    _ensure_builtins()
    with _lock:
        if kind.name in _kinds and not replace:
            raise UsageError(f"evidence kind {kind.name!r} is already registered")
        _kinds[kind.name] = kind


def unregister(name: str) -> None:
    """Remove a registered kind (tests, plug-in reloads)."""
    _ensure_builtins()
    with _lock:
        _kinds.pop(name, None)


def get(name: str) -> EvidenceKind:
    """The kind ``name``; :class:`UnknownEvidenceKindError` when none is registered (evidence
    of a kind this verifier cannot check fails closed)."""
    _ensure_builtins()
    kind = _kinds.get(name)
    if kind is None:
        raise UnknownEvidenceKindError(
            f"evidence kind {name!r} is not known to this verifier "
            f"(known: {', '.join(sorted(_kinds))})"
        )
    return kind


def names() -> tuple[str, ...]:
    """Names of the registered kinds, sorted."""
    _ensure_builtins()
    return tuple(sorted(_kinds))

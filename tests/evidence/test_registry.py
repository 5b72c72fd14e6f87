"""The evidence-kind registry: built-ins, plug-ins, unknown kinds."""

from __future__ import annotations

from typing import ClassVar

import pytest

from atlas_intoto.errors import UnknownEvidenceKindError, UsageError
from atlas_intoto.evidence import registry
from atlas_intoto.evidence.kind import (
    EvidenceKind,
    EvidenceResult,
    RecordedEvidence,
    RecordRequest,
    VerifyContext,
)
from atlas_intoto.tee.kind import TdxEvidenceKind


class Dummy(EvidenceKind):
    name: ClassVar[str] = "dummy"
    blob_dir: ClassVar[str] = "dummy"

    def record(self, request: RecordRequest) -> RecordedEvidence:
        return RecordedEvidence(fields={})

    def verify(self, context: VerifyContext) -> EvidenceResult:
        return EvidenceResult(kind=self.name, description="ok")


def test_tdx_is_built_in() -> None:
    assert isinstance(registry.get("tdx"), TdxEvidenceKind)
    assert "tdx" in registry.names()


def test_register_get_unregister() -> None:
    registry.register(Dummy())
    try:
        assert isinstance(registry.get("dummy"), Dummy)
        with pytest.raises(UsageError, match="already registered"):
            registry.register(Dummy())
        registry.register(Dummy(), replace=True)
    finally:
        registry.unregister("dummy")
    with pytest.raises(UnknownEvidenceKindError, match="'dummy' is not known"):
        registry.get("dummy")


def test_kind_names_are_checked() -> None:
    class Bad(Dummy):
        name: ClassVar[str] = "Bad Name"

    with pytest.raises(UsageError, match="must match"):
        registry.register(Bad())


def test_required_defaults_to_a_stated_policy() -> None:
    kind = Dummy()
    assert kind.required({}) is True
    assert kind.required({"required": False}) is False
    assert kind.required(None) is False

"""The log-backend seam: registry, document routing, neutral entries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pytest

from atlas_intoto.errors import LogEntryFormatError, UnknownLogBackendError, UsageError
from atlas_intoto.tlog import backend
from atlas_intoto.tlog.backend import LogBackend, LogPublisher, VerifiedEntry
from atlas_intoto.tlog.rekor_v1 import RekorV1Backend


class Null(LogBackend):
    name: ClassVar[str] = "null-log"

    def publisher(self, url: str) -> LogPublisher:
        raise NotImplementedError

    def verify(
        self, document: Mapping[str, Any], *, envelope: bytes, log_keys: Sequence[bytes]
    ) -> VerifiedEntry:
        raise NotImplementedError


def test_documents_without_a_backend_field_are_rekor_v1() -> None:
    assert isinstance(backend.backend_for_document({"24296fb2": {}}), RekorV1Backend)
    assert isinstance(backend.get("rekor-v1"), RekorV1Backend)


def test_registered_backends_are_found_by_document() -> None:
    backend.register(Null())
    try:
        assert isinstance(backend.backend_for_document({"backend": "null-log"}), Null)
        with pytest.raises(UsageError, match="already registered"):
            backend.register(Null())
    finally:
        backend.unregister("null-log")
    with pytest.raises(UnknownLogBackendError, match="'null-log'"):
        backend.backend_for_document({"backend": "null-log"})
    with pytest.raises(UsageError, match="not known"):
        backend.get("null-log")


def test_malformed_documents() -> None:
    with pytest.raises(LogEntryFormatError):
        backend.backend_for_document({"backend": 5})
    with pytest.raises(LogEntryFormatError):
        backend.backend_for_document([])  # type: ignore[arg-type]


def test_verified_entry_round_trips() -> None:
    entry = VerifiedEntry(
        backend="rekor-v1",
        entry_id="ab" * 40,
        log_index=3,
        tree_size=4,
        root_hash=b"\x01" * 32,
        origin="log - 1",
        entry_kind="dsse",
        api_version="0.0.1",
        signed_time=1_700_000_000,
    )
    assert VerifiedEntry.from_dict(entry.to_dict()) == entry

"""The kinds dispatcher: supported kinds and garbage request bodies."""

from __future__ import annotations

import pytest

from atlas_intoto.errors import EntryFormatError
from atlas_intoto.tlog.kinds import parse_proposed_entry


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"\xff",
        b"[1]",
        b"null",
        b'"x"',
        b"[" * 100000,
        b"[" * 60000 + b"]" * 60000,
        b"9" * 5000,
    ],
)
def test_garbage_request_bodies(raw: bytes) -> None:
    with pytest.raises(EntryFormatError):
        parse_proposed_entry(raw)

"""Time sources: which time a verified log entry proves."""

from __future__ import annotations

from typing import ClassVar

import pytest

from atlas_intoto.errors import TrustedTimeError
from atlas_intoto.tlog.backend import VerifiedEntry
from atlas_intoto.verify.timesource import (
    DEFAULT_TIME_SOURCES,
    LogSignedTime,
    Rfc3161Time,
    TimeContext,
    TimeSource,
    TrustedTime,
    establish_time,
)


def _context(signed_time: int | None) -> TimeContext:
    entry = VerifiedEntry(
        backend="rekor-v1",
        entry_id="e",
        log_index=0,
        tree_size=1,
        root_hash=b"\x00" * 32,
        origin="o",
        signed_time=signed_time,
    )
    return TimeContext(step="s", entry=entry, document={}, envelope=b"{}")


class Failing(TimeSource):
    name: ClassVar[str] = "failing"

    def establish(self, context: TimeContext) -> TrustedTime | None:
        raise TrustedTimeError("timestamp does not verify")


def test_log_signed_time_is_the_default() -> None:
    # RFC 3161 timestamps (Rekor v2) come second: a document without them adds no time
    assert [type(s) for s in DEFAULT_TIME_SOURCES] == [LogSignedTime, Rfc3161Time]
    assert establish_time(DEFAULT_TIME_SOURCES, _context(42)) == TrustedTime(
        seconds=42, source="log-signed-time"
    )
    assert establish_time(DEFAULT_TIME_SOURCES, _context(None)) is None


def test_every_source_is_verified_even_when_an_earlier_one_has_a_time() -> None:
    with pytest.raises(TrustedTimeError):
        establish_time((LogSignedTime(), Failing()), _context(42))

"""Time sources: which time a verified log entry proves."""

from __future__ import annotations

from pathlib import Path
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


def test_rfc3161_time_covers_only_signatures_a_functionary_made(tmp_path: Path) -> None:
    """A timestamp over an appended, unverified "signature" (bytes an old timestamp covers)
    must not become the link's time; a v2 entry stripped of its timestamps fails."""
    import datetime

    from rfc3161_client import TimestampRequestBuilder

    from atlas_intoto.errors import TimestampError
    from atlas_intoto.tsa.keys import load_or_create_tsa, root_path
    from atlas_intoto.verify.timesource import Rfc3161Time

    load_or_create_tsa(tmp_path)
    tsa = load_or_create_tsa(tmp_path, create=False)
    root = root_path(tmp_path).read_text()
    when = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(hours=1)

    def stamp(message: bytes) -> bytes:
        request = TimestampRequestBuilder().data(message).cert_request(cert_request=True).build()
        reply, granted = tsa.respond(request.as_bytes(), now=when)
        assert granted
        return reply

    entry = VerifiedEntry(
        backend="rekor-v2", entry_id="e", log_index=0, tree_size=1, root_hash=b"\0" * 32, origin="o"
    )
    base = {"step": "s", "entry": entry, "document": {}, "envelope": b"{}", "tsa_roots": (root,)}
    good = TimeContext(
        **base, timestamps=(stamp(b"functionary-sig"),), signatures=(b"functionary-sig",)
    )
    assert Rfc3161Time().establish(good) == TrustedTime(
        seconds=int(when.timestamp()), source="rfc3161"
    )
    appended = TimeContext(
        **base, timestamps=(stamp(b"appended"),), signatures=(b"functionary-sig",)
    )
    with pytest.raises(TimestampError):
        Rfc3161Time().establish(appended)
    with pytest.raises(TimestampError, match="no RFC 3161 timestamp"):
        Rfc3161Time().establish(TimeContext(**base, signatures=(b"functionary-sig",)))

"""The time-source seam: where the verifier gets the trusted time of a logged link.

The trusted time judges time-dependent evidence (TEE collateral validity) and orders links
(replay). A source turns a verified log entry into a :class:`TrustedTime`, or None when it has
nothing to say; a source whose proof does not verify raises
:class:`~atlas_intoto.errors.TrustedTimeError`. Sources: the time the log signed for the entry
(Rekor v1's SET) and RFC 3161 timestamps under TSA roots the layout pins (Rekor v2; model:
sigstore-python's ``Verifier._establish_time``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from atlas_intoto.tlog.backend import VerifiedEntry


@dataclass(frozen=True, kw_only=True)
class TrustedTime:
    """A unix time established by a verified source."""

    seconds: int
    #: which source established it, e.g. "log-signed-time"
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "source": self.source}


@dataclass(frozen=True, kw_only=True)
class TimeContext:
    """What a time source may look at for one link."""

    step: str
    entry: VerifiedEntry
    #: the saved log-entry document (it may carry timestamps)
    document: Mapping[str, Any]
    #: the exact link envelope bytes
    envelope: bytes
    #: PEM of the RFC 3161 TSA roots the layout pins (``trust.tsa.roots``)
    tsa_roots: tuple[str, ...] = ()
    #: DER timestamps the link's Sigstore bundle carries beside a document that keeps none
    #: (a Rekor v1 entry with ``--tsa``: ``timestampVerificationData``)
    timestamps: tuple[bytes, ...] = ()
    #: the envelope's signatures that verified under the step's functionary keys (check 2):
    #: the only bytes a timestamp may cover
    signatures: tuple[bytes, ...] = ()


class TimeSource(ABC):
    """Establishes trusted times from verified evidence (pure)."""

    name: ClassVar[str]

    @abstractmethod
    def establish(self, context: TimeContext) -> TrustedTime | None:
        """The trusted time this source proves for the link, or None."""


class LogSignedTime(TimeSource):
    """The time the log signed for the entry (Rekor v1: ``integratedTime`` under the SET,
    verified with the entry)."""

    name: ClassVar[str] = "log-signed-time"

    def establish(self, context: TimeContext) -> TrustedTime | None:
        if context.entry.signed_time is None:
            return None
        return TrustedTime(seconds=context.entry.signed_time, source=self.name)


class Rfc3161Time(TimeSource):
    """RFC 3161 timestamps over the link's signature, saved with the entry (Rekor v2:
    ``timestamps[].signedTimestamp``, as a Sigstore bundle's ``timestampVerificationData``) or
    in the link's Sigstore bundle beside a Rekor v1 entry (``TimeContext.timestamps``).

    1. no timestamps, or no TSA roots pinned by the layout: no time (nothing to trust);
    2. every timestamp must verify (:func:`atlas_intoto.tsa.verify.verify_timestamp`): granted,
       signed under a pinned root, over one of the envelope's signatures that a functionary
       of the step made (``TimeContext.signatures``: never an appended, unverified one) — a
       tampered one fails the entry (TimestampError) even if another verifies;
    3. a Rekor v2 entry (whose log signs no time) without a timestamp fails when the layout
       pins TSA roots: stripping timestamps must not turn a time check into a skip;
    4. the earliest time is the link's.
    """

    name: ClassVar[str] = "rfc3161"

    def establish(self, context: TimeContext) -> TrustedTime | None:
        from atlas_intoto.errors import LogEntryFormatError, TimestampError
        from atlas_intoto.tlog.rekor_v2 import timestamps_of
        from atlas_intoto.tsa.verify import load_roots, verify_timestamp

        try:
            stamps = [*timestamps_of(context.document), *context.timestamps]
        except LogEntryFormatError as exc:
            raise TimestampError(str(exc)) from exc
        if not context.tsa_roots:
            return None
        if not stamps:
            if context.entry.backend == "rekor-v2":
                raise TimestampError(
                    f"step {context.step}: the Rekor v2 entry has no RFC 3161 timestamp, "
                    "and the layout pins TSA roots"
                )
            return None
        roots = load_roots(context.tsa_roots)
        signatures = list(context.signatures)
        if not signatures:
            raise TimestampError(
                f"step {context.step}: no signature of the step's functionaries to timestamp"
            )
        times: list[int] = []
        for i, stamp in enumerate(stamps):
            error: TimestampError | None = None
            for signature in signatures:
                try:
                    times.append(verify_timestamp(stamp, message=signature, roots=roots))
                    break
                except TimestampError as exc:
                    error = exc
            else:
                raise TimestampError(f"timestamps[{i}]: {error}")
        return TrustedTime(seconds=min(times), source=self.name)


DEFAULT_TIME_SOURCES: tuple[TimeSource, ...] = (LogSignedTime(), Rfc3161Time())


def establish_time(sources: Sequence[TimeSource], context: TimeContext) -> TrustedTime | None:
    """Run every source (each verifies its own proof, so a bad proof fails even when another
    source has a time) and return the first time, in the order of ``sources``."""
    times = [source.establish(context) for source in sources]
    return next((t for t in times if t is not None), None)

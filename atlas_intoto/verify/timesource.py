"""The time-source seam: where the verifier gets the trusted time of a logged link.

The trusted time judges time-dependent evidence (TEE collateral validity) and orders links
(replay). A source turns a verified log entry into a :class:`TrustedTime`, or None when it has
nothing to say; a source whose proof does not verify raises
:class:`~atlas_intoto.errors.TrustedTimeError`. Today's source is the time the log signed for
the entry (Rekor v1's SET); RFC 3161 timestamps are the next (model: sigstore-python's
``Verifier._establish_time``).
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


DEFAULT_TIME_SOURCES: tuple[TimeSource, ...] = (LogSignedTime(),)


def establish_time(sources: Sequence[TimeSource], context: TimeContext) -> TrustedTime | None:
    """Run every source (each verifies its own proof, so a bad proof fails even when another
    source has a time) and return the first time, in the order of ``sources``."""
    times = [source.establish(context) for source in sources]
    return next((t for t in times if t is not None), None)

"""Choosing the log a step publishes to (at the edge): the backend named in the recording
options, or — for ``auto`` — the one the log at ``--log URL`` speaks (a C2SP ``/checkpoint``
means Rekor v2, anything else Rekor v1), and the TSA that timestamps v2 entries (and, with
``--tsa``, the step Statements logged on Rekor v1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atlas_intoto.errors import UsageError
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.tlog import backend
from atlas_intoto.tlog.backend import LogPublisher

__all__ = [
    "AUTO",
    "TimestampingPublisher",
    "detect_backend",
    "publisher_for",
    "publisher_named",
]

AUTO = "auto"


def detect_backend(url: str) -> str:
    """``rekor-v2`` if ``url`` serves a signed C2SP checkpoint at ``/checkpoint``, else
    ``rekor-v1`` (whose own errors then name the problem)."""
    import httpx

    from atlas_intoto.auth.client import bearer_headers
    from atlas_intoto.errors import CheckpointError
    from atlas_intoto.tlog import checkpoint

    try:
        response = httpx.get(
            f"{url.rstrip('/')}/checkpoint", timeout=10.0, headers=bearer_headers()
        )
        if response.status_code == 200:
            checkpoint.parse(response.content)
            return "rekor-v2"
    except (httpx.HTTPError, CheckpointError):
        pass
    return "rekor-v1"


def publisher_for(options: RecordingOptions) -> LogPublisher:
    """The publisher for ``options.log_url`` (UsageError when the options cannot be met)."""
    url = options.log_url
    if url is None:
        raise UsageError("no --log URL to publish to")
    name = detect_backend(url) if options.log_backend == AUTO else options.log_backend
    return publisher_named(name, url, tsa_url=options.tsa_url)


def publisher_named(name: str, url: str, *, tsa_url: str | None = None) -> LogPublisher:
    """The publisher of backend ``name`` for ``url``, timestamping with ``tsa_url`` if given
    (Rekor v2: link and Statement; Rekor v1: the Statement; UsageError for other backends)."""
    log = backend.get(name)
    if tsa_url is None:
        return log.publisher(url)
    if name == "rekor-v1":
        return TimestampingPublisher(log.publisher(url), tsa_url=tsa_url)
    if name != "rekor-v2":
        raise UsageError(f"--tsa: log backend {name} keeps no RFC 3161 timestamps")
    from atlas_intoto.tlog.rekor_v2 import RekorV2Publisher

    return RekorV2Publisher(url, tsa_url=tsa_url)


class TimestampingPublisher:
    """A Rekor v1 publisher whose step Statements are also timestamped by the TSA at
    ``tsa_url`` (:func:`atlas_intoto.step_statement.publish_statement` reads ``tsa_url``; the
    link's own v1 entry is unchanged: its time is the log's SET)."""

    backend_name = "rekor-v1"

    def __init__(self, inner: LogPublisher, *, tsa_url: str) -> None:
        self.inner = inner
        self.tsa_url = tsa_url

    def publish(self, envelope: bytes, public_key_pem: bytes) -> Mapping[str, Any]:
        return self.inner.publish(envelope, public_key_pem)

    def publish_digest(
        self, envelope: bytes, signature: bytes, public_key_pem: bytes
    ) -> Mapping[str, Any]:
        """The wrapped publisher's digest entry (``--log-visibility digest``)."""
        publish_digest = getattr(self.inner, "publish_digest", None)
        if not callable(publish_digest):
            raise UsageError("--log-visibility digest: this log backend logs no digest entries")
        result: Mapping[str, Any] = publish_digest(envelope, signature, public_key_pem)
        return result

    def request_size(self, envelope: bytes, public_key_pem: bytes) -> int:
        """What the wrapped publisher will send (:func:`atlas_intoto.publishing` limits it)."""
        size = getattr(self.inner, "request_size", None)
        return int(size(envelope, public_key_pem)) if callable(size) else len(envelope)

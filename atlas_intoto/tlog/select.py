"""Choosing the log a step publishes to (at the edge): the backend named in the recording
options, or — for ``auto`` — the one the log at ``--log URL`` speaks (a C2SP ``/checkpoint``
means Rekor v2, anything else Rekor v1), and the TSA that timestamps v2 entries."""

from __future__ import annotations

from atlas_intoto.errors import UsageError
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.tlog import backend
from atlas_intoto.tlog.backend import LogPublisher

__all__ = ["AUTO", "detect_backend", "publisher_for"]

AUTO = "auto"


def detect_backend(url: str) -> str:
    """``rekor-v2`` if ``url`` serves a signed C2SP checkpoint at ``/checkpoint``, else
    ``rekor-v1`` (whose own errors then name the problem)."""
    import httpx

    from atlas_intoto.errors import CheckpointError
    from atlas_intoto.tlog import checkpoint

    try:
        response = httpx.get(f"{url.rstrip('/')}/checkpoint", timeout=10.0)
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
    log = backend.get(name)
    if options.tsa_url is None:
        return log.publisher(url)
    if name != "rekor-v2":
        raise UsageError(f"--tsa: log backend {name} keeps no RFC 3161 timestamps (use Rekor v2)")
    from atlas_intoto.tlog.rekor_v2 import RekorV2Publisher

    return RekorV2Publisher(url, tsa_url=options.tsa_url)

"""Offline-first publishing: a link is kept before it is logged, and logged later if need be.

Recording writes the link and all its evidence first, then a *pending marker*
``DIR/.publish-pending/NAME.KEYID8.json`` naming the log, then publishes. An unreachable log, a
5xx answer or a timeout is retried with bounded, doubling waits; when every attempt failed the
marker stays and :func:`publish_pending` (``atlas-intoto log publish``) finishes the job later.
Publishing is idempotent: a log that already holds the entry answers 409 and the existing entry
is fetched and kept (the Rekor client does this), so running it twice publishes nothing twice.

A link larger than the log accepts is reported before anything is sent (``log_max_entry``, or
the log's 413) and kept pending: retrying cannot help, a log with a larger limit can.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas_intoto.errors import (
    AtlasError,
    InputError,
    LogEntryTooLargeError,
    LogServerError,
    NetworkError,
    PublishPendingError,
)
from atlas_intoto.fileio import atomic_write, parse_json, read_bytes
from atlas_intoto.publishing_visibility import (
    at_visibility,
    read_visibility,
    visibility_fields,
    visible_publisher,
)

if TYPE_CHECKING:
    from securesystemslib.signer import Signer

    from atlas_intoto.recording import RecordingOptions
    from atlas_intoto.tlog.backend import LogPublisher

#: Where pending markers live inside an evidence directory.
PUBLISH_PENDING_DIR = ".publish-pending"
_MARKER_VERSION = 1
#: The longest wait between two attempts, whatever the backoff.
MAX_WAIT = 30.0

Say = Callable[[str], None]
Sleep = Callable[[float], None]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently to try a log: ``retries`` after the first attempt, waiting
    ``backoff`` seconds, then twice as long each time (at most :data:`MAX_WAIT`)."""

    retries: int = 3
    backoff: float = 1.0

    def waits(self) -> Iterator[float]:
        """The waits before each retry."""
        for attempt in range(self.retries):
            yield min(self.backoff * (2**attempt), MAX_WAIT)


@dataclass(frozen=True, kw_only=True)
class PendingMarker:
    """A link written but not yet in the log (``DIR/.publish-pending/NAME.KEYID8.json``)."""

    #: the link file's name in the evidence directory (``NAME.KEYID8.link``)
    link: str
    log_url: str
    log_backend: str
    #: the functionary's public key (SPKI PEM), which the log needs to check the signature
    public_key: str = field(repr=False)
    #: why the last attempt failed ("" before the first attempt)
    reason: str = ""
    #: the TSA recording was asked to use (``--tsa``), so publishing later still uses it
    tsa_url: str | None = None
    #: ``--log-visibility``: ``digest`` logs only the envelope's digest, with
    #: ``envelope_signature`` (the functionary's signature over the envelope bytes, base64,
    #: made when the link was recorded, so publishing later needs no key)
    visibility: str = "full"
    envelope_signature: str | None = field(default=None, repr=False)
    #: with digest visibility: the functionary's signature over the step Statement's envelope
    #: bytes (its Sigstore bundle is logged by digest too), when recording wrote one
    statement_signature: str | None = field(default=None, repr=False)

    @property
    def stem(self) -> str:
        """``NAME.KEYID8``: the name the link, its entry and its marker share."""
        return self.link[: -len(".link")]

    def to_dict(self) -> dict[str, Any]:
        """The marker file's JSON document."""
        return {
            "version": _MARKER_VERSION,
            "link": self.link,
            "log_url": self.log_url,
            "log_backend": self.log_backend,
            "public_key": self.public_key,
            "reason": self.reason,
            **({} if self.tsa_url is None else {"tsa_url": self.tsa_url}),
            **visibility_fields(self),
        }

    @classmethod
    def from_dict(cls, doc: Any, *, source: str) -> PendingMarker:
        """A marker document; InputError naming ``source`` and the field when malformed."""
        if not isinstance(doc, Mapping) or doc.get("version") != _MARKER_VERSION:
            raise InputError(f"{source}: not a pending-publication marker of this version")
        for name in ("link", "log_url", "log_backend", "public_key", "reason"):
            if not isinstance(doc.get(name), str):
                raise InputError(f"{source}: field {name} is missing or not a string")
        if not isinstance(doc.get("tsa_url", ""), str):
            raise InputError(f"{source}: field tsa_url is not a string")
        visibility, signature, statement = read_visibility(doc, source)
        link = str(doc["link"])
        if "/" in link or "\\" in link or not link.endswith(".link") or link.startswith("."):
            raise InputError(f"{source}: field link {link!r} is not a link file name")
        return cls(
            link=link,
            log_url=str(doc["log_url"]),
            log_backend=str(doc["log_backend"]),
            public_key=str(doc["public_key"]),
            reason=str(doc["reason"]),
            tsa_url=doc.get("tsa_url"),
            visibility=visibility,
            envelope_signature=signature,
            statement_signature=statement,
        )


def marker_path(evidence_dir: Path, stem: str) -> Path:
    """The pending marker of the link ``stem.link``."""
    return evidence_dir / PUBLISH_PENDING_DIR / f"{stem}.json"


def log_entry_path(evidence_dir: Path, stem: str) -> Path:
    """Where the log's entry for ``stem.link`` is saved."""
    return evidence_dir / f"{stem}.logentry.json"


def write_marker(evidence_dir: Path, marker: PendingMarker) -> Path:
    """Write (or rewrite) a marker atomically; return its path."""
    path = marker_path(evidence_dir, marker.stem)
    atomic_write(path, json.dumps(marker.to_dict(), indent=2).encode() + b"\n")
    return path


def read_marker(path: Path) -> PendingMarker:
    """Read a marker file (InputError naming the file and field when malformed)."""
    data = read_bytes(path, what="pending-publication marker")
    doc = parse_json(data, source=str(path), what="pending-publication marker")
    return PendingMarker.from_dict(doc, source=str(path))


def pending_markers(evidence_dir: Path) -> list[Path]:
    """The pending markers of an evidence directory, in name order."""
    directory = evidence_dir / PUBLISH_PENDING_DIR
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if p.is_file())


def finish_command(evidence_dir: Path, url: str) -> str:
    """The command that publishes what is pending in ``evidence_dir``."""
    import shlex

    return f"atlas-intoto log publish --evidence {shlex.quote(str(evidence_dir))} --url {url}"


# ---------------------------------------------------------------------------------------------
# Publishing one envelope
# ---------------------------------------------------------------------------------------------


def _retryable(exc: AtlasError) -> bool:
    """Worth another attempt: the log was unreachable, timed out, or failed (5xx, 429)."""
    if isinstance(exc, LogServerError):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, NetworkError)


def _request_size(publisher: LogPublisher, envelope: bytes, public_key_pem: bytes) -> int:
    """Bytes the publisher will send (a backend may say exactly; else the envelope's size)."""
    size = getattr(publisher, "request_size", None)
    if callable(size):
        return int(size(envelope, public_key_pem))
    return len(envelope)


def publish_with_retries(
    publisher: LogPublisher,
    envelope: bytes,
    public_key_pem: bytes,
    *,
    policy: RetryPolicy,
    max_entry: int,
    what: str,
    sleep: Sleep = time.sleep,
    say: Say | None = None,
) -> Mapping[str, Any]:
    """Publish ``envelope``; return the document the log gave back.

    Steps:
      1. the request's size is checked against ``max_entry`` before anything is sent
         (LogEntryTooLargeError);
      2. an attempt failing with an unreachable log, a timeout, 5xx or 429 is retried after
         each wait of ``policy``; a 413 is LogEntryTooLargeError; another 4xx is final;
      3. when the retries are spent, the last error is raised (NetworkError / LogServerError).
    """
    size = _request_size(publisher, envelope, public_key_pem)
    if size > max_entry:
        raise LogEntryTooLargeError(
            f"{what}: log request would be {size} bytes, over the log's limit of {max_entry} "
            "(--log-max-entry; record with less output or publish to a log with a larger limit)"
        )
    waits = policy.waits()
    while True:
        try:
            return publisher.publish(envelope, public_key_pem)
        except LogServerError as exc:
            if exc.status == 413:
                raise LogEntryTooLargeError(
                    f"{what}: the log refused the entry as too large ({exc})"
                ) from exc
            if not _retryable(exc):
                raise
            error: AtlasError = exc
        except NetworkError as exc:
            error = exc
        wait = next(waits, None)
        if wait is None:
            raise error
        if say is not None:
            say(f"{what}: log not available ({error}); retrying in {wait:g} s")
        sleep(wait)


# ---------------------------------------------------------------------------------------------
# Publishing what is pending (atlas-intoto log publish)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PublishOutcome:
    """What :func:`publish_pending` did, per link file name."""

    published: tuple[str, ...] = ()
    #: link file name → why it is still pending
    failed: Mapping[str, str] = field(default_factory=dict)
    #: markers removed because their link no longer exists (e.g. superseded by a re-run)
    stale: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``log publish --json``)."""
        return {
            "published": list(self.published),
            "failed": dict(self.failed),
            "stale": list(self.stale),
        }


def _save_entry(evidence_dir: Path, stem: str, document: Mapping[str, Any]) -> Path:
    path = log_entry_path(evidence_dir, stem)
    atomic_write(path, json.dumps(document, indent=2).encode() + b"\n")
    return path


def publish_one(
    evidence_dir: Path,
    marker_file: Path,
    marker: PendingMarker,
    publisher: LogPublisher,
    *,
    policy: RetryPolicy,
    max_entry: int,
    sleep: Sleep = time.sleep,
    say: Say | None = None,
    backend_name: str | None = None,
) -> Path:
    """Publish the link a marker names, save the log's entry, then remove the marker.

    On failure the marker is rewritten with the reason and the error re-raised as
    PublishPendingError (LogEntryTooLargeError for a link over the limit)."""
    link_path = evidence_dir / marker.link
    envelope = read_bytes(link_path, what="link")
    logged = visible_publisher(publisher, marker, marker.envelope_signature)
    assert logged is not None  # a digest marker always has its envelope signature
    try:
        document = publish_with_retries(
            logged,
            envelope,
            marker.public_key.encode(),
            policy=policy,
            max_entry=max_entry,
            what=str(link_path),
            sleep=sleep,
            say=say,
        )
    except (NetworkError, LogEntryTooLargeError) as exc:
        write_marker(evidence_dir, _with_reason(marker, str(exc)))
        if isinstance(exc, LogEntryTooLargeError):
            raise
        raise PublishPendingError(f"{link_path}: not published ({exc})") from exc
    saved = _save_entry(evidence_dir, marker.stem, document)
    statement_publisher = visible_publisher(publisher, marker, marker.statement_signature)
    if statement_publisher is not None:
        _publish_statement(evidence_dir, marker, statement_publisher, backend_name)
    marker_file.unlink(missing_ok=True)
    return saved


def _publish_statement(
    evidence_dir: Path, marker: PendingMarker, publisher: LogPublisher, backend_name: str | None
) -> None:
    """Log the step's Statement v1 bundle too (when recording wrote one). Before the marker goes:
    a failure here leaves the link pending, and publishing again is idempotent."""
    from atlas_intoto.step_statement import publish_statement

    path = evidence_dir / f"{marker.stem}.sigstore.json"
    if not path.is_file():
        return
    try:
        publish_statement(
            path,
            publisher=publisher,
            public_pem=marker.public_key.encode(),
            log_backend=str(backend_name or getattr(publisher, "backend_name", marker.log_backend)),
            tsa_url=getattr(publisher, "tsa_url", None),
        )
    except NetworkError as exc:
        write_marker(evidence_dir, _with_reason(marker, str(exc)))
        raise PublishPendingError(f"{path}: not published ({exc})") from exc


def _with_reason(marker: PendingMarker, reason: str) -> PendingMarker:
    from dataclasses import replace

    return replace(marker, reason=reason)


def publish_pending(
    evidence_dir: Path,
    *,
    url: str,
    backend: str | None = None,
    policy: RetryPolicy | None = None,
    max_entry: int = 128 * 1024,
    links: Collection[str] | None = None,
    sleep: Sleep = time.sleep,
    say: Say | None = None,
    visibility: str | None = None,
    signer: Signer | None = None,
) -> PublishOutcome:
    """Publish every pending link of ``evidence_dir`` to the log at ``url``.

    Steps:
      1. each marker is read (InputError when malformed); a marker whose link is gone is stale
         and removed;
      2. the link is published (:func:`publish_with_retries`; ``backend`` defaults to the
         marker's), its entry saved as ``NAME.KEYID8.logentry.json`` and the marker removed;
      3. a link over the size limit stays pending and the next is tried; a log that stays
         unreachable stops the run (the rest stays pending, untouched).
    ``links`` limits the run to those link file names (e.g. one training run's own links).
    ``visibility`` overrides the markers' ``--log-visibility``; a link recorded with ``full``
    is logged by digest only with ``signer`` (the functionary's key) to sign its envelope.
    """
    from atlas_intoto.tlog.select import publisher_named

    policy = policy or RetryPolicy()
    published: list[str] = []
    failed: dict[str, str] = {}
    stale: list[str] = []
    publishers: dict[str, LogPublisher] = {}
    markers = [
        m
        for m in pending_markers(evidence_dir)
        if links is None or f"{m.name[: -len('.json')]}.link" in links
    ]
    for index, marker_file in enumerate(markers):
        marker = read_marker(marker_file)
        if not (evidence_dir / marker.link).is_file():
            marker_file.unlink(missing_ok=True)
            stale.append(marker.link)
            continue
        marker = at_visibility(evidence_dir, marker, visibility, signer)
        name = backend or marker.log_backend
        if name == "auto":  # recorded with --log-version auto: ask the log what it speaks
            from atlas_intoto.tlog.select import detect_backend

            name = detect_backend(url)
        key = f"{name} {marker.tsa_url}"
        if key not in publishers:
            publishers[key] = publisher_named(name, url, tsa_url=marker.tsa_url)
        try:
            publish_one(
                evidence_dir,
                marker_file,
                marker,
                publishers[key],
                backend_name=name,
                policy=policy,
                max_entry=max_entry,
                sleep=sleep,
                say=say,
            )
        except LogEntryTooLargeError as exc:
            failed[marker.link] = str(exc)
            continue
        except PublishPendingError as exc:
            failed[marker.link] = str(exc)
            for rest in markers[index + 1 :]:
                failed[rest.name[: -len(".json")] + ".link"] = "not attempted (log unavailable)"
            break
        published.append(marker.link)
    return PublishOutcome(published=tuple(published), failed=failed, stale=tuple(stale))


def publish_recorded(
    evidence_dir: Path,
    marker: PendingMarker,
    publisher: LogPublisher,
    *,
    policy: RetryPolicy,
    max_entry: int,
    recorded: Any = None,
    say: Say | None = None,
) -> Path:
    """Publish a link recording just wrote (with its marker); return the saved entry's path.

    When the log stays unavailable: PublishPendingError (or LogEntryTooLargeError) carrying
    ``recorded`` and saying where the evidence is and how to finish."""
    marker_file = marker_path(evidence_dir, marker.stem)
    try:
        return publish_one(
            evidence_dir,
            marker_file,
            marker,
            publisher,
            policy=policy,
            max_entry=max_entry,
            say=say,
        )
    except PublishPendingError as exc:
        raise type(exc)(
            f"{exc}; the link and its evidence are kept in {evidence_dir} (pending: "
            f"{marker_file}); finish with: {finish_command(evidence_dir, marker.log_url)}",
            recorded=recorded,
        ) from exc


def recording_marker(
    options: RecordingOptions,
    stem: str,
    public_key_pem: bytes,
    *,
    signatures: tuple[str | None, str | None] = (None, None),
) -> PendingMarker:
    """The marker recording writes beside ``stem.link`` when ``options.log_url`` is set
    (``signatures``: with ``log_visibility="digest"``, the functionary's signatures over the
    link's and the Statement's envelope bytes, base64:
    :func:`atlas_intoto.publishing_visibility.recording_signatures`)."""
    assert options.log_url is not None
    return PendingMarker(
        link=f"{stem}.link",
        log_url=options.log_url,
        log_backend=options.log_backend,
        public_key=public_key_pem.decode(),
        tsa_url=options.tsa_url,
        visibility=options.log_visibility,
        envelope_signature=signatures[0],
        statement_signature=signatures[1],
    )


def publish_step(
    options: RecordingOptions, marker: PendingMarker, publisher: LogPublisher, *, recorded: Any
) -> Path:
    """Recording's publishing, as ``options`` say (retries, backoff, entry limit; progress on
    stderr): :func:`publish_recorded`."""
    import sys

    return publish_recorded(
        options.out_dir,
        marker,
        publisher,
        policy=RetryPolicy(retries=options.log_retries, backoff=options.log_backoff),
        max_entry=options.log_max_entry,
        recorded=recorded,
        say=lambda message: print(f"atlas-intoto: {message}", file=sys.stderr, flush=True),
    )

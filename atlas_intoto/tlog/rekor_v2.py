"""Rekor v2 as a log backend: a DSSE envelope is logged as a ``hashedrekord`` 0.0.2 entry over
the hash of its PAE, with an RFC 3161 timestamp over its signature (Rekor v2 signs no time).

The saved document (``NAME.KEYID8.logentry.json``) is shaped so its parts drop into a Sigstore
bundle unchanged — ``entry`` into ``verificationMaterial.tlogEntries[]``, ``timestamps`` into
``timestampVerificationData.rfc3161Timestamps``::

    {"backend": "rekor-v2", "entry": <TransparencyLogEntry>,
     "timestamps": [{"signedTimestamp": <b64 DER TimeStampResp>}]}
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from atlas_intoto.errors import EntryFormatError, LogEntryFormatError, UsageError
from atlas_intoto.tlog.backend import LogBackend, LogPublisher, VerifiedEntry

__all__ = ["NAME", "RekorV2Backend", "RekorV2Publisher", "document"]

NAME = "rekor-v2"


def document(entry: Mapping[str, Any], timestamps: Sequence[bytes]) -> dict[str, Any]:
    """The saved document for a TransparencyLogEntry and DER timestamp responses."""
    return {
        "backend": NAME,
        "entry": dict(entry),
        "timestamps": [{"signedTimestamp": base64.b64encode(t).decode()} for t in timestamps],
    }


def timestamps_of(doc: Mapping[str, Any]) -> list[bytes]:
    """The DER timestamp responses a saved document carries (LogEntryFormatError if malformed)."""
    items = doc.get("timestamps", [])
    if not isinstance(items, list):
        raise LogEntryFormatError("log entry: timestamps is not an array")
    out: list[bytes] = []
    for i, item in enumerate(items):
        value = item.get("signedTimestamp") if isinstance(item, dict) else None
        try:
            out.append(base64.b64decode(str(value).encode("ascii"), validate=True))
        except (ValueError, UnicodeEncodeError) as exc:
            raise LogEntryFormatError(
                f"log entry: timestamps[{i}].signedTimestamp is not base64"
            ) from exc
    return out


class RekorV2Publisher:
    """Publishes DSSE envelopes to a Rekor v2 log, timestamped by a TSA.

    ``tsa_url`` None: the log's own URL is tried (``log serve --tsa-dir`` serves one beside
    the log); a log without one leaves the entry without a timestamp. An explicit ``tsa_url``
    that fails fails the publication.
    """

    #: the log backend this publisher speaks (:mod:`atlas_intoto.tlog.backend`)
    backend_name = "rekor-v2"

    def __init__(self, url: str, *, tsa_url: str | None = None) -> None:
        from atlas_intoto.tlog.v2.client import RekorV2Client

        self.url = url
        self.tsa_url = tsa_url
        self._client_class = RekorV2Client

    def publish(self, envelope: bytes, public_key_pem: bytes) -> Mapping[str, Any]:
        from atlas_intoto.tlog.v2 import hashedrekord

        try:
            record = hashedrekord.entry_for_envelope(envelope, public_key_pem)
        except EntryFormatError as exc:
            raise UsageError(f"--log {self.url}: cannot log this link on Rekor v2 ({exc})") from exc
        return self._create(record)

    def publish_digest(
        self, envelope: bytes, signature: bytes, public_key_pem: bytes
    ) -> Mapping[str, Any]:
        """Log ``envelope`` by digest only (``--log-visibility digest``): a ``hashedrekord``
        0.0.2 over the SHA-256 of its exact bytes with the functionary's ``signature`` over
        them, timestamped over that signature."""
        from atlas_intoto.tlog.v2 import hashedrekord

        try:
            record = hashedrekord.entry_for_digest(envelope, signature, public_key_pem)
        except EntryFormatError as exc:
            raise UsageError(f"--log {self.url}: cannot log this link by digest ({exc})") from exc
        return self._create(record)

    def _create(self, record: Any) -> Mapping[str, Any]:
        from atlas_intoto.tlog.v2.client import DuplicateV2Entry

        stamps = self._timestamp(record.signature)
        with self._client_class(self.url) as client:
            try:
                entry = client.create_entry(record.request())
            except DuplicateV2Entry as dup:
                if dup.entry is None:
                    raise UsageError(
                        f"--log {self.url}: the entry is already logged at index {dup.index} "
                        "and the log does not return it"
                    ) from dup
                entry = dup.entry
        return document(entry, stamps)

    def _timestamp(self, signature: bytes) -> list[bytes]:
        from atlas_intoto.errors import LogServerError
        from atlas_intoto.tsa.client import request_timestamp

        if self.tsa_url is not None:
            return [request_timestamp(self.tsa_url, signature)]
        try:
            return [request_timestamp(self.url, signature)]
        except LogServerError as exc:
            if exc.status in (404, 405):
                return []
            raise


class RekorV2Backend(LogBackend):
    """Rekor v2 (rekor-tiles): our embedded v2 shard and any rekor-tiles instance."""

    name: ClassVar[str] = NAME
    #: 2: digest entries (``--log-visibility digest``) are accepted
    version: ClassVar[int] = 2

    def publisher(self, url: str) -> LogPublisher:
        return RekorV2Publisher(url)

    def verify(
        self, document: Mapping[str, Any], *, envelope: bytes, log_keys: Sequence[bytes]
    ) -> VerifiedEntry:
        """Steps of :func:`atlas_intoto.tlog.v2.entry.verify_entry`; no signed time (the
        timestamps are the RFC 3161 time source's)."""
        from atlas_intoto.tlog.v2.entry import verify_entry

        verified = verify_entry(document.get("entry"), envelope=envelope, log_keys=log_keys)
        timestamps_of(document)
        return VerifiedEntry(
            backend=self.name,
            entry_id=f"{verified.entry.log_index}",
            log_index=verified.entry.log_index,
            tree_size=verified.checkpoint.size,
            root_hash=verified.checkpoint.root_hash,
            origin=verified.checkpoint.origin,
            entry_kind=verified.entry.kind,
            api_version=verified.entry.version,
            signed_time=None,
            visibility="full" if verified.digest_entry is None else "digest",
            signer=b"" if verified.digest_entry is None else verified.digest_entry.signer,
            signer_signature=b""
            if verified.digest_entry is None
            else verified.digest_entry.signature,
        )

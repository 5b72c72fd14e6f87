"""Rekor v1 as a log backend: ``dsse`` entries published through :class:`RekorClient`, verified
offline by :func:`atlas_intoto.tlog.logentry.verify_log_entry` (inclusion proof, signed
checkpoint, SET). The SET-signed ``integratedTime`` is offered as the entry's signed time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from atlas_intoto.tlog.backend import LogBackend, LogPublisher, VerifiedEntry


class RekorV1Publisher:
    """Publishes DSSE envelopes as ``dsse`` 0.0.1 entries to a Rekor v1 instance."""

    #: the log backend this publisher speaks (:mod:`atlas_intoto.tlog.backend`)
    backend_name = "rekor-v1"

    def __init__(self, url: str) -> None:
        # Imported now, so a missing client fails before a step's command runs.
        from atlas_intoto.tlog.client import RekorClient

        self.url = url
        self._client_class = RekorClient

    def request_size(self, envelope: bytes, public_key_pem: bytes) -> int:
        """Bytes of the request :meth:`publish` sends (checked against the log's limit first)."""
        import json

        from atlas_intoto.tlog.proposed import dsse_proposed_entry

        return len(json.dumps(dsse_proposed_entry(envelope, [public_key_pem])).encode())

    def publish(self, envelope: bytes, public_key_pem: bytes) -> Mapping[str, Any]:
        client = self._client_class(self.url)
        try:
            result: Mapping[str, Any] = client.publish_dsse(envelope, public_key_pem)
        finally:
            close = getattr(client, "close", None)
            if close is not None:
                close()
        return result


class RekorV1Backend(LogBackend):
    """Rekor v1 (``/api/v1``): our embedded log and any Rekor v1 instance."""

    name: ClassVar[str] = "rekor-v1"

    def publisher(self, url: str) -> LogPublisher:
        return RekorV1Publisher(url)

    def verify(
        self, document: Mapping[str, Any], *, envelope: bytes, log_keys: Sequence[bytes]
    ) -> VerifiedEntry:
        from atlas_intoto.tlog.logentry import verify_log_entry

        verified = verify_log_entry(document, log_keys=log_keys, envelope=envelope)
        return VerifiedEntry(
            backend=self.name,
            entry_id=verified.uuid,
            log_index=verified.log_index,
            tree_size=verified.tree_size,
            root_hash=bytes(verified.root_hash),
            origin=verified.checkpoint.origin,
            entry_kind=verified.kind,
            api_version=verified.api_version,
            signed_time=verified.integrated_time,
        )

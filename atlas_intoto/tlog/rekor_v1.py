"""Rekor v1 as a log backend: ``dsse`` entries published through :class:`RekorClient`, verified
offline by :func:`atlas_intoto.tlog.logentry.verify_log_entry` (inclusion proof, signed
checkpoint, SET). The SET-signed ``integratedTime`` is offered as the entry's signed time."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from atlas_intoto.tlog.backend import LogBackend, LogPublisher, VerifiedEntry

if TYPE_CHECKING:
    from atlas_intoto.tlog.visibility import DigestEntry


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

    def publish_digest(
        self, envelope: bytes, signature: bytes, public_key_pem: bytes
    ) -> Mapping[str, Any]:
        """Log ``envelope`` by digest only (``--log-visibility digest``): a ``hashedrekord``
        0.0.1 over the SHA-256 of its exact bytes, with the functionary's ``signature`` over
        them (:mod:`atlas_intoto.tlog.visibility`)."""
        from atlas_intoto.tlog.visibility import envelope_digest

        client = self._client_class(self.url)
        try:
            result: Mapping[str, Any] = client.publish_hashedrekord(
                signature=signature,
                public_key_pem=public_key_pem,
                digest=envelope_digest(envelope),
            )
        finally:
            close = getattr(client, "close", None)
            if close is not None:
                close()
        return result


class RekorV1Backend(LogBackend):
    """Rekor v1 (``/api/v1``): our embedded log and any Rekor v1 instance."""

    name: ClassVar[str] = "rekor-v1"
    #: 2: digest entries (``--log-visibility digest``) are accepted
    version: ClassVar[int] = 2

    def publisher(self, url: str) -> LogPublisher:
        return RekorV1Publisher(url)

    def verify(
        self, document: Mapping[str, Any], *, envelope: bytes, log_keys: Sequence[bytes]
    ) -> VerifiedEntry:
        """Steps of :func:`atlas_intoto.tlog.logentry.verify_log_entry`; a ``hashedrekord``
        over the envelope's exact bytes is a digest entry
        (:func:`atlas_intoto.tlog.visibility.classify`): its body is matched there, the rest
        (inclusion, checkpoint, SET) as for any entry."""
        from atlas_intoto.tlog.logentry import verify_log_entry

        digest_entry = _digest_entry(document, envelope)
        verified = verify_log_entry(
            document, log_keys=log_keys, envelope=envelope if digest_entry is None else None
        )
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
            visibility="full" if digest_entry is None else "digest",
            signer=b"" if digest_entry is None else digest_entry.signer,
            signer_signature=b"" if digest_entry is None else digest_entry.signature,
        )


def _digest_entry(document: Mapping[str, Any], envelope: bytes) -> DigestEntry | None:
    """The digest entry ``document`` logs for ``envelope``; None for any other body (matched,
    and its errors reported, by :func:`~atlas_intoto.tlog.logentry.verify_log_entry`)."""
    import json

    from atlas_intoto.errors import EntryFormatError, LogEntryFormatError
    from atlas_intoto.tlog.kinds.material import load_verifier
    from atlas_intoto.tlog.logentry import parse_log_entry
    from atlas_intoto.tlog.visibility import classify

    try:
        body = json.loads(parse_log_entry(document).body)
        if body.get("kind") != "hashedrekord" or body.get("apiVersion") != "0.0.1":
            return None
        spec = body["spec"]
        digest = spec["data"]["hash"]
        signature = base64.b64decode(spec["signature"]["content"], validate=True)
        pem = base64.b64decode(spec["signature"]["publicKey"]["content"], validate=True)
        key = load_verifier(pem, field="spec.signature.publicKey.content").key
        value = bytes.fromhex(str(digest["value"]))
        algorithm = str(digest["algorithm"])
    except (LogEntryFormatError, EntryFormatError, ValueError, RecursionError):
        return None
    except (KeyError, TypeError, AttributeError, binascii.Error):
        return None
    return classify(
        algorithm=algorithm, digest=value, signature=signature, key=key, envelope=envelope
    )

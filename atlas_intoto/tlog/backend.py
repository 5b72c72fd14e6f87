"""The log-backend seam: publishing a signed envelope to a transparency log and verifying the
saved entry offline, whatever the log's protocol (Rekor v1 today: :mod:`.rekor_v1`).

A backend returns the document to keep beside the link (``NAME.KEYID8.logentry.json``). Rekor v1
documents are Rekor's own ``{uuid: LogEntry}``; every other backend saves
``{"backend": NAME, ...}`` so :func:`backend_for_document` can tell them apart. Verification
yields a backend-neutral :class:`VerifiedEntry`; the time an entry proves comes from the
verifier's time sources (:mod:`atlas_intoto.verify.timesource`), never from backend fields.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from atlas_intoto.errors import LogEntryFormatError, UnknownLogBackendError, UsageError


@dataclass(frozen=True, kw_only=True)
class VerifiedEntry:
    """What verifying a saved log entry established (JSON-able through to_dict/from_dict)."""

    backend: str
    #: the log's name for the entry (Rekor: the key of the saved LogEntry, an 80-hex entry ID
    #: or a 64-hex UUID)
    entry_id: str
    log_index: int
    #: the checkpoint the inclusion proof reaches
    tree_size: int
    root_hash: bytes
    origin: str
    #: the entry type the log stored (e.g. dsse 0.0.1)
    entry_kind: str = ""
    api_version: str = ""
    #: a time the log itself signed for the entry (Rekor v1's SET-signed integratedTime)
    signed_time: int | None = None
    #: ``full``: the entry records the envelope; ``digest``: only the SHA-256 of its exact
    #: bytes, signed by ``signer`` (:mod:`atlas_intoto.tlog.visibility`)
    visibility: str = "full"
    #: a digest entry's key (DER SPKI) and its signature over the envelope bytes
    signer: bytes = b""
    signer_signature: bytes = b""

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "entry_id": self.entry_id,
            "log_index": self.log_index,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "origin": self.origin,
            "entry_kind": self.entry_kind,
            "api_version": self.api_version,
            "signed_time": self.signed_time,
            "visibility": self.visibility,
            "signer": self.signer.hex(),
            "signer_signature": self.signer_signature.hex(),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> VerifiedEntry:
        signed = doc.get("signed_time")
        return cls(
            backend=str(doc["backend"]),
            entry_id=str(doc["entry_id"]),
            log_index=int(doc["log_index"]),
            tree_size=int(doc["tree_size"]),
            root_hash=bytes.fromhex(str(doc["root_hash"])),
            origin=str(doc["origin"]),
            entry_kind=str(doc.get("entry_kind", "")),
            api_version=str(doc.get("api_version", "")),
            signed_time=None if signed is None else int(signed),
            visibility=str(doc.get("visibility", "full")),
            signer=bytes.fromhex(str(doc.get("signer", ""))),
            signer_signature=bytes.fromhex(str(doc.get("signer_signature", ""))),
        )


class LogPublisher(Protocol):
    """Publishes envelopes to one log instance."""

    def publish(self, envelope: bytes, public_key_pem: bytes) -> Mapping[str, Any]:
        """Log ``envelope`` (signed by ``public_key_pem``); return the document to keep.
        A duplicate entry is fetched and returned, not an error."""
        ...


class LogBackend(ABC):
    """A transparency-log protocol. Register an instance with :func:`register`."""

    name: ClassVar[str]
    #: bump when :meth:`verify` changes what it accepts: cached results of older versions are
    #: then not reused
    version: ClassVar[int] = 1

    @abstractmethod
    def publisher(self, url: str) -> LogPublisher:
        """A publisher for the log at ``url``."""

    @abstractmethod
    def verify(
        self, document: Mapping[str, Any], *, envelope: bytes, log_keys: Sequence[bytes]
    ) -> VerifiedEntry:
        """Verify a saved entry offline (pure): it records exactly ``envelope``, is included in
        a checkpoint signed by one of ``log_keys`` (PEM). Raise TransparencyError subclasses."""


_backends: dict[str, LogBackend] = {}
_lock = threading.Lock()
#: The backend of documents without a ``backend`` field.
DEFAULT_BACKEND = "rekor-v1"


def _ensure_builtins() -> None:
    with _lock:
        if DEFAULT_BACKEND not in _backends:
            from atlas_intoto.tlog.rekor_v1 import RekorV1Backend

            _backends[DEFAULT_BACKEND] = RekorV1Backend()
        if "rekor-v2" not in _backends:
            from atlas_intoto.tlog.rekor_v2 import RekorV2Backend

            _backends["rekor-v2"] = RekorV2Backend()


def register(backend: LogBackend, *, replace: bool = False) -> None:
    """Make ``backend`` available for publishing and verification under ``backend.name``."""
    _ensure_builtins()
    with _lock:
        if backend.name in _backends and not replace:
            raise UsageError(f"log backend {backend.name!r} is already registered")
        _backends[backend.name] = backend


def unregister(name: str) -> None:
    """Remove a registered backend (tests, plug-in reloads)."""
    with _lock:
        if name not in (DEFAULT_BACKEND, "rekor-v2"):
            _backends.pop(name, None)


def get(name: str) -> LogBackend:
    """The backend ``name``; :class:`UsageError` when none is registered (a recording option)."""
    _ensure_builtins()
    backend = _backends.get(name)
    if backend is None:
        raise UsageError(
            f"log backend {name!r} is not known (known: {', '.join(sorted(_backends))})"
        )
    return backend


def backend_for_document(document: Mapping[str, Any]) -> LogBackend:
    """The backend that saved ``document`` (evidence: an unknown one fails verification)."""
    if not isinstance(document, Mapping):
        raise LogEntryFormatError("log entry: not a JSON object")
    name = document.get("backend", DEFAULT_BACKEND)
    if not isinstance(name, str):
        raise LogEntryFormatError("log entry: field backend is not a string")
    _ensure_builtins()
    backend = _backends.get(name)
    if backend is None:
        raise UnknownLogBackendError(
            f"log entry: log backend {name!r} is not known to this verifier"
        )
    return backend

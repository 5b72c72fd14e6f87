"""Operational errors (exit 2): usage, configuration, I/O or network trouble."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atlas_intoto.tlog.store import StoredEntry

from atlas_intoto.errors.base import OperationalError


class UsageError(OperationalError):
    """Bad command-line arguments or API parameters."""

    check = "usage"


class InputError(OperationalError):
    """A file or directory is missing, unreadable, of the wrong kind, or malformed."""

    check = "input"


class KeyLoadError(InputError):
    """A key or certificate file cannot be loaded (garbage, wrong type, wrong password)."""

    check = "key"


class OutputError(OperationalError):
    """An output file or directory cannot be written."""

    check = "output"


class CommandError(OperationalError):
    """A wrapped command cannot be started (not found, not executable)."""

    check = "command"


class C2paSigningError(OperationalError):
    """c2pa-rs refused to sign a sidecar manifest (certificate profile, unsupported asset)."""

    check = "c2pa.sign"


class NetworkError(OperationalError):
    """A server is unreachable or answered with something that is not its API."""

    check = "network"


class LogServerError(NetworkError):
    """A transparency log answered a request with an HTTP error (``status``, Rekor's message)."""

    check = "network.log"

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class TeeUnavailableError(OperationalError):
    """The requested TEE cannot produce a quote here (no configfs-tsm, kernel refused, races)."""

    check = "tee.provider"


class CollateralFetchError(NetworkError):
    """TEE collateral could not be fetched from the PCCS/PCS URL or read from its file."""

    check = "tee.collateral_fetch"


class AttestationFailedError(OperationalError):
    """Recording evidence for a step failed (e.g. a background checkpoint attestation), so the
    step's link was not written."""

    check = "attestation"


class StepCommandFailed(CommandError):
    """The wrapped command exited non-zero: a failed step is not evidence, no link is written.

    The CLI exits with the command's own code (128 + N when killed by signal N).
    """

    check = "command.failed"

    def __init__(self, *, step: str, command: Sequence[str], returncode: int) -> None:
        self.returncode = returncode
        self.exit_code = returncode if returncode > 0 else 128 - returncode
        super().__init__(
            f"step {step}: command {command[0]!r} exited with code {returncode}; no link written"
        )


class PublishPendingError(OperationalError):
    """The step's link and evidence are written, but publishing to the log failed after every
    retry: a pending marker names what is left to do (``atlas-intoto log publish``).

    ``recorded`` is what recording wrote (an ``atlas_intoto.step.RecordedStep``) when the error
    comes from recording a step.
    """

    check = "tlog.pending"

    def __init__(self, message: str, *, recorded: Any = None) -> None:
        super().__init__(message)
        self.recorded = recorded


class LogEntryTooLargeError(PublishPendingError):
    """The link is larger than the log accepts (``--log-max-entry`` / HTTP 413); it is kept
    with a pending marker."""

    check = "tlog.entry_size"


class PreflightError(OperationalError):
    """A step does not fit the signed layout given with ``--layout`` (unknown step, key not a
    functionary, command or materials not as the layout states): nothing was run."""

    check = "preflight"


class FeatureUnavailableError(OperationalError):
    """An option needs an integration module that is not installed or not importable."""

    check = "unavailable"


class StoreError(OperationalError):
    """The log database cannot be opened, read or written, or is inconsistent."""

    check = "tlog.store"


class DuplicateEntryError(OperationalError):
    """The entry (same leaf hash) is already in the log; ``existing`` is the stored one."""

    check = "tlog.duplicate"

    def __init__(self, existing: StoredEntry) -> None:
        super().__init__(
            f"entry already in the log at index {existing.index} ({existing.entry_id})"
        )
        self.existing = existing


class ServiceConfigError(UsageError):
    """The verification service's configuration (``serve --config``) is invalid."""

    check = "service.config"


class ServiceRequestError(InputError):
    """A request to the verification service is malformed (HTTP 4xx); ``status`` is the code."""

    check = "service.request"

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ServiceAuthError(ServiceRequestError):
    """A request to the verification service lacks valid credentials (401) or may not use
    the policy it names (403)."""

    check = "service.auth"


class ServiceUnavailableError(NetworkError):
    """The verification service could not be reached or answered with an error (``gate``)."""

    check = "service.unavailable"

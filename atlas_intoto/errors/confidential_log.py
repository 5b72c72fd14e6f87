"""Check 6 errors of digest log visibility (``--log-visibility digest``): a link logged only as
a ``hashedrekord`` over the SHA-256 of its exact envelope bytes, signed by its functionary."""

from __future__ import annotations

from atlas_intoto.errors.evidence import LogEntryMismatchError, TransparencyError

__all__ = [
    "LogDigestMismatchError",
    "LogDigestSignatureError",
    "LogSignerNotFunctionaryError",
    "LogVisibilityNotAllowedError",
]


class LogDigestMismatchError(LogEntryMismatchError):
    """A digest entry's artifact digest is not the SHA-256 of the link's exact envelope bytes
    (the entry logs some other document)."""

    check = "tlog.digest"


class LogDigestSignatureError(LogEntryMismatchError):
    """A digest entry's signature does not verify over its digest with the key it logs."""

    check = "tlog.digest-signature"


class LogSignerNotFunctionaryError(TransparencyError):
    """A digest entry is signed by a key that is not a functionary key of the step that signed
    this link: anyone can log a digest, only the functionary's entry binds the envelope."""

    check = "tlog.digest-signer"


class LogVisibilityNotAllowedError(TransparencyError):
    """The entry's visibility (``full``: the envelope is logged; ``digest``: only its digest)
    is not the one the layout's ``trust.logs[].visibility`` accepts."""

    check = "tlog.visibility"

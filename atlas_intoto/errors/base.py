"""The roots of the hierarchy: who is at fault decides the exit code."""

from __future__ import annotations


class AtlasError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code: int = 2
    #: Short machine-readable name of the verification check (docs/ARCHITECTURE.md) or operation.
    check: str = "error"


class OperationalError(AtlasError):
    """Usage, configuration, I/O or network problem: nothing is known about the evidence."""

    exit_code = 2
    check = "operational"


class EvidenceError(AtlasError):
    """The evidence is invalid: verification fails."""

    exit_code = 1
    check = "evidence"


class FormatError(EvidenceError):
    """Evidence bytes do not parse as the format they claim to be."""

    check = "format"


class SignatureError(EvidenceError):
    """A signature does not verify."""

    check = "signature"

"""Confidential provenance (docs/confidentiality.md): private artifacts as salted commitments.

Every class is an :class:`~atlas_intoto.errors.evidence.FinalArtifactError` of check 7: the
openings are checked against the verified links and the auditor's files.
"""

from __future__ import annotations

from atlas_intoto.errors.evidence import FinalArtifactError

__all__ = [
    "ConfidentialError",
    "ForgedCommitmentError",
    "MissingOpeningError",
    "MissingPrivateFileError",
    "OpeningMismatchError",
    "PrivateInClearError",
    "ReusedCommitmentError",
]


class ConfidentialError(FinalArtifactError):
    """A private artifact's commitment, opening or disclosure is wrong."""

    check = "artifacts.private"


class ForgedCommitmentError(ConfidentialError):
    """An opening does not reproduce the commitment it claims to open (HMAC-SHA256 under its
    salt over its path and digests), or a committed entry is not a well-formed commitment."""

    check = "artifacts.private.forged"


class ReusedCommitmentError(ConfidentialError):
    """One commitment opens to different artifacts, one salt opens two artifacts, or a link
    carries a commitment copied onto another artifact's entry."""

    check = "artifacts.private.reused"


class OpeningMismatchError(ConfidentialError):
    """An opened digest differs from the auditor's file at the opened path (a swapped private
    dataset)."""

    check = "artifacts.private.mismatch"


class MissingOpeningError(ConfidentialError):
    """A step's committed artifact has no opening among those the auditor was given."""

    check = "artifacts.private.missing"


class MissingPrivateFileError(ConfidentialError):
    """An auditor's ``--artifacts`` directory lacks a private file the openings name: it
    cannot be compared, so the auditor's check of it fails closed."""

    check = "artifacts.private.absent"


class PrivateInClearError(ConfidentialError):
    """A link records an artifact the layout marks private by its clear path (a disclosure)."""

    check = "artifacts.private.disclosed"

"""The openings file: what each commitment commits to. Private evidence, kept beside the links
(``NAME.KEYID8.openings.json``) and never put in a public bundle; pure parsing and checking.

Format (``docs/formats.md``, "Openings")::

    {"media_type": "application/vnd.atlas-intoto.openings.v1+json",
     "openings": {"<hex commitment>": {"salt": "<hex, 32 bytes>", "path": "data/train.csv",
                                       "digests": {"sha256": "<hex>"}}}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from atlas_intoto.confidential.commitment import commit
from atlas_intoto.errors import ForgedCommitmentError, InputError, ReusedCommitmentError

OPENINGS_MEDIA_TYPE = "application/vnd.atlas-intoto.openings.v1+json"
#: the file an evidence directory keeps a step's openings in: ``NAME.KEYID8`` + this suffix
OPENINGS_SUFFIX = ".openings.json"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")


def _is_path(path: str) -> bool:
    """A path an opening can commit to: non-empty, encodable (RFC 8785 refuses lone
    surrogates) and free of control characters (which would forge lines in reports)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return bool(path) and not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path)


def _shown(key: str) -> str:
    """A commitment key as an error names it: its start, never a line break of the input."""
    return key[:16] if _HEX64.fullmatch(key) else repr(key[:16])


@dataclass(frozen=True, kw_only=True)
class Opening:
    """One commitment's opening: the salt, the clear path and its digests."""

    commitment: str
    salt: str
    path: str
    digests: Mapping[str, str] = field(default_factory=dict)

    def reproduces(self) -> bool:
        """Whether HMAC-SHA256(salt, (path, digests)) is the commitment."""
        return commit(bytes.fromhex(self.salt), self.path, self.digests) == self.commitment

    def to_dict(self) -> dict[str, Any]:
        return {"salt": self.salt, "path": self.path, "digests": dict(self.digests)}

    @classmethod
    def from_dict(cls, commitment: str, doc: Any, *, where: str) -> Opening:
        """One ``openings`` entry (InputError naming the field when malformed)."""
        if not _HEX64.fullmatch(commitment):
            raise InputError(f"{where}: key {commitment[:80]!r} is not a 64-hex commitment")
        if not isinstance(doc, Mapping):
            raise InputError(f"{where}: must be an object with salt, path, digests")
        salt, path, digests = doc.get("salt"), doc.get("path"), doc.get("digests")
        if not isinstance(salt, str) or not _HEX64.fullmatch(salt):
            raise InputError(f"{where}.salt: must be 64 lowercase hex characters")
        if not isinstance(path, str) or not _is_path(path):
            raise InputError(
                f"{where}.path: must be a non-empty UTF-8 string without control characters"
            )
        if (
            not isinstance(digests, Mapping)
            or not digests
            or not all(
                isinstance(k, str) and k and isinstance(v, str) and _HEX.fullmatch(v)
                for k, v in digests.items()
            )
        ):
            raise InputError(f"{where}.digests: must map algorithm names to lowercase hex digests")
        return cls(commitment=commitment, salt=salt, path=path, digests=dict(digests))


@dataclass(frozen=True, kw_only=True)
class Openings:
    """The openings an auditor holds, as read (from one or several files); :func:`index`
    checks that they agree."""

    items: tuple[Opening, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    def __add__(self, other: Openings) -> Openings:
        return Openings(items=self.items + other.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "media_type": OPENINGS_MEDIA_TYPE,
            "openings": {o.commitment: o.to_dict() for o in sorted(self.items, key=_order)},
        }

    def serialize(self) -> bytes:
        """The file's bytes."""
        return (json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_dict(cls, doc: Any, *, source: str) -> Openings:
        """An openings document (InputError naming the file and field when malformed)."""
        if not isinstance(doc, Mapping) or doc.get("media_type") != OPENINGS_MEDIA_TYPE:
            raise InputError(f"{source}: media_type: not an openings file ({OPENINGS_MEDIA_TYPE})")
        entries = doc.get("openings")
        if not isinstance(entries, Mapping):
            raise InputError(f"{source}: openings: must be an object keyed by commitment")
        return cls(
            items=tuple(
                Opening.from_dict(str(c), entry, where=f"{source}: openings.{_shown(str(c))}")
                for c, entry in entries.items()
            )
        )


def parse_openings(data: bytes, *, source: str) -> Openings:
    """Parse an openings file (pure; a key twice in an object is an InputError)."""
    from atlas_intoto.fileio import parse_json

    doc = parse_json(data, source=source, what="openings file", unique_keys=True)
    return Openings.from_dict(doc, source=source)


def _order(opening: Opening) -> str:
    return opening.commitment


def index(openings: Iterable[Opening]) -> dict[str, Opening]:
    """The openings by commitment, from several files or steps.

    Steps:
      1. the same commitment opened twice must open to the same artifact (else
         ReusedCommitmentError);
      2. one salt may open one artifact only: salts are derived per artifact, so a salt opening
         two is a commitment copied onto another artifact (ReusedCommitmentError).
    Whether an opening reproduces its commitment is :func:`check_opening`'s job.
    """
    by_commitment: dict[str, Opening] = {}
    by_salt: dict[str, str] = {}
    for opening in openings:
        known = by_commitment.get(opening.commitment)
        if known is not None and known != opening:
            raise ReusedCommitmentError(
                f"commitment {opening.commitment[:16]}…: opened as {known.path} and as "
                f"{opening.path} with other digests or salt"
            )
        other = by_salt.setdefault(opening.salt, opening.commitment)
        if other != opening.commitment:
            raise ReusedCommitmentError(
                f"salt {opening.salt[:16]}… opens two commitments ({other[:16]}…, "
                f"{opening.commitment[:16]}…): a commitment copied onto another artifact"
            )
        by_commitment[opening.commitment] = opening
    return by_commitment


def check_opening(opening: Opening, *, where: str) -> None:
    """The opening reproduces its commitment (else ForgedCommitmentError)."""
    if not opening.reproduces():
        raise ForgedCommitmentError(
            f"{where}: opening of {opening.commitment[:16]}… ({opening.path}) does not "
            "reproduce the commitment"
        )

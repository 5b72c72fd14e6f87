"""Commitments to private artifacts: pure, no I/O.

An artifact ``(path, digests)`` is committed under the pipeline secret ``S`` as::

    m    = RFC8785({"path": path, "digests": digests})
    salt = HMAC-SHA256(S, "atlas-intoto/private/v1" || 0x00 || m)
    c    = HMAC-SHA256(salt, m)

and recorded in the link as ``"private/<hex c>": {"hmac-sha256": "<hex c>"}``. The same bytes at
the same path give the same ``c`` in every step recorded with the same secret, so in-toto's
MATCH rules still compare them; without the salt ``c`` reveals neither the path nor the digest
(a digest of a known file cannot be confirmed). The opening ``(salt, path, digests)`` proves
what ``c`` commits to, and nothing about any other commitment: each salt is derived for one
artifact, so disclosing it lets nobody test guesses against other commitments.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

import rfc8785

#: committed names in links: ``private/<64 hex>``
PREFIX = "private/"
#: the one "digest" a committed entry records: the commitment itself
DIGEST_KEY = "hmac-sha256"
#: domain separation of the salt derivation
SALT_CONTEXT = b"atlas-intoto/private/v1\x00"
#: the shortest pipeline secret accepted (bytes)
MIN_SECRET = 32

_HEX64 = re.compile(r"[0-9a-f]{64}")


def message(path: str, digests: Mapping[str, str]) -> bytes:
    """The canonical bytes committed to: RFC 8785 JSON of the path and its digests."""
    return bytes(rfc8785.dumps({"path": path, "digests": dict(digests)}))


def derive_salt(secret: bytes, path: str, digests: Mapping[str, str]) -> bytes:
    """The artifact's salt: the pipeline secret keyed over exactly this artifact."""
    return hmac.new(secret, SALT_CONTEXT + message(path, digests), hashlib.sha256).digest()


def commit(salt: bytes, path: str, digests: Mapping[str, str]) -> str:
    """The commitment (hex) of ``(path, digests)`` under ``salt``."""
    return hmac.new(salt, message(path, digests), hashlib.sha256).hexdigest()


def committed_name(commitment: str) -> str:
    """The artifact name a link records for a commitment."""
    return PREFIX + commitment


def is_committed(name: str) -> bool:
    """Whether ``name`` is a committed name (``private/<64 hex>``)."""
    return name.startswith(PREFIX) and _HEX64.fullmatch(name[len(PREFIX) :]) is not None


def commitment_of(name: str) -> str:
    """The commitment a committed name carries (ValueError for any other name)."""
    if not is_committed(name):
        raise ValueError(f"{name}: not a committed name")
    return name[len(PREFIX) :]


def committed_entry(commitment: str) -> dict[str, str]:
    """The digest entry recorded for a committed name."""
    return {DIGEST_KEY: commitment}


def is_private(path: str, patterns: Sequence[str]) -> bool:
    """Whether ``path`` matches one of the private patterns (in-toto's fnmatch semantics)."""
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)

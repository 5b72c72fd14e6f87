"""Names of log entries, as Rekor uses them.

* the **UUID** of an entry is its RFC 6962 leaf hash in hex (64 digits);
* the **entry ID** is the 16-hex-digit tree id followed by the UUID (80 digits): what Rekor v1
  answers as the key of a LogEntry and accepts wherever it takes a UUID.
"""

from __future__ import annotations

import re

from atlas_intoto.tlog import merkle

_UUID = re.compile(r"[0-9a-f]{64}")
_ENTRY_ID = re.compile(r"([0-9a-f]{16})?([0-9a-f]{64})")


def entry_uuid(body: bytes) -> str:
    """The UUID of a stored entry body: its leaf hash, hex."""
    return merkle.leaf_hash(body).hex()


def entry_id(tree_id: int, leaf_hash: bytes) -> str:
    """The 80-hex entry ID of the entry with ``leaf_hash`` in tree ``tree_id``."""
    return f"{tree_id:016x}{leaf_hash.hex()}"


def split_entry_id(text: str) -> tuple[int | None, bytes] | None:
    """``(tree id or None, leaf hash)`` of a 64-hex UUID or 80-hex entry ID; None if neither."""
    match = _ENTRY_ID.fullmatch(text)
    if match is None:
        return None
    tree = int(match.group(1), 16) if match.group(1) else None
    return tree, bytes.fromhex(match.group(2))

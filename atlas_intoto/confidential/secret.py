"""The pipeline secret every step commits private artifacts under (I/O at the edge).

All steps of one pipeline must use the same secret, or the same artifact gets different
commitments in different steps and MATCH rules fail. It is an organisation secret, kept like a
signing key: a file of 64+ hex characters (``--private-secret FILE``) or the environment
variable ``ATLAS_INTOTO_PRIVATE_SECRET`` (hex). It never appears in links, bundles or openings:
openings carry only per-artifact salts derived from it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from atlas_intoto.confidential.commitment import MIN_SECRET
from atlas_intoto.errors import InputError, UsageError
from atlas_intoto.fileio import atomic_write, read_bytes

#: the environment variable holding the secret (hex) when no file is given
SECRET_ENV = "ATLAS_INTOTO_PRIVATE_SECRET"


def parse_secret(text: bytes, *, source: str) -> bytes:
    """Hex text (surrounding whitespace ignored) of at least :data:`MIN_SECRET` bytes."""
    try:
        secret = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{source}: private secret must be hex text") from exc
    if len(secret) < MIN_SECRET:
        raise InputError(f"{source}: private secret must be at least {MIN_SECRET} bytes")
    return secret


def load_secret(path: Path | None) -> bytes:
    """The secret from ``path``, else from :data:`SECRET_ENV` (UsageError when neither)."""
    if path is not None:
        return parse_secret(read_bytes(path, what="private secret"), source=str(path))
    value = os.environ.get(SECRET_ENV)
    if value is None:
        raise UsageError(
            f"private artifacts need the pipeline secret: --private-secret FILE or {SECRET_ENV}"
        )
    return parse_secret(value.encode(), source=SECRET_ENV)


def generate_secret(path: Path) -> None:
    """Write a new random secret (32 bytes, hex) readable by its owner only."""
    atomic_write(path, (secrets.token_hex(MIN_SECRET) + "\n").encode(), mode=0o600)

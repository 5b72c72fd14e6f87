"""File I/O at the edge: reads and atomic writes that fail with one clear line.

Library code that verifies evidence never calls these; the CLI, providers and recorders do.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from atlas_intoto.errors import InputError, OutputError


def read_bytes(path: Path, *, what: str = "file") -> bytes:
    """Read a whole (small) file; missing, directory or unreadable paths raise InputError."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: {what} not found") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory, expected a {what}") from exc
    except PermissionError as exc:
        raise InputError(f"{path}: {what} not readable (permission denied)") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    except ValueError as exc:  # a NUL byte in the path (e.g. from a layout or JSON document)
        raise InputError(f"{str(path)!r}: invalid {what} path ({exc})") from exc


def read_json(path: Path, *, what: str = "JSON file") -> Any:
    """Read and parse a JSON file; malformed JSON raises InputError naming line and column."""
    return parse_json(read_bytes(path, what=what), source=str(path), what=what)


def parse_json(
    data: bytes, *, source: str, what: str = "JSON file", unique_keys: bool = False
) -> Any:
    """Parse JSON bytes; malformed or pathological JSON (deep nesting, integers past Python's
    digit limit) raises InputError naming ``source``. ``unique_keys``: a key twice in one
    object is an InputError too (Python keeps the last, other readers may see the first)."""
    hook = unique_keys_object if unique_keys else None
    try:
        return json.loads(data, object_pairs_hook=hook)
    except DuplicateKeyError as exc:
        raise InputError(f"{source}: {what}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: {what} is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise InputError(f"{source}: invalid JSON (nested too deeply)") from exc
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise InputError(f"{source}: invalid JSON ({exc})") from exc


class DuplicateKeyError(ValueError):
    """A JSON object names a key twice."""


def unique_keys_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: raise DuplicateKeyError for a key given twice."""
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise DuplicateKeyError(f"key {key[:80]!r} appears twice in one object")
        doc[key] = value
    return doc


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file in the same directory, are fsynced, then renamed over
    ``path``. On any error nothing is left behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def ensure_writable_dir(directory: Path) -> None:
    """Create ``directory`` if needed and check that files can be written into it."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{directory}: cannot create output directory ({exc.strerror or exc})"
        ) from exc
    if not directory.is_dir():
        raise OutputError(f"{directory}: not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{directory}: output directory is not writable")

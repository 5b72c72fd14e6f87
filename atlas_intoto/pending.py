"""The state between ``record start`` and ``record stop``: ``DIR/.pending/NAME.KEYID8.json``.

It holds the measured materials, the base path and exclusions, and the command declared with
``record start --command``. A pointer under ``$ATLAS_INTOTO_HOME/pending/`` remembers which
evidence directory holds it, so a ``record stop`` given another ``--out`` (or none) can say
where the pending record is instead of only that it is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from atlas_intoto.errors import InputError
from atlas_intoto.fileio import atomic_write, read_json

PENDING_DIR = ".pending"
_VERSION = 1


def pending_path(out_dir: Path, step: str, keyid: str) -> Path:
    """Where ``record start`` keeps the state of ``step`` signed by ``keyid``."""
    return out_dir / PENDING_DIR / f"{step}.{keyid[:8]}.json"


def _pointer(step: str, keyid: str) -> Path:
    from atlas_intoto.home import atlas_home

    return atlas_home() / "pending" / f"{step}.{keyid[:8]}.json"


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write the state and remember (best effort) where it is."""
    atomic_write(path, json.dumps({"version": _VERSION, **state}, indent=2).encode() + b"\n")
    try:
        pointer = {"path": os.path.abspath(path)}
        atomic_write(_pointer(state["step"], state["keyid"]), json.dumps(pointer).encode())
    except Exception:  # the pointer only improves an error message
        pass


def _not_found(path: Path, *, step: str, keyid: str) -> InputError:
    hint = "run 'record start' first"
    try:
        pointer = read_json(_pointer(step, keyid), what="pending pointer")
        elsewhere = Path(str(pointer["path"]))
        if elsewhere.is_file() and elsewhere != Path(os.path.abspath(path)):
            hint = (
                f"record start kept it in {elsewhere}: "
                f"give the same --out ({elsewhere.parent.parent})"
            )
    except (InputError, KeyError, TypeError):
        pass
    return InputError(f"{os.path.abspath(path)}: no pending record for step {step!r} ({hint})")


def read_state(path: Path, *, step: str, keyid: str) -> dict[str, Any]:
    """The state of ``step``; InputError naming the absolute path and field when missing or
    malformed."""
    if not path.exists():
        raise _not_found(path, step=step, keyid=keyid)
    state = read_json(path, what="pending record")
    if not isinstance(state, dict) or state.get("version") != _VERSION:
        raise InputError(f"{path}: not a pending record of this version")
    if state.get("step") != step or state.get("keyid") != keyid:
        raise InputError(f"{path}: pending record is for another step or key")
    materials = state.get("materials")
    if not isinstance(materials, dict) or not all(
        isinstance(v, dict) and v and all(isinstance(d, str) for d in v.values())
        for v in materials.values()
    ):
        raise InputError(f"{path}: field materials is malformed")
    if not isinstance(state.get("base_path"), str) or not isinstance(state.get("exclude"), list):
        raise InputError(f"{path}: fields base_path/exclude are malformed")
    command = state.get("command", [])
    if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
        raise InputError(f"{path}: field command is malformed")
    return state


def remove_state(path: Path, *, step: str, keyid: str) -> None:
    """Remove the state and its pointer (record stop wrote the link, or the run was aborted)."""
    for each in (path, _pointer(step, keyid)):
        with contextlib.suppress(OSError):
            each.unlink()

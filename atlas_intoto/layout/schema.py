"""Layout validation: JSON Schema (schemas/layout.schema.json) plus the semantic rules.

Errors are :class:`LayoutSchemaError` with one-line messages ``SOURCE: line N: FIELD: reason``
(the line when a source line map is known). Pure, apart from reading the packaged schema once.
"""

from __future__ import annotations

import calendar
import json
import shlex
import time
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from atlas_intoto.errors import InputError, LayoutSchemaError
from atlas_intoto.layout.evidence import TDX, spelled_twice
from atlas_intoto.layout.source import LineMap

__all__ = ["API_VERSION", "SCHEMA_PATH", "expiry_seconds", "layout_schema", "validate_document"]

API_VERSION = "atlas-intoto/v1"
#: package data (so installed wheels have it); a copy of schemas/layout.schema.json, kept
#: identical by the tests
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "layout.schema.json"
_EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@cache
def layout_schema() -> Mapping[str, Any]:
    """The layout JSON Schema (draft 2020-12), loaded once from the package data."""
    try:
        schema: Mapping[str, Any] = json.loads(SCHEMA_PATH.read_text())
    except (OSError, ValueError) as exc:  # pragma: no cover - broken installation
        raise InputError(f"{SCHEMA_PATH}: cannot load the layout schema") from exc
    return schema


@cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(layout_schema())


def _format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _line_for(path: Sequence[str | int], lines: LineMap | None) -> int | None:
    if not lines:
        return None
    probe = tuple(path)
    while True:
        if probe in lines:
            return lines[probe]
        if not probe:
            return None
        probe = probe[:-1]


def _schema_fail(
    source: str, path: Sequence[str | int], message: str, lines: LineMap | None
) -> LayoutSchemaError:
    line = _line_for(path, lines)
    where = f" line {line}" if line is not None else ""
    return LayoutSchemaError(f"{source}:{where}: {_format_path(path)}: {message}")


def validate_document(doc: Any, *, source: str, lines: LineMap | None = None) -> None:
    """Validate a layout document (source or pinned payload) against the schema and semantics.

    Steps:
      1. JSON Schema (schemas/layout.schema.json); the first error (by path) is reported with
         its field path and, when known, its source line;
      2. no evidence kind is given twice (``tee`` and ``evidence.tdx``, in ``trust`` or a step);
      3. every step's functionaries are declared, step names are unique, thresholds can be met;
      4. every artifact rule parses with in-toto's rule parser, MATCH sources are declared steps;
      5. the expiry is a real date.
    """
    _check_schema(doc, source=source, lines=lines)
    _check_kinds_once(doc.get("trust") or {}, ("trust",), source=source, lines=lines)
    declared = set(doc["functionaries"])
    step_names = [step["name"] for step in doc["steps"]]
    seen: set[str] = set()
    for index, step in enumerate(doc["steps"]):
        path: tuple[str | int, ...] = ("steps", index)
        if step["name"] in seen:
            raise _schema_fail(source, (*path, "name"), f"duplicate step {step['name']!r}", lines)
        seen.add(step["name"])
        _check_kinds_once(step, path, source=source, lines=lines)
        for fi, name in enumerate(step["functionaries"]):
            if name not in declared:
                raise _schema_fail(
                    source, (*path, "functionaries", fi), f"undeclared functionary {name!r}", lines
                )
        if step.get("threshold", 1) > len(step["functionaries"]):
            raise _schema_fail(
                source, (*path, "threshold"), "threshold exceeds the number of functionaries", lines
            )
        _check_rules(step, path, step_names, source=source, lines=lines)
    expiry_seconds(doc["expires"], source=source)


def _check_schema(doc: Any, *, source: str, lines: LineMap | None) -> None:
    import jsonschema

    errors = sorted(
        _validator().iter_errors(doc), key=lambda e: (len(e.absolute_path), str(e.path))
    )
    if not errors:
        return
    best = jsonschema.exceptions.best_match(errors)
    error = best if best is not None else errors[0]
    message = error.message
    if error.validator == "additionalProperties" and len(message) > 160:
        message = message[:157] + "..."
    raise _schema_fail(source, list(error.absolute_path), message, lines)


def _check_kinds_once(
    node: Mapping[str, Any], path: tuple[str | int, ...], *, source: str, lines: LineMap | None
) -> None:
    twice = spelled_twice(node)
    if twice is not None:
        raise _schema_fail(
            source,
            (*path, *twice),
            f"kind {TDX!r} is also given as tee (tee is the {TDX} block); give one of them",
            lines,
        )


def _check_rules(
    step: Mapping[str, Any],
    path: tuple[str | int, ...],
    step_names: Sequence[str],
    *,
    source: str,
    lines: LineMap | None,
) -> None:
    from in_toto.rulelib import unpack_rule
    from securesystemslib.exceptions import FormatError as SslibFormatError

    for kind in ("materials", "products"):
        for ri, rule in enumerate(step.get(kind, [])):
            rpath = (*path, kind, ri)
            try:
                data = unpack_rule(shlex.split(rule))
            except (ValueError, SslibFormatError) as exc:
                raise _schema_fail(
                    source, rpath, f"invalid artifact rule: {' '.join(str(exc).split())}", lines
                ) from exc
            src = data.get("dest_name")
            if data["rule_type"] == "match" and src not in step_names:
                raise _schema_fail(source, rpath, f"MATCH refers to unknown step {src!r}", lines)


def expiry_seconds(expires: str, *, source: str) -> int:
    """``expires`` (``YYYY-MM-DDTHH:MM:SSZ``) as POSIX seconds; not a real date is a
    :class:`LayoutSchemaError` naming ``source``."""
    try:
        return calendar.timegm(time.strptime(expires, _EXPIRES_FORMAT))
    except ValueError as exc:
        raise LayoutSchemaError(f"{source}: expires: not a valid date: {expires!r}") from exc

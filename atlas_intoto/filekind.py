"""What a file given to the wrong command is, and which command takes it (pure).

A new user hands ``verify`` a link or a signed layout, or ``bundle create`` the YAML source of a
layout; the parser's own complaint ("invalid JSON at line 1 column 1", a schema path) does not
say what went wrong. :func:`wrong_file_hint` names the file's kind and the command for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_LINK_TYPES = ("application/vnd.in-toto+json",)
_LAYOUT_TYPE = "application/vnd.atlas-intoto.layout+json"
_BUNDLE_PREFIX = "application/vnd.atlas-intoto.bundle"

#: kind → (what it is, which command takes it)
_KINDS: Mapping[str, tuple[str, str]] = {
    "link": (
        "a step's link (DSSE in-toto envelope)",
        "bundle it with `atlas-intoto bundle create --evidence DIR` and verify the bundle",
    ),
    "signed-layout": (
        "a signed layout",
        "it is the --layout of `atlas-intoto bundle create`; `verify` takes the bundle",
    ),
    "layout-source": (
        "the unsigned source of a layout (YAML/JSON)",
        "sign it first: `atlas-intoto layout sign SOURCE --key OWNER.key --out FILE.layout`",
    ),
    "bundle": ("a model bundle", "verify it with `atlas-intoto verify BUNDLE --layout-key KEY`"),
    "log-entry": (
        "a saved transparency-log entry",
        "it travels in a bundle with its link (`atlas-intoto bundle create`)",
    ),
}


def _parse(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        pass
    try:
        import yaml

        return yaml.safe_load(data[:65536].decode("utf-8"))
    except Exception:  # any YAML fault: the file is simply not recognised
        return None


def file_kind(data: bytes) -> str | None:
    """``link``, ``signed-layout``, ``layout-source``, ``bundle``, ``log-entry`` or None."""
    doc = _parse(data)
    if not isinstance(doc, Mapping):
        return None
    payload_type = doc.get("payloadType")
    if isinstance(payload_type, str):
        if payload_type in _LINK_TYPES:
            return "link"
        if payload_type == _LAYOUT_TYPE:
            return "signed-layout"
    media_type = doc.get("media_type")
    if isinstance(media_type, str) and media_type.startswith(_BUNDLE_PREFIX):
        return "bundle"
    if "steps" in doc and "functionaries" in doc and "payloadType" not in doc:
        return "layout-source"
    if len(doc) == 1:
        entry = next(iter(doc.values()))
        if isinstance(entry, Mapping) and "logIndex" in entry and "body" in entry:
            return "log-entry"
    return None


def wrong_file_hint(data: bytes, *, expected: str) -> str | None:
    """``"this is X, not Y: use ..."`` when ``data`` is a known kind other than ``expected``."""
    kind = file_kind(data)
    if kind is None or kind == expected:
        return None
    what, how = _KINDS[kind]
    wanted = _KINDS.get(expected, (expected, ""))[0]
    return f"this is {what}, not {wanted}: {how}"


__all__ = ["file_kind", "wrong_file_hint"]

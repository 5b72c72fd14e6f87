"""Regenerate the confidential failing vectors: one JSON file per attack of
tests/confidential/confidential_attacks.py, plus ``untampered-public.json`` and
``untampered-auditor.json`` (must verify). Fixed keys and pipeline secret under
``tests/confidential/vectors/keys`` (created on the first run, then reused).

    .venv/bin/python tests/confidential/vectors/generate.py [ATTACK ...]

With attack names, only those vectors are (re)written; the others are left as they are.

Each vector: {"attack", "description", "expected": {"check", "error"} | {"ok": true}, "now",
"layout_keys": [PEM], "bundle": <bundle JSON>, "artifacts": {path: base64} | null}.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _files(root: Path | None, under: str = "") -> dict[str, str] | None:
    """The files under ``root / under``, by their path relative to ``root``."""
    if root is None:
        return None
    return {
        str(p.relative_to(root)): base64.b64encode(p.read_bytes()).decode()
        for p in sorted((root / under).rglob("*"))
        if p.is_file()
    }


def _write(name: str, doc: dict[str, Any]) -> None:
    (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _write_untampered(base: Any, common: dict[str, Any]) -> None:
    _write(
        "untampered-public",
        {
            "attack": "untampered-public",
            "description": "the public bundle; the consumer holds the released files",
            "expected": {"ok": True},
            "bundle": json.loads(base.bundle("public")),
            "artifacts": _files(base.work, "dist"),
            **common,
        },
    )
    _write(
        "untampered-auditor",
        {
            "attack": "untampered-auditor",
            "description": "the auditor bundle; the auditor holds every file",
            "expected": {"ok": True},
            "bundle": json.loads(base.bundle("auditor")),
            "artifacts": _files(base.work),
            **common,
        },
    )


def main() -> None:
    from confidential_attacks import ATTACKS
    from confidential_builder import build

    only = set(sys.argv[1:])
    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="atlas-conf-vectors-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["ATLAS_INTOTO_HOME"] = str(tmp / "home")
        base = build(tmp / "base", fixed=HERE / "keys")
        common = {"now": now, "layout_keys": [base.owner_pem.decode()]}
        if not only:
            _write_untampered(base, common)
        for attack in ATTACKS:
            if only and attack.name not in only:
                continue
            scratch = tmp / "attacks" / attack.name
            scratch.mkdir(parents=True)
            case = attack.build(base, scratch)
            _write(
                attack.name,
                {
                    "attack": attack.name,
                    "description": attack.description,
                    "expected": {"check": attack.check, "error": attack.error},
                    "bundle": case.bundle,
                    "artifacts": _files(case.artifacts),
                    **common,
                },
            )
            print(f"{attack.name}: {attack.check}/{attack.error}")


if __name__ == "__main__":
    main()

"""The confidential run of the demo (``atlas-intoto demo --confidential``): the datasets are
private, the model and metrics public. Used by :func:`atlas_intoto.demo.run_demo`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_intoto.confidential.commitment import is_private
from atlas_intoto.recording import RecordingOptions

#: what the demo keeps private
DEMO_PRIVATE = ("data/*",)
#: what the demo's log receives: a digest and a key per link (``--log-visibility digest``)
CONFIDENTIAL_LOG_VISIBILITY = "digest"


def private_layout(doc: dict[str, Any], patterns: Sequence[str] = DEMO_PRIVATE) -> None:
    """Mark ``patterns`` private and write rules over private files with the pattern itself:
    the layout is public, so it must not name a private file either."""
    doc["private"] = list(patterns)
    for log in doc.get("trust", {}).get("logs", ()):
        log["visibility"] = CONFIDENTIAL_LOG_VISIBILITY
    for step in doc["steps"]:
        for kind in ("materials", "products"):
            rules = []
            for rule in step.get(kind, []):
                tokens = rule.split()
                if len(tokens) > 1 and is_private(tokens[1], patterns):
                    pattern = next(p for p in patterns if is_private(tokens[1], [p]))
                    tokens[1] = pattern
                rules.append(" ".join(tokens))
            step[kind] = rules


def private_options(
    options: RecordingOptions, *, secret: Path, log_visibility: str = CONFIDENTIAL_LOG_VISIBILITY
) -> RecordingOptions:
    """The step's options for a confidential run: private patterns, the pipeline secret and
    the log visibility."""
    return options.with_changes(
        private=DEMO_PRIVATE, private_secret=secret, log_visibility=log_visibility
    )


@dataclass(frozen=True, kw_only=True)
class ConfidentialBundles:
    """The two bundles of a confidential run and what the public side discloses."""

    public: Path
    auditor: Path
    openings: int
    #: private paths/digests found in the public bundle or the log (empty: nothing disclosed)
    disclosed: tuple[str, ...]


def write_bundles(
    directory: Path,
    *,
    layout_envelope: Any,
    evidence: Path,
    log_dir: Path,
    say: Callable[[str], None],
) -> ConfidentialBundles:
    """The public bundle (``model.atlas.json``), the auditor bundle (``model.auditor.atlas.json``)
    and a search of the public bundle and every log file for every private path and digest."""
    from atlas_intoto.bundle_v2 import collect_evidence_v2, serialize_bundle_v2
    from atlas_intoto.confidential.audience import collect_openings, disclosures, for_audience
    from atlas_intoto.fileio import atomic_write

    bundle = collect_evidence_v2(layout_envelope=layout_envelope, evidence_dirs=[evidence])
    openings = collect_openings([evidence], bundle)
    public = directory / "model.atlas.json"
    auditor = directory / "model.auditor.atlas.json"
    public_bytes = serialize_bundle_v2(for_audience(bundle, "public", openings))
    atomic_write(public, public_bytes)
    atomic_write(auditor, serialize_bundle_v2(for_audience(bundle, "auditor", openings)))
    found = list(disclosures(public_bytes, openings))
    for name, data in _log_contents(log_dir):
        found.extend(f"{what} (in {name})" for what in disclosures(data, openings))
    say(
        f"6. bundles: public {public} (no private path or digest: "
        f"{'none found' if not found else 'DISCLOSED ' + found[0]}), auditor {auditor} "
        f"({len(openings)} opening(s))"
    )
    return ConfidentialBundles(
        public=public, auditor=auditor, openings=len(openings), disclosed=tuple(found)
    )


def _log_contents(log_dir: Path) -> list[tuple[str, bytes]]:
    """Every file of the log directory and every value of its SQLite database (entry bodies
    hold base64 envelopes, which :func:`disclosures` decodes)."""
    import sqlite3

    found = [(p.name, p.read_bytes()) for p in sorted(log_dir.rglob("*")) if p.is_file()]
    for db_path in sorted(log_dir.rglob("*.db")):
        with contextlib.closing(sqlite3.connect(db_path)) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                for values in db.execute(f'SELECT * FROM "{table}"'):
                    for value in values:
                        data = value if isinstance(value, bytes) else str(value).encode()
                        found.append((f"{db_path.name}:{table}", data))
    return found


def summary(bundles: ConfidentialBundles) -> dict[str, Any]:
    """The ``demo --confidential --json`` fields."""
    return {
        "public_bundle": str(bundles.public),
        "auditor_bundle": str(bundles.auditor),
        "openings": bundles.openings,
        "disclosed": list(bundles.disclosed),
        "log_visibility": CONFIDENTIAL_LOG_VISIBILITY,
    }

"""Which upstream links a step consumed: recorded in the link, checked by the verifier.

A link records, for each material another step's link in the evidence directory produced
(same path, same SHA-256), the SHA-256 of that link's exact envelope bytes::

    "atlas-intoto": {..., "upstream": {"data/train.csv": "<sha256 of prepare's .link bytes>"}}

The verifier then requires the bundle to hold exactly those envelopes as the producers
(:func:`check_upstream`). This makes chain order structural: an authentic link from another
run, even re-logged later (so its log time looks right), or re-serialised (so its log entry is
new), is not the envelope the downstream step signed for. Log times remain what they are: proof
that an envelope existed by then, never proof of which run it belongs to.

:func:`upstream_record` reads the evidence directory (recording, the edge);
:func:`check_upstream` is pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from atlas_intoto.errors import ReplayError

#: key of the record in ``environment["atlas-intoto"]``
UPSTREAM_KEY = "upstream"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

__all__ = ["UPSTREAM_KEY", "check_upstream", "envelope_digest", "upstream_record"]


def envelope_digest(envelope: bytes) -> str:
    """SHA-256 (hex) of a link's exact envelope bytes (what the log entry commits to)."""
    return hashlib.sha256(envelope).hexdigest()


def upstream_record(
    evidence_dir: Path, *, step: str, materials: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """``{"upstream": {material: envelope sha256}}`` for the materials that a link of another
    step in ``evidence_dir`` produced with the same digest, or ``{}`` when there are none (an
    empty record would cover nothing: the verifier treats both alike). Unreadable or foreign
    files in the directory are skipped: they are not this pipeline's links."""
    from atlas_intoto.errors import AtlasError
    from atlas_intoto.link import read_unverified_link

    wanted = {path: d.get("sha256") for path, d in materials.items()}
    found: dict[str, str] = {}
    directory = Path(evidence_dir)
    candidates = sorted(directory.glob("*.link")) if directory.is_dir() else []
    for path in candidates:
        if path.is_symlink() or not path.is_file():
            continue
        try:
            envelope = path.read_bytes()
            link = read_unverified_link(envelope, source=str(path))
        except (OSError, AtlasError):
            continue
        if link.name == step:
            continue
        for product, digests in link.products.items():
            if product in wanted and wanted[product] == digests.get("sha256"):
                found[product] = envelope_digest(envelope)
    return {UPSTREAM_KEY: dict(sorted(found.items()))} if found else {}


def check_upstream(
    *,
    step: str,
    record: Any,
    materials: Mapping[str, Mapping[str, str]],
    producers: Sequence[tuple[str, bytes, Mapping[str, Mapping[str, str]]]],
) -> set[str]:
    """Check a link's upstream record against the bundle; return the steps it covers.

    ``producers`` are the bundle's verified links of other steps as (step, envelope bytes,
    products). Steps:
      1. the record is an object of material path → 64-hex digest (ReplayError otherwise);
      2. each recorded material is a material of the link;
      3. a verified link in the bundle has exactly the recorded envelope digest and produced
         that material with the digest the link consumed (ReplayError: the bundle holds a
         link of another run, or a re-serialised one).
    """
    if not isinstance(record, Mapping):
        raise ReplayError(f"step {step}: upstream record is not an object")
    by_digest = {envelope_digest(env): (name, products) for name, env, products in producers}
    covered: set[str] = set()
    for path, digest in sorted(record.items()):
        if not isinstance(digest, str) or not _HEX64.match(digest) or path not in materials:
            raise ReplayError(f"step {step}: upstream record for {path!r} is malformed")
        producer = by_digest.get(digest)
        consumed = materials[path].get("sha256")
        if producer is None or producer[1].get(path, {}).get("sha256") != consumed:
            raise ReplayError(
                f"step {step}: consumed {path} from link {digest[:16]}…, which is not in the "
                "bundle: its upstream links are from another run (or were re-serialised)"
            )
        covered.add(producer[0])
    return covered

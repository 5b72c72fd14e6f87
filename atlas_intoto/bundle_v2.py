"""The model bundle, format v2: an index of per-step Sigstore bundles (schemas/bundle-v2.schema.json)::

    {"media_type": "application/vnd.atlas-intoto.bundle.v2+json",
     "layout": <signed layout DSSE envelope>,
     "steps": {"<step>": {"attestations": [
         {"sigstore_bundle": <Sigstore bundle v0.3: a DSSE envelope of the step's Statement v1
                              (or v0.9 link), its verification material, its Rekor v1 or v2
                              log entry, its RFC 3161 timestamps>,
          "blobs": {"<evidence kind>": {"<name>": <b64>}},
          "c2pa": {"<product>": <b64 sidecar>}}]}}}

Every attestation is a standard Sigstore bundle that sigstore clients verify on their own; the
blobs and sidecars are what its environment commits to (by digest). Parsing yields the same
:class:`atlas_intoto.bundle.Bundle` as format v1, so verification is one code path;
:func:`atlas_intoto.bundle.parse_bundle` dispatches here on the media type. Parsing and
serialising are pure; :func:`collect_evidence_v2` reads evidence directories.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from atlas_intoto.bundle import BUNDLE_V2_MEDIA_TYPE, Bundle, LinkEvidence
from atlas_intoto.errors import AtlasError, InputError
from atlas_intoto.sigstore_bundle import SUFFIX, make_bundle, parse_sigstore_bundle

#: package data copy of schemas/bundle-v2.schema.json (kept identical by the tests)
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "bundle-v2.schema.json"

__all__ = [
    "BUNDLE_V2_MEDIA_TYPE",
    "SCHEMA_PATH",
    "bundle_document_v2",
    "collect_evidence_v2",
    "oms_evidence",
    "parse_bundle_document",
    "serialize_bundle_v2",
]


@cache
def _validator() -> Any:
    import jsonschema

    try:
        schema = json.loads(SCHEMA_PATH.read_text())
    except (OSError, ValueError) as exc:  # pragma: no cover - broken installation
        raise InputError(f"{SCHEMA_PATH}: cannot load the bundle v2 schema") from exc
    return jsonschema.Draft202012Validator(schema)


def _b64(value: str, *, where: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise InputError(f"{where}: not valid base64") from exc


def _attestation(item: Mapping[str, Any], *, step: str, where: str) -> LinkEvidence:
    try:
        parsed = parse_sigstore_bundle(item["sigstore_bundle"], source=f"{where}.sigstore_bundle")
    except AtlasError as exc:
        raise InputError(str(exc)) from exc
    return LinkEvidence(
        step=step,
        envelope=parsed.envelope,
        log_entry=parsed.log_entry,
        blobs={
            kind: {name: _b64(v, where=f"{where}.blobs.{kind}.{name}") for name, v in named.items()}
            for kind, named in item.get("blobs", {}).items()
        },
        c2pa={p: _b64(v, where=f"{where}.c2pa.{p}") for p, v in item.get("c2pa", {}).items()},
        sigstore_bundle=item["sigstore_bundle"],
    )


def parse_bundle_document(doc: Any, *, source: str = "bundle") -> Bundle:
    """Schema-check a decoded v2 bundle and read every attestation (InputError: exit 2)."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is not None:
        path = ".".join(str(p) for p in error.absolute_path) or "(document)"
        raise InputError(f"{source}: {path}: {error.message[:200]}")
    links = [
        _attestation(item, step=step, where=f"{source}: steps.{step}.attestations[{index}]")
        for step, entry in doc["steps"].items()
        for index, item in enumerate(entry["attestations"])
    ]
    return Bundle(layout=doc["layout"], links=tuple(links), openings=doc.get("openings"))


def _sigstore_bundle(link: LinkEvidence) -> Mapping[str, Any]:
    """The Sigstore bundle of ``link``: as read, or wrapped from a v0.9 link and its entry."""
    if link.sigstore_bundle is not None:
        return link.sigstore_bundle
    where = f"step {link.step}"
    if link.log_entry is not None and _foreign_backend(link.log_entry):
        raise InputError(f"{where}: format v2 carries Rekor v1 and v2 log entries only")
    try:
        document = make_bundle(link.envelope, log_entry=link.log_entry)
    except AtlasError as exc:
        raise InputError(f"{where}: cannot wrap the link in a Sigstore bundle ({exc})") from exc
    # The log entry hashes the exact envelope bytes: a link that is not in the sorted-key form
    # a Sigstore bundle rebuilds would no longer match its entry.
    if parse_sigstore_bundle(document).envelope != link.envelope:
        raise InputError(f"{where}: the link file is not in canonical DSSE JSON form")
    return document


def bundle_document_v2(bundle: Bundle) -> dict[str, Any]:
    """The v2 bundle's JSON document."""
    steps: dict[str, Any] = {}
    for link in bundle.links:
        item: dict[str, Any] = {"sigstore_bundle": dict(_sigstore_bundle(link))}
        if link.blobs:
            item["blobs"] = {
                kind: {n: base64.b64encode(d).decode() for n, d in sorted(named.items())}
                for kind, named in sorted(link.blobs.items())
            }
        if link.c2pa:
            item["c2pa"] = {p: base64.b64encode(b).decode() for p, b in sorted(link.c2pa.items())}
        steps.setdefault(link.step, {"attestations": []})["attestations"].append(item)
    doc = {"media_type": BUNDLE_V2_MEDIA_TYPE, "layout": dict(bundle.layout), "steps": steps}
    if bundle.openings is not None:
        doc["openings"] = dict(bundle.openings)
    return doc


def serialize_bundle_v2(bundle: Bundle) -> bytes:
    """The v2 bundle file's bytes."""
    return (json.dumps(bundle_document_v2(bundle), indent=1) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# Collecting evidence directories (I/O)
# ---------------------------------------------------------------------------------------------


def _from_sigstore_file(directory: Path, path: Path) -> LinkEvidence:
    from pathlib import PurePosixPath

    from atlas_intoto.bundle import _evidence_of, _read_blobs, _read_sidecars, read_inside
    from atlas_intoto.fileio import parse_json
    from atlas_intoto.link import read_unverified_link

    source = str(path)
    # A regular file inside the evidence directory, never through a symlink (as links are).
    data = read_inside(directory, PurePosixPath(path.name), what="Sigstore bundle")
    doc = parse_json(data, source=source, what="Sigstore bundle")
    try:
        parsed = parse_sigstore_bundle(doc, source=source)
        link = read_unverified_link(parsed.envelope, source=source)
    except AtlasError as exc:
        raise InputError(f"{source}: not a Sigstore bundle of a step ({exc})") from exc
    entries = _evidence_of(link, source=source)
    return LinkEvidence(
        step=link.name,
        envelope=parsed.envelope,
        log_entry=parsed.log_entry,
        blobs=_read_blobs(directory, entries, source=source),
        c2pa=_read_sidecars(directory, link, source=source),
        sigstore_bundle=doc,
    )


def _collect_dir(directory: Path) -> list[LinkEvidence]:
    from atlas_intoto.bundle import _collect_dir as collect_links

    if not directory.is_dir():
        raise InputError(f"{directory}: evidence directory not found")
    links = collect_links(directory)
    for item in links:
        if item.log_entry is not None and _foreign_backend(item.log_entry):
            raise InputError(
                f"{directory}: step {item.step} is logged by log backend "
                f"{item.log_entry['backend']!r} (not Rekor v1 or v2): use bundle create "
                "--format v1"
            )
    statements = sorted(directory.glob(f"*{SUFFIX}"))
    stems = {path.name[: -len(SUFFIX)] for path in statements}
    found = [_from_sigstore_file(directory, path) for path in statements]
    # A v0.9 link whose Statement is here is the same step twice: the Statement stands for it.
    found.extend(item for item in links if not any(_same_file(item, stem) for stem in stems))
    return found


def rerun_evidence(link_paths: Sequence[Path]) -> list[LinkEvidence]:
    """The evidence of the chosen runs of re-run steps (``.link`` files, current or superseded):
    the Statement of the same run where it exists (downstream Statements record their
    producers' Statements), else the link itself."""
    from atlas_intoto.bundle import _collect_dir as collect_links

    found = []
    for path in link_paths:
        stem = path.name[: -len(".link")]
        statement = path.with_name(stem + SUFFIX)
        if statement.is_file():
            found.append(_from_sigstore_file(path.parent, statement))
        else:
            found.extend(i for i in collect_links(path.parent) if _same_file(i, stem))
    return found


def _foreign_backend(log_entry: Mapping[str, Any]) -> bool:
    """A saved entry of a backend a Sigstore bundle cannot hold (only Rekor v1 and v2)."""
    from atlas_intoto.tlog.rekor_v2 import NAME

    return "backend" in log_entry and log_entry["backend"] != NAME


def _same_file(item: LinkEvidence, stem: str) -> bool:
    from atlas_intoto.link import read_unverified_link

    claimed = read_unverified_link(item.envelope).claimed_keyids
    return any(stem == f"{item.step}.{keyid[:8]}" for keyid in claimed)


def oms_evidence(path: Path, *, step: str) -> LinkEvidence:
    """An OMS model signature (``model.sig``, e.g. from ``model_signing sign key``) filed as
    evidence of ``step``: it names no step itself, the layout checks it as that step's."""
    from atlas_intoto.fileio import read_json

    doc = read_json(path, what="model signature")
    try:
        parsed = parse_sigstore_bundle(doc, source=str(path))
    except AtlasError as exc:
        raise InputError(f"{path}: not an OMS model signature ({exc})") from exc
    return LinkEvidence(
        step=step, envelope=parsed.envelope, log_entry=parsed.log_entry, sigstore_bundle=doc
    )


def collect_evidence_v2(
    *,
    layout_envelope: Mapping[str, Any],
    evidence_dirs: Sequence[Path],
    extra: Sequence[LinkEvidence] = (),
    chosen: Sequence[LinkEvidence] = (),
) -> Bundle:
    """Build a format v2 bundle from a signed layout and evidence directories.

    Each step's ``NAME.KEYID8.sigstore.json`` (its Statement v1) is taken; a v0.9 link without
    one is wrapped in a Sigstore bundle with its log entry; ``extra`` (e.g.
    :func:`oms_evidence`) is added as given. ``chosen`` (the re-run selection of
    :func:`atlas_intoto.rerun.collect_consistent`) stands alone for its steps: a step re-run
    keeps the links the rest of the pipeline consumed, not whatever its directory holds now.
    Nothing is verified here; an attestation is taken once even if it appears in several
    directories.
    """
    from atlas_intoto.bundle import _layout_order

    if not evidence_dirs:
        raise InputError("bundle create: at least one --evidence directory is required")
    links: list[LinkEvidence] = []
    seen: set[bytes] = set()
    found = [item for directory in evidence_dirs for item in _collect_dir(Path(directory))]
    contested = {item.step for item in chosen}
    found = [item for item in found if item.step not in contested]
    for item in [*found, *chosen, *extra]:
        if item.envelope not in seen:
            seen.add(item.envelope)
            links.append(item)
    if not links:
        dirs = ", ".join(str(d) for d in evidence_dirs)
        raise InputError(f"{dirs}: no *{SUFFIX} or *.link files found")
    order = _layout_order(layout_envelope)
    links.sort(key=lambda link: order.get(link.step, len(order)))
    return Bundle(layout=layout_envelope, links=tuple(links))

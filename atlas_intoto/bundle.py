"""The model bundle: one JSON file with the signed layout and every step's evidence.

Layout (schemas/bundle.schema.json)::

    {"media_type": "application/vnd.atlas-intoto.bundle.v1+json",
     "layout": <signed layout DSSE envelope>,
     "steps": {"<step>": {"links": [{"envelope": <b64 link file bytes>,
                                     "log_entry": <saved log entry, e.g. {"<uuid>": LogEntry}>,
                                     "blobs": {"<evidence kind>": {"<name>": <b64>}},
                                     "c2pa": {"<product>": <b64>}}]}}}

Bundles of links with evidence version 1 carry the TDX collateral as ``tee_collateral``; it is
read as ``blobs.tdx.collateral``.

Link envelopes are kept as their exact bytes because the log entry commits to them. The step a
link is filed under is only a grouping: the verifier trusts the name inside the signed link.
:func:`parse_bundle`/:func:`serialize_bundle` are pure; :func:`collect_evidence` reads evidence
directories (docs/INTERFACES.md, "Evidence directory").
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from atlas_intoto.errors import AtlasError, InputError
from atlas_intoto.evidence.model import LEGACY_TEE_KIND, EvidenceEntry, evidence_entries
from atlas_intoto.link import UnverifiedLink

BUNDLE_MEDIA_TYPE = "application/vnd.atlas-intoto.bundle.v1+json"
#: format v2 (:mod:`atlas_intoto.bundle_v2`): per-step Sigstore bundles; parse_bundle reads both
BUNDLE_V2_MEDIA_TYPE = "application/vnd.atlas-intoto.bundle.v2+json"
#: package data (so installed wheels have it); a copy of schemas/bundle.schema.json, kept
#: identical by the tests
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "bundle.schema.json"


@dataclass(frozen=True, kw_only=True)
class LinkEvidence:
    """One link with the evidence that travels with it."""

    #: the step this evidence is filed under in the bundle (not trusted)
    step: str
    envelope: bytes = field(repr=False)
    log_entry: Mapping[str, Any] | None = field(default=None, repr=False)
    #: evidence kind -> blob name -> bytes (e.g. ``blobs["tdx"]["collateral"]``)
    blobs: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict, repr=False)
    #: product path -> sidecar bytes
    c2pa: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    #: the Sigstore bundle this evidence came from (format v2 bundles), kept as read
    sigstore_bundle: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The bundle's JSON form of this link's evidence."""
        item: dict[str, Any] = {"envelope": base64.b64encode(self.envelope).decode()}
        if self.log_entry is not None:
            item["log_entry"] = dict(self.log_entry)
        if self.blobs:
            item["blobs"] = {
                kind: {
                    name: base64.b64encode(data).decode() for name, data in sorted(named.items())
                }
                for kind, named in sorted(self.blobs.items())
            }
        if self.c2pa:
            item["c2pa"] = {p: base64.b64encode(b).decode() for p, b in sorted(self.c2pa.items())}
        return item

    @classmethod
    def from_dict(cls, item: Mapping[str, Any], *, step: str, where: str) -> LinkEvidence:
        """One ``links[]`` item of a schema-valid bundle (InputError for bad base64)."""
        blobs: dict[str, dict[str, bytes]] = {
            kind: {name: _b64(v, where=f"{where}.blobs.{kind}.{name}") for name, v in named.items()}
            for kind, named in item.get("blobs", {}).items()
        }
        if "tee_collateral" in item:
            legacy = _b64(item["tee_collateral"], where=f"{where}.tee_collateral")
            blobs.setdefault(LEGACY_TEE_KIND, {}).setdefault("collateral", legacy)
        return cls(
            step=step,
            envelope=_b64(item["envelope"], where=f"{where}.envelope"),
            log_entry=item.get("log_entry"),
            blobs=blobs,
            c2pa={
                product: _b64(value, where=f"{where}.c2pa.{product}")
                for product, value in item.get("c2pa", {}).items()
            },
        )


@dataclass(frozen=True, kw_only=True)
class Bundle:
    """A parsed model bundle: the signed layout (unverified) and every link's evidence."""

    layout: Mapping[str, Any] = field(repr=False)
    links: tuple[LinkEvidence, ...]
    #: an auditor bundle's openings document (docs/confidentiality.md); None in public bundles
    openings: Mapping[str, Any] | None = field(default=None, repr=False)

    def steps(self) -> tuple[str, ...]:
        seen: list[str] = []
        for link in self.links:
            if link.step not in seen:
                seen.append(link.step)
        return tuple(seen)


@cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(bundle_schema())


@cache
def bundle_schema() -> Mapping[str, Any]:
    try:
        schema: Mapping[str, Any] = json.loads(SCHEMA_PATH.read_text())
    except (OSError, ValueError) as exc:  # pragma: no cover - broken installation
        raise InputError(f"{SCHEMA_PATH}: cannot load the bundle schema") from exc
    return schema


def _b64(value: str, *, where: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{where}: not valid base64") from exc


def _refuse_other_kinds(data: bytes, *, source: str) -> None:
    """A link, a layout or a log entry given as a bundle: say so (not schema noise)."""
    from atlas_intoto.filekind import wrong_file_hint

    hint = wrong_file_hint(data, expected="bundle")
    if hint is not None:
        raise InputError(f"{source}: {hint}")


def parse_bundle(data: bytes, *, source: str = "bundle") -> Bundle:
    """Parse and schema-check a bundle (format v1, or v2 by its media type). Malformed files are
    operational errors (exit 2)."""
    import jsonschema

    from atlas_intoto.fileio import parse_json

    try:
        # A step or commitment named twice would be read as its last entry only.
        doc = parse_json(data, source=source, what="bundle", unique_keys=True)
    except InputError:
        _refuse_other_kinds(data, source=source)
        raise
    if isinstance(doc, dict) and doc.get("media_type") == BUNDLE_V2_MEDIA_TYPE:
        from atlas_intoto.bundle_v2 import parse_bundle_document

        return parse_bundle_document(doc, source=source)
    validator = _validator()
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        _refuse_other_kinds(data, source=source)
        path = ".".join(str(p) for p in error.absolute_path) or "(document)"
        raise InputError(f"{source}: {path}: {error.message[:200]}")
    links = [
        LinkEvidence.from_dict(item, step=step, where=f"{source}: steps.{step}.links[{index}]")
        for step, entry in doc["steps"].items()
        for index, item in enumerate(entry["links"])
    ]
    return Bundle(layout=doc["layout"], links=tuple(links), openings=doc.get("openings"))


def bundle_document(bundle: Bundle) -> dict[str, Any]:
    """The bundle's JSON document."""
    steps: dict[str, Any] = {}
    for link in bundle.links:
        steps.setdefault(link.step, {"links": []})["links"].append(link.to_dict())
    doc = {"media_type": BUNDLE_MEDIA_TYPE, "layout": dict(bundle.layout), "steps": steps}
    if bundle.openings is not None:
        doc["openings"] = dict(bundle.openings)
    return doc


def serialize_bundle(bundle: Bundle) -> bytes:
    """The bundle file's bytes."""
    return (json.dumps(bundle_document(bundle), indent=1) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# Collecting evidence directories (I/O)
# ---------------------------------------------------------------------------------------------


def _safe_relative(path: Any, *, source: str) -> PurePosixPath:
    rel = PurePosixPath(str(path))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise InputError(f"{source}: evidence path {path!r} escapes the evidence directory")
    return rel


def read_inside(directory: Path, rel: PurePosixPath, *, what: str) -> bytes:
    """The bytes of the regular file ``directory/rel``, never through a symbolic link.

    Paths come from unverified links: a planted link naming ``tee/x`` where ``tee`` is a
    symlink to ``/home/user/.ssh`` must not copy a secret into the bundle. Every component
    below ``directory`` must be a real directory and the file a regular file (InputError).
    """
    target = Path(directory)
    for index, part in enumerate(rel.parts):
        target = target / part
        try:
            mode = os.lstat(target).st_mode
        except FileNotFoundError as exc:
            raise InputError(f"{target}: {what} not found") from exc
        except (OSError, ValueError) as exc:
            raise InputError(f"{target}: cannot read {what} ({exc})") from exc
        if stat.S_ISLNK(mode):
            raise InputError(f"{target}: {what} path is a symbolic link; refused")
        last = index == len(rel.parts) - 1
        if not last and not stat.S_ISDIR(mode):
            raise InputError(f"{target}: not a directory (on the path of a {what})")
        if last and not stat.S_ISREG(mode):
            raise InputError(f"{target}: {what} is not a regular file; refused")
    try:
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise InputError(f"{target}: cannot read {what} ({exc.strerror or exc})") from exc
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise InputError(f"{target}: {what} is not a regular file; refused")
        return handle.read()


def _evidence_of(link: UnverifiedLink, *, source: str) -> tuple[EvidenceEntry, ...]:
    try:
        return evidence_entries(link.atlas)
    except AtlasError as exc:
        raise InputError(f"{source}: {exc}") from exc


def _read_blobs(
    directory: Path, entries: Sequence[EvidenceEntry], *, source: str
) -> dict[str, dict[str, bytes]]:
    blobs: dict[str, dict[str, bytes]] = {}
    for entry in entries:
        for name, ref in entry.blobs.items():
            rel = _safe_relative(ref.path, source=source)
            blobs.setdefault(entry.kind, {})[name] = read_inside(
                directory, rel, what=f"{entry.kind} {name}"
            )
    return blobs


def _read_sidecars(directory: Path, link: UnverifiedLink, *, source: str) -> dict[str, bytes]:
    sidecars: dict[str, bytes] = {}
    c2pa = link.atlas.get("c2pa")
    if isinstance(c2pa, Mapping):
        for product, entry in c2pa.items():
            if isinstance(entry, Mapping):
                rel = _safe_relative(entry.get("sidecar"), source=source)
                sidecars[product] = read_inside(directory, rel, what="C2PA sidecar")
    return sidecars


def _collect_dir(directory: Path) -> list[LinkEvidence]:
    from atlas_intoto.fileio import parse_json
    from atlas_intoto.link import read_unverified_link

    if not directory.is_dir():
        raise InputError(f"{directory}: evidence directory not found")
    found: list[LinkEvidence] = []
    for link_path in sorted(directory.glob("*.link")):
        source = str(link_path)
        envelope = read_inside(directory, PurePosixPath(link_path.name), what="link")
        try:
            link = read_unverified_link(envelope, source=source)
        except AtlasError as exc:
            raise InputError(f"{source}: not a DSSE in-toto link ({exc})") from exc
        log_name = PurePosixPath(f"{link_path.name[: -len('.link')]}.logentry.json")
        log_path = directory / log_name
        log_entry = (
            parse_json(read_inside(directory, log_name, what="log entry"), source=str(log_path))
            if os.path.lexists(log_path)
            else None
        )
        if log_entry is not None and not isinstance(log_entry, dict):
            raise InputError(f"{log_path}: log entry is not a JSON object")
        entries = _evidence_of(link, source=source)
        found.append(
            LinkEvidence(
                step=link.name,
                envelope=envelope,
                log_entry=log_entry,
                blobs=_read_blobs(directory, entries, source=source),
                c2pa=_read_sidecars(directory, link, source=source),
            )
        )
    return found


def collect_evidence(
    *, layout_envelope: Mapping[str, Any], evidence_dirs: Sequence[Path]
) -> Bundle:
    """Build a bundle from a signed layout and evidence directories.

    Nothing is verified here (the consumer does that); a link is taken once even if it appears
    in several directories; links are ordered by the layout's steps.
    """
    if not evidence_dirs:
        raise InputError("bundle create: at least one --evidence directory is required")
    links: list[LinkEvidence] = []
    seen: set[bytes] = set()
    for directory in evidence_dirs:
        for item in _collect_dir(Path(directory)):
            if item.envelope not in seen:
                seen.add(item.envelope)
                links.append(item)
    if not links:
        raise InputError(f"{', '.join(str(d) for d in evidence_dirs)}: no *.link files found")
    order = _layout_order(layout_envelope)
    links.sort(key=lambda link: order.get(link.step, len(order)))
    return Bundle(layout=layout_envelope, links=tuple(links))


def _layout_order(layout_envelope: Mapping[str, Any]) -> dict[str, int]:
    """Step order of the (unverified) layout, so bundles list steps as the pipeline runs them."""
    from atlas_intoto.errors import AtlasError
    from atlas_intoto.layout import layout_payload

    try:
        layout = layout_payload(layout_envelope)
    except AtlasError:
        return {}
    return {step.name: index for index, step in enumerate(layout.steps)}

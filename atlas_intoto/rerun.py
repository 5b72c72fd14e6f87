"""Re-running a step: which link counts, and where the older ones go.

The link that counts for a step and functionary is the newest. Recording a step again moves the
previous link of the same step and key — with its log entry, pending marker, evidence blobs and
C2PA sidecars — into ``DIR/.superseded/NAME.KEYID8/N/`` (same layout as an evidence directory,
N = 1, 2, …), so nothing is overwritten and nothing is lost.

``bundle create`` (:func:`collect_consistent`) then considers the current and the superseded
links of every directory and picks a consistent set, working from the last steps back: for each
step and functionary, the newest link that was recorded no later than the chosen links of the
steps that consume its products and whose products are what they consumed. So re-running an
early step identically, then the steps after it, gives a bundle of the new runs; re-running an
early step without re-running the later ones gives the runs the later ones really consumed.
Every link left out is named with the reason.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from atlas_intoto.bundle import Bundle, LinkEvidence
from atlas_intoto.errors import AtlasError, InputError

#: Where older links of a re-run step are moved, inside the evidence directory.
SUPERSEDED_DIR = ".superseded"


# ---------------------------------------------------------------------------------------------
# Recording: moving the previous link aside
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Superseded:
    """Files moved aside for a re-run (``moves``: source → destination), undoable."""

    directory: Path
    moves: tuple[tuple[Path, Path], ...]

    def restore(self) -> None:
        """Move everything back (recording the new run failed)."""
        for source, destination in reversed(self.moves):
            with contextlib.suppress(OSError):
                source.parent.mkdir(parents=True, exist_ok=True)
                os.replace(destination, source)
        with contextlib.suppress(OSError):
            _remove_empty_dirs(self.directory)


def _remove_empty_dirs(top: Path) -> None:
    for root, _dirs, _files in sorted(os.walk(top), key=lambda item: -len(item[0])):
        with contextlib.suppress(OSError):
            os.rmdir(root)


def _evidence_files(out_dir: Path, stem: str, envelope: bytes) -> list[str]:
    """Paths (relative to ``out_dir``) of the evidence files the old link names."""
    from atlas_intoto.evidence.model import evidence_entries
    from atlas_intoto.link import read_unverified_link
    from atlas_intoto.publishing import PUBLISH_PENDING_DIR

    files = [
        f"{stem}.link",
        f"{stem}.logentry.json",
        f"{stem}.sigstore.json",  # the Statement of the same run
        f"{stem}.openings.json",  # its private artifacts' openings (docs/confidentiality.md)
        f"{PUBLISH_PENDING_DIR}/{stem}.json",
    ]
    try:
        link = read_unverified_link(envelope, source=stem)
        entries = evidence_entries(link.atlas)
    except AtlasError:
        return files  # an unreadable old link is still moved, with what its name tells
    files.extend(ref.path for entry in entries for ref in entry.blobs.values())
    c2pa = link.atlas.get("c2pa")
    if isinstance(c2pa, Mapping):
        files.extend(
            str(item.get("sidecar"))
            for item in c2pa.values()
            if isinstance(item, Mapping) and isinstance(item.get("sidecar"), str)
        )
    return [name for name in files if _safe(name)]


def _safe(name: str) -> bool:
    rel = PurePosixPath(name)
    return bool(rel.parts) and not rel.is_absolute() and ".." not in rel.parts


def supersede(out_dir: Path, stem: str) -> Superseded | None:
    """Move the existing link ``out_dir/stem.link`` and its evidence aside; None if there is
    none. The caller restores it when the new recording fails."""
    link = out_dir / f"{stem}.link"
    if not link.is_file():
        return None
    envelope = link.read_bytes()
    parent = out_dir / SUPERSEDED_DIR / stem
    number = 1
    while (parent / str(number)).exists():
        number += 1
    target = parent / str(number)
    moves: list[tuple[Path, Path]] = []
    try:
        for name in _evidence_files(out_dir, stem, envelope):
            source = out_dir / name
            if not source.is_file():
                continue
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, destination)  # keeps mtime: the run's order stays known
            moves.append((source, destination))
    except OSError as exc:
        Superseded(directory=target, moves=tuple(moves)).restore()
        from atlas_intoto.errors import OutputError

        raise OutputError(f"{link}: cannot move the previous run aside ({exc})") from exc
    return Superseded(directory=target, moves=tuple(moves))


# ---------------------------------------------------------------------------------------------
# bundle create: picking the consistent set
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One link found in an evidence directory (current or superseded)."""

    evidence: LinkEvidence
    path: Path
    keyid: str
    materials: Mapping[str, Mapping[str, str]]
    products: Mapping[str, Mapping[str, str]]
    #: (log time, log index, file mtime ns): larger is newer
    order: tuple[float, int, int]
    superseded: bool

    @property
    def step(self) -> str:
        """The step the link is for (the name inside the link)."""
        return self.evidence.step


@dataclass(frozen=True, kw_only=True)
class Collection:
    """What ``bundle create`` gathered: the bundle and every link it left out, with why."""

    bundle: Bundle
    ignored: tuple[tuple[Path, str], ...] = ()
    #: chosen links that are not in a log yet (a pending marker exists)
    unpublished: tuple[Path, ...] = field(default=())
    #: the chosen links' files, of steps with more than one run (where the choice decided)
    rerun_choices: tuple[Path, ...] = ()


def _order(path: Path, log_entry: Mapping[str, Any] | None) -> tuple[float, int, int]:
    mtime = path.stat().st_mtime_ns
    if log_entry:
        entry = next(iter(log_entry.values()), None)
        if isinstance(entry, Mapping):
            t, i = entry.get("integratedTime"), entry.get("logIndex")
            if isinstance(t, int) and isinstance(i, int):
                return (float(t), i, mtime)
    return (mtime / 1e9, -1, mtime)


def _candidates(directory: Path, *, superseded: bool) -> list[Candidate]:
    from atlas_intoto.bundle import _collect_dir
    from atlas_intoto.link import link_file_name, read_unverified_link

    found = []
    for item in _collect_dir(directory):
        link = read_unverified_link(item.envelope, source=str(directory))
        keyid = link.claimed_keyids[0] if link.claimed_keyids else ""
        path = directory / link_file_name(link.name, keyid)
        if not path.is_file():  # a link filed under another name: still a candidate
            path = next(p for p in directory.glob("*.link") if p.read_bytes() == item.envelope)
        found.append(
            Candidate(
                evidence=item,
                path=path,
                keyid=keyid,
                materials=link.materials,
                products=link.products,
                order=_order(path, item.log_entry),
                superseded=superseded,
            )
        )
    return found


def gather(evidence_dirs: Sequence[Path]) -> list[Candidate]:
    """Every link of the directories and of their ``.superseded`` runs (each link once)."""
    if not evidence_dirs:
        raise InputError("bundle create: at least one --evidence directory is required")
    found: list[Candidate] = []
    seen: set[bytes] = set()
    for directory in map(Path, evidence_dirs):
        runs = [(directory, False)]
        old = directory / SUPERSEDED_DIR
        if old.is_dir():
            runs.extend((run, True) for run in sorted(old.glob("*/*")) if run.is_dir())
        for run, superseded in runs:
            for candidate in _candidates(run, superseded=superseded):
                if candidate.evidence.envelope not in seen:
                    seen.add(candidate.evidence.envelope)
                    found.append(candidate)
    return found


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, else ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _consistent(candidate: Candidate, consumers: Sequence[Candidate]) -> str | None:
    """Why ``candidate`` cannot be the run its consumers used (None: it can)."""
    for consumer in consumers:
        for path, digest in consumer.materials.items():
            if path in candidate.products and dict(candidate.products[path]) != dict(digest):
                return f"its product {path} is not what step {consumer.step} consumed"
    for consumer in consumers:
        if candidate.order > consumer.order:
            return f"recorded after the chosen run of step {consumer.step} that consumed it"
    return None


def select(
    candidates: Sequence[Candidate], step_order: Sequence[str], sources: Mapping[str, Sequence[str]]
) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """The consistent set (see the module docstring) and the links left out with reasons.

    ``step_order`` lists the layout's steps in order; ``sources[step]`` the steps its MATCH
    rules consume from."""
    groups: dict[tuple[str, str], list[Candidate]] = {}
    for candidate in candidates:
        groups.setdefault((candidate.step, candidate.keyid), []).append(candidate)
    consumers: dict[str, list[str]] = {}
    for step, upstream in sources.items():
        for source in upstream:
            consumers.setdefault(source, []).append(step)
    chosen: dict[str, list[Candidate]] = {}
    ignored: list[tuple[Candidate, str]] = []
    for step in reversed(step_order):
        used_by = [c for down in consumers.get(step, ()) for c in chosen.get(down, ())]
        for (name, _), group in sorted(groups.items()):
            if name != step:
                continue
            group = sorted(group, key=lambda c: c.order, reverse=True)
            pick = next((c for c in group if _consistent(c, used_by) is None), group[0])
            chosen.setdefault(step, []).append(pick)
            for other in group:
                if other is not pick:
                    reason = _consistent(other, used_by) or "an older run (superseded)"
                    if other.order > pick.order and reason.startswith("an older"):
                        reason = "a newer run that the later steps did not consume"
                    ignored.append((other, reason))
    ordered = [c for step in step_order for c in chosen.get(step, ())]
    return ordered, ignored


def collect_consistent(
    *, layout_envelope: Mapping[str, Any], evidence_dirs: Sequence[Path]
) -> Collection:
    """Build a bundle from the consistent set of links in ``evidence_dirs`` (I/O).

    Steps:
      1. gather current and superseded links (:func:`gather`);
      2. a current link of a step the layout does not declare is refused (InputError with a
         "did you mean" hint); superseded ones are ignored;
      3. :func:`select` picks one link per step and functionary; the others are named.
    """
    from atlas_intoto.layout import layout_payload
    from atlas_intoto.publishing import marker_path

    layout = layout_payload(layout_envelope)
    names = [step.name for step in layout.steps]
    found = gather(evidence_dirs)
    if not found:
        raise InputError(f"{', '.join(str(d) for d in evidence_dirs)}: no *.link files found")
    kept: list[Candidate] = []
    ignored: list[tuple[Path, str]] = []
    for candidate in found:
        if candidate.step in names:
            kept.append(candidate)
        elif candidate.superseded:
            ignored.append((candidate.path, "a step the layout does not declare"))
        else:
            raise InputError(
                f"{candidate.path}: step {candidate.step!r} is not declared in the layout"
                + did_you_mean(candidate.step, names)
            )
    sources = {step.name: step.match_sources() for step in layout.steps}
    chosen, left_out = select(kept, names, sources)
    ignored.extend((c.path, reason) for c, reason in left_out)
    unpublished = tuple(
        c.path for c in chosen if marker_path(c.path.parent, c.path.name[: -len(".link")]).is_file()
    )
    bundle = Bundle(layout=layout_envelope, links=tuple(c.evidence for c in chosen))
    return Collection(
        bundle=bundle,
        ignored=tuple(ignored),
        unpublished=unpublished,
        rerun_choices=tuple(
            c.path for c in chosen if c.step in {other.step for other, _ in left_out}
        ),
    )

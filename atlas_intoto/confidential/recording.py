"""Committing a step's private artifacts while it is recorded (called from :mod:`atlas_intoto.step`).

The step measures every artifact in clear; artifacts matching a private pattern are replaced in
the link (and so in the binding B, the Statement, the upstream record and the log) by their
committed names, and their openings go to ``NAME.KEYID8.openings.json`` beside the link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from atlas_intoto.confidential.commitment import (
    commit,
    committed_entry,
    committed_name,
    derive_salt,
    is_private,
)
from atlas_intoto.confidential.openings import OPENINGS_SUFFIX, Opening, Openings
from atlas_intoto.measure import ArtifactDigests
from atlas_intoto.recording import RecordingOptions


@dataclass(frozen=True, kw_only=True)
class PrivatePlan:
    """What recording commits: the patterns and the pipeline secret."""

    patterns: tuple[str, ...]
    secret: bytes


@dataclass(frozen=True, kw_only=True)
class CommittedArtifacts:
    """The artifacts as the link records them, and the openings of the committed ones."""

    materials: ArtifactDigests
    products: ArtifactDigests
    openings: tuple[Opening, ...]
    #: clear paths that were committed (no C2PA sidecar, never named in public evidence)
    private_paths: frozenset[str]


def private_patterns(options: RecordingOptions) -> tuple[str, ...]:
    """The options' private patterns plus, with a pre-flight layout, the layout's (I/O)."""
    patterns = list(options.private)
    if options.layout is not None:
        from atlas_intoto.layout import load_signed_layout

        _, layout = load_signed_layout(options.layout)
        patterns.extend(p for p in layout.private if p not in patterns)
    return tuple(patterns)


def plan_private(options: RecordingOptions) -> PrivatePlan | None:
    """None when nothing is private; else the patterns and the loaded secret (fails before the
    step's command runs when the secret is missing)."""
    patterns = private_patterns(options)
    if not patterns:
        return None
    from atlas_intoto.confidential.secret import load_secret

    return PrivatePlan(patterns=patterns, secret=load_secret(options.private_secret))


def _commit_map(
    artifacts: Mapping[str, Mapping[str, str]], plan: PrivatePlan, openings: list[Opening]
) -> ArtifactDigests:
    recorded: ArtifactDigests = {}
    for path, digests in sorted(artifacts.items()):
        if not is_private(path, plan.patterns):
            recorded[path] = dict(digests)
            continue
        salt = derive_salt(plan.secret, path, digests)
        commitment = commit(salt, path, digests)
        recorded[committed_name(commitment)] = committed_entry(commitment)
        openings.append(
            Opening(commitment=commitment, salt=salt.hex(), path=path, digests=dict(digests))
        )
    return dict(sorted(recorded.items()))


def commit_artifacts(
    plan: PrivatePlan,
    *,
    materials: Mapping[str, Mapping[str, str]],
    products: Mapping[str, Mapping[str, str]],
) -> CommittedArtifacts:
    """Replace every private artifact by its committed name (pure given the plan)."""
    openings: list[Opening] = []
    committed_materials = _commit_map(materials, plan, openings)
    committed_products = _commit_map(products, plan, openings)
    private = frozenset(o.path for o in openings)
    unique = {o.commitment: o for o in openings}
    return CommittedArtifacts(
        materials=committed_materials,
        products=committed_products,
        openings=tuple(unique[c] for c in sorted(unique)),
        private_paths=private,
    )


def public_only(
    artifacts: Mapping[str, Mapping[str, str]], private: frozenset[str]
) -> ArtifactDigests:
    """``artifacts`` without the private ones (what C2PA may name)."""
    return {p: dict(d) for p, d in artifacts.items() if p not in private}


def openings_write(
    out_dir: Path, stem: str, committed: CommittedArtifacts
) -> Sequence[tuple[Path, bytes]]:
    """The openings file to write beside the link (nothing when no artifact was committed)."""
    if not committed.openings:
        return ()
    data = Openings(items=committed.openings).serialize()
    return ((out_dir / f"{stem}{OPENINGS_SUFFIX}", data),)


def commit_step_artifacts(
    options: RecordingOptions,
    *,
    materials: Mapping[str, Mapping[str, str]],
    products: Mapping[str, Mapping[str, str]],
) -> CommittedArtifacts | None:
    """A step's private artifacts as commitments (None when nothing is private)."""
    private_plan = plan_private(options)
    if private_plan is None:
        return None
    return commit_artifacts(private_plan, materials=materials, products=products)


def committed_names(artifacts: Mapping[str, object]) -> tuple[str, ...]:
    """The commitments among ``artifacts``' names (sorted): what C2PA names private
    ingredients by."""
    from atlas_intoto.confidential.commitment import commitment_of, is_committed

    return tuple(sorted(commitment_of(name) for name in artifacts if is_committed(name)))


def openings_path(out_dir: Path, stem: str, private: CommittedArtifacts | None) -> Path | None:
    """Where the step's openings file is (None when it committed nothing)."""
    if private is None or not private.openings:
        return None
    return out_dir / f"{stem}{OPENINGS_SUFFIX}"

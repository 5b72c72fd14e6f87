"""Committing a step's private artifacts while it is recorded (called from :mod:`atlas_intoto.step`).

The step measures every artifact in clear; artifacts matching a private pattern are replaced in
the link (and so in the binding B, the Statement, the upstream record and the log) by their
committed names, and their openings go to ``NAME.KEYID8.openings.json`` beside the link.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    #: the pipeline secret as text could spell it (the command inherits
    #: ATLAS_INTOTO_PRIVATE_SECRET and may print it): redacted from what is signed
    secret_spellings: tuple[str, ...] = field(default=(), repr=False)
    #: the private patterns (a word of the output naming any private file is redacted too)
    patterns: tuple[str, ...] = ()


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
        secret_spellings=tuple(_spellings(plan.secret)),
        patterns=plan.patterns,
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


def _spellings(raw: bytes) -> Iterator[str]:
    """``raw`` in lower- and upper-case hex and in base64 (padded or not, standard or
    URL-safe)."""
    yield raw.hex()
    yield raw.hex().upper()
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        yield encoded.decode()
        yield encoded.decode().rstrip("=")


def _needles(opening: Opening) -> Iterator[str]:
    """How a private artifact can be spelled in text: its path and every digest in lower- and
    upper-case hex and in base64 (padded or not, standard or URL-safe)."""
    yield opening.path
    for value in opening.digests.values():
        yield value
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            continue
        yield from _spellings(raw)


#: what separates the words of a command or its output (a path is one word)
_WORD_BREAK = re.compile(r"""([\s'"`=,;:()\[\]{}<>|]+)""")
#: what replaces a word naming a private file that is not one of the step's artifacts
PRIVATE_WORD = "[private path]"


def _private_word(word: str, patterns: Sequence[str]) -> bool:
    """Whether ``word``, or what follows one of its ``/`` (an absolute or ``./`` path), matches
    a private pattern."""
    if not patterns or not ("/" in word or "." in word) or word.endswith("/"):
        # a file's path has one; plain words (``python``, ``--epochs``) and directories
        # (``data/``: the layout's private patterns name them already) stay readable
        return False
    tails = [word] + [word[i + 1 :] for i, ch in enumerate(word) if ch == "/"]
    return any(tail and is_private(tail, patterns) for tail in tails)


def _redact_text(
    text: str, replacements: Sequence[tuple[str, str]], patterns: Sequence[str]
) -> str:
    for needle, name in replacements:
        text = text.replace(needle, name)
    parts = _WORD_BREAK.split(text)
    return "".join(
        PRIVATE_WORD if i % 2 == 0 and _private_word(part, patterns) else part
        for i, part in enumerate(parts)
    )


def _redact_value(
    value: Any, replacements: Sequence[tuple[str, str]], patterns: Sequence[str]
) -> Any:
    if isinstance(value, str):
        return _redact_text(value, replacements, patterns)
    if isinstance(value, Mapping):
        return {k: _redact_value(v, replacements, patterns) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v, replacements, patterns) for v in value]
    return value


def redact_public(
    private: CommittedArtifacts | None, command: Sequence[str], byproducts: Mapping[str, Any]
) -> tuple[Sequence[str], Mapping[str, Any]]:
    """The command and byproducts with every private path and digest replaced by the artifact's
    committed name (``private/<hex>``): both are signed into the link, its Statement and the
    log, which are public, and a command or its recorded output (``--record-output``) naming
    a private file would disclose it; so would the pipeline secret, which the command inherits
    when it comes from the environment (replaced by ``[pipeline secret]``). Unchanged when
    nothing is private."""
    if private is None:
        return command, byproducts
    pairs = {(n, committed_name(o.commitment)) for o in private.openings for n in _needles(o)}
    pairs.update((n, "[pipeline secret]") for n in private.secret_spellings)
    # longest first, so a path inside a longer one is not half replaced
    replacements = sorted(((n, r) for n, r in pairs if n), key=lambda p: (-len(p[0]), p))
    patterns = private.patterns
    redacted_command = [_redact_text(arg, replacements, patterns) for arg in command]
    return redacted_command, _redact_value(dict(byproducts), replacements, patterns)

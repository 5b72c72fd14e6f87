"""Check 7, private artifacts (docs/confidentiality.md): what a public verifier can say about
the committed artifacts it cannot see, and what an auditor with the openings checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from atlas_intoto.confidential.commitment import (
    DIGEST_KEY,
    commitment_of,
    is_committed,
    is_private,
)
from atlas_intoto.confidential.openings import Opening, Openings, check_opening, index
from atlas_intoto.errors import (
    MissingOpeningError,
    MissingPrivateFileError,
    OpeningMismatchError,
    OperationalError,
    PrivateInClearError,
    ReusedCommitmentError,
)
from atlas_intoto.verify.checks import failed, passed, row, skipped
from atlas_intoto.verify.checks.artifacts import HeldArtifacts
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import VerificationState, VerifiedLink

CHECK = "artifacts"


@dataclass(frozen=True, kw_only=True)
class _Committed:
    """A committed artifact of one step's link."""

    kind: str  # "material" | "product"
    name: str
    commitment: str


def _committed(link: VerifiedLink, private: tuple[str, ...]) -> list[_Committed]:
    """The link's committed artifacts.

    Steps:
      1. a committed name's only digest entry is the commitment it names (a commitment copied
         onto another artifact's entry: ReusedCommitmentError);
      2. an artifact recorded in clear must not match a layout ``private`` pattern
         (PrivateInClearError: the link discloses it).
    """
    found: list[_Committed] = []
    for kind, artifacts in (("material", link.materials), ("product", link.products)):
        for name, digests in sorted(artifacts.items()):
            if not is_committed(name):
                if is_private(name, private):
                    raise PrivateInClearError(
                        f"step {link.step}: {kind} {name} matches a private pattern of the "
                        "layout but is recorded in clear"
                    )
                continue
            commitment = commitment_of(name)
            if dict(digests) != {DIGEST_KEY: commitment}:
                raise ReusedCommitmentError(
                    f"step {link.step}: {kind} {name[:24]}…: its entry carries another "
                    "commitment (copied onto this artifact)"
                )
            found.append(_Committed(kind=kind, name=name, commitment=commitment))
    return found


def _public_row(step: str, committed: list[_Committed]) -> CheckResult:
    shown = ", ".join(f"{c.name[:20]}…" for c in committed[:3])
    more = f" and {len(committed) - 3} more" if len(committed) > 3 else ""
    return skipped(
        CHECK,
        step,
        f"{len(committed)} private artifact(s) not visible ({shown}{more}); "
        "committed, compared by commitment only (--openings to check them)",
    )


def _opened_row(
    step: str, committed: list[_Committed], opened: Mapping[str, Opening]
) -> CheckResult:
    """Every committed artifact of the step has an opening that reproduces it."""
    for item in committed:
        opening = opened.get(item.commitment)
        if opening is None:
            raise MissingOpeningError(
                f"step {step}: {item.kind} {item.name[:24]}… has no opening (openings file "
                "incomplete or an opening removed)"
            )
        check_opening(opening, where=f"step {step}: {item.kind} {item.name[:24]}…")
    paths = ", ".join(sorted({opened[c.commitment].path for c in committed})[:3])
    return passed(CHECK, step, f"{len(committed)} private artifact(s) opened ({paths})")


def _step_row(
    state: VerificationState,
    step: str,
    opened: Mapping[str, Opening] | None,
    used: set[str],
) -> CheckResult | None:
    """The step's row; the commitments its openings checked are added to ``used``."""
    items = state.links.get(step)
    if not items:
        return None
    committed = _committed(items[0], state.layout.private)
    if not committed:
        return None
    if opened is None:
        return _public_row(step, committed)
    result = _opened_row(step, committed, opened)
    used.update(c.commitment for c in committed)
    return result


def _clear(
    artifacts: Mapping[str, Mapping[str, str]], opened: Mapping[str, Opening]
) -> dict[str, Mapping[str, str]]:
    """``artifacts`` with each opened committed name replaced by its clear path and digests."""
    out: dict[str, Mapping[str, str]] = {}
    for name, digests in artifacts.items():
        opening = opened.get(commitment_of(name)) if is_committed(name) else None
        if opening is None:
            out[name] = digests
        else:
            out[opening.path] = dict(opening.digests)
    return out


def opened_rules(state: VerificationState, opened: Mapping[str, Opening]) -> list[CheckResult]:
    """The layout's rules over the opened, clear artifacts (what an auditor adds to check 3).

    A public verifier applies every rule over a private pattern to all committed names of the
    step (:mod:`atlas_intoto.confidential.rules`), so two private patterns with different rules
    blur into one: ``ALLOW raw/*`` would let through a ``data/*`` material that ``MATCH data/*
    WITH PRODUCTS FROM prepare`` left unmatched. With the openings the paths are known: the
    rules run as written (ArtifactRuleError in check 7 when they fail)."""
    from dataclasses import replace

    from atlas_intoto.errors import ArtifactRuleError
    from atlas_intoto.verify.checks.rules import check_rules

    links = {
        name: [
            replace(
                link,
                materials=_clear(link.materials, opened),
                products=_clear(link.products, opened),
            )
            for link in items
        ]
        for name, items in state.links.items()
    }
    clear = replace(state, links=links, layout=replace(state.layout, private=()))
    return [
        failed(CHECK, r.step, ArtifactRuleError(f"with the openings: {r.reason}"))
        for r in check_rules(clear)
        if not r.passed
    ]


def compare_opened(opened: Mapping[str, Opening], held: HeldArtifacts) -> CheckResult:
    """The auditor's files against the opened digests (a swapped private dataset:
    OpeningMismatchError; an opened file missing from a directory: MissingPrivateFileError)."""
    compared = 0
    for opening in sorted(opened.values(), key=lambda o: o.path):
        rel = _held_path(opening.path, held)
        if rel is None:
            if held.single_file:
                continue  # one file compared: the others are not asked for
            raise MissingPrivateFileError(
                f"{opening.path}: opened private artifact not among the artifacts in "
                f"{held.root} (the auditor's directory must hold every opened file)"
            )
        want = opening.digests.get(held.algorithm)
        have = held.files[rel]
        if want != have:
            raise OpeningMismatchError(
                f"{opening.path}: {held.root}/{rel} has {held.algorithm} {have[:16]}…, the "
                f"opening of {opening.commitment[:16]}… has {str(want)[:16]}…"
            )
        compared += 1
    return passed(CHECK, None, f"{compared} private file(s) equal their opened digests")


def _held_path(path: str, held: HeldArtifacts) -> str | None:
    """Where the opened ``path`` is among the held files (directly or under a prefix)."""
    if path in held.files:
        return path
    for prefix in held.prefixes:
        if path.startswith(f"{prefix}/") and path[len(prefix) + 1 :] in held.files:
            return path[len(prefix) + 1 :]
    return None


def check_private(
    state: VerificationState, openings: Openings | None, held: HeldArtifacts | None = None
) -> tuple[list[CheckResult], dict[str, Opening] | None]:
    """Check 7 for private artifacts: rows, and the openings by commitment (None: public).

    Steps:
      1. with openings, they agree with each other (one artifact per commitment and per salt:
         ReusedCommitmentError) — on failure no opening is used;
      2. per step (its first verified link): committed entries well formed and nothing private
         in clear (:func:`_committed`); without openings a skip row names what could not be
         seen; with them every committed artifact has an opening (MissingOpeningError) that
         reproduces its commitment (ForgedCommitmentError);
      3. with openings and the auditor's files, every opened path among them has the opened
         digest (OpeningMismatchError).
    """
    opened: dict[str, Opening] | None = None
    rows: list[CheckResult] = []
    if openings is not None:
        try:
            opened = index(openings.items)
        except ReusedCommitmentError as exc:
            return [failed(CHECK, None, exc)], None
    used: set[str] = set()
    for spec in state.layout.steps:
        try:
            result = _step_row(state, spec.name, opened, used)
        except OperationalError:
            raise
        except Exception as exc:  # fail closed, as every check
            result = failed(CHECK, spec.name, exc)
        if result is not None:
            rows.append(result)
    if opened is None:
        return rows, None
    # Only openings of commitments a verified link records and that reproduced are used: an
    # extra opening (of no commitment) would otherwise vouch for any file, the model included.
    checked = {c: o for c, o in opened.items() if c in used}
    if checked and all(r.passed for r in rows):
        rows.extend(opened_rules(state, checked))
    if held is not None:
        rows.append(row(CHECK, None, lambda: compare_opened(checked, held)))
    return rows, checked

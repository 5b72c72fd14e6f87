"""Pre-flight: check a step against the signed layout before its command runs.

A typo in a step name, a key the layout does not authorise, a command the layout would reject or
materials that break the step's rules are found when the step is recorded — not by the consumer,
weeks later. The layout is read without verifying its signature (the functionary need not hold
the owner's key; the consumer verifies it): pre-flight only predicts what verification will say.
Nothing here runs the command; every failure is a :class:`PreflightError` (exit 2).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas_intoto.errors import AtlasError, PreflightError
from atlas_intoto.measure import ArtifactDigests

if TYPE_CHECKING:
    from atlas_intoto.layout import Layout, StepSpec
    from atlas_intoto.recording import RecordingOptions


@dataclass(frozen=True, kw_only=True)
class PreflightResult:
    """A step that fits the layout; ``notes`` say what could not be checked yet."""

    spec: StepSpec
    notes: tuple[str, ...] = ()


def _spec(layout: Layout, step: str, source: str) -> StepSpec:
    from atlas_intoto.rerun import did_you_mean

    names = [spec.name for spec in layout.steps]
    for spec in layout.steps:
        if spec.name == step:
            return spec
    raise PreflightError(
        f"{source}: step {step!r} is not declared in the layout"
        + did_you_mean(step, names)
        + f"; declared: {', '.join(names)}"
    )


def _check_functionary(
    layout: Layout, spec: StepSpec, keyid: str, source: str, keyless: bool = False
) -> None:
    if keyless:
        # the identity is the CA's to certify (from the token) and the verifier's to check
        if not any(name in layout.identities for name in spec.functionaries):
            raise PreflightError(
                f"{source}: step {spec.name} has no identity functionary: a keyless recording "
                f"cannot sign it (authorised: {', '.join(spec.functionaries)})"
            )
        return
    allowed = {
        layout.functionaries[name].keyid: name
        for name in spec.functionaries
        if name in layout.functionaries
    }
    if keyid not in allowed:
        raise PreflightError(
            f"{source}: key {keyid[:16]} is not a functionary of step {spec.name} "
            f"(authorised: {', '.join(spec.functionaries)})"
        )


def _check_command(spec: StepSpec, command: Sequence[str], source: str) -> None:
    if not spec.command_matches(command):
        raise PreflightError(
            f"{source}: step {spec.name}: command {list(command)} does not match "
            f"expected_command {list(spec.expected_command or ())} ({spec.command_match})"
            + ("; give 'record start --command'" if not command else "")
        )


def _upstream_links(
    spec: StepSpec, evidence_dirs: Sequence[Path]
) -> tuple[dict[str, Any], list[str]]:
    """in-toto Links of the steps this step's MATCH rules consume, read from the evidence
    directories (unverified), and the names of those not found."""
    from in_toto.models.link import Link

    from atlas_intoto.link import read_unverified_link

    links: dict[str, Any] = {}
    for source in spec.match_sources():
        for directory in evidence_dirs:
            for path in sorted(directory.glob(f"{source}.*.link")):
                try:
                    link = read_unverified_link(path.read_bytes(), source=str(path))
                except (AtlasError, OSError):
                    continue
                if link.name == source:
                    links[source] = Link(
                        name=source,
                        materials={p: dict(d) for p, d in link.materials.items()},
                        products={p: dict(d) for p, d in link.products.items()},
                    )
    return links, [s for s in spec.match_sources() if s not in links]


def _check_materials(
    spec: StepSpec,
    materials: ArtifactDigests,
    evidence_dirs: Sequence[Path],
    source: str,
    private: Sequence[str] = (),
) -> tuple[str, ...]:
    from in_toto.exceptions import RuleVerificationError
    from in_toto.models.link import Link
    from in_toto.verifylib import verify_item_rules

    from atlas_intoto.confidential.rules import rewrite_rules

    if not spec.materials:
        return ()
    links, missing = _upstream_links(spec, evidence_dirs)
    if missing:
        dirs = ", ".join(str(d) for d in evidence_dirs)
        return (f"material rules not checked: no link of step(s) {', '.join(missing)} in {dirs}",)
    links[spec.name] = Link(name=spec.name, materials={p: dict(d) for p, d in materials.items()})
    try:
        # private artifacts: committed by the caller, rules applied as the verifier does
        rules = rewrite_rules(spec.materials, private)
        verify_item_rules(spec.name, "materials", rules, links)
    except RuleVerificationError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "rule violated"
        raise PreflightError(f"{source}: step {spec.name}: materials: {first}") from exc
    return ()


def check_step(
    *,
    layout_path: Path,
    step: str,
    keyid: str,
    command: Sequence[str] | None,
    materials: ArtifactDigests | None,
    evidence_dirs: Sequence[Path] = (),
    keyless: bool = False,
) -> PreflightResult:
    """Check a step against the signed layout at ``layout_path`` (read, not verified).

    Steps:
      1. the step is declared (else PreflightError with a "did you mean" hint);
      2. ``keyid`` is the key of one of the step's functionaries (``keyless``: the step has an
         identity functionary — which identity signs is the certificate's to say);
      3. ``command`` (None: not known yet) matches ``expected_command`` per ``command_match``;
      4. ``materials`` (None: not measured yet) satisfy the step's material rules, with the
         links of the steps they MATCH read from ``evidence_dirs`` (a missing one is a note).
    """
    from atlas_intoto.layout import load_signed_layout

    source = str(layout_path)
    _, layout = load_signed_layout(layout_path)
    spec = _spec(layout, step, source)
    _check_functionary(layout, spec, keyid, source, keyless)
    if command is not None:
        _check_command(spec, command, source)
    notes: tuple[str, ...] = ()
    if materials is not None:
        notes = _check_materials(spec, materials, evidence_dirs, source, layout.private)
    return PreflightResult(spec=spec, notes=notes)


def check_recording(
    options: RecordingOptions,
    *,
    step: str,
    keyid: str,
    command: Sequence[str],
    materials: ArtifactDigests,
) -> PreflightResult | None:
    """Recording's pre-flight: with ``options.layout``, :func:`check_step` against it (upstream
    links read from ``options.out_dir``; notes printed to stderr). None without a layout."""
    if options.layout is None:
        return None
    materials = _as_recorded(options, materials)
    result = check_step(
        layout_path=options.layout,
        step=step,
        keyid=keyid,
        command=command,
        materials=materials,
        evidence_dirs=(options.out_dir,),
        keyless=options.keyless,
    )
    for note in result.notes:
        print(f"atlas-intoto: pre-flight: {note}", file=sys.stderr, flush=True)
    return result


def _as_recorded(options: RecordingOptions, materials: ArtifactDigests) -> ArtifactDigests:
    """The materials as the link will record them (private ones committed)."""
    from atlas_intoto.confidential.recording import commit_artifacts, plan_private

    plan = plan_private(options)
    if plan is None:
        return materials
    return commit_artifacts(plan, materials=materials, products={}).materials


def describe(result: PreflightResult) -> Mapping[str, Any]:
    """JSON form for ``--json`` output."""
    return {"step": result.spec.name, "notes": list(result.notes)}

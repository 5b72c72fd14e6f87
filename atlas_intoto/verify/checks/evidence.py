"""Check 4, attestation evidence (TEE quotes and other registered kinds), at each link's
trusted time."""

from __future__ import annotations

from typing import Any

from atlas_intoto.errors import MissingTeeEvidenceError, OperationalError
from atlas_intoto.evidence import registry
from atlas_intoto.evidence.kind import EvidenceKind, EvidenceResult, VerifyContext
from atlas_intoto.evidence.model import EvidenceEntry, evidence_entries
from atlas_intoto.layout import StepSpec
from atlas_intoto.verify.cache import digest, json_digest
from atlas_intoto.verify.checks import failed, passed, skipped
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import VerificationState, VerifiedLink


def _required(spec: StepSpec) -> list[str]:
    """The kinds the step's policy requires (an unknown kind in the policy fails closed)."""
    return [name for name, policy in spec.evidence.items() if registry.get(name).required(policy)]


def _context(
    state: VerificationState, spec: StepSpec, link: VerifiedLink, entry: EvidenceEntry
) -> VerifyContext:
    return VerifyContext(
        step=spec.name,
        entry=entry,
        blobs=link.evidence.blobs.get(entry.kind, {}),
        binding=link.binding(),
        step_policy=spec.evidence.get(entry.kind),
        trust=state.layout.evidence_trust.get(entry.kind),
        at=state.at(link),
    )


def _verify_entry(
    state: VerificationState, kind: EvidenceKind, context: VerifyContext
) -> EvidenceResult:
    extra = kind.cache_inputs(context)
    inputs: dict[str, Any] | None = None
    if state.cache is not None and extra is not None:
        inputs = {
            "kind": f"{kind.name}/{kind.version}",
            "entry": json_digest(context.entry.to_dict()),
            "blobs": {name: digest(data) for name, data in sorted(context.blobs.items())},
            "binding": context.binding.hex(),
            "policy": json_digest({"step": context.step_policy, "trust": context.trust}),
            "at": context.at,
            "extra": json_digest(dict(extra)),
        }
        hit = state.cache.get("evidence", inputs)
        if hit is not None:
            return EvidenceResult.from_dict(hit)
    result = kind.verify(context)
    if state.cache is not None and inputs is not None:
        state.cache.put("evidence", inputs, result.to_dict())
    return result


def check_link_evidence(
    state: VerificationState, spec: StepSpec, link: VerifiedLink
) -> list[CheckResult]:
    """Check 4 for one link.

    Steps:
      1. the evidence entries parse (TeeEvidenceFormatError), each of a registered kind
         (UnknownEvidenceKindError: evidence this verifier cannot check fails closed);
      2. every kind the step's policy requires is present (MissingTeeEvidenceError);
      3. each entry is verified by its kind against the layout's policy and trust for that kind,
         the binding B recomputed from the signed link, the link's blobs, at the link's trusted
         time (for tdx: :meth:`atlas_intoto.tee.kind.TdxEvidenceKind.verify`).
    Fills ``state.evidence``.
    """
    name = spec.name
    entries = evidence_entries(link.atlas)
    present = {entry.kind for entry in entries}
    for kind_name in _required(spec):
        if kind_name not in present:
            what = "a TEE quote" if kind_name == "tdx" else f"{kind_name} evidence"
            raise MissingTeeEvidenceError(f"step {name}: the layout requires {what}; none")
    if not entries:
        return [skipped("tee", name, "not required; no TEE evidence")]
    rows: list[CheckResult] = []
    results: list[EvidenceResult] = []
    for entry in entries:
        kind = registry.get(entry.kind)
        try:
            result = _verify_entry(state, kind, _context(state, spec, link, entry))
        except OperationalError:
            raise
        except Exception as exc:  # each entry gets its own row; a crash is a failure
            rows.append(failed("tee", name, exc))
            continue
        results.append(result)
        # Evidence the kind could not check (no roots pinned) is reported, never passed.
        verified = result.facts.get("verified", True) is not False
        rows.append((passed if verified else skipped)("tee", name, result.description))
    state.evidence[link.key] = results
    return rows


def check_evidence(state: VerificationState) -> list[CheckResult]:
    """Check 4 for every verified link, in layout order."""
    rows: list[CheckResult] = []
    for spec in state.layout.steps:
        for link in state.links.get(spec.name, ()):
            try:
                rows.extend(check_link_evidence(state, spec, link))
            except OperationalError:
                raise
            except Exception as exc:
                rows.append(failed("tee", spec.name, exc))
    return rows


def manifest_digest(link: VerifiedLink) -> str | None:
    """The digest the link's C2PA step assertions must carry for its evidence (for tdx: the
    quote's SHA-256), from the first entry whose kind provides one."""
    from atlas_intoto.errors import EvidenceError

    try:
        entries = evidence_entries(link.atlas)
    except EvidenceError:
        return None
    for entry in entries:
        try:
            found = registry.get(entry.kind).manifest_digest(entry)
        except EvidenceError:
            continue
        if found is not None:
            return found
    return None


__all__ = ["check_evidence", "check_link_evidence", "manifest_digest"]

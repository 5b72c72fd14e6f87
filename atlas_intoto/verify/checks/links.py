"""Check 2, links: signatures, thresholds, expected commands, undeclared steps, replay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from atlas_intoto.bundle import LinkEvidence
from atlas_intoto.errors import (
    CommandMismatchError,
    EvidenceError,
    LinkSignatureError,
    MissingStepError,
    PredicateTypeError,
    ReplayError,
    ThresholdError,
    UnexpectedStepError,
)
from atlas_intoto.layout import Layout, StepSpec
from atlas_intoto.verify.cache import VerifyCache, digest, json_digest
from atlas_intoto.verify.checks import failed, passed
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import LinkKey, VerificationState, VerifiedLink


def _claimed_keyids(envelope: bytes) -> list[str]:
    from atlas_intoto import dsse

    try:
        return list(dsse.parse(envelope).keyids)
    except EvidenceError:
        return []


def _load_link(
    key: LinkKey,
    evidence: LinkEvidence,
    keys: Sequence[Any],
    key_pems: Sequence[str],
    cache: VerifyCache | None,
) -> VerifiedLink:
    from atlas_intoto.link import load_link

    inputs = {
        "envelope": digest(evidence.envelope),
        # an OMS model signature takes the step it is filed under as its name
        "filed_under": evidence.step,
        "keys": sorted(
            f"{k.keyid}:{digest(p.encode())}" for k, p in zip(keys, key_pems, strict=True)
        ),
    }
    hit = cache.get("link", inputs) if cache is not None else None
    if hit is None:
        loaded = load_link(evidence.envelope, keys, source=f"link of step {evidence.step}")
        hit = {
            # an OMS model signature names no step: it stands for the step it is filed under
            "name": loaded.name or evidence.step,
            "materials": loaded.materials,
            "products": loaded.products,
            "command": list(loaded.command),
            "environment": dict(loaded.environment),
            "signed_by": list(loaded.signed_by),
            "predicate_type": loaded.predicate_type,
        }
        if cache is not None:
            cache.put("link", inputs, hit)
    return VerifiedLink(
        key=key,
        step=hit["name"],
        evidence=evidence,
        materials=hit["materials"],
        products=hit["products"],
        command=tuple(hit["command"]),
        environment=hit["environment"],
        signed_by=tuple(hit["signed_by"]),
        predicate_type=str(hit.get("predicate_type", "https://in-toto.io/Link/v0.9")),
    )


def _check_one(
    spec: StepSpec, label: str, load: Any, envelope: bytes
) -> tuple[CheckResult | None, VerifiedLink | None]:
    name = spec.name
    try:
        link: VerifiedLink = load()
    except LinkSignatureError:
        claimed = ", ".join(k[:16] for k in _claimed_keyids(envelope)) or "nobody"
        error = LinkSignatureError(
            f"{label}: signed by {claimed}, not an authorised functionary of the step"
        )
        return failed("links", name, error), None
    except EvidenceError as exc:
        return failed("links", name, exc), None
    if link.step != name:
        unexpected = UnexpectedStepError(f"{label}: the signed link is for step {link.step!r}")
        return failed("links", name, unexpected), None
    if spec.predicate_type is not None and link.predicate_type != spec.predicate_type:
        wrong = PredicateTypeError(
            f"{label}: predicate type {link.predicate_type} is not the required "
            f"{spec.predicate_type}"
        )
        return failed("links", name, wrong), None
    if spec.expected_command is not None and list(link.command) != list(spec.expected_command):
        return failed(
            "links",
            name,
            CommandMismatchError(
                f"{label}: command {list(link.command)} is not the expected "
                f"{list(spec.expected_command)}"
            ),
        ), None
    return None, link


def check_step_links(
    layout: Layout,
    spec: StepSpec,
    items: Sequence[tuple[LinkKey, LinkEvidence]],
    cache: VerifyCache | None,
) -> tuple[list[CheckResult], list[VerifiedLink]]:
    """Check 2 for one declared step.

    Steps:
      1. at least one link is filed under the step (else MissingStepError);
      2. every link's DSSE signature verifies under a functionary of the step (else
         LinkSignatureError naming the signer's key id) and it names this step (else
         UnexpectedStepError);
      3. the attestation has the step's ``predicate_type`` when the layout states one (else
         PredicateTypeError; a v0.9 link, a Statement v1 with Link v0.3 or SLSA Provenance v1),
         and the signed command equals ``expected_command`` when the layout states one;
      4. distinct valid signers reach the threshold, and with threshold > 1 their links agree
         on materials and products (else ThresholdError).
    """
    from atlas_intoto.keys import load_public_key_pem, sslib_key

    name = spec.name
    if not items:
        return [failed("links", name, MissingStepError(f"step {name}: no link in the bundle"))], []
    functionaries = [layout.functionaries[f] for f in spec.functionaries]
    keys = [sslib_key(load_public_key_pem(f.pem.encode(), source=f.name)) for f in functionaries]
    pems = [f.pem for f in functionaries]
    names = {f.keyid: f.name for f in functionaries}
    rows: list[CheckResult] = []
    valid: list[VerifiedLink] = []
    for index, (key, item) in enumerate(items):
        bad, link = _check_one(
            spec,
            f"step {name}: link {index + 1}",
            lambda key=key, item=item: _load_link(key, item, keys, pems, cache),
            item.envelope,
        )
        if bad is not None:
            rows.append(bad)
        elif link is not None:
            valid.append(link)
    if rows:
        return rows, []
    return _threshold(spec, valid, names)


def _threshold(
    spec: StepSpec, valid: list[VerifiedLink], names: dict[str, str]
) -> tuple[list[CheckResult], list[VerifiedLink]]:
    name = spec.name
    signers = sorted({keyid for link in valid for keyid in link.signed_by if keyid in names})
    if len(signers) < spec.threshold:
        error = ThresholdError(
            f"step {name}: {len(signers)} distinct authorised signer(s), "
            f"threshold is {spec.threshold}"
        )
        return [failed("links", name, error)], []
    if len({json_digest([link.materials, link.products]) for link in valid}) > 1:
        error = ThresholdError(f"step {name}: the functionaries' links disagree on artifacts")
        return [failed("links", name, error)], []
    who = ", ".join(f"{names[k]} ({k[:8]})" for k in signers)
    return [
        passed("links", name, f"{len(valid)} link(s) signed by {who}; threshold {spec.threshold}")
    ], valid


def check_links(state: VerificationState) -> list[CheckResult]:
    """Check 2: every declared step (:func:`check_step_links`), then evidence filed under a
    step the layout does not declare. Fills ``state.links``."""
    by_step: dict[str, list[tuple[LinkKey, LinkEvidence]]] = {}
    for position, item in enumerate(state.bundle.links):
        by_step.setdefault(item.step, []).append(((item.step, position), item))
    rows: list[CheckResult] = []
    for spec in state.layout.steps:
        step_rows, links = check_step_links(
            state.layout, spec, by_step.get(spec.name, []), state.cache
        )
        rows.extend(step_rows)
        if links:
            state.links[spec.name] = links
    declared = {step.name for step in state.layout.steps}
    for step in by_step:
        if step not in declared:
            error = UnexpectedStepError(
                f"step {step}: evidence for a step the layout does not declare"
            )
            rows.append(failed("links", step, error))
    return rows


def _earlier(state: VerificationState, mine: VerifiedLink, theirs: VerifiedLink) -> bool:
    a, b = state.times[mine.key].seconds, state.times[theirs.key].seconds
    if a != b:
        return a < b
    pa, pb = state.log.get(mine.key), state.log.get(theirs.key)
    return (
        pa is not None and pb is not None and pa.origin == pb.origin and pa.log_index < pb.log_index
    )


def check_replay(state: VerificationState) -> list[CheckResult]:
    """Check 2, chain order: a step cannot have been logged before the steps whose products it
    consumes (MATCH ... FROM). Such a link was recorded for another run and replayed here.

    Steps:
      1. for each step and each step its MATCH rules name, compare every pair of their links
         that have a trusted time (check 6);
      2. a link is earlier when its trusted time is smaller or, at the same second in the same
         log, its log index is smaller (times have one-second resolution, so a replay recorded
         within the same second would otherwise pass).
    """
    rows = []
    for spec in state.layout.steps:
        own = [link for link in state.links.get(spec.name, ()) if link.key in state.times]
        for source in spec.match_sources() if own else ():
            theirs = [link for link in state.links.get(source, ()) if link.key in state.times]
            pair = next(((m, t) for m in own for t in theirs if _earlier(state, m, t)), None)
            if pair is not None:
                error = ReplayError(
                    f"step {spec.name}: logged at {state.times[pair[0].key].seconds}, before its "
                    f"input step {source} ({state.times[pair[1].key].seconds}): a link from "
                    "another run"
                )
                rows.append(failed("links", spec.name, error))
                break
    return rows

"""Check 2, links: signatures, thresholds, expected commands, undeclared steps, replay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from atlas_intoto.bundle import LinkEvidence
from atlas_intoto.errors import (
    CommandMismatchError,
    EvidenceError,
    LinkSignatureError,
    MissingStepError,
    OperationalError,
    PredicateTypeError,
    ReplayError,
    ThresholdError,
    UnexpectedStepError,
)
from atlas_intoto.layout import Layout, StepSpec
from atlas_intoto.statement import OMS_PREDICATE
from atlas_intoto.verify.cache import VerifyCache, digest, json_digest
from atlas_intoto.verify.checks import failed, passed, row, skipped
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import LinkKey, VerificationState, VerifiedLink


def _claimed_keyids(envelope: bytes) -> list[str]:
    from atlas_intoto import dsse

    try:
        return [keyid or "?" for keyid in dsse.parse(envelope).keyids]
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


def _load_any(
    layout: Layout,
    spec: StepSpec,
    key: LinkKey,
    evidence: LinkEvidence,
    keys: Sequence[Any],
    key_pems: Sequence[str],
    cache: VerifyCache | None,
) -> VerifiedLink:
    """A link signed by a key functionary, or by an identity functionary's certificate (an
    attestation with a certificate, or any attestation of a step of identities only)."""
    from atlas_intoto.verify.checks.identity import (
        check_key_certificate,
        has_certificate,
        load_certified_link,
    )

    if not any(n in layout.identities for n in spec.functionaries):
        return check_key_certificate(_load_link(key, evidence, keys, key_pems, cache))
    if not keys:
        return load_certified_link(key, evidence, layout, spec)
    try:
        return check_key_certificate(_load_link(key, evidence, keys, key_pems, cache))
    except LinkSignatureError:
        # key functionaries' bundles may carry a (dev CA) certificate too: a key first
        if not has_certificate(evidence):
            raise
    return load_certified_link(key, evidence, layout, spec)


def _signature_reason(layout: Layout, spec: StepSpec, label: str, envelope: bytes) -> str:
    """Why a link's signature did not verify, from the key ids its signatures claim: an
    authorised key whose signature fails means the payload changed after signing; a key of
    the layout authorised for other steps means the link is used for the wrong step."""
    claimed = _claimed_keyids(envelope)
    if not claimed:
        return f"{label}: no signature names a key; none verifies under the step's functionaries"
    steps_of = {
        f.keyid: (f.name, [s.name for s in layout.steps if f.name in s.functionaries])
        for f in layout.functionaries.values()
    }
    for keyid in claimed:
        who, trusted_for = steps_of.get(keyid, ("", []))
        if spec.name in trusted_for:
            return (
                f"{label}: the signature by {who} ({keyid[:16]}), authorised for step "
                f"{spec.name}, does not match the payload: the link was changed after signing"
            )
    for keyid in claimed:
        who, trusted_for = steps_of.get(keyid, ("", []))
        if who:
            where = ", ".join(trusted_for) or "no step"
            return (
                f"{label}: signed by {who} ({keyid[:16]}), a functionary trusted for "
                f"{where}, not for step {spec.name}"
            )
    return (
        f"{label}: signed by {', '.join(k[:16] for k in claimed)}, not a functionary of the layout"
    )


def _check_one(
    layout: Layout, spec: StepSpec, label: str, load: Any, envelope: bytes
) -> tuple[CheckResult | None, VerifiedLink | None]:
    name = spec.name
    try:
        link: VerifiedLink = load()
    except LinkSignatureError:
        error = LinkSignatureError(_signature_reason(layout, spec, label, envelope))
        return failed("links", name, error), None
    except OperationalError:
        raise
    except Exception as exc:  # EvidenceError, or a crash on hostile input: never a pass
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
    if link.predicate_type == OMS_PREDICATE and spec.predicate_type != OMS_PREDICATE:
        # A model signature names no step, materials, command or upstream links: it stands for
        # a step only where the layout says so (else an old release's model.sig would do).
        wrong = PredicateTypeError(
            f"{label}: an OpenSSF model signature stands for a step only when the layout "
            f"sets its predicate_type to {OMS_PREDICATE}"
        )
        return failed("links", name, wrong), None
    if not spec.command_matches(link.command):
        return failed(
            "links",
            name,
            CommandMismatchError(
                f"{label}: command {list(link.command)} does not match the expected "
                f"{list(spec.expected_command or ())} ({spec.command_match})"
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
         and the signed command matches ``expected_command`` (``command_match``: exact, prefix
         or none) when the layout states one;
      4. distinct valid signers reach the threshold — key functionaries by key id, identity
         functionaries by (issuer, subject), however many certificates — and with
         threshold > 1 their links agree on materials and products (else ThresholdError).
    An attestation signed with a certificate is checked against the step's identity
    functionaries (:func:`~atlas_intoto.verify.checks.identity.load_certified_link`: chain,
    SCT, issuer and subject, signature; the certificate's validity at the trusted time after
    check 6, :func:`~atlas_intoto.verify.checks.identity.check_certificate_times`).
    """
    from atlas_intoto.keys import load_public_key_pem, sslib_key

    name = spec.name
    if not items:
        return [failed("links", name, MissingStepError(f"step {name}: no link in the bundle"))], []
    functionaries = [
        layout.functionaries[f] for f in spec.functionaries if f in layout.functionaries
    ]
    keys = [sslib_key(load_public_key_pem(f.pem.encode(), source=f.name)) for f in functionaries]
    pems = [f.pem for f in functionaries]
    names = {f.keyid: f.name for f in functionaries}
    rows: list[CheckResult] = []
    valid: list[VerifiedLink] = []
    for index, (key, item) in enumerate(items):
        bad, link = _check_one(
            layout,
            spec,
            f"step {name}: link {index + 1}",
            lambda key=key, item=item: _load_any(layout, spec, key, item, keys, pems, cache),
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
    # an identity is one functionary however many short-lived keys it signed with
    identities = {c.identity: c for link in valid for c in link.certified}
    if len(signers) + len(identities) < spec.threshold:
        error = ThresholdError(
            f"step {name}: {len(signers) + len(identities)} distinct authorised signer(s), "
            f"threshold is {spec.threshold}"
        )
        return [failed("links", name, error)], []
    if len({json_digest([link.materials, link.products]) for link in valid}) > 1:
        error = ThresholdError(f"step {name}: the functionaries' links disagree on artifacts")
        return [failed("links", name, error)], []
    who = ", ".join(
        [f"{names[k]} ({k[:8]})" for k in signers]
        + [f"{c.functionary} ({c.subject})" for _, c in sorted(identities.items())]
    )
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


def _producers(
    state: VerificationState, spec: StepSpec
) -> list[tuple[str, bytes, Mapping[str, Mapping[str, str]]]]:
    return [
        (link.step, link.evidence.envelope, link.products)
        for other in state.layout.steps
        if other.name != spec.name
        for link in state.links.get(other.name, ())
    ]


def _by_time(
    state: VerificationState, spec: StepSpec, links: Sequence[VerifiedLink], sources: Sequence[str]
) -> int:
    """Time-based order for (link, input step) pairs the upstream records do not cover;
    returns how many pairs had trusted times to compare (ReplayError on a violation)."""
    compared = 0
    for source in sources:
        own = [link for link in links if link.key in state.times]
        theirs = [link for link in state.links.get(source, ()) if link.key in state.times]
        compared += len(own) * len(theirs)
        pair = next(((m, t) for m in own for t in theirs if _earlier(state, m, t)), None)
        if pair is not None:
            raise ReplayError(
                f"step {spec.name}: logged at {state.times[pair[0].key].seconds}, before its "
                f"input step {source} ({state.times[pair[1].key].seconds}): a link from "
                "another run"
            )
    return compared


def check_chain(state: VerificationState, spec: StepSpec) -> CheckResult:
    """Check 2, chain order, for one step with inputs (MATCH ... FROM).

    Steps:
      1. structural: a link that records its upstream links (``upstream``: material →
         envelope SHA-256, :mod:`atlas_intoto.upstream`) must find exactly those envelopes
         in the bundle as the producers of those materials (ReplayError otherwise: a link
         of another run, even re-logged later or re-serialised);
      2. for input steps a link's record does not cover (links recorded before upstream
         records, or whose producer was recorded elsewhere), the time-based rule: the step
         cannot have been logged before them (trusted times; at the same second in the same
         log, the smaller index is earlier);
         — unless the layout sets ``require_upstream``: then an uncovered input fails
         (ReplayError), since log times do not prove which run a link belongs to;
      3. a step for which neither could be checked is a skip, never a pass.
    """
    from atlas_intoto.upstream import UPSTREAM_KEY, check_upstream

    links = state.links.get(spec.name, ())
    producers = _producers(state, spec)
    sources = spec.match_sources()
    structural = 0
    uncovered: dict[str, None] = {}
    for link in links:
        covered: set[str] = set()
        if UPSTREAM_KEY in link.atlas:
            covered = check_upstream(
                step=spec.name,
                record=link.atlas[UPSTREAM_KEY],
                materials=link.materials,
                producers=producers,
            )
            structural += 1
        uncovered.update(dict.fromkeys(s for s in sources if s not in covered))
    if uncovered and state.layout.require_upstream:
        raise ReplayError(
            f"step {spec.name}: no upstream record for its input(s) {', '.join(uncovered)}; "
            "the layout requires chain order from upstream records (require_upstream)"
        )
    timed = _by_time(state, spec, links, list(uncovered))
    if uncovered and not timed:
        return skipped(
            "links",
            spec.name,
            f"chain order against {', '.join(uncovered)} not checked: no upstream record "
            "and no trusted log times",
        )
    how = []
    if structural:
        how.append("upstream links recorded by the link are in the bundle")
    if uncovered:
        how.append(f"logged after {', '.join(uncovered)} (log time only: no upstream record)")
    return passed("links", spec.name, "chain order: " + "; ".join(how))


def check_replay(state: VerificationState) -> list[CheckResult]:
    """Check 2, chain order (:func:`check_chain`) for each verified step with inputs."""
    rows = []
    for spec in state.layout.steps:
        if spec.match_sources() and state.links.get(spec.name):
            rows.append(row("links", spec.name, partial(check_chain, state, spec)))
    return rows

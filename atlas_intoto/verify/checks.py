"""The checks of DESIGN.md §4, one function per concern; each returns report rows.

Every function is pure (bytes, pinned anchors, a reference time) and fails closed: missing
evidence is a failure, and an unexpected exception inside a check becomes a failed row rather
than a pass. Results of expensive checks go through :class:`~atlas_intoto.verify.cache.VerifyCache`
keyed by every input digest and anchor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from atlas_intoto.bundle import LinkEvidence
from atlas_intoto.errors import (
    ArtifactRuleError,
    AtlasError,
    C2paError,
    C2paManifestError,
    CommandMismatchError,
    EvidenceError,
    FinalArtifactError,
    FormatError,
    LinkSignatureError,
    MissingLogEntryError,
    MissingSidecarError,
    MissingStepError,
    MissingTeeEvidenceError,
    ReplayError,
    TeeRootError,
    ThresholdError,
    UnexpectedStepError,
)
from atlas_intoto.layout import Layout, StepSpec
from atlas_intoto.verify.cache import VerifyCache, digest, json_digest
from atlas_intoto.verify.report import CheckResult


@dataclass(frozen=True, kw_only=True)
class VerifiedLink:
    """A link whose signature verified under the step's functionaries (fields as signed)."""

    step: str
    evidence: LinkEvidence = field(repr=False)
    materials: Mapping[str, Mapping[str, str]]
    products: Mapping[str, Mapping[str, str]]
    command: tuple[str, ...]
    environment: Mapping[str, Any] = field(repr=False)
    signed_by: tuple[str, ...]

    @property
    def atlas(self) -> Mapping[str, Any]:
        value = self.environment.get("atlas-intoto")
        return value if isinstance(value, Mapping) else {}

    @property
    def keyid(self) -> str:
        return self.signed_by[0]

    def binding(self) -> bytes:
        """B recomputed from the signed fields (never the link's own ``binding`` claim)."""
        from atlas_intoto.binding import step_binding_digest

        return step_binding_digest(
            step=self.step,
            materials=self.materials,
            products=self.products,
            command=self.command,
            keyid=self.keyid,
        )

    def quote_bytes(self) -> bytes | None:
        tee = self.atlas.get("tee")
        if not isinstance(tee, Mapping) or not isinstance(tee.get("quote"), str):
            return None
        try:
            return base64.b64decode(tee["quote"], validate=True)
        except (binascii.Error, ValueError):
            return None


def passed(check: str, step: str | None, reason: str) -> CheckResult:
    return CheckResult(check=check, step=step, passed=True, reason=reason)


def failed(check: str, step: str | None, exc: BaseException) -> CheckResult:
    if isinstance(exc, AtlasError):
        return CheckResult(
            check=check,
            step=step,
            passed=False,
            reason=str(exc) or type(exc).__name__,
            error=type(exc).__name__,
            code=exc.check,
        )
    # A crash inside a check is not a pass: report it as a failure of that check.
    return CheckResult(
        check=check,
        step=step,
        passed=False,
        reason=f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
        error=type(exc).__name__,
        code="internal",
    )


def guarded(check: str, step: str | None, body: Callable[[], CheckResult]) -> CheckResult:
    try:
        return body()
    except Exception as exc:
        return failed(check, step, exc)


# ---------------------------------------------------------------------------------------------
# 2. links
# ---------------------------------------------------------------------------------------------


def _signature_keyids(envelope: bytes) -> list[str]:
    try:
        doc = json.loads(envelope)
        return [str(s.get("keyid", "?")) for s in doc.get("signatures", [])]
    except (ValueError, AttributeError, TypeError):
        return []


def _load_link(
    evidence: LinkEvidence, keys: Sequence[Any], key_pems: Sequence[str], cache: VerifyCache | None
) -> VerifiedLink:
    from atlas_intoto.link import load_link

    inputs = {
        "envelope": digest(evidence.envelope),
        "keys": sorted(
            f"{k.keyid}:{digest(p.encode())}" for k, p in zip(keys, key_pems, strict=True)
        ),
    }
    hit = cache.get("link", inputs) if cache is not None else None
    if hit is None:
        loaded = load_link(evidence.envelope, keys, source=f"link of step {evidence.step}")
        hit = {
            "name": loaded.name,
            "materials": loaded.materials,
            "products": loaded.products,
            "command": list(loaded.command),
            "environment": loaded.environment,
            "signed_by": list(loaded.signed_by),
        }
        if cache is not None:
            cache.put("link", inputs, hit)
    return VerifiedLink(
        step=hit["name"],
        evidence=evidence,
        materials=hit["materials"],
        products=hit["products"],
        command=tuple(hit["command"]),
        environment=hit["environment"],
        signed_by=tuple(hit["signed_by"]),
    )


def check_step_links(
    layout: Layout, spec: StepSpec, items: Sequence[LinkEvidence], cache: VerifyCache | None
) -> tuple[list[CheckResult], list[VerifiedLink]]:
    """Check 2 for one declared step.

    Steps:
      1. at least one link is filed under the step (else MissingStepError);
      2. every link's DSSE signature verifies under a functionary of the step (else
         LinkSignatureError naming the signer's key id) and it names this step (else
         UnexpectedStepError);
      3. the signed command equals ``expected_command`` when the layout states one;
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
    for index, item in enumerate(items):
        label = f"step {name}: link {index + 1}"
        try:
            link = _load_link(item, keys, pems, cache)
        except LinkSignatureError:
            claimed = ", ".join(k[:16] for k in _signature_keyids(item.envelope)) or "nobody"
            rows.append(
                failed(
                    "links",
                    name,
                    LinkSignatureError(
                        f"{label}: signed by {claimed}, not an authorised functionary of the step"
                    ),
                )
            )
            continue
        except (FormatError, EvidenceError) as exc:
            rows.append(failed("links", name, exc))
            continue
        except Exception as exc:
            rows.append(failed("links", name, exc))
            continue
        if link.step != name:
            rows.append(
                failed(
                    "links",
                    name,
                    UnexpectedStepError(f"{label}: the signed link is for step {link.step!r}"),
                )
            )
            continue
        if spec.expected_command is not None and list(link.command) != list(spec.expected_command):
            rows.append(
                failed(
                    "links",
                    name,
                    CommandMismatchError(
                        f"{label}: command {list(link.command)} is not the expected "
                        f"{list(spec.expected_command)}"
                    ),
                )
            )
            continue
        valid.append(link)
    if rows:
        return rows, []
    signers = sorted({keyid for link in valid for keyid in link.signed_by if keyid in names})
    if len(signers) < spec.threshold:
        return [
            failed(
                "links",
                name,
                ThresholdError(
                    f"step {name}: {len(signers)} distinct authorised signer(s), "
                    f"threshold is {spec.threshold}"
                ),
            )
        ], []
    if len({json_digest([link.materials, link.products]) for link in valid}) > 1:
        return [
            failed(
                "links",
                name,
                ThresholdError(f"step {name}: the functionaries' links disagree on artifacts"),
            )
        ], []
    who = ", ".join(f"{names[k]} ({k[:8]})" for k in signers)
    return [
        passed("links", name, f"{len(valid)} link(s) signed by {who}; threshold {spec.threshold}")
    ], valid


def check_undeclared(layout: Layout, items: Sequence[LinkEvidence]) -> list[CheckResult]:
    """Check 2, bundle-wide: evidence filed under a step the layout does not declare fails."""
    declared = {step.name for step in layout.steps}
    rows = []
    for step in dict.fromkeys(item.step for item in items):
        if step not in declared:
            rows.append(
                failed(
                    "links",
                    step,
                    UnexpectedStepError(
                        f"step {step}: evidence for a step the layout does not declare"
                    ),
                )
            )
    return rows


def check_replay(
    layout: Layout,
    links: Mapping[str, Sequence[VerifiedLink]],
    times: Mapping[int, int],
    positions: Mapping[int, tuple[str, int]] | None = None,
) -> list[CheckResult]:
    """Check 2, chain order: a step cannot have been logged before the steps whose products it
    consumes (MATCH ... FROM). Such a link was recorded for another run and replayed here.

    ``times`` maps ``id(VerifiedLink)`` to its SET-proven integrated time; ``positions`` to its
    (checkpoint origin, log index).

    Steps:
      1. for each step and each step its MATCH rules name, compare every pair of their links;
      2. a link is earlier when its integrated time is smaller or, at the same second in the
         same log, its log index is smaller (integrated times have one-second resolution, so a
         replay recorded within the same second would otherwise pass).
    """
    where = positions or {}

    def earlier(mine: VerifiedLink, theirs: VerifiedLink) -> bool:
        a, b = times[id(mine)], times[id(theirs)]
        if a != b:
            return a < b
        pa, pb = where.get(id(mine)), where.get(id(theirs))
        return pa is not None and pb is not None and pa[0] == pb[0] and pa[1] < pb[1]

    rows = []
    for spec in layout.steps:
        own = [link for link in links.get(spec.name, ()) if id(link) in times]
        for source in spec.match_sources() if own else ():
            theirs = [link for link in links.get(source, ()) if id(link) in times]
            pair = next(((m, t) for m in own for t in theirs if earlier(m, t)), None)
            if pair is not None:
                rows.append(
                    failed(
                        "links",
                        spec.name,
                        ReplayError(
                            f"step {spec.name}: logged at {times[id(pair[0])]}, before its input "
                            f"step {source} ({times[id(pair[1])]}): a link from another run"
                        ),
                    )
                )
                break
    return rows


# ---------------------------------------------------------------------------------------------
# 3. artifact rules (in-toto's rule engine)
# ---------------------------------------------------------------------------------------------


def check_rules(layout: Layout, links: Mapping[str, Sequence[VerifiedLink]]) -> list[CheckResult]:
    """Check 3: each step's material and product rules, applied by in-toto's own engine.

    Steps:
      1. build in-toto ``Link`` objects from the verified links (one per step: with a threshold
         the links agree on artifacts);
      2. ``in_toto.verifylib.verify_item_rules`` for materials then products, step by step;
         a rule violation is an ArtifactRuleError naming the step and rule.
    Steps whose links failed check 2 are not evaluated (they already failed).
    """
    from in_toto.exceptions import RuleVerificationError
    from in_toto.models.link import Link
    from in_toto.verifylib import verify_item_rules

    intoto = {
        name: Link(
            name=name,
            materials={p: dict(d) for p, d in items[0].materials.items()},
            products={p: dict(d) for p, d in items[0].products.items()},
            command=list(items[0].command),
            byproducts={},
            environment={},
        )
        for name, items in links.items()
        if items
    }
    rows = []
    for spec in layout.steps:
        if spec.name not in intoto:
            continue
        try:
            for kind, rules in (("materials", spec.materials), ("products", spec.products)):
                verify_item_rules(spec.name, kind, [list(rule) for rule in rules], intoto)
        except RuleVerificationError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "rule violated"
            rows.append(failed("rules", spec.name, ArtifactRuleError(f"step {spec.name}: {first}")))
            continue
        except Exception as exc:
            rows.append(failed("rules", spec.name, exc))
            continue
        count = len(spec.materials) + len(spec.products)
        rows.append(passed("rules", spec.name, f"{count} artifact rule(s) hold"))
    return rows


# ---------------------------------------------------------------------------------------------
# 4. TEE
# ---------------------------------------------------------------------------------------------


def check_tee(
    layout: Layout, spec: StepSpec, link: VerifiedLink, *, at: int, cache: VerifyCache | None
) -> tuple[CheckResult, dict[str, Any] | None]:
    """Check 4 for one link.

    Steps:
      1. a required quote must be present (MissingTeeEvidenceError), with its collateral;
      2. ``atlas_intoto.tee.verify_tee_evidence`` (which first checks that the bundled
         collateral is the one the signed link commits to) against the pinned roots and the step policy
         at the trusted time, with the binding B recomputed from the signed link: quote format,
         DCAP chain and collateral, TCB status, debug, MRTD/RTMR/MRCONFIGID, REPORTDATA.
    """
    from atlas_intoto.tee.policy import TeePolicy, roots_from_layout

    name = spec.name
    tee_env = link.atlas.get("tee")
    tee_step, tee_trust = spec.evidence.get("tdx"), layout.evidence_trust.get("tdx")
    policy = TeePolicy.from_layout(tee_step, tee_trust)
    if not isinstance(tee_env, Mapping):
        if policy.required:
            raise MissingTeeEvidenceError(f"step {name}: the layout requires a TEE quote; none")
        return passed("tee", name, "not required; no TEE evidence"), None
    if tee_trust is None:
        if policy.required:
            raise TeeRootError(f"step {name}: TEE required but the layout pins no TEE root")
        return passed("tee", name, "TEE evidence present but not required (no roots pinned)"), None
    collateral = link.evidence.tee_collateral
    if collateral is None:
        raise MissingTeeEvidenceError(f"step {name}: quote collateral missing from the bundle")
    roots = roots_from_layout(tee_trust)
    binding = link.binding()
    inputs = {
        "tee_env": json_digest(dict(tee_env)),
        "collateral": digest(collateral),
        "binding": binding.hex(),
        "policy": json_digest({"step": tee_step or {}, "trust": dict(tee_trust)}),
        "roots": sorted(digest(r) for r in roots),
        "at": at,
    }
    summary = cache.get("tee", inputs) if cache is not None else None
    if summary is None:
        from atlas_intoto.tee import verify_tee_evidence

        result = verify_tee_evidence(
            tee_env, collateral=collateral, binding=binding, policy=policy, roots=roots, at=at
        )
        summary = {
            "type": str(tee_env.get("type")),
            "tcb_status": str(getattr(result, "tcb_status", "")),
            "mrtd": _hex(getattr(result, "mrtd", None)),
        }
        if cache is not None:
            cache.put("tee", inputs, summary)
    mrtd = summary.get("mrtd") or "?"
    return (
        passed(
            "tee",
            name,
            f"{summary['type']} quote verified (TCB {summary['tcb_status']}, MRTD {mrtd[:16]}…), "
            "bound to the link",
        ),
        summary,
    )


def _hex(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    return str(value)


# ---------------------------------------------------------------------------------------------
# 5. C2PA
# ---------------------------------------------------------------------------------------------


def material_sidecars(
    layout: Layout, spec: StepSpec, link: VerifiedLink, links: Mapping[str, Sequence[VerifiedLink]]
) -> dict[str, bytes]:
    """Sidecars of this link's materials, taken from the latest earlier step that produced the
    same bytes (same path and digest) and carried a sidecar for it."""
    earlier = [s.name for s in layout.steps[: layout.steps.index(spec)]]
    found: dict[str, bytes] = {}
    for path, digests in link.materials.items():
        for source in reversed(earlier):
            for other in links.get(source, ()):
                product = other.products.get(path)
                if product is not None and product.get("sha256") == digests.get("sha256"):
                    sidecar = other.evidence.c2pa.get(path)
                    if sidecar is not None:
                        found[path] = sidecar
                        break
            if path in found:
                break
    return found


def check_c2pa(
    layout: Layout,
    spec: StepSpec,
    link: VerifiedLink,
    links: Mapping[str, Sequence[VerifiedLink]],
    *,
    cache: VerifyCache | None,
) -> CheckResult:
    """Check 5 for one link.

    Steps:
      1. with ``c2pa.required`` every product has a sidecar entry in the signed link and its
         bytes in the bundle (MissingSidecarError); entries name only products;
      2. each bundled sidecar is the one the link commits to (SHA-256);
      3. ``atlas_intoto.c2pa.verify_sidecar``: trusted under the pinned anchors, hard binding
         equals the product digest, the step assertion matches (step, B, quote digest), the
         ingredients match the materials' sidecars.
    """
    name = spec.name
    entries = link.atlas.get("c2pa")
    entries = entries if isinstance(entries, Mapping) else {}
    if spec.c2pa_required:
        for product in link.products:
            if product not in entries:
                raise MissingSidecarError(f"step {name}: product {product} has no C2PA manifest")
    if not entries:
        if spec.c2pa_required:
            return passed("c2pa", name, "required; the step has no products")
        return passed("c2pa", name, "not required; no C2PA manifests")
    if not layout.c2pa_anchors:
        if spec.c2pa_required:
            raise C2paError(f"step {name}: C2PA required but the layout pins no anchor")
        return passed("c2pa", name, "manifests present but not required (no anchors pinned)")
    anchors = [a.encode() for a in layout.c2pa_anchors]
    binding = link.binding()
    quote = link.quote_bytes()
    quote_digest = hashlib.sha256(quote).hexdigest() if quote is not None else None
    ingredients = material_sidecars(layout, spec, link, links)
    for product, entry in entries.items():
        if product not in link.products:
            raise C2paError(f"step {name}: C2PA entry for {product}, which is not a product")
        sidecar = link.evidence.c2pa.get(product)
        if sidecar is None:
            raise MissingSidecarError(f"step {name}: sidecar of {product} missing from the bundle")
        if not isinstance(entry, Mapping) or entry.get("sha256") != digest(sidecar):
            raise C2paManifestError(
                f"step {name}: sidecar of {product} is not the one the link commits to"
            )
        product_sha = link.products[product].get("sha256", "")
        inputs = {
            "sidecar": digest(sidecar),
            "product": product,
            "product_sha256": product_sha,
            "anchors": sorted(digest(a) for a in anchors),
            "step": name,
            "binding": binding.hex(),
            "quote": quote_digest,
            "materials": {p: digest(b) for p, b in sorted(ingredients.items())},
        }
        if cache is not None and cache.get("c2pa", inputs) is not None:
            continue
        from atlas_intoto.c2pa import verify_sidecar

        verify_sidecar(
            sidecar,
            product_path=product,
            product_sha256=product_sha,
            anchors_pem=anchors,
            step=name,
            binding=binding,
            quote_digest=quote_digest,
            material_sidecars=ingredients,
        )
        if cache is not None:
            cache.put("c2pa", inputs, {"ok": True})
    return passed(
        "c2pa", name, f"{len(entries)} manifest(s) trusted, bound to products and to the link"
    )


# ---------------------------------------------------------------------------------------------
# 6. transparency log
# ---------------------------------------------------------------------------------------------


def check_log_entry(
    layout: Layout, spec: StepSpec, link: VerifiedLink, *, cache: VerifyCache | None
) -> tuple[CheckResult, dict[str, Any] | None]:
    """Check 6 for one link.

    Steps:
      1. a log entry is present when the layout pins a required log (MissingLogEntryError);
      2. ``atlas_intoto.tlog.logentry.verify_log_entry`` with the pinned log keys and the exact
         link envelope: body matches the envelope, inclusion proof reaches the checkpoint root,
         checkpoint signed by a pinned log key, SET valid.
    """
    name = spec.name
    entry = link.evidence.log_entry
    if entry is None:
        if layout.log_required:
            raise MissingLogEntryError(f"step {name}: the layout requires a log entry; none")
        return passed("tlog", name, "not required; no log entry"), None
    if not layout.logs:
        return passed("tlog", name, "log entry present but no log key pinned; not checked"), None
    log_keys = [log.pem.encode() for log in layout.logs]
    inputs = {
        "entry": json_digest(dict(entry)),
        "envelope": digest(link.evidence.envelope),
        "log_keys": sorted(digest(k) for k in log_keys),
    }
    summary = cache.get("tlog", inputs) if cache is not None else None
    if summary is None:
        from atlas_intoto.tlog.logentry import verify_log_entry

        verified = verify_log_entry(entry, log_keys=log_keys, envelope=link.evidence.envelope)
        root = verified.root_hash
        summary = {
            "uuid": str(verified.uuid),
            "log_index": int(verified.log_index),
            "integrated_time": int(verified.integrated_time),
            "tree_size": int(verified.tree_size),
            "root_hash": root.hex() if isinstance(root, bytes | bytearray) else str(root),
            "origin": str(verified.checkpoint.origin),
        }
        if cache is not None:
            cache.put("tlog", inputs, summary)
    return (
        passed(
            "tlog",
            name,
            f"entry {summary['log_index']} included in tree of size {summary['tree_size']}, "
            "checkpoint and SET signed by a pinned log key",
        ),
        summary,
    )


# ---------------------------------------------------------------------------------------------
# 7. final artifacts
# ---------------------------------------------------------------------------------------------


def check_final_artifacts(
    layout: Layout,
    links: Mapping[str, Sequence[VerifiedLink]],
    held: Mapping[str, str | None],
) -> CheckResult:
    """Check 7: the consumer's files equal the last step's products.

    ``held`` maps each product path of the last step to the SHA-256 of the consumer's file
    (None: absent). Every product must be present with the same digest, and there must be at
    least one: a last step that records no products would compare the consumer's files with
    nothing and pass.
    """
    last = layout.steps[-1].name
    items = links.get(last)
    if not items:
        raise FinalArtifactError(f"step {last}: no verified link, final products unknown")
    products = items[0].products
    if not products:
        raise FinalArtifactError(
            f"step {last}: records no products, the artifacts cannot be compared with anything"
        )
    for path, digests in sorted(products.items()):
        have = held.get(path)
        if have is None:
            raise FinalArtifactError(f"{path}: final product of {last} not among the artifacts")
        if have != digests.get("sha256"):
            raise FinalArtifactError(
                f"{path}: sha256 {have[:16]}… differs from the product of {last} "
                f"({str(digests.get('sha256'))[:16]}…)"
            )
    return passed("artifacts", None, f"{len(products)} file(s) equal the products of {last}")


__all__ = [
    "VerifiedLink",
    "check_c2pa",
    "check_final_artifacts",
    "check_log_entry",
    "check_replay",
    "check_rules",
    "check_step_links",
    "check_tee",
    "check_undeclared",
    "material_sidecars",
]

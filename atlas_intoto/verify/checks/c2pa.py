"""Check 5, C2PA: each link's sidecar manifests, trusted, bound to its products, to the link
and to the manifests of its materials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from atlas_intoto.errors import C2paError, C2paManifestError, MissingSidecarError, OperationalError
from atlas_intoto.layout import Layout, StepSpec
from atlas_intoto.verify.cache import digest
from atlas_intoto.verify.checks import failed, passed, skipped
from atlas_intoto.verify.checks.evidence import manifest_digest
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import VerificationState, VerifiedLink


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


def _entries(spec: StepSpec, link: VerifiedLink) -> Mapping[str, object]:
    entries = link.atlas.get("c2pa", {})
    if not isinstance(entries, Mapping):
        # a signed but malformed block is invalid evidence, never "no manifests"
        raise C2paManifestError(
            f"step {spec.name}: environment.atlas-intoto.c2pa must be an object of product "
            f"entries, not {type(entries).__name__}"
        )
    if spec.c2pa_required:
        from atlas_intoto.confidential.commitment import is_committed

        # a private product carries no manifest: one would name its path and hash
        for product in link.products:
            if product not in entries and not is_committed(product):
                raise MissingSidecarError(
                    f"step {spec.name}: product {product} has no C2PA manifest"
                )
    return entries


def check_link_c2pa(state: VerificationState, spec: StepSpec, link: VerifiedLink) -> CheckResult:
    """Check 5 for one link.

    Steps:
      1. with ``c2pa.required`` every product has a sidecar entry in the signed link and its
         bytes in the bundle (MissingSidecarError), but a private product (a commitment, which
         no manifest may name: docs/confidentiality.md); entries name only products;
      2. each bundled sidecar is the one the link commits to (SHA-256);
      3. ``atlas_intoto.c2pa.verify_sidecar``: trusted under the pinned anchors, the signing
         certificate valid at the link's trusted time (like TEE collateral; else the verifier's
         clock), hard binding equals the product digest, the step assertion matches (step, B,
         evidence digest), the ingredients match the materials' sidecars.
    """
    name, layout = spec.name, state.layout
    entries = _entries(spec, link)
    if not entries:
        if spec.c2pa_required:
            return passed("c2pa", name, "required; the step has no public products")
        return skipped("c2pa", name, "not required; no C2PA manifests")
    if not layout.c2pa_anchors:
        if spec.c2pa_required:
            raise C2paError(f"step {name}: C2PA required but the layout pins no anchor")
        return skipped("c2pa", name, "manifests present but not required (no anchors pinned)")
    ingredients = material_sidecars(layout, spec, link, state.links)
    for product, entry in entries.items():
        _verify_sidecar(state, spec, link, product, entry, ingredients)
    return passed(
        "c2pa", name, f"{len(entries)} manifest(s) trusted, bound to products and to the link"
    )


def _verify_sidecar(
    state: VerificationState,
    spec: StepSpec,
    link: VerifiedLink,
    product: str,
    entry: object,
    ingredients: Mapping[str, bytes],
) -> None:
    name = spec.name
    if product not in link.products:
        raise C2paError(f"step {name}: C2PA entry for {product}, which is not a product")
    sidecar = link.evidence.c2pa.get(product)
    if sidecar is None:
        raise MissingSidecarError(f"step {name}: sidecar of {product} missing from the bundle")
    if not isinstance(entry, Mapping) or entry.get("sha256") != digest(sidecar):
        raise C2paManifestError(
            f"step {name}: sidecar of {product} is not the one the link commits to"
        )
    anchors = [a.encode() for a in state.layout.c2pa_anchors]
    binding, quote_digest = link.binding(), manifest_digest(link)
    product_sha = link.products[product].get("sha256", "")
    private = _private_materials(link)
    inputs = {
        "sidecar": digest(sidecar),
        "product": product,
        "product_sha256": product_sha,
        "anchors": sorted(digest(a) for a in anchors),
        "step": name,
        "binding": binding.hex(),
        "quote": quote_digest,
        "materials": {p: digest(b) for p, b in sorted(ingredients.items())},
        "at": state.at(link),
        "private": private,
    }
    if state.cache is not None and state.cache.get("c2pa", inputs) is not None:
        return
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
        at=state.at(link),
        private_ingredients=private,
    )
    if state.cache is not None:
        state.cache.put("c2pa", inputs, {"ok": True})


def _private_materials(link: VerifiedLink) -> list[str]:
    """The commitments of the link's private materials, which its products' manifests name."""
    from atlas_intoto.confidential.commitment import commitment_of, is_committed

    return sorted(commitment_of(m) for m in link.materials if is_committed(m))


def check_c2pa(state: VerificationState) -> list[CheckResult]:
    """Check 5 for every verified link, in layout order."""
    rows: list[CheckResult] = []
    for spec in state.layout.steps:
        for link in state.links.get(spec.name, ()):
            try:
                rows.append(check_link_c2pa(state, spec, link))
            except OperationalError:
                raise
            except Exception as exc:
                rows.append(failed("c2pa", spec.name, exc))
    return rows

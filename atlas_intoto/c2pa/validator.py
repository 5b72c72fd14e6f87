"""Validating a product's sidecar manifest against the signed link (check 5, docs/ARCHITECTURE.md).

Pure: bytes in (the sidecar, the materials' sidecars, pinned anchor PEMs), an optional asset
stream, a report or a :class:`~atlas_intoto.errors.C2paError` subclass out. c2pa-rs does the
cryptography (COSE signature, certificate chain to the anchors, hashed URIs, the data hash
when the asset is given, ingredient manifest hashes); this module decides what its report means
for us and compares the manifest's content to the link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from atlas_intoto.c2pa.artifacts import ML_ASSERTION, mime_type
from atlas_intoto.c2pa.builder import step_assertion
from atlas_intoto.c2pa.certtime import CODE_EXPIRED, check_signing_time
from atlas_intoto.c2pa.store import (
    CODE_DATA_HASH_MISMATCH,
    CODE_SIGNATURE_OK,
    CODE_TRUSTED,
    DATA_HASH,
    PRIVATE_INGREDIENTS_ASSERTION,
    STEP_ASSERTION,
    ManifestStore,
    context,
    decode_hash,
    one_line,
    read_store,
)
from atlas_intoto.errors import (
    C2paBindingError,
    C2paIngredientError,
    C2paManifestError,
    C2paStepAssertionError,
    C2paTrustError,
)

_MAX_LINEAGE_DEPTH = 64


@dataclass(frozen=True, kw_only=True)
class C2paIngredient:
    """One verified ingredient: the material it stands for and its manifest."""

    material_path: str
    manifest_label: str
    relationship: str  # "inputTo" | "parentOf"


@dataclass(frozen=True, kw_only=True)
class C2paVerification:
    """What verifying a product's sidecar established."""

    product_path: str
    manifest_label: str
    validation_state: str  # always "Trusted" when returned
    #: False when no asset was given: c2pa-rs could not hash the file, and the hard binding
    #: was only compared to the link's digest (offline bundle verification).
    asset_checked: bool
    signer: str | None
    issuer: str | None
    kind: str | None
    ingredients: tuple[C2paIngredient, ...]


def _codes(entries: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(sorted({str(entry.get("code")) for entry in entries})) or "none"


def _has_code(store: ManifestStore, code: str, label: str) -> bool:
    return any(
        entry.get("code") == code and f"/c2pa/{label}/" in str(entry.get("url", ""))
        for entry in store.codes("success")
    )


def _parse(
    sidecar: bytes, *, what: str, fmt: str, asset: BinaryIO | None, ctx: Any
) -> ManifestStore:
    import c2pa

    if not sidecar:
        raise C2paManifestError(f"{what}: sidecar is empty")
    try:
        store = read_store(sidecar, fmt=fmt, asset=asset, ctx=ctx)
    except (c2pa.C2paError, ValueError, TypeError) as exc:
        raise C2paManifestError(f"{what}: not a C2PA manifest store ({one_line(exc)})") from exc
    if not store.active_label or not store.manifest(store.active_label):
        raise C2paManifestError(f"{what}: manifest store has no active manifest")
    return store


def _check_trust(
    store: ManifestStore,
    *,
    what: str,
    label: str,
    asset_given: bool,
    tolerated: frozenset[str] = frozenset(),
) -> None:
    hash_url = f"/c2pa/{label}/c2pa.assertions/{DATA_HASH}"
    # codes judged otherwise (the certificate's validity at the trusted time, not now)
    failures = [e for e in store.codes("failure") if e.get("code") not in tolerated]
    binding_failures = [
        entry
        for entry in failures
        if str(entry.get("code", "")).startswith("assertion.dataHash")
        and str(entry.get("url", "")).endswith(hash_url)
    ]
    others = [entry for entry in failures if entry not in binding_failures]
    if others:
        raise C2paTrustError(f"{what}: manifest does not validate ({_codes(others)})")
    if asset_given:
        if binding_failures:
            raise C2paBindingError(
                f"{what}: artifact bytes do not match the manifest's hard binding"
            )
        if store.state != "Trusted":
            raise C2paTrustError(
                f"{what}: validation state {store.state or 'unknown'}, expected Trusted "
                "(signer not issued under a pinned C2PA anchor?)"
            )
        return
    # Offline: c2pa-rs hashed an empty stream, so the one failure it must report is the data
    # hash mismatch of the active manifest; anything else, or a missing trust verdict, fails.
    if any(entry.get("code") != CODE_DATA_HASH_MISMATCH for entry in binding_failures):
        raise C2paBindingError(f"{what}: hard binding is malformed ({_codes(binding_failures)})")
    if store.state not in ("Trusted", "Invalid"):
        raise C2paTrustError(
            f"{what}: validation state {store.state or 'unknown'}, expected Trusted"
        )
    if not _has_code(store, CODE_SIGNATURE_OK, label):
        raise C2paTrustError(f"{what}: claim signature was not validated")
    if not _has_code(store, CODE_TRUSTED, label):
        raise C2paTrustError(
            f"{what}: signing certificate is not trusted (not issued under a pinned C2PA anchor)"
        )


def _check_binding(store: ManifestStore, *, what: str, label: str, product_sha256: str) -> None:
    bindings = store.hard_bindings(label)
    if set(bindings) != {DATA_HASH}:
        raise C2paBindingError(
            f"{what}: expected exactly one {DATA_HASH} hard binding, found {sorted(bindings) or 'none'}"
        )
    binding = bindings[DATA_HASH]
    if not isinstance(binding, dict):
        raise C2paBindingError(f"{what}: {DATA_HASH} is malformed")
    claim = store.detailed_manifest(label).get("claim")
    alg = binding.get("alg") or (claim.get("alg") if isinstance(claim, dict) else None)
    if alg != "sha256":
        raise C2paBindingError(f"{what}: {DATA_HASH} uses {alg!r}, expected sha256")
    exclusions = binding.get("exclusions") or []
    if not isinstance(exclusions, list) or any(
        not isinstance(item, dict) or item.get("length") != 0 for item in exclusions
    ):
        raise C2paBindingError(f"{what}: {DATA_HASH} excludes bytes of the artifact")
    try:
        expected = bytes.fromhex(product_sha256)
    except ValueError as exc:
        raise C2paBindingError(f"{what}: link digest {product_sha256!r} is not hex") from exc
    if decode_hash(binding.get("hash")) != expected:
        raise C2paBindingError(
            f"{what}: hard binding differs from the link's sha256 {product_sha256}"
        )


def _check_step(
    store: ManifestStore, *, what: str, label: str, expected: Mapping[str, Any]
) -> None:
    found = store.assertions(label, STEP_ASSERTION)
    if len(found) != 1:
        raise C2paStepAssertionError(
            f"{what}: expected one {STEP_ASSERTION} assertion, found {len(found)}"
        )
    data = found[0]
    if not isinstance(data, dict):
        raise C2paStepAssertionError(f"{what}: {STEP_ASSERTION} is not a map")
    for key in sorted(set(expected) | set(data)):
        if data.get(key) != expected.get(key):
            raise C2paStepAssertionError(
                f"{what}: {STEP_ASSERTION}.{key} is {data.get(key)!r}, the link says {expected.get(key)!r}"
            )


def _check_private_ingredients(
    store: ManifestStore, *, what: str, label: str, expected: Sequence[str]
) -> None:
    """The manifest names the step's private materials by commitment, exactly."""
    found = store.assertions(label, PRIVATE_INGREDIENTS_ASSERTION)
    named: Any = found[0].get("commitments") if found and isinstance(found[0], dict) else None
    if len(found) > 1 or (
        found and not (isinstance(named, list) and all(isinstance(c, str) for c in named))
    ):
        # a list of strings only: an object keyed by the commitments would sort like one
        raise C2paIngredientError(f"{what}: malformed {PRIVATE_INGREDIENTS_ASSERTION} assertion")
    if sorted(named or []) != sorted(expected):
        raise C2paIngredientError(
            f"{what}: {PRIVATE_INGREDIENTS_ASSERTION} names {len(named or [])} commitment(s), "
            f"not the {len(expected)} private material(s) of the link"
        )


def _check_ingredients(
    store: ManifestStore,
    *,
    what: str,
    label: str,
    material_sidecars: Mapping[str, bytes],
    ctx: Any,
) -> tuple[C2paIngredient, ...]:
    by_title: dict[str, Mapping[str, Any]] = {}
    for entry in store.ingredients(label):
        title = entry.get("title")
        if not isinstance(title, str) or title in by_title:
            raise C2paIngredientError(f"{what}: ingredient title {title!r} is missing or repeated")
        by_title[title] = entry
    unexpected = sorted(set(by_title) - set(material_sidecars))
    if unexpected:
        raise C2paIngredientError(
            f"{what}: ingredient {unexpected[0]!r} is not a material with a manifest"
        )
    result = []
    parents = 0
    for material in sorted(material_sidecars):
        ingredient = by_title.get(material)
        if ingredient is None:
            raise C2paIngredientError(
                f"{what}: manifest of material {material} is not an ingredient"
            )
        try:
            theirs = _parse(
                material_sidecars[material],
                what=f"{what}: material {material}",
                fmt=mime_type(material),
                asset=None,
                ctx=ctx,
            )
        except C2paManifestError as exc:
            raise C2paIngredientError(str(exc)) from exc
        their_label = theirs.active_label
        if ingredient.get("active_manifest") != their_label:
            raise C2paIngredientError(
                f"{what}: ingredient {material} points at manifest {ingredient.get('active_manifest')!r}, "
                f"the material's sidecar has {their_label!r}"
            )
        # Equal claims mean equal content: a claim lists the hash of every assertion it makes.
        ours_claim = store.detailed_manifest(their_label).get("claim")
        if not isinstance(ours_claim, dict) or ours_claim != theirs.detailed_manifest(
            their_label
        ).get("claim"):
            raise C2paIngredientError(
                f"{what}: ingredient {material} carries a different manifest than the material's sidecar"
            )
        relationship = ingredient.get("relationship")
        if relationship not in ("inputTo", "parentOf"):
            raise C2paIngredientError(
                f"{what}: ingredient {material} has relationship {relationship!r}"
            )
        parents += relationship == "parentOf"
        result.append(
            C2paIngredient(
                material_path=material, manifest_label=their_label, relationship=str(relationship)
            )
        )
    if parents > 1:
        raise C2paIngredientError(f"{what}: more than one parentOf ingredient")
    return tuple(result)


def verify_sidecar(
    sidecar: bytes,
    *,
    product_path: str,
    product_sha256: str,
    anchors_pem: Sequence[bytes],
    step: str,
    binding: bytes,
    quote_digest: str | None,
    material_sidecars: Mapping[str, bytes],
    asset: BinaryIO | None = None,
    at: int | None = None,
    private_ingredients: Sequence[str] = (),
) -> C2paVerification:
    """Validate the sidecar of ``product_path`` against its link.

    ``at`` (unix time): judge the signing certificate at this time (the link's trusted log
    time) instead of now: it must have been valid then, and having expired since is no fault.

    1. Parse the manifest store with c2pa-rs under trust settings holding only ``anchors_pem``
       (no network): garbage → C2paManifestError.
    2. Signature and trust: with ``asset`` the validation state must be "Trusted" (a data hash
       failure → C2paBindingError, anything else → C2paTrustError). Without it c2pa-rs hashes an
       empty stream: exactly the active manifest's ``assertion.dataHash.mismatch`` is tolerated,
       and ``signingCredential.trusted`` plus ``claimSignature.validated`` must be reported.
    3. Hard binding: exactly one ``c2pa.hash.data``, sha256, no exclusions, value = the link's
       ``product_sha256`` → else C2paBindingError.
    4. ``org.atlas-intoto.step`` equals {step, product, binding, quote_digest} of the link
       → else C2paStepAssertionError (a manifest of another step or file swapped in).
    5. Ingredients are exactly the materials' sidecars: same titles, each pointing at the
       material sidecar's active manifest with an identical claim, inputTo or one parentOf
       → else C2paIngredientError.
    6. ``org.atlas-intoto.private-ingredients`` lists exactly ``private_ingredients`` (the
       commitments of the link's private materials; absent when there are none) → else
       C2paIngredientError.
    """
    what = f"c2pa/{product_path}.c2pa"
    if not anchors_pem:
        raise C2paTrustError(f"{what}: no C2PA trust anchors pinned in the layout")
    with context(anchors_pem) as ctx:
        if asset is not None:
            asset.seek(0)
        store = _parse(sidecar, what=what, fmt=mime_type(product_path), asset=asset, ctx=ctx)
        label = store.active_label
        tolerated: frozenset[str] = frozenset()
        if at is not None:
            info = store.manifest(label).get("signature_info")
            serial = info.get("cert_serial_number") if isinstance(info, Mapping) else None
            check_signing_time(sidecar, serial=serial, at=at, what=what)
            tolerated = frozenset({CODE_EXPIRED})
        _check_trust(
            store, what=what, label=label, asset_given=asset is not None, tolerated=tolerated
        )
        _check_binding(store, what=what, label=label, product_sha256=product_sha256)
        _check_step(
            store,
            what=what,
            label=label,
            expected=step_assertion(
                step=step, product=product_path, binding=binding, quote_digest=quote_digest
            ),
        )
        ingredients = _check_ingredients(
            store, what=what, label=label, material_sidecars=material_sidecars, ctx=ctx
        )
        _check_private_ingredients(store, what=what, label=label, expected=private_ingredients)
    signature = store.detailed_manifest(label).get("signature")
    signature = signature if isinstance(signature, dict) else {}
    ml = next((d for d in store.assertions(label, ML_ASSERTION) if isinstance(d, dict)), {})
    return C2paVerification(
        product_path=product_path,
        manifest_label=label,
        validation_state="Trusted",
        asset_checked=asset is not None,
        signer=_str_or_none(signature.get("common_name")),
        issuer=_str_or_none(signature.get("issuer")),
        kind=_str_or_none(ml.get("kind")),
        ingredients=ingredients,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------------------------------------
# Summary and lineage (for `atlas-intoto c2pa show` and reports)
# ---------------------------------------------------------------------------------------------


def _manifest_node(store: ManifestStore, label: str, seen: frozenset[str]) -> dict[str, Any]:
    manifest = store.manifest(label)
    signature = store.detailed_manifest(label).get("signature")
    signature = signature if isinstance(signature, dict) else {}
    actions: list[str] = []
    for data in store.assertions(label, "c2pa.actions.v2") + store.assertions(
        label, "c2pa.actions"
    ):
        if isinstance(data, dict) and isinstance(data.get("actions"), list):
            actions.extend(
                str(action.get("action")) for action in data["actions"] if isinstance(action, dict)
            )
    binding = store.hard_bindings(label).get(DATA_HASH)
    digest = decode_hash(binding.get("hash")) if isinstance(binding, dict) else None
    steps = store.assertions(label, STEP_ASSERTION)
    ml = store.assertions(label, ML_ASSERTION)
    node: dict[str, Any] = {
        "label": label,
        "title": manifest.get("title"),
        "format": manifest.get("format"),
        "signer": {"common_name": signature.get("common_name"), "issuer": signature.get("issuer")},
        "sha256": digest.hex() if digest is not None else None,
        "actions": actions,
        "step": steps[0] if steps else None,
        "ml": ml[0] if ml else None,
        "ingredients": [],
    }
    for ingredient in store.ingredients(label):
        child_label = ingredient.get("active_manifest")
        entry: dict[str, Any] = {
            "title": ingredient.get("title"),
            "relationship": ingredient.get("relationship"),
            "manifest": None,
        }
        if (
            isinstance(child_label, str)
            and child_label not in seen
            and len(seen) < _MAX_LINEAGE_DEPTH
            and store.manifest(child_label)
        ):
            entry["manifest"] = _manifest_node(store, child_label, seen | {child_label})
        node["ingredients"].append(entry)
    return node


def inspect_sidecar(
    sidecar: bytes,
    *,
    product_path: str,
    anchors_pem: Sequence[bytes] = (),
    asset: BinaryIO | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """A JSON-ready summary of a sidecar: validation state and failures, the active manifest
    and its lineage (ingredient manifests, recursively). Raises C2paManifestError on garbage."""
    what = source or product_path
    with context(anchors_pem) as ctx:
        store = _parse(sidecar, what=what, fmt=mime_type(product_path), asset=asset, ctx=ctx)
    label = store.active_label
    return {
        "validation_state": store.state,
        "asset_checked": asset is not None,
        "failures": [
            {
                "code": entry.get("code"),
                "url": entry.get("url"),
                "explanation": entry.get("explanation"),
            }
            for entry in store.codes("failure")
        ],
        "manifests": len(store.store.get("manifests") or {}),
        "active_manifest": _manifest_node(store, label, frozenset({label})),
    }

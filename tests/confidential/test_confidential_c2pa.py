"""C2PA in a confidential pipeline: no sidecar of a private artifact; a public product's
manifest names its private ingredients by commitment only, and check 5 holds it to the link."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from confidential_builder import STEPS, Confidential, build, sign_layout_file

from atlas_intoto.c2pa.artifacts import mime_type
from atlas_intoto.c2pa.store import PRIVATE_INGREDIENTS_ASSERTION, context, read_store
from atlas_intoto.confidential.commitment import commitment_of, is_committed
from atlas_intoto.errors import C2paIngredientError
from atlas_intoto.link import read_unverified_link
from atlas_intoto.verify import verify_bundle


def _c2pa_pipeline(root: Path) -> Confidential:
    pipeline = build(root, record=False)
    steps = json.loads(json.dumps(list(STEPS)))
    for step in steps:
        step["c2pa"] = {"required": True}
    pipeline.layout_file = sign_layout_file(
        root, pipeline.keys, steps=steps, trust={"c2pa": {"anchors": ["keys/ca.crt"]}}
    )
    for step in ("prepare", "train", "package"):
        pipeline.record(step, c2pa=True)
    return pipeline


def _assertion(pipeline: Confidential, sidecar: bytes, product: str) -> list[Any]:
    ca = (pipeline.keys / "ca.crt").read_bytes()
    with context([ca]) as ctx:
        store = read_store(sidecar, fmt=mime_type(product), asset=None, ctx=ctx)
        assert all(
            i.get("title", "").startswith("data/") is False
            for i in store.ingredients(store.active_label)
        )
        return store.assertions(store.active_label, PRIVATE_INGREDIENTS_ASSERTION)


def test_public_manifests_name_private_ingredients_by_commitment(tmp_path: Path) -> None:
    pipeline = _c2pa_pipeline(tmp_path)
    assert not (pipeline.evidence / "c2pa" / "data").exists()  # no private sidecar
    bundle = pipeline.bundle("public")
    report = verify_bundle(bundle, layout_keys=[pipeline.owner_pem])
    assert report.ok, report.text()
    c2pa_rows = {r.step: r.status for r in report.results if r.check == "c2pa"}
    assert c2pa_rows == {"prepare": "pass", "train": "pass", "package": "pass"}
    train = read_unverified_link(
        next(pipeline.evidence.glob("train.*.link")).read_bytes(), source="train"
    )
    private = sorted(commitment_of(m) for m in train.materials if is_committed(m))
    sidecar = (pipeline.evidence / "c2pa" / "model" / "model.npz.c2pa").read_bytes()
    assert _assertion(pipeline, sidecar, "model/model.npz") == [{"commitments": private}]


def test_manifest_naming_other_commitments_fails(tmp_path: Path) -> None:
    """The genuine manifest of train's model, checked against another set of private
    materials: C2paIngredientError (step 6 of verify_sidecar), and the genuine set passes."""
    from atlas_intoto.c2pa import verify_sidecar

    pipeline = _c2pa_pipeline(tmp_path)
    train = read_unverified_link(
        next(pipeline.evidence.glob("train.*.link")).read_bytes(), source="train"
    )
    private = sorted(commitment_of(m) for m in train.materials if is_committed(m))
    sidecar = (pipeline.evidence / "c2pa" / "model" / "model.npz.c2pa").read_bytes()

    def check(expected: list[str]) -> None:
        verify_sidecar(
            sidecar,
            product_path="model/model.npz",
            product_sha256=train.products["model/model.npz"]["sha256"],
            anchors_pem=[(pipeline.keys / "ca.crt").read_bytes()],
            step="train",
            binding=bytes.fromhex(train.atlas["binding"]),
            quote_digest=None,
            material_sidecars={},
            private_ingredients=expected,
        )

    check(private)
    for wrong in ([], ["ab" * 32], [*private, "ab" * 32]):
        with pytest.raises(C2paIngredientError, match="private-ingredients"):
            check(wrong)


@pytest.mark.parametrize(
    "named",
    [{"ab" * 32: True}, "ab" * 32, [1], None],
    ids=["object", "string", "not-strings", "null"],
)
def test_malformed_private_ingredients_assertion(named: Any) -> None:
    """Only a list of commitments is the assertion: an object keyed by them is not."""
    from atlas_intoto.c2pa.validator import _check_private_ingredients

    class Store:
        def assertions(self, label: str, name: str) -> list[Any]:
            return [{"commitments": named}]

    with pytest.raises(C2paIngredientError, match="malformed"):
        _check_private_ingredients(Store(), what="m", label="l", expected=["ab" * 32])  # type: ignore[arg-type]

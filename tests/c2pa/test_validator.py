"""verify_sidecar against the committed vectors (tests/c2pa/make_vectors.py) and its report."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto import errors
from atlas_intoto.c2pa import C2paVerification, inspect_sidecar, verify_sidecar

VECTORS = Path(__file__).resolve().parent / "vectors"
BLOBS = VECTORS / "blobs"


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _run(doc: dict[str, Any]) -> C2paVerification:
    asset = io.BytesIO((BLOBS / doc["asset"]).read_bytes()) if doc["asset"] else None
    return verify_sidecar(
        (BLOBS / doc["sidecar"]).read_bytes(),
        product_path=doc["product_path"],
        product_sha256=doc["product_sha256"],
        anchors_pem=[(BLOBS / name).read_bytes() for name in doc["anchors"]],
        step=doc["step"],
        binding=bytes.fromhex(doc["binding"]),
        quote_digest=doc["quote_digest"],
        material_sidecars={
            path: (BLOBS / name).read_bytes() for path, name in doc["material_sidecars"].items()
        },
        asset=asset,
    )


@pytest.mark.parametrize("path", sorted(VECTORS.glob("*.json")), ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    doc = _load(path)
    if doc["expected_error"] is None:
        report = _run(doc)
        assert report.validation_state == "Trusted"
        assert report.asset_checked is (doc["asset"] is not None)
        return
    expected = getattr(errors, doc["expected_error"])
    with pytest.raises(errors.C2paError) as caught:
        _run(doc)
    assert type(caught.value) is expected, f"{path.stem}: {caught.value}"
    assert "\n" not in str(caught.value)


def test_vectors_cover_every_c2pa_check() -> None:
    kinds = {_load(p)["expected_error"] for p in VECTORS.glob("*.json")}
    assert {
        None,
        "C2paManifestError",
        "C2paTrustError",
        "C2paBindingError",
        "C2paStepAssertionError",
        "C2paIngredientError",
    } <= kinds


def test_report_names_signer_kind_and_lineage() -> None:
    report = _run(_load(VECTORS / "ok_with_asset.json"))
    assert report.product_path == "model/ft.safetensors"
    assert report.signer == "alice"
    assert report.kind == "model"
    assert report.manifest_label.startswith("urn:c2pa:")
    relationships = {i.material_path: i.relationship for i in report.ingredients}
    assert relationships == {"model/base.safetensors": "parentOf", "data/train.csv": "inputTo"}


def test_empty_sidecar_and_no_anchors_fail_cleanly() -> None:
    doc = _load(VECTORS / "ok_offline.json")
    with pytest.raises(errors.C2paManifestError):
        _run({**doc, "sidecar": "garbage.c2pa"})
    with pytest.raises(errors.C2paTrustError, match="no C2PA trust anchors"):
        _run({**doc, "anchors": []})
    with pytest.raises(errors.C2paManifestError, match="empty"):
        verify_sidecar(
            b"",
            product_path="x",
            product_sha256="00" * 32,
            anchors_pem=[(BLOBS / "trusted-ca.pem").read_bytes()],
            step="s",
            binding=b"\0" * 32,
            quote_digest=None,
            material_sidecars={},
        )


def test_non_hex_link_digest_is_a_binding_error() -> None:
    doc = _load(VECTORS / "ok_offline.json")
    with pytest.raises(errors.C2paBindingError, match="not hex"):
        _run({**doc, "product_sha256": "zz"})


def test_inspect_shows_nested_lineage() -> None:
    summary = inspect_sidecar(
        (BLOBS / "ft.c2pa").read_bytes(),
        product_path="model/ft.safetensors",
        anchors_pem=[(BLOBS / "trusted-ca.pem").read_bytes()],
        asset=io.BytesIO((BLOBS / "ft.safetensors").read_bytes()),
    )
    assert summary["validation_state"] == "Trusted"
    assert summary["manifests"] == 3
    top = summary["active_manifest"]
    assert top["actions"] == ["c2pa.opened", "c2pa.edited"]
    assert top["step"]["step"] == "finetune"
    parent = next(i for i in top["ingredients"] if i["relationship"] == "parentOf")
    assert parent["manifest"]["step"]["step"] == "train"
    grandparent = parent["manifest"]["ingredients"][0]["manifest"]
    assert grandparent["step"]["step"] == "prepare"
    assert grandparent["ml"]["kind"] == "dataset"
    assert grandparent["ingredients"] == []


def test_inspect_garbage_is_a_manifest_error() -> None:
    with pytest.raises(errors.C2paManifestError):
        inspect_sidecar(b"garbage", product_path="x.bin")

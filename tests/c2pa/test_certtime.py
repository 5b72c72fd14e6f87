"""Issue 11 item 6: a sidecar's signing certificate is judged at the link's trusted (log) time,
like TEE collateral, not at the verifier's clock."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto.c2pa import verify_sidecar
from atlas_intoto.c2pa.certtime import signing_certificate
from atlas_intoto.errors import C2paTrustError

VECTORS = Path(__file__).resolve().parent / "vectors"
BLOBS = VECTORS / "blobs"


def _valid_vector() -> dict[str, Any]:
    for path in sorted(VECTORS.glob("*.json")):
        doc: dict[str, Any] = json.loads(path.read_text())
        if doc["expected_error"] is None and doc["asset"] is None:
            return doc
    raise AssertionError("no valid offline C2PA vector")


def _run(doc: dict[str, Any], at: int | None) -> Any:
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
        at=at,
    )


def _leaf(doc: dict[str, Any]) -> Any:
    """The end-entity certificate of the sidecar's claim signature (not a CA)."""
    from cryptography import x509

    from atlas_intoto.c2pa.certtime import _certificates

    def is_ca(cert: Any) -> bool:
        try:
            return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
        except x509.ExtensionNotFound:
            return False

    leaves = [c for c in _certificates((BLOBS / doc["sidecar"]).read_bytes()) if not is_ca(c)]
    assert leaves
    return leaves[0]


def test_signing_certificate_judged_at_the_trusted_time() -> None:
    doc = _valid_vector()
    leaf = _leaf(doc)
    start = int(leaf.not_valid_before_utc.timestamp())
    end = int(leaf.not_valid_after_utc.timestamp())
    assert _run(doc, at=start + 60).validation_state == "Trusted"
    for at in (start - 86_400, end + 86_400):
        with pytest.raises(C2paTrustError, match="not valid at the link's trusted time"):
            _run(doc, at=at)


def test_signing_certificate_lookup_by_serial() -> None:
    doc = _valid_vector()
    sidecar = (BLOBS / doc["sidecar"]).read_bytes()
    leaf = _leaf(doc)
    assert signing_certificate(sidecar, str(leaf.serial_number)) == leaf
    assert signing_certificate(sidecar, format(leaf.serial_number, "x")) == leaf
    assert signing_certificate(sidecar, None) is None
    assert signing_certificate(sidecar, "1") is None

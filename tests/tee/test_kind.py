"""TDX as an evidence kind: record on the simulated platform, verify through the kind."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from atlas_intoto.errors import (
    CollateralMismatchError,
    MissingTeeEvidenceError,
    ReportDataMismatchError,
    TeeEvidenceFormatError,
    TeeRootError,
    UsageError,
)
from atlas_intoto.evidence.kind import RecordRequest, VerifyContext
from atlas_intoto.evidence.model import BlobRef, EvidenceEntry
from atlas_intoto.tee.kind import TdxEvidenceKind
from atlas_intoto.tee.simulated import default_directory, ensure_platform

BINDING = hashlib.sha256(b"step binding").digest()
KIND = TdxEvidenceKind()


@pytest.fixture
def recorded(tmp_path: Path) -> dict[str, Any]:
    request = RecordRequest(
        step="train", binding=BINDING, keyid="k", options={"platform": "simulated"}, home=tmp_path
    )
    evidence = KIND.record(request)
    now = int(time.time())
    root_der = ensure_platform(default_directory(tmp_path), now=now).root_der
    root_pem = (
        x509.load_der_x509_certificate(root_der).public_bytes(serialization.Encoding.PEM).decode()
    )
    collateral = evidence.blobs["collateral"].data
    entry = EvidenceEntry(
        kind="tdx",
        fields=evidence.fields,
        blobs={
            "collateral": BlobRef(
                path="tee/train.k.collateral.json", sha256=hashlib.sha256(collateral).hexdigest()
            )
        },
    )
    return {"evidence": evidence, "entry": entry, "root": root_pem, "now": now}


def _context(recorded: dict[str, Any], **changes: Any) -> VerifyContext:
    values: dict[str, Any] = {
        "step": "train",
        "entry": recorded["entry"],
        "blobs": {"collateral": recorded["evidence"].blobs["collateral"].data},
        "binding": BINDING,
        "step_policy": {"required": True},
        "trust": {"roots": [{"pem": recorded["root"]}]},
        "at": recorded["now"],
    }
    values.update(changes)
    return VerifyContext(**values)


def test_record_fields_blob_and_manifest_digest(recorded: dict[str, Any]) -> None:
    evidence = recorded["evidence"]
    assert set(evidence.fields) == {"type", "quote", "nonce"}
    assert evidence.fields["type"] == "simulated-tdx"
    assert evidence.blobs["collateral"].suffix == ".json"
    assert evidence.manifest_digest == KIND.manifest_digest(recorded["entry"])


def test_verify_passes_with_facts(recorded: dict[str, Any]) -> None:
    result = KIND.verify(_context(recorded))
    assert result.kind == "tdx"
    assert result.facts["type"] == "simulated-tdx" and result.facts["verified"] is True
    assert result.facts["tcb_status"] == "UpToDate"
    assert result.description.startswith("simulated-tdx quote verified (TCB UpToDate")


def test_verify_for_another_binding_fails(recorded: dict[str, Any]) -> None:
    with pytest.raises(ReportDataMismatchError):
        KIND.verify(_context(recorded, binding=hashlib.sha256(b"other").digest()))


def test_collateral_missing_or_swapped(recorded: dict[str, Any]) -> None:
    with pytest.raises(MissingTeeEvidenceError, match="collateral missing"):
        KIND.verify(_context(recorded, blobs={}))
    with pytest.raises(CollateralMismatchError):
        KIND.verify(_context(recorded, blobs={"collateral": b"{}"}))


def test_uncommitted_collateral_fails(recorded: dict[str, Any]) -> None:
    entry = EvidenceEntry(kind="tdx", fields=recorded["entry"].fields, blobs={})
    with pytest.raises(TeeEvidenceFormatError, match="records no collateral digest"):
        KIND.verify(_context(recorded, entry=entry))


def test_without_roots_required_fails_and_optional_is_reported_unchecked(
    recorded: dict[str, Any],
) -> None:
    with pytest.raises(TeeRootError, match="pins no TEE root"):
        KIND.verify(_context(recorded, trust=None))
    result = KIND.verify(_context(recorded, trust=None, step_policy={"required": False}))
    assert result.facts["verified"] is False and "not required" in result.description


def test_check_available_rejects_unknown_platforms() -> None:
    with pytest.raises(UsageError, match="'sgx'"):
        KIND.check_available(
            RecordRequest(step="s", binding=b"", keyid="", options={"platform": "sgx"})
        )

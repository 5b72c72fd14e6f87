"""RecordingOptions: the one description of how a step is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_intoto.errors import UsageError
from atlas_intoto.recording import EvidenceRequest, RecordingOptions


def test_defaults() -> None:
    options = RecordingOptions(key_path=Path("k.key"))
    assert options.base == Path(".") and options.patterns == ()
    assert options.evidence_requests() == ()
    assert options.log_backend == "rekor-v1"


def test_tee_becomes_a_tdx_request_first() -> None:
    options = RecordingOptions(
        key_path=Path("k.key"),
        tee="tdx",
        tee_collateral_url="https://pccs.example/",
        evidence=(EvidenceRequest(kind="gpu", options={"x": "1"}),),
    )
    assert options.evidence_requests() == (
        EvidenceRequest(
            kind="tdx", options={"platform": "tdx", "collateral_url": "https://pccs.example/"}
        ),
        EvidenceRequest(kind="gpu", options={"x": "1"}),
    )


def test_round_trip_and_changes() -> None:
    options = RecordingOptions(
        key_path=Path("keys/a.key"),
        base_path=Path("work"),
        out_dir=Path("ev"),
        exclude=("*.tmp",),
        tee="simulated",
        evidence=(EvidenceRequest(kind="gpu"),),
        c2pa=True,
        log_url="http://127.0.0.1:3000",
    )
    assert RecordingOptions.from_dict(options.to_dict()) == options
    assert RecordingOptions.from_dict({"key_path": "a.key"}) == RecordingOptions(
        key_path=Path("a.key")
    )
    moved = options.with_changes(out_dir=Path("ckpt"))
    assert moved.out_dir == Path("ckpt") and moved.key_path == options.key_path


def test_unknown_tee_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--tee 'sgx'"):
        RecordingOptions(key_path=Path("k"), tee="sgx")

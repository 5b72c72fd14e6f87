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


def test_digests_are_checked_ordered_and_round_trip() -> None:
    options = RecordingOptions(key_path=Path("k"), digests=("blake3", "sha256"), digest_cache=False)
    assert options.digests == ("sha256", "blake3")
    assert RecordingOptions.from_dict(options.to_dict()) == options
    assert RecordingOptions(key_path=Path("k")).digests == ("sha256",)
    assert RecordingOptions.from_dict({"key_path": "k", "digests": "blake3"}).digests == ("blake3",)
    with pytest.raises(UsageError, match="--digest md5: unknown digest"):
        RecordingOptions(key_path=Path("k"), digests=("md5",))
    with pytest.raises(UsageError, match="at least one"):
        RecordingOptions(key_path=Path("k"), digests=())
    with pytest.raises(UsageError, match="digests must be a list"):
        RecordingOptions.from_dict({"key_path": "k", "digests": 3})
    with pytest.raises(UsageError, match="--c2pa needs --digest sha256"):
        RecordingOptions(key_path=Path("k"), digests=("blake3",), c2pa=True)

"""atlas_intoto.tee: attest() and verify_tee_evidence() end to end on the simulated platform."""

from __future__ import annotations

import base64
import copy
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto.binding import tee_report_data
from atlas_intoto.errors import (
    CollateralExpiredError,
    DebugTdError,
    MeasurementPolicyError,
    QuoteVerificationError,
    ReportDataMismatchError,
    TeeRootError,
    UsageError,
)
from atlas_intoto.tee import TeeEvidence, TeePolicy, attest, intel_root_der, verify_tee_evidence
from atlas_intoto.tee.quote import parse_quote
from atlas_intoto.tee.simulated import default_directory, ensure_platform

BINDING = hashlib.sha256(b"step binding").digest()


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[TeeEvidence, dict[str, Any], bytes, int]:
    evidence = attest("simulated", binding=BINDING, home=tmp_path)
    assert evidence is not None
    now = int(time.time())
    root = ensure_platform(default_directory(tmp_path), now=now).root_der
    return evidence, evidence.environment("tee/train.0123abcd.collateral.json"), root, now


def test_attest_none(tmp_path: Path) -> None:
    assert attest("none", binding=BINDING, home=tmp_path) is None
    assert not (tmp_path / "tee-sim").exists()


def test_attest_unknown(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown TEE 'sgx'"):
        attest("sgx", binding=BINDING, home=tmp_path)


def test_evidence_and_environment(recorded: tuple[TeeEvidence, dict[str, Any], bytes, int]) -> None:
    evidence, env, _, _ = recorded
    assert evidence.type == "simulated-tdx"
    assert len(evidence.nonce) == 32
    assert env == {
        "type": "simulated-tdx",
        "quote": base64.b64encode(evidence.quote).decode(),
        "nonce": evidence.nonce.hex(),
        "collateral": {
            "path": "tee/train.0123abcd.collateral.json",
            "sha256": hashlib.sha256(evidence.collateral).hexdigest(),
        },
    }
    assert evidence.quote_sha256 == hashlib.sha256(evidence.quote).hexdigest()
    # The quote's REPORTDATA is the issue-4 formula, recomputed here without atlas code.
    report_data = parse_quote(evidence.quote).report.report_data
    assert (
        report_data
        == hashlib.sha512(b"atlas-intoto/tee/v1\x00" + BINDING + evidence.nonce).digest()
    )


def test_nonces_differ(tmp_path: Path) -> None:
    first = attest("simulated", binding=BINDING, home=tmp_path)
    second = attest("simulated", binding=BINDING, home=tmp_path)
    assert first is not None and second is not None
    assert first.nonce != second.nonce and first.quote != second.quote


def test_simulated_evidence_verifies(
    recorded: tuple[TeeEvidence, dict[str, Any], bytes, int],
) -> None:
    evidence, env, root, now = recorded
    result = verify_tee_evidence(
        env,
        collateral=evidence.collateral,
        binding=BINDING,
        policy=TeePolicy(),
        roots=[intel_root_der(), root],
        at=now,
    )
    assert result.tcb_status == "UpToDate"
    assert result.quote_version == 4 and result.td_report_version == "1.0"
    assert result.root_sha256 == hashlib.sha256(root).hexdigest()
    assert result.to_dict()["rtmr"] == list(result.rtmr)
    # A policy pinning exactly these measurements holds.
    pinned = TeePolicy.from_layout(
        {"mrtd": [result.mrtd], "rtmr": {str(i): [v] for i, v in enumerate(result.rtmr)}}, None
    )
    verify_tee_evidence(
        env, collateral=evidence.collateral, binding=BINDING, policy=pinned, roots=[root], at=now
    )


def _verify(
    recorded: tuple[TeeEvidence, dict[str, Any], bytes, int],
    *,
    env: dict[str, Any] | None = None,
    **changes: Any,
) -> None:
    evidence, recorded_env, root, now = recorded
    args: dict[str, Any] = {
        "collateral": evidence.collateral,
        "binding": BINDING,
        "policy": TeePolicy(),
        "roots": [root],
        "at": now,
    }
    args.update(changes)
    verify_tee_evidence(env if env is not None else recorded_env, **args)


def test_rejected_for_another_link(
    recorded: tuple[TeeEvidence, dict[str, Any], bytes, int],
) -> None:
    with pytest.raises(ReportDataMismatchError):
        _verify(recorded, binding=hashlib.sha256(b"another link").digest())


def test_rejected_when_reportdata_bit_flips(
    recorded: tuple[TeeEvidence, dict[str, Any], bytes, int],
) -> None:
    evidence, env, _, _ = recorded
    quote = bytearray(evidence.quote)
    quote[48 + 520 + 17] ^= 0x20
    tampered = copy.deepcopy(env)
    tampered["quote"] = base64.b64encode(bytes(quote)).decode()
    with pytest.raises(QuoteVerificationError, match="signature is invalid") as caught:
        _verify(recorded, env=tampered)
    assert type(caught.value) is QuoteVerificationError


def test_rejected_under_other_root(
    recorded: tuple[TeeEvidence, dict[str, Any], bytes, int],
) -> None:
    with pytest.raises(TeeRootError):
        _verify(recorded, roots=[intel_root_der()])


def test_rejected_outside_policy(recorded: tuple[TeeEvidence, dict[str, Any], bytes, int]) -> None:
    with pytest.raises(MeasurementPolicyError, match="MRTD"):
        _verify(recorded, policy=TeePolicy(mrtd=("00" * 48,)))
    with pytest.raises(MeasurementPolicyError, match="RTMR3"):
        _verify(recorded, policy=TeePolicy(rtmr={3: ("11" * 48,)}))


def test_rejected_when_collateral_expired(
    recorded: tuple[TeeEvidence, dict[str, Any], bytes, int],
) -> None:
    with pytest.raises(CollateralExpiredError):
        _verify(recorded, at=recorded[3] + 40 * 86400)


def test_debug_td_rejected(tmp_path: Path) -> None:
    now = int(time.time())
    platform = ensure_platform(default_directory(tmp_path), now=now)
    nonce = bytes(32)
    quote = platform.make_quote(
        tee_report_data(BINDING, nonce), td_attributes=bytes.fromhex("0100001000000000")
    )
    evidence = TeeEvidence(
        type="simulated-tdx",
        quote=quote,
        nonce=nonce,
        collateral=platform.make_collateral(issued_at=now - 60),
    )
    for policy in (TeePolicy(), TeePolicy(allow_debug=True)):
        with pytest.raises(DebugTdError):
            verify_tee_evidence(
                evidence.environment("tee/x.collateral.json"),
                collateral=evidence.collateral,
                binding=BINDING,
                policy=policy,
                roots=[platform.root_der],
                at=now,
            )

"""atlas_intoto.tee.dcap: dcap-qvl verification of real and simulated quotes, error mapping."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from atlas_intoto.errors import (
    CollateralExpiredError,
    CollateralFetchError,
    QuoteVerificationError,
    TcbStatusError,
    TeeRootError,
)
from atlas_intoto.tee.dcap import load_collateral, read_collateral, verify_quote_collateral
from atlas_intoto.tee.policy import INTEL_ROOT_SHA256, intel_root_der
from atlas_intoto.tee.simulated import generate_platform

#: Inside the window of tdx_quote_collateral.json (2025-06-19 10:32:27 to 2025-07-19 10:00:35).
REAL_AT = 1752919234


@pytest.fixture(scope="module")
def real(shared_testdata: Path) -> tuple[bytes, bytes]:
    tdx = shared_testdata / "tdx"
    return (tdx / "tdx_quote").read_bytes(), (tdx / "tdx_quote_collateral.json").read_bytes()


def test_real_quote_verifies_up_to_date(real: tuple[bytes, bytes]) -> None:
    quote, collateral = real
    result = verify_quote_collateral(quote, collateral, roots=[intel_root_der()], at=REAL_AT)
    assert result.status == "UpToDate"
    assert result.advisory_ids == ()
    assert result.root_sha256 == INTEL_ROOT_SHA256


def test_real_quote_collateral_expired_now(real: tuple[bytes, bytes]) -> None:
    quote, collateral = real
    with pytest.raises(CollateralExpiredError, match="collateral: not valid at unix time"):
        verify_quote_collateral(quote, collateral, roots=[intel_root_der()], at=int(time.time()))


def test_real_quote_before_collateral_issue(real: tuple[bytes, bytes]) -> None:
    quote, collateral = real
    with pytest.raises(CollateralExpiredError, match="in the future"):
        verify_quote_collateral(quote, collateral, roots=[intel_root_der()], at=1700000000)


def test_real_quote_against_simulated_root_only(real: tuple[bytes, bytes]) -> None:
    quote, collateral = real
    other = generate_platform(now=REAL_AT)
    with pytest.raises(TeeRootError, match="any of the 1 pinned"):
        verify_quote_collateral(quote, collateral, roots=[other.root_der], at=REAL_AT)


def test_second_root_is_tried(real: tuple[bytes, bytes]) -> None:
    quote, collateral = real
    other = generate_platform(now=REAL_AT)
    result = verify_quote_collateral(
        quote, collateral, roots=[other.root_der, intel_root_der()], at=REAL_AT
    )
    assert result.status == "UpToDate"


def test_no_roots() -> None:
    with pytest.raises(TeeRootError, match="no TEE root"):
        verify_quote_collateral(b"", b"{}", roots=[], at=0)


def test_real_outdated_v5_has_no_matching_tcb_level(shared_testdata: Path) -> None:
    tdx = shared_testdata / "tdx"
    with pytest.raises(TcbStatusError, match="No matching TCB level"):
        verify_quote_collateral(
            (tdx / "tdx_quote_outdated").read_bytes(),
            (tdx / "tdx_quote_outdated_collateral.json").read_bytes(),
            roots=[intel_root_der()],
            at=1772323200,  # 2026-03-01, inside that collateral's window
        )


def test_malformed_collateral(real: tuple[bytes, bytes]) -> None:
    with pytest.raises(QuoteVerificationError, match="not QuoteCollateralV3 JSON"):
        verify_quote_collateral(real[0], b"{not json", roots=[intel_root_der()], at=REAL_AT)
    with pytest.raises(QuoteVerificationError, match="not QuoteCollateralV3 JSON"):
        verify_quote_collateral(real[0], b"\xff\xfe", roots=[intel_root_der()], at=REAL_AT)


def test_damaged_crl_is_a_verification_error(real: tuple[bytes, bytes]) -> None:
    quote, collateral = real
    doc = json.loads(collateral)
    doc["pck_crl"] = doc["pck_crl"] + "00"
    with pytest.raises(QuoteVerificationError, match="PCK CRL") as caught:
        verify_quote_collateral(
            quote, json.dumps(doc).encode(), roots=[intel_root_der()], at=REAL_AT
        )
    assert type(caught.value) is QuoteVerificationError
    assert "\n" not in str(caught.value)


def test_simulated_quote_with_its_collateral() -> None:
    now = int(time.time())
    platform = generate_platform(now=now)
    quote = platform.make_quote(bytes(64))
    collateral = platform.make_collateral(issued_at=now - 60)
    result = verify_quote_collateral(quote, collateral, roots=[platform.root_der], at=now)
    assert result.status == "UpToDate"


def test_collateral_file_loading(tmp_path: Path, real: tuple[bytes, bytes]) -> None:
    path = tmp_path / "collateral.json"
    path.write_bytes(real[1])
    assert read_collateral(path) == real[1]
    assert load_collateral(f"file://{path}", real[0]) == real[1]
    assert load_collateral(str(path), real[0]) == real[1]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(CollateralFetchError, match=re.escape("bad.json")):
        read_collateral(bad)

"""atlas_intoto.tee.simulated: the simulated DCAP platform, its persistence and its collateral."""

from __future__ import annotations

import json
import multiprocessing
import stat
import time
from pathlib import Path

import dcap_qvl
import pytest
from cryptography import x509

from atlas_intoto.errors import InputError
from atlas_intoto.tee.dcap import verify_quote_collateral
from atlas_intoto.tee.quote import parse_quote
from atlas_intoto.tee.simulated import (
    COLLATERAL_VALIDITY,
    SGX_EXTENSION_OID,
    SIM_ADVISORY,
    ensure_collateral,
    ensure_platform,
    generate_platform,
)

NOW = 1760000000


def test_pck_certificate_carries_intel_sgx_extension() -> None:
    platform = generate_platform(now=NOW, seed=b"ext")
    chain = parse_quote(platform.make_quote(bytes(64))).pck_chain_pem
    assert chain is not None
    ext = dcap_qvl.parse_pck_extension_from_pem(chain)
    assert ext.ppid == platform.ppid
    assert ext.fmspc == platform.fmspc
    assert ext.cpu_svn.hex() == "03030202040100050000000000000000"
    assert ext.pce_svn == 11
    assert ext.pce_id == b"\x00\x00"
    assert ext.sgx_type == 0
    extension = platform.pck_cert.extensions.get_extension_for_oid(
        x509.ObjectIdentifier(SGX_EXTENSION_OID)
    )
    assert not extension.critical


def test_chain_structure() -> None:
    platform = generate_platform(now=NOW, seed=b"chain")
    root, ca, pck, tcb = (
        platform.root_cert,
        platform.pck_ca_cert,
        platform.pck_cert,
        platform.tcb_cert,
    )
    assert root.issuer == root.subject
    assert ca.issuer == root.subject and tcb.issuer == root.subject
    assert pck.issuer == ca.subject
    basic = x509.BasicConstraints
    assert root.extensions.get_extension_for_class(basic).value.ca
    assert ca.extensions.get_extension_for_class(basic).value.path_length == 0
    assert not pck.extensions.get_extension_for_class(basic).value.ca
    ca.verify_directly_issued_by(root)
    pck.verify_directly_issued_by(ca)
    tcb.verify_directly_issued_by(root)


def test_seed_fixes_keys_and_measurements() -> None:
    a = generate_platform(now=NOW, seed=b"same")
    b = generate_platform(now=NOW, seed=b"same")
    c = generate_platform(now=NOW, seed=b"other")
    assert a.root_key.private_numbers() == b.root_key.private_numbers()
    assert (a.mr_td, a.rtmr, a.fmspc) == (b.mr_td, b.rtmr, b.fmspc)
    assert a.mr_td != c.mr_td


def test_quote_fields() -> None:
    platform = generate_platform(now=NOW, seed=b"fields")
    quote = parse_quote(platform.make_quote(b"\x07" * 64))
    assert quote.header.version == 4
    assert quote.report.report_data == b"\x07" * 64
    assert quote.report.mr_td == platform.mr_td
    assert quote.report.rtmrs == platform.rtmr
    assert not quote.report.debug
    with pytest.raises(ValueError, match="64 bytes"):
        platform.make_quote(b"short")


def test_collateral_window_and_status() -> None:
    platform = generate_platform(now=NOW, seed=b"window")
    quote = platform.make_quote(bytes(64))
    collateral = platform.make_collateral(issued_at=NOW)
    tcb_info = json.loads(json.loads(collateral)["tcb_info"])
    assert tcb_info["issueDate"] == "2025-10-09T08:53:20Z"
    roots = [platform.root_der]
    assert verify_quote_collateral(quote, collateral, roots=roots, at=NOW).status == "UpToDate"
    late = NOW + COLLATERAL_VALIDITY - 1
    assert verify_quote_collateral(quote, collateral, roots=roots, at=late).status == "UpToDate"
    outdated = platform.make_collateral(issued_at=NOW, tcb_status="OutOfDate")
    result = verify_quote_collateral(quote, outdated, roots=roots, at=NOW)
    assert (result.status, result.advisory_ids) == ("OutOfDate", (SIM_ADVISORY,))


def test_platform_persists(tmp_path: Path) -> None:
    directory = tmp_path / "tee-sim"
    first = ensure_platform(directory, now=NOW)
    second = ensure_platform(directory, now=NOW + 1000)
    assert first.root_der == second.root_der
    assert first.mr_td == second.mr_td and first.rtmr == second.rtmr
    for key in directory.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def _create(directory: str) -> bytes:
    return ensure_platform(Path(directory), now=int(time.time())).root_der


def test_concurrent_creation_yields_one_platform(tmp_path: Path) -> None:
    directory = str(tmp_path / "tee-sim")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        roots = pool.map(_create, [directory] * 4)
    assert len(set(roots)) == 1


def test_damaged_platform(tmp_path: Path) -> None:
    directory = tmp_path / "tee-sim"
    ensure_platform(directory, now=NOW)
    (directory / "platform.json").write_text("{}")
    with pytest.raises(InputError, match="damaged"):
        ensure_platform(directory, now=NOW)
    (directory / "platform.json").unlink()
    # Without its completion marker the platform is created afresh.
    assert ensure_platform(directory, now=NOW).mr_td


def test_collateral_cached_then_refreshed(tmp_path: Path) -> None:
    directory = tmp_path / "tee-sim"
    platform = ensure_platform(directory, now=NOW)
    first = ensure_collateral(directory, platform, now=NOW)
    assert ensure_collateral(directory, platform, now=NOW + 3600) == first
    refreshed = ensure_collateral(directory, platform, now=NOW + 2 * 86400)
    assert refreshed != first
    quote = platform.make_quote(bytes(64))
    at = NOW + 2 * 86400
    assert verify_quote_collateral(quote, refreshed, roots=[platform.root_der], at=at).status
    # Garbage in the cache is replaced, not trusted.
    (directory / "collateral.json").write_text("garbage")
    assert json.loads(ensure_collateral(directory, platform, now=at))["tcb_info"]

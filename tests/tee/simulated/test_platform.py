"""atlas_intoto.tee.simulated.platform: the platform's quotes, its persistence and its cached
collateral."""

from __future__ import annotations

import json
import multiprocessing
import stat
import time
from pathlib import Path

import pytest

from atlas_intoto.errors import InputError
from atlas_intoto.tee.dcap import verify_quote_collateral
from atlas_intoto.tee.quote import parse_quote
from atlas_intoto.tee.simulated import ensure_collateral, ensure_platform, generate_platform

NOW = 1760000000


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

"""CLI: atlas-intoto tee sim-info / verify / show."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from atlas_intoto.cli import main

REAL_AT = "1752919234"


def _tdx(shared_testdata: Path, name: str) -> str:
    return str(shared_testdata / "tdx" / name)


def test_sim_info_json_is_stable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tee", "sim-info", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["root_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert len(first["mrtd"]) == 96 and sorted(first["rtmr"]) == ["0", "1", "2", "3"]
    assert main(["tee", "sim-info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first


def test_sim_info_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tee", "sim-info"]) == 0
    out = capsys.readouterr().out
    assert "BEGIN CERTIFICATE" in out and "MRTD" in out and "RTMR3" in out


def test_verify_real_quote(shared_testdata: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["tee", "verify", _tdx(shared_testdata, "tdx_quote")]
    args += ["--collateral", _tdx(shared_testdata, "tdx_quote_collateral.json")]
    assert main([*args, "--at", REAL_AT, "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["tcb_status"] == "UpToDate" and doc["advisory_ids"] == []
    assert doc["quote"]["mrtd"].startswith("91eb2b44d141d4ec")
    assert "MRTD" in captured.err
    # RFC 3339 time and an explicit intel root work too.
    assert main([*args, "--at", "2025-07-19T10:00:34Z", "--root", "intel"]) == 0
    assert "TCB status: UpToDate" in capsys.readouterr().out


def test_verify_real_quote_expired_now(
    shared_testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["tee", "verify", _tdx(shared_testdata, "tdx_quote")]
    args += ["--collateral", _tdx(shared_testdata, "tdx_quote_collateral.json"), "--json"]
    assert main(args) == 1
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert error["type"] == "CollateralExpiredError" and error["check"] == "tee.collateral"
    assert captured.err.count("atlas-intoto: error:") == 1 and "Traceback" not in captured.err


def test_outdated_v5_quote_prints_measurements(
    shared_testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tee", "show", _tdx(shared_testdata, "tdx_quote_outdated"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["version"] == 5 and doc["td_report_version"] == "1.5"
    assert doc["mrtd"].startswith("273828c46252fcbd") and "mrservicetd" in doc
    args = ["tee", "verify", _tdx(shared_testdata, "tdx_quote_outdated")]
    args += ["--collateral", _tdx(shared_testdata, "tdx_quote_outdated_collateral.json")]
    assert main([*args, "--at", "2026-03-01T00:00:00Z"]) == 1
    err = capsys.readouterr().err
    assert "TD report 1.5" in err and "MRTD        273828c4" in err and "TCB level" in err


def test_verify_simulated_quote_with_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from atlas_intoto.home import atlas_home
    from atlas_intoto.tee.simulated import default_directory, ensure_collateral, ensure_platform

    now = int(time.time())
    directory = default_directory(atlas_home())
    platform = ensure_platform(directory, now=now)
    (tmp_path / "q.hex").write_text(platform.make_quote(bytes(64)).hex() + "\n")
    (tmp_path / "c.json").write_bytes(ensure_collateral(directory, platform, now=now))
    (tmp_path / "root.pem").write_bytes(platform.root_pem)
    base = ["tee", "verify", str(tmp_path / "q.hex"), "--collateral", str(tmp_path / "c.json")]
    assert main([*base, "--root", str(tmp_path / "root.pem"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tcb_status"] == "UpToDate"
    assert main([*base, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "TeeRootError"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--at", "yesterday"], 2, "--at"),
        # Used to overflow (OverflowError) as an internal error.
        (["--at", "9" * 30], 2, "--at: '999999999999999999999999999999' is out of range"),
        (["--at", "253402300800"], 2, "out of range"),
        (["--at", "0001-01-01T00:00:00Z"], 2, "out of range"),
        (["--at", "\uff11\uff12"], 2, "neither unix seconds nor RFC 3339"),
        (["--root", "/nonexistent/root.pem"], 2, "root certificate not found"),
    ],
)
def test_verify_usage_errors(
    shared_testdata: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    base = ["tee", "verify", _tdx(shared_testdata, "tdx_quote")]
    base += ["--collateral", _tdx(shared_testdata, "tdx_quote_collateral.json")]
    assert main([*base, *args]) == code
    err = capsys.readouterr().err
    assert message in err
    if args[0] == "--at":  # checked before anything is printed about the quote
        assert err.count("\n") == 1 and "internal error" not in err


def test_garbage_quote_is_evidence_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "q.bin").write_bytes(b"\x04\x00\x02\x00" + bytes(20))
    assert main(["tee", "show", str(tmp_path / "q.bin")]) == 1
    err = capsys.readouterr().err
    assert "offset 12 field header.qe_vendor_id: needs 16 bytes, 12 left" in err
    assert main(["tee", "show", str(tmp_path / "missing.bin")]) == 2


def test_verify_prints_tcb_status_and_advisories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from atlas_intoto.tee.simulated import SIM_ADVISORY, generate_platform

    now = int(time.time())
    platform = generate_platform(now=now, seed=b"advisories")
    (tmp_path / "q.bin").write_bytes(platform.make_quote(bytes(64)))
    collateral = platform.make_collateral(issued_at=now, tcb_status="OutOfDate")
    (tmp_path / "c.json").write_bytes(collateral)
    (tmp_path / "root.pem").write_bytes(platform.root_pem)
    args = ["tee", "verify", str(tmp_path / "q.bin"), "--collateral", str(tmp_path / "c.json")]
    args += ["--root", str(tmp_path / "root.pem"), "--at", str(now)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.out == f"TCB status: OutOfDate\nadvisories: {SIM_ADVISORY}\n"
    assert f"MRTD        {platform.mr_td.hex()[:8]}" in captured.err
    assert f"TCB status OutOfDate, advisories: {SIM_ADVISORY}" in captured.err
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["tcb_status"], doc["advisory_ids"]) == ("OutOfDate", [SIM_ADVISORY])
    assert doc["quote"]["mrtd"] == platform.mr_td.hex()

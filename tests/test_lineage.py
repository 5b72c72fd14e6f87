"""The lineage report: text/JSON/DOT renderers and the self-contained HTML page rendered in
headless Chromium (every step drawn, a failed check visibly marked, no external assets)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "verify"))

from bundle_builder import Pipeline, build_pipeline

from atlas_intoto.cli import main
from atlas_intoto.errors import UsageError
from atlas_intoto.lineage import FORMATS, build_lineage, render, render_html
from atlas_intoto.verify import verify_bundle
from atlas_intoto.verify.report import VerificationReport

FAIL_BG = (0xFD, 0xE0, 0xE0)  # tr.fail / .step.fail fill in the page's CSS
FAIL_RED = (0xC9, 0x2A, 0x2A)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return build_pipeline(tmp_path_factory.mktemp("report"))


def _failing(pipeline: Pipeline) -> tuple[bytes, VerificationReport]:
    doc = pipeline.bundle_doc()
    del doc["steps"]["train"]
    data = json.dumps(doc).encode()
    return data, verify_bundle(data, layout_keys=[pipeline.owner_pem])


def _passing(pipeline: Pipeline) -> tuple[bytes, VerificationReport]:
    data = pipeline.bundle_bytes()
    return data, verify_bundle(data, layout_keys=[pipeline.owner_pem])


def test_text_json_dot(pipeline: Pipeline) -> None:
    data, report = _failing(pipeline)
    text = render(data, fmt="text", report=report)
    assert "train  [✗ FAILED]" in text and "NOT VERIFIED" in text
    doc = json.loads(render(data, fmt="json", report=report))
    assert doc["verified"] is True and doc["ok"] is False
    assert [s["passed"] for s in doc["steps"]] == [True, False, False]
    dot = render(data, fmt="dot", report=report)
    assert '"s:train"' in dot and "lightcoral" in dot
    unverified = build_lineage(data)
    assert unverified.verified is False and [s.passed for s in unverified.steps] == [
        None,
        None,
        None,
    ]


def test_html_is_self_contained(pipeline: Pipeline) -> None:
    page = render_html(*_failing(pipeline)[:1], report=_failing(pipeline)[1])
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<script" not in page and "@import" not in page and "url(http" not in page


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is required (apt-get install chromium; .ci/run installs it)")


def _run_chromium(page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    argv = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        "--window-size=1400,1800",
        *extra,
        page.as_uri(),
    ]
    return subprocess.run(argv, capture_output=True, timeout=120, check=False)


def _png_pixels(data: bytes) -> set[tuple[int, int, int]]:
    """Distinct RGB colours of an 8-bit non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    colours: set[tuple[int, int, int]] = set()
    offset = 0
    for _ in range(height):
        kind, line = raw[offset], bytearray(raw[offset + 1 : offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        for i in range(0, stride, channels):
            colours.add((line[i], line[i + 1], line[i + 2]))
        previous = line
    return colours


@pytest.mark.slow
def test_html_renders_in_chromium(pipeline: Pipeline, tmp_path: Path) -> None:
    data, report = _failing(pipeline)
    page = tmp_path / "failing.html"
    page.write_text(render_html(data, report=report, source="failing bundle"))
    dom = _run_chromium(page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr.decode()[-2000:]
    html = dom.stdout.decode()
    for step in ("prepare", "train", "package"):
        assert f'data-step="{step}"' in html
    assert re.search(r'class="step fail" data-step="train"', html)
    assert "✗ FAILED" in html and 'class="verdict bad"' in html
    assert re.search(
        r'<tr class="fail"><td class="status">FAIL</td><td>2\. links</td><td>train</td>', html
    )

    shot = _run_chromium(page, tmp_path, f"--screenshot={tmp_path / 'failing.png'}")
    assert shot.returncode == 0, shot.stderr.decode()[-2000:]
    colours = _png_pixels((tmp_path / "failing.png").read_bytes())
    assert FAIL_BG in colours and FAIL_RED in colours

    good = tmp_path / "passing.html"
    data, report = _passing(pipeline)
    assert report.ok
    good.write_text(render_html(data, report=report, source="passing bundle"))
    shot = _run_chromium(good, tmp_path, f"--screenshot={tmp_path / 'passing.png'}")
    assert shot.returncode == 0
    colours = _png_pixels((tmp_path / "passing.png").read_bytes())
    assert FAIL_BG not in colours and FAIL_RED not in colours


def test_mismatched_final_artifact_is_marked(pipeline: Pipeline, tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "model.npz").write_bytes(b"swapped")
    data = pipeline.bundle_bytes()
    report = verify_bundle(data, layout_keys=[pipeline.owner_pem], artifacts_dir=tmp_path)
    page = render_html(data, report=report)
    assert 'class="artifact final fail" data-path="dist/model.npz"' in page
    assert "held file differs" in page
    assert 'class="artifact final fail"' not in render_html(data, report=_passing(pipeline)[1])


# --- the formats registry ------------------------------------------------------------------------


def test_formats_registry_drives_render_and_the_cli(pipeline: Pipeline, tmp_path: Path) -> None:
    data = pipeline.bundle_bytes()
    assert tuple(FORMATS) == ("text", "json", "dot", "html")
    for fmt in FORMATS:
        assert render(data, fmt=fmt) == FORMATS[fmt](build_lineage(data), source="bundle")
        out = tmp_path / f"lineage.{fmt}"
        assert main(["inspect", str(pipeline.bundle_file), "--format", fmt, "--out", str(out)]) == 0
        assert out.read_text() == render(data, fmt=fmt, source=str(pipeline.bundle_file))
    with pytest.raises(UsageError, match="expected text, json, dot or html"):
        render(data, fmt="pdf")
    with pytest.raises(SystemExit):
        main(["inspect", str(pipeline.bundle_file), "--format", "pdf"])


# --- unverified reading --------------------------------------------------------------------------


def _with_atlas_block(data: bytes, step: str, atlas: dict[str, Any]) -> bytes:
    """The bundle with ``step``'s link payload given another evidence block (its signature no
    longer verifies: unverified reading must not care)."""
    doc = json.loads(data)
    link = doc["steps"][step]["links"][0]
    envelope = json.loads(base64.b64decode(link["envelope"]))
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["environment"] = {"atlas-intoto": atlas}
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    link["envelope"] = base64.b64encode(json.dumps(envelope).encode()).decode()
    return json.dumps(doc).encode()


def test_unverified_tee_type_comes_from_the_tdx_entry_v1_or_v2(pipeline: Pipeline) -> None:
    data = pipeline.bundle_bytes()
    ref = {"path": "tee/x.collateral.json", "sha256": "0" * 64}
    v2 = {
        "version": 2,
        "binding": "00",
        "evidence": [{"kind": "tdx", "type": "simulated-tdx", "blobs": {"collateral": ref}}],
    }
    v1 = {"version": 1, "binding": "00", "tee": {"type": "tdx", "collateral": ref}}
    bad = {"version": 2, "evidence": "not a list"}
    data = _with_atlas_block(data, "prepare", v2)
    data = _with_atlas_block(data, "train", v1)
    data = _with_atlas_block(data, "package", bad)
    steps = {s.name: s for s in build_lineage(data).steps}
    assert steps["prepare"].tee_type == "simulated-tdx"
    assert steps["train"].tee_type == "tdx"
    assert steps["package"].tee_type is None
    assert steps["train"].signers and steps["train"].products


def test_unreadable_links_are_left_out_of_an_unverified_lineage(pipeline: Pipeline) -> None:
    doc = pipeline.bundle_doc()
    doc["steps"]["train"]["links"][0]["envelope"] = base64.b64encode(b"not json").decode()
    steps = {s.name: s for s in build_lineage(json.dumps(doc).encode()).steps}
    # The layout still names the step; nothing is claimed about it.
    assert steps["train"].signers == () and steps["train"].products == {}
    assert steps["prepare"].signers

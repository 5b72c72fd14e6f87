"""The lineage report: text/JSON/DOT renderers and the self-contained HTML page rendered in
headless Chromium (every step drawn, a failed check visibly marked, no external assets)."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "verify"))

from bundle_builder import Pipeline, build_pipeline

from atlas_intoto.report import build_lineage, render, render_html
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

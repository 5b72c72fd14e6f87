"""Bundle format v1 versus v2 (issue 13); writes the ``## Bundle formats`` section of RESULTS.md.

The demo's 3-step pipeline (simulated TDX quotes, C2PA sidecars, embedded log) is recorded once;
the same evidence directory is bundled as format v1 (link envelopes) and format v2 (per-step
Sigstore bundles of the Statements). Both are verified cold (no cache) in one process, side by
side: the two formats alternate within each round and each keeps its median; the ratio v2/v1 is
what this benchmark reports.

    .venv/bin/python benchmarks/bundle_formats.py [--rounds 15] [--quick] [--no-write]

``--quick`` runs 3 rounds (a smoke test; the ratio is then noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform as platform_mod
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Running this file puts benchmarks/ first on sys.path, where c2pa.py (the C2PA benchmark)
# would shadow the c2pa package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Bundle formats"


def _bundles(demo_dir: Path) -> dict[str, bytes]:
    from atlas_intoto.bundle import collect_evidence, serialize_bundle
    from atlas_intoto.bundle_v2 import collect_evidence_v2, serialize_bundle_v2

    layout = json.loads((demo_dir / "demo.layout").read_bytes())
    dirs = [demo_dir / "evidence"]
    return {
        "v1": serialize_bundle(collect_evidence(layout_envelope=layout, evidence_dirs=dirs)),
        "v2": serialize_bundle_v2(collect_evidence_v2(layout_envelope=layout, evidence_dirs=dirs)),
    }


def measure(demo_dir: Path, rounds: int) -> dict[str, Any]:
    from atlas_intoto.verify import verify_bundle

    owner = (demo_dir / "keys" / "owner.pub").read_bytes()
    bundles = _bundles(demo_dir)
    times: dict[str, list[float]] = {name: [] for name in bundles}
    for name, data in bundles.items():  # warm-up: imports, parsed trust anchors
        assert verify_bundle(data, layout_keys=[owner]).ok, name
    for index in range(rounds):
        order = list(bundles) if index % 2 == 0 else list(reversed(bundles))
        for name in order:
            start = time.perf_counter()
            report = verify_bundle(bundles[name], layout_keys=[owner])
            times[name].append((time.perf_counter() - start) * 1000)
            assert report.ok, report.text()
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "rounds": rounds,
        "v1_ms": medians["v1"],
        "v2_ms": medians["v2"],
        "ratio": medians["v2"] / medians["v1"],
        "v1_bytes": len(bundles["v1"]),
        "v2_bytes": len(bundles["v2"]),
    }


def write_results(r: dict[str, Any]) -> str:
    load = os.getloadavg()[0]
    text = f"""{SECTION}

`benchmarks/bundle_formats.py`: the demo's 3-step pipeline (simulated TDX quotes, C2PA sidecars,
log entries) bundled from one evidence directory as format v1 and format v2, each verified cold
(no cache) in one warmed-up process, alternating, median of {r["rounds"]} rounds. Python
{platform_mod.python_version()}, {os.cpu_count()} CPUs, load {load:.2f}, {time.strftime("%Y-%m-%d")}.

| format | verify ms (median) | bundle bytes |
|---|---:|---:|
| v1 (link envelopes) | {r["v1_ms"]:.1f} | {r["v1_bytes"]} |
| v2 (per-step Sigstore bundles) | {r["v2_ms"]:.1f} | {r["v2_bytes"]} |

v2 / v1 = {r["ratio"]:.2f}.
"""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = current.find(SECTION)
    if start == -1:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(SECTION))
        updated = current[:start] + text + (current[end + 1 :] if end != -1 else "")
    RESULTS.write_text(updated)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 rounds (smoke test)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atlas-bench-formats-") as tmp:
        base = Path(tmp)
        os.environ["ATLAS_INTOTO_HOME"] = str(base / "home")
        from atlas_intoto.demo import run_demo

        run_demo(base / "demo")
        results = measure(base / "demo", 3 if args.quick else args.rounds)
        print(json.dumps(results, indent=2))
        if not args.no_write:
            print(write_results(results))


if __name__ == "__main__":
    main()

"""Benchmark: simulated TDX quote generation and verification (section ``## TEE`` of RESULTS.md).

    .venv/bin/python benchmarks/tee.py            # measure and update benchmarks/RESULTS.md
    .venv/bin/python benchmarks/tee.py --quick    # few iterations, no RESULTS.md update

Measures, per operation (median of N runs, after one warm-up):
* platform creation (first use of ATLAS_INTOTO_HOME/tee-sim: 5 keys, 4 certificates);
* collateral generation (TCB info, QE identity, 2 CRLs, signed);
* ``attest("simulated")`` with a warm platform (what each recorded step pays);
* quote parsing (atlas_intoto.tee.quote) and full ``verify_tee_evidence`` (dcap-qvl + policy);
* dcap-qvl on Intel's real sample quote, for comparison.
Ratios are printed against quote parsing.
"""

from __future__ import annotations

import argparse
import hashlib
import platform as platform_module
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import time_ms, write_section  # noqa: E402

from atlas_intoto.tee import TeePolicy, attest, intel_root_der, verify_tee_evidence  # noqa: E402
from atlas_intoto.tee.dcap import verify_quote_collateral  # noqa: E402
from atlas_intoto.tee.quote import parse_quote  # noqa: E402
from atlas_intoto.tee.simulated import (  # noqa: E402
    default_directory,
    ensure_platform,
    generate_platform,
)

SECTION = "## TEE"
TESTDATA = HERE.parent.parent / "shared" / "testdata" / "tdx"


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    return statistics.median(time_ms(fn, runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few runs; no RESULTS.md update")
    args = parser.parse_args()
    runs = 5 if args.quick else 50
    binding = hashlib.sha256(b"benchmark").digest()
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        now = int(time.time())
        rows.append(
            ("platform creation (generate)", _median_ms(lambda: generate_platform(now=now), runs))
        )
        platform = ensure_platform(default_directory(home), now=now)
        rows.append(
            (
                "collateral generation",
                _median_ms(lambda: platform.make_collateral(issued_at=now - 60), runs),
            )
        )
        evidence = attest("simulated", binding=binding, home=home)
        assert evidence is not None
        rows.append(
            (
                "attest('simulated'), warm platform",
                _median_ms(lambda: attest("simulated", binding=binding, home=home), runs),
            )
        )
        rows.append(("quote parse", _median_ms(lambda: parse_quote(evidence.quote), runs * 10)))
        env = evidence.environment("tee/bench.collateral.json")
        roots = [platform.root_der]
        rows.append(
            (
                "verify_tee_evidence (simulated)",
                _median_ms(
                    lambda: verify_tee_evidence(
                        env,
                        collateral=evidence.collateral,
                        binding=binding,
                        policy=TeePolicy(),
                        roots=roots,
                        at=now,
                    ),
                    runs,
                ),
            )
        )
    if TESTDATA.is_dir():
        quote = (TESTDATA / "tdx_quote").read_bytes()
        collateral = (TESTDATA / "tdx_quote_collateral.json").read_bytes()
        rows.append(
            (
                "dcap-qvl, Intel sample quote",
                _median_ms(
                    lambda: verify_quote_collateral(
                        quote, collateral, roots=[intel_root_der()], at=1752919234
                    ),
                    runs,
                ),
            )
        )
    base = dict(rows)["quote parse"]
    lines = [
        SECTION,
        "",
        f"`benchmarks/tee.py`, median of {runs} runs after a warm-up "
        f"({platform_module.machine()}, Python {platform_module.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}).",
        "",
        "| operation | ms | × quote parse |",
        "|---|---:|---:|",
    ]
    for name, ms in rows:
        lines.append(f"| {name} | {ms:.3f} | {ms / base:.0f} |")
    lines += [
        "",
        "Recording a step with `--tee simulated` costs one `attest` (quote + cached collateral); "
        "verifying it costs one `verify_tee_evidence`, dominated by dcap-qvl's chain checks.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

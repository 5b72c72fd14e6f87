"""Helpers shared by the benchmark scripts: their RESULTS.md section, peak RSS, timings.

Imported as ``_common``: a script run as ``python benchmarks/<name>.py`` has this directory as
``sys.path[0]`` (scripts that then drop it from sys.path import this module first).
"""

from __future__ import annotations

import os
import platform
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(section: str, text: str) -> None:
    """Replace the ``section`` heading's block of RESULTS.md with ``text`` (or append it), leaving
    every other team member's section as it is."""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.M | re.S)
    block = text.rstrip("\n") + "\n\n"
    if pattern.search(current):
        updated = pattern.sub(lambda _: block, current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(updated.rstrip("\n") + "\n")
    print(f"wrote {section!r} to {RESULTS}", file=sys.stderr)


def peak_rss_kib() -> int:
    """This process's own peak RSS. Not getrusage first: Linux carries ru_maxrss across exec, so
    a child would report the (forked) parent's footprint."""
    try:
        match = re.search(r"^VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
        if match:
            return int(match.group(1))
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: ``q`` = 0 is the minimum, 1 the maximum."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_ms(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall time of each of ``runs`` calls of ``fn``, in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def python_cpus_machine() -> str:
    return f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"

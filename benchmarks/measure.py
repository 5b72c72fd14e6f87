"""Benchmark: artifact measurement — throughput, BLAKE3, the command, and the digest cache.

Creates (under benchmarks/_work/) a shard directory of 8 files × 256 MiB, a dataset directory of
10,000 small files and a 4 GiB pipeline tree (16 × 256 MiB), warms the page cache, then
measures side by side in one run:

(a) single-core ``hashlib.sha256`` throughput on an in-memory buffer (the SHA-256 machine limit
    is usable cores × this), and in-memory BLAKE3 with all cores (``max_threads=AUTO``);
(b) ``atlas_intoto.measure.measure`` on the shards with SHA-256, BLAKE3, and both in one read;
(c) the ``atlas-intoto measure --json --no-digest-cache`` command (a fresh process: interpreter
    start, imports, output) and OpenSSF model-signing's hashing in-process
    (``model_signing.hashing.Config``, file serialization, SHA-256), on the shards and the small
    files;
(d) a 5-step chain over the 4 GiB tree, each step recorded with ``record start`` (materials: the
    whole tree, i.e. the previous step's products) and ``record stop`` (products: the whole tree
    after the step rewrote one shard), once with the digest cache (cold at the start) and once
    without: bytes hashed, recording time and end-to-end time.

Each tool runs in a fresh child process so that its peak RSS is its own. Writes the
``## Artifact measurement`` section of benchmarks/RESULTS.md (not with ``--quick``, which runs
small sizes and only validates the script).

    .venv/bin/python benchmarks/measure.py            # full run (~8 GB of scratch data)
    .venv/bin/python benchmarks/measure.py --quick    # small sizes, no RESULTS.md update
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import peak_rss_kib, write_section

HERE = Path(__file__).resolve().parent
SECTION = "## Artifact measurement"
MIB = 1 << 20

FULL = {"shards": 8, "shard_mib": 256, "small_files": 10_000, "chain_files": 16, "chain_mib": 256}
QUICK = {"shards": 8, "shard_mib": 8, "small_files": 500, "chain_files": 16, "chain_mib": 4}
CHAIN_STEPS = 5
TARGET_MACHINE = 0.9
TARGET_MODEL_SIGNING = 1.0
TARGET_BLAKE3 = 2.0
TARGET_CHAIN_SPEEDUP = 3.0
TARGET_RSS_MB = 256


# --- child side: one tool, one directory -------------------------------------------------------


def _lines(result: dict[str, dict[str, str]], algorithm: str) -> list[str]:
    return sorted(f"{name} {entry[algorithm]}" for name, entry in result.items())


def _child_library(tool: str, directory: Path) -> dict[str, Any]:
    from atlas_intoto.measure import measure

    algorithms = {
        "ours": ("sha256",),
        "ours-blake3": ("blake3",),
        "ours-both": ("sha256", "blake3"),
    }
    t0 = time.perf_counter()
    result = measure(["."], base_path=directory, algorithms=algorithms[tool])
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "lines": _lines(result, algorithms[tool][0])}


def _child_model_signing(directory: Path) -> dict[str, Any]:
    from model_signing import hashing

    config = hashing.Config()
    t0 = time.perf_counter()
    manifest = config.hash(directory)
    seconds = time.perf_counter() - t0
    lines = sorted(
        f"{rd.identifier} {rd.digest.digest_hex}" for rd in manifest.resource_descriptors()
    )
    return {"seconds": seconds, "lines": lines}


def _child_command(directory: Path) -> dict[str, Any]:
    """The CLI as a user runs it: wall time from spawn to exit, its own peak RSS (wait4)."""
    cli = Path(sys.executable).parent / "atlas-intoto"
    argv = [str(cli), "measure", ".", "--json", "--no-digest-cache", "--base-path", str(directory)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"atlas-intoto measure failed ({proc.returncode})")
    return {
        "seconds": seconds,
        "lines": _lines(json.loads(out), "sha256"),
        "maxrss_kib": max(usage.ru_maxrss, peak_rss_kib()),
    }


def _child_model_signing_command(directory: Path) -> dict[str, Any]:
    """``model_signing sign key`` (hashes, then signs one small manifest): command vs command."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    scratch = directory.parent / "ms-cli"
    scratch.mkdir(exist_ok=True)
    key = scratch / "key.pem"
    if not key.exists():
        key.write_bytes(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cli = Path(sys.executable).parent / "model_signing"
    argv = [str(cli), "sign", "key", str(directory), "--private_key", str(key)]
    argv += ["--signature", str(scratch / "model.sig")]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("model_signing sign key failed")
    return {"seconds": seconds, "maxrss_kib": max(usage.ru_maxrss, peak_rss_kib())}


def _child(tool: str, directory: Path) -> None:
    if tool.startswith("ours"):
        result = _child_library(tool, directory)
    elif tool == "model-signing":
        result = _child_model_signing(directory)
    elif tool == "command":
        result = _child_command(directory)
    elif tool == "model-signing-command":
        result = _child_model_signing_command(directory)
    elif tool.startswith("chain-"):
        result = _child_chain(directory, cache=tool == "chain-cache")
    else:
        raise SystemExit(f"unknown tool {tool}")
    lines = result.pop("lines", [])
    result.setdefault("maxrss_kib", peak_rss_kib())
    result.update(files=len(lines), digests=hashlib.sha256("\n".join(lines).encode()).hexdigest())
    print(json.dumps(result))


# --- the 5-step chain --------------------------------------------------------------------------


def _write_shard(path: Path, index: int, generation: int, size: int) -> None:
    # Streamed: the chain child's peak RSS must be the recorder's, not this shard's.
    _write_random(path, size, random.Random(f"chain-{index}-{generation}"))


def _child_chain(tree: Path, *, cache: bool) -> dict[str, Any]:
    """Five steps over ``tree``, each: record start (materials: the whole tree) → the step's
    work (rewrite shard k: a new file renamed over it) → record stop (products: the tree)."""
    from atlas_intoto.keys import generate_keypair
    from atlas_intoto.measure import measure_files
    from atlas_intoto.recording import RecordingOptions
    from atlas_intoto.step import record_start, record_stop

    params = json.loads((tree.parent / "params.json").read_text())
    size = params["chain_mib"] * MIB
    home = tree.parent / f"home-{os.getpid()}"
    os.environ["ATLAS_INTOTO_HOME"] = str(home)  # a cold cache
    generate_keypair("step", directory=home / "keys")
    options = RecordingOptions(
        key_path=home / "keys" / "step.key",
        base_path=tree,
        out_dir=home / "evidence",
        digest_cache=cache,
    )
    hashed = 0
    real_measure_files = measure_files

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal hashed
        result = real_measure_files(*args, **kwargs)
        hashed += result.bytes_hashed
        return result

    import atlas_intoto.measure as measure_mod

    measure_mod.measure_files = counting  # type: ignore[assignment]
    recording = 0.0
    t_all = time.perf_counter()
    for step in range(CHAIN_STEPS):
        t0 = time.perf_counter()
        record_start(step=f"step{step}", options=options, materials=["."])
        recording += time.perf_counter() - t0
        new = tree / f".shard-{step:02}.tmp"
        _write_shard(new, step, 1, size)
        os.replace(new, tree / f"shard-{step:02}.bin")
        t0 = time.perf_counter()
        record_stop(step=f"step{step}", options=options, products=["."])
        recording += time.perf_counter() - t0
    end_to_end = time.perf_counter() - t_all
    measure_mod.measure_files = real_measure_files  # type: ignore[assignment]
    final = measure_mod.measure(["."], base_path=tree)
    shutil.rmtree(home)
    return {
        "seconds": end_to_end,
        "recording_seconds": recording,
        "bytes_hashed": hashed,
        "lines": _lines(final, "sha256"),
    }


def reset_chain(tree: Path, params: dict[str, int]) -> int:
    """Put the chain tree back in its first state (the shards the steps rewrite); its size."""
    size = params["chain_mib"] * MIB
    tree.mkdir(parents=True, exist_ok=True)
    for index in range(params["chain_files"]):
        path = tree / f"shard-{index:02}.bin"
        if index < CHAIN_STEPS or not path.exists():
            _write_shard(path, index, 0, size)
    return params["chain_files"] * size


# --- parent side -------------------------------------------------------------------------------


def _write_random(path: Path, size: int, rng: random.Random) -> None:
    with path.open("wb") as handle:
        left = size
        while left:
            n = min(left, 8 * MIB)
            handle.write(rng.randbytes(n))
            left -= n


def prepare(work: Path, params: dict[str, int]) -> tuple[Path, Path, int, int]:
    """Create the shard and dataset directories (reused when already complete)."""
    shards, small = work / "shards", work / "dataset"
    marker = work / "params.json"
    shard_bytes = params["shards"] * params["shard_mib"] * MIB
    if not marker.exists() or json.loads(marker.read_text()) != params:
        print(f"generating data under {work} ...", file=sys.stderr, flush=True)
        for directory in (shards, small, work / "chain"):
            if directory.exists():
                shutil.rmtree(directory)
            directory.mkdir(parents=True, exist_ok=True)
        rng = random.Random(20250101)
        for i in range(params["shards"]):
            _write_random(
                shards / f"model-{i + 1:05}-of-{params['shards']:05}.safetensors",
                params["shard_mib"] * MIB,
                rng,
            )
        for i in range(params["small_files"]):
            sub = small / f"part-{i // 1000:03}"
            sub.mkdir(exist_ok=True)
            (sub / f"sample-{i:06}.json").write_bytes(rng.randbytes(rng.randint(512, 16384)))
        marker.write_text(json.dumps(params))
    small_bytes = sum(p.stat().st_size for p in small.rglob("*") if p.is_file())
    return shards, small, shard_bytes, small_bytes


def warm(directory: Path) -> None:
    buffer = bytearray(8 * MIB)
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with path.open("rb", buffering=0) as handle:
                while handle.readinto(buffer):
                    pass


def in_memory_rates() -> tuple[float, float]:
    """Best of 3, GB/s over 256 MiB in memory: hashlib.sha256 on one thread (1 MiB updates),
    and BLAKE3 with every core (one update, ``max_threads=AUTO``)."""
    import blake3

    data = memoryview(os.urandom(256 * MIB))
    sha = b3 = 0.0
    for _ in range(3):
        digest = hashlib.sha256()
        t0 = time.perf_counter()
        for offset in range(0, len(data), MIB):
            digest.update(data[offset : offset + MIB])
        sha = max(sha, len(data) / (time.perf_counter() - t0) / 1e9)
        t0 = time.perf_counter()
        blake3.blake3(data, max_threads=blake3.blake3.AUTO).digest()
        b3 = max(b3, len(data) / (time.perf_counter() - t0) / 1e9)
    return sha, b3


def run_child(tool: str, directory: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", tool, str(directory)],
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE.parent,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{tool} on {directory} failed:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = min(runs, key=lambda r: r["seconds"])
    return {
        **best,
        "all_seconds": [r["seconds"] for r in runs],
        "maxrss_mb": max(r["maxrss_kib"] for r in runs) * 1024 / 1e6,
        "digests": {r["digests"] for r in runs},
    }


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    flags = ""
    try:
        info = Path("/proc/cpuinfo").read_text()
        match = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
        cpu = match.group(1) if match else cpu
        flags = (
            ", ".join(
                name
                for flag, name in (
                    (" sha_ni", "SHA-NI"),
                    (" avx512f", "AVX-512"),
                    (" avx2", "AVX2"),
                )
                if flag in info
            )
            or "no SHA-NI"
        )
    except OSError:
        pass
    mem = "unknown"
    try:
        match = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        mem = f"{int(match.group(1)) / 1024 / 1024:.0f} GiB" if match else mem
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": f"{cpu} ({flags})",
        "cores": str(cores),
        "memory": mem,
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "os": f"{platform.system()} {platform.release()}",
    }


def _rate(size: int, result: dict[str, Any]) -> float:
    return size / result["seconds"] / 1e9


def _verdict(text: str, ok: bool, value: str) -> str:
    return f"- {text}: {value} — {'met' if ok else '**missed**'}"


def report_lines(
    args: argparse.Namespace,
    info: dict[str, str],
    rates: dict[str, Any],
    rows: list[tuple[str, int, dict[str, dict[str, Any]]]],
    chain: dict[str, Any],
) -> list[str]:
    cores, single, b3mem = int(info["cores"]), rates["sha256"], rates["blake3"]
    limit = single * cores
    lines = [
        SECTION,
        "",
        f"`benchmarks/measure.py` ({'--quick' if args.quick else 'full run'}), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} usable cores, {info['memory']} RAM, "
        f"{info['os']}, Python {info['python']}, {info['openssl']}. "
        f"Page cache warm (every file read once before timing); {args.reps} interleaved rounds, "
        "each tool in a fresh process per round, best time reported; peak RSS is the largest "
        "VmHWM of a tool's processes.",
        "",
        f"In memory, best of the rounds: single-core `hashlib.sha256` (1 MiB updates) "
        f"**{single:.2f} GB/s** → SHA-256 machine limit = {cores} × {single:.2f} = "
        f"**{limit:.2f} GB/s**; BLAKE3 on all cores (`max_threads=AUTO`) **{b3mem:.2f} GB/s** "
        f"= {b3mem / limit:.2f} × the SHA-256 limit.",
        "",
        "| data | bytes | tool | time (s) | GB/s | × SHA-256 limit | × model-signing "
        "| peak RSS (MB) |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for label, size, tools in rows:
        theirs = tools["model-signing 1.x"]
        for name, result in tools.items():
            lines.append(
                f"| {label} | {size / 1e9:.2f} GB | {name} | {result['seconds']:.3f} | "
                f"{_rate(size, result):.2f} | {_rate(size, result) / limit:.2f} | "
                f"{theirs['seconds'] / result['seconds']:.2f} | {result['maxrss_mb']:.0f} |"
            )
    on, off = chain["cache"], chain["no-cache"]
    distinct = chain["distinct"]
    lines += [
        "",
        f"Pipeline chain: {CHAIN_STEPS} steps over a {chain['size'] / 2**30:.2f} GiB tree "
        f"({chain['files']} shards); each step: `record start` (materials: the whole tree, the "
        "previous step's products) → rewrite one shard → `record stop` (products: the whole "
        f"tree). Distinct bytes ever written: {distinct / 1e9:.2f} GB.",
        "",
        "| digest cache | bytes hashed | × distinct bytes | recording (s) | end to end (s) "
        "| peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in (("off (`--no-digest-cache`)", off), ("on (cold at start)", on)):
        lines.append(
            f"| {name} | {result['bytes_hashed'] / 1e9:.2f} GB | "
            f"{result['bytes_hashed'] / distinct:.2f} | {result['recording_seconds']:.2f} | "
            f"{result['seconds']:.2f} | {result['maxrss_mb']:.0f} |"
        )
    return lines


def verdicts(
    rates: dict[str, Any],
    cores: int,
    rows: list[tuple[str, int, dict[str, dict[str, Any]]]],
    chain: dict[str, Any],
) -> list[str]:
    limit = rates["sha256"] * cores
    _, shard_size, shard = rows[0]
    ms = shard["model-signing 1.x"]["seconds"]
    ms_cli = shard["model_signing sign key (command)"]["seconds"]
    on, off = chain["cache"], chain["no-cache"]
    worst_rss = max(
        [r["maxrss_mb"] for _, _, tools in rows for r in tools.values()]
        + [on["maxrss_mb"], off["maxrss_mb"]]
    )
    checks = [
        (
            "chain: each byte hashed once",
            on["bytes_hashed"] <= chain["distinct"] * 1.01,
            f"{on['bytes_hashed'] / chain['distinct']:.2f} × distinct bytes",
        ),
        (
            f"chain: ≥ {TARGET_CHAIN_SPEEDUP}× faster end to end with the cache",
            off["seconds"] / on["seconds"] >= TARGET_CHAIN_SPEEDUP,
            f"{off['seconds'] / on['seconds']:.2f}× (recording alone "
            f"{off['recording_seconds'] / on['recording_seconds']:.2f}×)",
        ),
        (
            f"BLAKE3 `measure` on the shards ≥ {TARGET_BLAKE3} × SHA-256 limit",
            _rate(shard_size, shard["atlas-intoto blake3"]) / limit >= TARGET_BLAKE3,
            f"{_rate(shard_size, shard['atlas-intoto blake3']) / limit:.2f} "
            f"(in memory {rates['blake3'] / limit:.2f})",
        ),
        (
            f"`atlas-intoto measure` command ≥ {TARGET_MODEL_SIGNING} × model-signing on the shards",
            ms / shard["atlas-intoto measure (command)"]["seconds"] >= TARGET_MODEL_SIGNING,
            f"{ms / shard['atlas-intoto measure (command)']['seconds']:.2f} (library "
            f"{ms / shard['atlas-intoto']['seconds']:.2f}; command vs `model_signing sign key` "
            f"{ms_cli / shard['atlas-intoto measure (command)']['seconds']:.2f})",
        ),
        (
            f"library ≥ {TARGET_MACHINE} × SHA-256 limit on the shards",
            _rate(shard_size, shard["atlas-intoto"]) / limit >= TARGET_MACHINE,
            f"{_rate(shard_size, shard['atlas-intoto']) / limit:.2f}",
        ),
        (f"peak RSS < {TARGET_RSS_MB} MB", worst_rss < TARGET_RSS_MB, f"{worst_rss:.0f} MB"),
    ]
    lines = ["", "Targets:", *(_verdict(*check) for check in checks)]
    agree = all(
        len(set().union(*(r["digests"] for r in tools.values() if r["algorithm"] == "sha256"))) == 1
        for _, _, tools in rows
    )
    lines.append(
        "- digests: every SHA-256 tool agrees on every file, both chain variants end on the "
        "same tree"
        if agree and on["digests"] == off["digests"]
        else "- **DIGESTS DIFFER between tools**"
    )
    return lines + _why(checks, rates, limit, shard_size, shard, chain)


def _why(
    checks: list[tuple[str, bool, str]],
    rates: dict[str, Any],
    limit: float,
    shard_size: int,
    shard: dict[str, dict[str, Any]],
    chain: dict[str, Any],
) -> list[str]:
    """Why each missed target is missed, from what this run measured."""
    missed = {text.split(":")[0].split(" ≥")[0] for text, ok, _ in checks if not ok}
    on, off = chain["cache"], chain["no-cache"]
    command = shard["atlas-intoto measure (command)"]["seconds"]
    library = shard["atlas-intoto"]["seconds"]
    reasons = {
        "chain": (
            f"The chain's end-to-end time includes each step's own work (writing a new "
            f"{chain['shard_mib']} MiB shard, {on['seconds'] - on['recording_seconds']:.2f} s of "
            f"the cached run) and recording a link (signing, files); the hashing it saves is "
            f"{(off['bytes_hashed'] - on['bytes_hashed']) / 1e9:.2f} GB. Bytes hashed above the "
            "distinct bytes come from files changed within the racy window (20 ms) of being "
            "measured, which the cache must not trust."
        ),
        "BLAKE3 `measure` on the shards": (
            f"Reading from the page cache copies every byte into the read buffer, which "
            f"in-memory hashing does not pay: BLAKE3 reaches {rates['blake3'] / limit:.2f} × the "
            f"SHA-256 limit in memory and {_rate(shard_size, shard['atlas-intoto blake3']) / limit:.2f}"
            " × from files. A memory map would avoid the copy, but a file truncated while mapped "
            "kills the process (SIGBUS), so measurement reads."
        ),
        "`atlas-intoto measure` command": (
            f"The command pays a fixed cost the in-process call does not: interpreter start, "
            f"imports, argument parsing and output, {rates['fixed']:.3f} s measured on an empty "
            f"directory, against {command - library:.3f} s between command and library here "
            f"(library {library:.3f} s, model-signing in-process "
            f"{shard['model-signing 1.x']['seconds']:.3f} s)."
        ),
        "library": (
            "Hashing warm files costs a copy of every byte from the page cache (see the earlier "
            "analysis: two threads hashing warm files reach 0.80-0.88 × the in-memory limit "
            "whatever the read method)."
        ),
    }
    lines = [
        f"- why {name}: {reason}"
        for name, reason in reasons.items()
        if any(m.startswith(name) for m in missed)
    ]
    return ["", "Where a target is missed, why:", *lines] if lines else []


TOOLS = (
    ("atlas-intoto", "ours", "sha256"),
    ("atlas-intoto blake3", "ours-blake3", "blake3"),
    ("atlas-intoto sha256+blake3", "ours-both", "sha256"),
    ("atlas-intoto measure (command)", "command", "sha256"),
    ("model-signing 1.x", "model-signing", "sha256"),
    ("model_signing sign key (command)", "model-signing-command", "none"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; no RESULTS.md update")
    parser.add_argument("--work", type=Path, default=HERE / "_work", help="scratch directory")
    parser.add_argument("--reps", type=int, default=5, help="interleaved rounds (best is reported)")
    parser.add_argument("--chain-reps", type=int, default=1, help="rounds of the chain (each)")
    parser.add_argument("--child", nargs=2, metavar=("TOOL", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--note", default="", help="free text added to RESULTS.md")
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return 0

    params = QUICK if args.quick else FULL
    work = args.work / ("quick" if args.quick else "full")
    shards, small, shard_bytes, small_bytes = prepare(work, params)
    tree = work / "chain"
    load_before = loadavg()
    info = machine()
    datasets = (
        (f"{params['shards']} × {params['shard_mib']} MiB shards", shards, shard_bytes, TOOLS),
        (
            f"{params['small_files']:,} small files",
            small,
            small_bytes,
            (TOOLS[0], TOOLS[3], TOOLS[4], TOOLS[5]),
        ),
    )
    for _, directory, _, _ in datasets:
        warm(directory)
    # Rounds interleave every measurement (in-memory baselines included) so that load from
    # other work on a shared machine hits all of them alike; the best of each is reported.
    memory: list[tuple[float, float]] = []
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    chain_runs: dict[str, list[dict[str, Any]]] = {"cache": [], "no-cache": []}
    chain_size = 0
    empty = work / "empty"
    empty.mkdir(exist_ok=True)
    fixed: list[float] = []
    for round_ in range(args.reps):
        memory.append(in_memory_rates())
        fixed.append(run_child("command", empty)["seconds"])
        for label, directory, _, tools in datasets:
            for name, tool, algorithm in tools:
                result = run_child(tool, directory)
                result["algorithm"] = algorithm
                runs.setdefault((label, name), []).append(result)
        if round_ < args.chain_reps:
            for variant in ("no-cache", "cache"):
                chain_size = reset_chain(tree, params)
                warm(tree)
                chain_runs[variant].append(run_child(f"chain-{variant}", tree))
    rates = {
        "sha256": max(m[0] for m in memory),
        "blake3": max(m[1] for m in memory),
        "fixed": min(fixed),
    }
    rows = [
        (label, size, {name: summarize(runs[(label, name)]) for name, _, _ in tools})
        for label, _, size, tools in datasets
    ]
    chain: dict[str, Any] = {v: summarize(r) for v, r in chain_runs.items()}
    chain.update(
        size=chain_size,
        files=params["chain_files"],
        shard_mib=params["chain_mib"],
        distinct=chain_size + CHAIN_STEPS * params["chain_mib"] * MIB,
    )
    lines = report_lines(args, info, rates, rows, chain)
    lines += verdicts(rates, int(info["cores"]), rows, chain)
    lines += [
        "",
        f"Load average (1/5/15 min) before: {load_before}; after: {loadavg()}. The machine's "
        "cores were shared with other work during the run when these exceed ~0.5.",
    ]
    if args.note:
        lines += ["", args.note]
    report = "\n".join(lines) + "\n"
    print(report)
    for (label, name), results in runs.items():
        print(f"{label} / {name}: {[round(r['seconds'], 3) for r in results]}", file=sys.stderr)
    if not args.quick:
        write_section(SECTION, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: sustained appends per second to the transparency log over HTTP.

Starts ``atlas-intoto log serve`` (its own process, durable SQLite store with synchronous=FULL
and group commit) on a free loopback port, then runs 8 concurrent clients in another process,
each posting pre-signed ``dsse`` 0.0.1 entries (the server verifies every signature, signs an
SET and returns an inclusion proof with a signed checkpoint) over keep-alive connections.
Measures, after a warm-up, appends/s over the sustained window and the p50/p99 latency of one
append (request sent → 201 received). Every response is checked to be a 201.

The clients share the machine with the server, so the figure is end to end on this box, not
the server alone; the script also reports the CPU seconds the server process used per append.

Then the same for Rekor v2 (``log serve --v2-db``): 8 clients posting pre-signed
``hashedrekord`` 0.0.2 entries to ``/api/v2/log/entries`` (signature verified, durable commit,
signed checkpoint, inclusion proof in the TransparencyLogEntry), and C2SP tile reads
(``GET /tile/0/<N>``, full tiles, 8 clients).

Writes the ``## Transparency log: HTTP appends`` and ``## Transparency log: Rekor v2 appends
and tile reads`` sections of benchmarks/RESULTS.md (not with ``--quick``).

    .venv/bin/python benchmarks/tlog.py            # ~40 s
    .venv/bin/python benchmarks/tlog.py --quick    # validates the script only (both APIs)
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import percentile, write_section

HERE = Path(__file__).resolve().parent
SECTION = "## Transparency log: HTTP appends"
SECTION_V2 = "## Transparency log: Rekor v2 appends and tile reads"
PATHS = {"v1": "/api/v1/log/entries", "v2": "/api/v2/log/entries"}
CLIENTS = 8
TARGET_APPENDS_PER_S = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _requests(count: int, api: str = "v1") -> list[bytes]:
    """Pre-built POST bodies: one distinct DSSE envelope each (signing is the client's cost,
    not the log's)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from atlas_intoto.dsse import pae
    from atlas_intoto.tlog.proposed import dsse_proposed_entry

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    bodies = []
    for n in range(count):
        payload = json.dumps(
            {"_type": "link", "name": "train", "materials": {f"data/{n}": {"sha256": "ab" * 32}}}
        ).encode()
        sig = key.sign(pae("application/vnd.in-toto+json", payload), ec.ECDSA(hashes.SHA256()))
        env = json.dumps(
            {
                "payload": base64.b64encode(payload).decode(),
                "payloadType": "application/vnd.in-toto+json",
                "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}],
            }
        ).encode()
        if api == "v2":
            from atlas_intoto.tlog.v2.hashedrekord import dsse_request

            bodies.append(json.dumps(dsse_request(env, pem)).encode())
        else:
            bodies.append(json.dumps(dsse_proposed_entry(env, [pem])).encode())
    return bodies


def _client(
    port: int,
    bodies: list[bytes],
    latencies: list[tuple[float, float]],
    errors: list[str],
    path: str = PATHS["v1"],
) -> None:
    """One client: a keep-alive connection posting its entries one after another. The
    standard library's http.client keeps the load generator's own CPU cost low (httpx costs
    more per request than the server on this machine)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    try:
        for body in bodies:
            start = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            end = time.perf_counter()
            if response.status != 201:
                errors.append(f"append failed: {response.status} {data[:200]!r}")
                return
            latencies.append((start, end))
    finally:
        conn.close()


def _run_clients(
    port: int, per_client: list[list[bytes]], path: str = PATHS["v1"]
) -> tuple[list[tuple[float, float]], float]:
    latencies: list[tuple[float, float]] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_client, args=(port, bodies, latencies, errors, path))
        for bodies in per_client
    ]
    cpu = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    return latencies, time.process_time() - cpu


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tile_reader(port: int, paths: list[str], latencies: list[float], errors: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for path in paths:
            start = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200 or len(data) != 256 * 32:
                errors.append(f"tile read failed: {response.status}")
                return
            latencies.append(time.perf_counter() - start)
    finally:
        conn.close()


def _tile_reads(port: int, size: int, reads: int) -> dict[str, float]:
    """Full level-0 tiles read by 8 keep-alive clients, round robin over the tiles."""
    from atlas_intoto.tlog.v2.tiles import tile_path

    full = max(1, size // 256)
    paths = [f"/{tile_path(0, i % full)}" for i in range(reads)]
    latencies: list[float] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_tile_reader, args=(port, paths[i::CLIENTS], latencies, errors))
        for i in range(CLIENTS)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(errors[0])
    ms = [x * 1000 for x in latencies]
    return {
        "reads": len(latencies),
        "reads_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(ms, 0.50),
        "p99_ms": percentile(ms, 0.99),
    }


def run(total: int, warmup: int, api: str = "v1", tile_reads: int = 0) -> dict[str, Any]:
    path = PATHS[api]
    with tempfile.TemporaryDirectory(prefix="tlog-bench-") as tmp:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "atlas_intoto",
                "log",
                "serve",
                "--db",
                f"{tmp}/log.db",
                "--port",
                str(port),
                "--origin",
                "bench.local",
                *(["--v2-db", f"{tmp}/v2.db"] if api == "v2" else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            bodies = _requests(total + warmup, api)
            import httpx

            for _ in range(300):
                try:
                    httpx.get(f"{url}/api/v1/log", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            warm = [bodies[i::CLIENTS] for i in range(CLIENTS)]
            _run_clients(port, [b[: warmup // CLIENTS] for b in warm], path)
            rest = bodies[warmup:]
            per_client = [rest[i::CLIENTS] for i in range(CLIENTS)]
            cpu0 = _cpu_seconds(server.pid)
            t0 = time.perf_counter()
            latencies, client_cpu = _run_clients(port, per_client, path)
            elapsed = time.perf_counter() - t0
            cpu = _cpu_seconds(server.pid) - cpu0
            if api == "v2":
                size = int(httpx.get(f"{url}/checkpoint", timeout=10).text.split("\n")[1])
                tiles = _tile_reads(port, size, tile_reads) if tile_reads else {}
            else:
                size = httpx.get(f"{url}/api/v1/log", timeout=10).json()["treeSize"]
                tiles = {}
        finally:
            server.terminate()
            server.wait(30)
    durations = [(end - start) * 1000 for start, end in latencies]
    return {
        "appends": len(latencies),
        "seconds": elapsed,
        "appends_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(durations, 0.50),
        "p99_ms": percentile(durations, 0.99),
        "server_cpu_ms_per_append": cpu * 1000 / len(latencies),
        "client_cpu_ms_per_append": client_cpu * 1000 / len(latencies),
        "tree_size": size,
        "tiles": tiles,
    }


def _environment() -> str:
    import sqlite3

    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


def _load() -> str:
    """1-minute load average: the 2 cores are shared, so say how busy they were."""
    return f"{os.getloadavg()[0]:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few appends; no RESULTS.md update")
    parser.add_argument("--appends", type=int, default=16_000, help="measured appends")
    args = parser.parse_args()
    total, warmup = (400, 80) if args.quick else (args.appends, 800)
    load_before = _load()
    r = run(total, warmup)
    verdict = "meets" if r["appends_per_s"] >= TARGET_APPENDS_PER_S else "MISSES"
    lines = [
        f"appends:          {r['appends']} in {r['seconds']:.1f} s ({CLIENTS} concurrent clients)",
        f"appends/s:        {r['appends_per_s']:.0f}  ({r['appends_per_s'] / TARGET_APPENDS_PER_S:.2f}x the "
        f"{TARGET_APPENDS_PER_S}/s target: {verdict})",
        f"latency:          p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms",
        f"server CPU:       {r['server_cpu_ms_per_append']:.2f} ms per append "
        f"(load generator {r['client_cpu_ms_per_append']:.2f} ms)",
    ]
    print("\n".join(lines))
    if not args.quick:
        write_section(
            SECTION,
            "\n".join(
                [
                    SECTION,
                    "",
                    f"`benchmarks/tlog.py` ({time.strftime('%Y-%m-%d')}; {_environment()}). "
                    f"`atlas-intoto log serve` (one uvicorn process, uvloop/httptools, SQLite WAL "
                    f"synchronous=FULL with group commit) against {CLIENTS} concurrent keep-alive "
                    "clients (threads with `http.client`, one process on the same machine) posting distinct "
                    "pre-signed `dsse` 0.0.1 entries; each append verifies the ECDSA signature, "
                    "commits durably, signs the SET and returns an inclusion proof with a signed "
                    "checkpoint.",
                    "",
                    "| metric | value |",
                    "|---|---|",
                    f"| sustained appends/s | {r['appends_per_s']:.0f} ({r['appends_per_s'] / TARGET_APPENDS_PER_S:.2f}× "
                    f"the {TARGET_APPENDS_PER_S}/s target: {verdict}) |",
                    f"| append latency p50 / p99 | {r['p50_ms']:.1f} ms / {r['p99_ms']:.1f} ms |",
                    f"| server CPU per append | {r['server_cpu_ms_per_append']:.2f} ms "
                    f"(load generator: {r['client_cpu_ms_per_append']:.2f} ms) |",
                    f"| load average before / after | {load_before} / {_load()} |",
                    f"| appends measured (after {warmup} warm-up) | {r['appends']} |",
                ]
            ),
        )
    _main_v2(args, total, warmup)
    return 0


def _main_v2(args: argparse.Namespace, total: int, warmup: int) -> None:
    """The Rekor v2 run: appends, then tile reads."""
    load_before = _load()
    r = run(total, warmup, api="v2", tile_reads=2_000 if args.quick else 40_000)
    t = r["tiles"]
    verdict = "meets" if r["appends_per_s"] >= TARGET_APPENDS_PER_S else "MISSES"
    ratio = r["appends_per_s"] / TARGET_APPENDS_PER_S
    print(
        "\n".join(
            [
                f"v2 appends/s:     {r['appends_per_s']:.0f}  ({ratio:.2f}x the target: {verdict})",
                f"v2 latency:       p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms",
                f"v2 server CPU:    {r['server_cpu_ms_per_append']:.2f} ms per append",
                f"tile reads/s:     {t['reads_per_s']:.0f} (p50 {t['p50_ms']:.2f} ms, "
                f"p99 {t['p99_ms']:.2f} ms; {t['reads']} full tiles of 8 KiB)",
            ]
        )
    )
    if args.quick:
        return
    write_section(
        SECTION_V2,
        "\n".join(
            [
                SECTION_V2,
                "",
                f"`benchmarks/tlog.py` ({time.strftime('%Y-%m-%d')}; {_environment()}). "
                "`atlas-intoto log serve --v2-db` (the v2 tree is its own SQLite store, same "
                f"group commit) against {CLIENTS} concurrent keep-alive clients posting "
                "pre-signed `hashedrekord` 0.0.2 entries (a DSSE envelope over its PAE); each "
                "append verifies the ECDSA signature, commits durably and returns a "
                "TransparencyLogEntry with an inclusion proof to a signed checkpoint (no "
                "witnesses, no TSA: those are per-checkpoint and per-client costs). Then "
                f"{CLIENTS} clients read full level-0 tiles.",
                "",
                "| metric | value |",
                "|---|---|",
                f"| sustained v2 appends/s | {r['appends_per_s']:.0f} ({ratio:.2f}× the "
                f"{TARGET_APPENDS_PER_S}/s target: {verdict}) |",
                f"| append latency p50 / p99 | {r['p50_ms']:.1f} ms / {r['p99_ms']:.1f} ms |",
                f"| server CPU per append | {r['server_cpu_ms_per_append']:.2f} ms |",
                f"| full tile reads/s | {t['reads_per_s']:.0f} (p50 {t['p50_ms']:.2f} ms, "
                f"p99 {t['p99_ms']:.2f} ms) |",
                f"| load average before / after | {load_before} / {_load()} |",
            ]
        ),
    )


if __name__ == "__main__":
    sys.exit(main())

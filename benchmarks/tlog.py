"""Benchmark: sustained appends per second to the transparency log over HTTP.

Starts ``atlas-intoto log serve`` (its own process, durable SQLite store with synchronous=FULL
and group commit) on a free loopback port, then runs 8 concurrent clients in another process,
each posting pre-signed ``dsse`` 0.0.1 entries (the server verifies every signature, signs an
SET and returns an inclusion proof with a signed checkpoint) over keep-alive connections.
Measures, after a warm-up, appends/s over the sustained window and the p50/p99 latency of one
append (request sent → 201 received). Every response is checked to be a 201.

The clients share the machine with the server, so the figure is end to end on this box, not
the server alone; the script also reports the CPU seconds the server process used per append.

Writes the ``## Transparency log: HTTP appends`` section of benchmarks/RESULTS.md (not with
``--quick``).

    .venv/bin/python benchmarks/tlog.py            # ~20 s
    .venv/bin/python benchmarks/tlog.py --quick    # validates the script only
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
CLIENTS = 8
TARGET_APPENDS_PER_S = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _requests(count: int) -> list[bytes]:
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
        bodies.append(json.dumps(dsse_proposed_entry(env, [pem])).encode())
    return bodies


def _client(
    port: int, bodies: list[bytes], latencies: list[tuple[float, float]], errors: list[str]
) -> None:
    """One client: a keep-alive connection posting its entries one after another. The
    standard library's http.client keeps the load generator's own CPU cost low (httpx costs
    more per request than the server on this machine)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    try:
        for body in bodies:
            start = time.perf_counter()
            conn.request("POST", "/api/v1/log/entries", body=body, headers=headers)
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
    port: int, per_client: list[list[bytes]]
) -> tuple[list[tuple[float, float]], float]:
    latencies: list[tuple[float, float]] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_client, args=(port, bodies, latencies, errors))
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


def run(total: int, warmup: int) -> dict[str, Any]:
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
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            bodies = _requests(total + warmup)
            import httpx

            for _ in range(300):
                try:
                    httpx.get(f"{url}/api/v1/log", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            warm = [bodies[i::CLIENTS] for i in range(CLIENTS)]
            _run_clients(port, [b[: warmup // CLIENTS] for b in warm])
            rest = bodies[warmup:]
            per_client = [rest[i::CLIENTS] for i in range(CLIENTS)]
            cpu0 = _cpu_seconds(server.pid)
            t0 = time.perf_counter()
            latencies, client_cpu = _run_clients(port, per_client)
            elapsed = time.perf_counter() - t0
            cpu = _cpu_seconds(server.pid) - cpu0
            size = httpx.get(f"{url}/api/v1/log", timeout=10).json()["treeSize"]
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
    return 0


if __name__ == "__main__":
    sys.exit(main())

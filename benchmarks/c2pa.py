"""C2PA sidecar signing and validation of one large file, against plain SHA-256 of the same file.

Creates (under benchmarks/_work/c2pa/, gitignored) a 1 GiB random file, a key with its dev-CA
certificate chain, then times, each in a fresh child process so peak RSS is its own:

* sha256   – hashlib over the file in 1 MiB chunks (the floor: every path must hash the bytes)
* sign     – ``sign_products`` (c2pa-rs hashes the file, signs, and we re-read the manifest)
* validate – ``verify_sidecar`` with the asset stream (c2pa-rs re-hashes the file)
* offline  – ``verify_sidecar`` without the asset (signature, trust, binding value only)

    .venv/bin/python benchmarks/c2pa.py            # 1 GiB, writes the "## C2PA" section
    .venv/bin/python benchmarks/c2pa.py --quick    # 64 MiB, no RESULTS.md update
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run as a script, benchmarks/ is sys.path[0]: take the shared helpers before dropping it.
from _common import peak_rss_kib, python_cpus_machine, write_section  # noqa: E402

# This file is called c2pa.py: keep its directory off sys.path, or `import c2pa` finds it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

SECTION = "## C2PA"
MIB = 1 << 20
STEP = "train"
BINDING = hashlib.sha256(b"benchmark").digest()
PRODUCT = "model/big.safetensors"


def _child(task: str, work: Path) -> None:
    from atlas_intoto.c2pa import sign_products, verify_sidecar

    file = work / PRODUCT
    digest = (work / "sha256.txt").read_text().strip() if (work / "sha256.txt").exists() else ""
    start = time.perf_counter()
    if task == "sha256":
        h = hashlib.sha256()
        with open(file, "rb") as handle:
            while chunk := handle.read(MIB):
                h.update(chunk)
        (work / "sha256.txt").write_text(h.hexdigest())
    elif task == "sign":
        sign_products(
            step=STEP,
            binding=BINDING,
            quote_digest=None,
            products={PRODUCT: {"sha256": digest}},
            materials={},
            base_path=work,
            evidence_dir=work / ".atlas",
            key_path=work / "keys" / "bench.key",
            cert_chain_path=work / "keys" / "bench.crt",
        )
    else:
        sidecar = (work / ".atlas" / "c2pa" / f"{PRODUCT}.c2pa").read_bytes()
        with open(file, "rb") as asset:
            report = verify_sidecar(
                sidecar,
                product_path=PRODUCT,
                product_sha256=digest,
                anchors_pem=[(work / "keys" / "ca.crt").read_bytes()],
                step=STEP,
                binding=BINDING,
                quote_digest=None,
                material_sidecars={},
                asset=asset if task == "validate" else None,
            )
        assert report.validation_state == "Trusted"
    seconds = time.perf_counter() - start
    print(json.dumps({"task": task, "seconds": seconds, "peak_rss_mib": peak_rss_kib() / 1024}))


def _run(task: str, work: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", task, "--work", str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _prepare(work: Path, size: int) -> None:
    from atlas_intoto.keys import generate_keypair

    file = work / PRODUCT
    if not file.exists() or file.stat().st_size != size:
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(file, "wb") as handle:
            for _ in range(size // (16 * MIB)):
                handle.write(os.urandom(16 * MIB))
    if not (work / "keys" / "bench.key").exists():
        generate_keypair("bench", directory=work / "keys")


def _warm(file: Path) -> None:
    with open(file, "rb") as handle:
        while handle.read(16 * MIB):
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="64 MiB; no RESULTS.md update")
    parser.add_argument("--work", type=Path, default=HERE / "_work" / "c2pa")
    parser.add_argument("--reps", type=int, default=3, help="runs per task (best is reported)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.work)
        return 0

    size = (64 if args.quick else 1024) * MIB
    args.work.mkdir(parents=True, exist_ok=True)
    _prepare(args.work, size)
    _warm(args.work / PRODUCT)  # page cache: every task reads the same warm file
    _run("sha256", args.work)
    best: dict[str, dict[str, Any]] = {}
    for _ in range(args.reps):
        for task in ("sha256", "sign", "validate", "offline"):
            result = _run(task, args.work)
            if task not in best or result["seconds"] < best[task]["seconds"]:
                best[task] = result
    base = best["sha256"]["seconds"]
    rows = []
    for task, what in (
        ("sha256", "hashlib SHA-256, 1 MiB chunks (floor)"),
        ("sign", "sign_products: sidecar for the file"),
        ("validate", "verify_sidecar with the asset (re-hash)"),
        ("offline", "verify_sidecar without the asset"),
    ):
        r = best[task]
        rows.append(
            f"| {task} | {what} | {r['seconds']:.2f} | {size / MIB / r['seconds']:.0f} | "
            f"{r['seconds'] / base:.2f}× | {r['peak_rss_mib']:.0f} |"
        )
    import c2pa

    text = "\n".join(
        [
            SECTION,
            "",
            f"`benchmarks/c2pa.py`: one {size // MIB} MiB random file, warm page cache, best of "
            f"{args.reps}, each task in a fresh process. c2pa-python {c2pa.__version__} "
            f"(c2pa-rs {c2pa.sdk_version()}), {python_cpus_machine()}, "
            f"load {os.getloadavg()[0]:.2f}.",
            "",
            "| task | what | seconds | MiB/s | vs sha256 | peak RSS MiB |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "Memory is bounded, not proportional to the file: c2pa-rs hashes in chunks of up "
            "to 256 MiB (a 2 GiB file measured once peaked at 503 MiB signing, 547 MiB "
            "validating), its intermediate copy of the asset spills to a temporary file beyond "
            "8 MiB (`core.backing_store_memory_threshold_in_mb`), and the signer's destination "
            "is a discarding seekable sink. Signing time is dominated by that copy (written to "
            "and read back from the temporary file) and by c2pa-python's 8 KiB stream callbacks; "
            "validation hashes the file once; offline validation (no asset) is independent of "
            "the file size.",
        ]
    )
    print(text)
    if not args.quick:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

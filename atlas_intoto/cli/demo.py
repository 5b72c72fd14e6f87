"""CLI: ``demo``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = command(
        sub,
        common,
        "demo",
        _demo,
        help="run an attested pipeline end to end (local log, simulated TEE, C2PA) and verify it",
    )
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="working directory, must be empty or absent (default: a new temporary directory, "
        "kept so the reports can be opened)",
    )
    p.add_argument(
        "--log-version",
        type=int,
        choices=(1, 2),
        default=1,
        help="1: the embedded Rekor v1 log (default); 2: a Rekor v2 log with a TSA and a witness",
    )
    p.add_argument(
        "--keyless",
        action="store_true",
        help="sign the steps keyless: identities of a local OIDC issuer, certified by our CA "
        "(the layout names the identities instead of functionary keys; no C2PA)",
    )
    p.add_argument(
        "--confidential",
        action="store_true",
        help="keep the datasets private (salted commitments): a public bundle that discloses no "
        "dataset path or digest, and an auditor bundle with the openings",
    )
    p.add_argument(
        "--gate",
        action="store_true",
        help="also deploy through the verification service: gate the model and the tampered copy",
    )


def _default_dir() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="atlas-demo-"))


def _demo(args: argparse.Namespace, out: Output) -> int:
    import time

    from atlas_intoto.demo import run_demo

    directory = args.dir or _default_dir()
    started = time.monotonic()
    result = run_demo(
        directory,
        say=out.human,
        log_version=args.log_version,
        keyless=args.keyless,
        confidential=args.confidential,
    )
    ok = result.verified and result.tampered_detected
    gate = None
    if args.gate:
        from atlas_intoto.service.demo import run_gate_demo

        gate = run_gate_demo(
            directory,
            model_dir=directory / "work",
            tampered_dir=directory / "tampered",
            say=out.human,
        )
        ok = ok and gate.admitted and gate.tampered_refused
    elapsed = time.monotonic() - started
    out.human(f"demo finished in {elapsed:.1f} s in {directory}")
    out.result(
        {
            "ok": ok,
            "directory": str(directory),
            "bundle": str(result.bundle),
            "report_html": str(result.report_html),
            "verified": result.verified,
            "tampered_detected": result.tampered_detected,
            "tampered_error": result.tampered_error,
            "tampered_reason": result.tampered_reason,
            "seconds": round(elapsed, 2),
            **({"confidential": result.confidential} if result.confidential is not None else {}),
            **(
                {"gate": {"admitted": gate.admitted, "tampered_refused": gate.tampered_refused}}
                if gate is not None
                else {}
            ),
        }
    )
    return 0 if ok else 1

"""CLI: ``gate`` — ask the verification service before deploying a model (exit 0 or 1)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = command(
        sub,
        common,
        "gate",
        _gate,
        help="hash the local model, ask the verification service; exit 0 verified, 1 not",
    )
    p.add_argument("--service", required=True, help="service URL, e.g. https://verify.internal")
    p.add_argument("--policy", required=True, help="policy name on the service")
    p.add_argument("--bundle", type=Path, required=True, help="FILE.atlas.json")
    p.add_argument("--artifacts", type=Path, required=True, help="directory holding the model")
    p.add_argument(
        "--token-env",
        default="ATLAS_INTOTO_TOKEN",
        help="environment variable holding the bearer token (default: ATLAS_INTOTO_TOKEN)",
    )
    p.add_argument("--ca-cert", type=Path, default=None, help="CA bundle for the service's TLS")
    p.add_argument("--client-cert", type=Path, default=None, help="mTLS client certificate")
    p.add_argument("--client-key", type=Path, default=None, help="mTLS client key")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default: 60)")


def _gate(args: argparse.Namespace, out: Output) -> int:
    import os

    from atlas_intoto.errors import UsageError
    from atlas_intoto.fileio import parse_json, read_bytes
    from atlas_intoto.service.client import artifact_digests, request_verdict

    if (args.client_cert is None) != (args.client_key is None):
        raise UsageError("--client-cert and --client-key go together")
    # A key given twice would reach the service as its last value only (docs/formats.md).
    data = read_bytes(args.bundle, what="bundle")
    bundle = parse_json(data, source=str(args.bundle), what="bundle", unique_keys=True)
    artifacts = artifact_digests(args.artifacts)
    out.human(f"hashed {len(artifacts)} file(s) under {args.artifacts}")
    answer = request_verdict(
        args.service,
        {"policy": args.policy, "bundle": bundle, "artifacts": artifacts},
        token=os.environ.get(args.token_env) or None,
        timeout=args.timeout,
        ca_file=str(args.ca_cert) if args.ca_cert else None,
        cert=(str(args.client_cert), str(args.client_key)) if args.client_cert else None,
    )
    for row in answer.get("results", ()):
        mark = "PASS" if row.get("passed") else "FAIL"
        where = f" [{row['step']}]" if row.get("step") else ""
        out.human(f"{mark} {row.get('check')}{where}: {row.get('reason')}")
    verdict = "VERIFIED" if answer.get("ok") else "NOT VERIFIED"
    out.human(f"{verdict} under policy {args.policy} by {args.service}")
    out.result(answer)
    return 0 if answer.get("ok") is True else 1

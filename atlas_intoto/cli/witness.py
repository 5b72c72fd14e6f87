"""CLI: ``witness serve`` (a C2SP tlog-witness cosigning consistent checkpoints)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    witness = sub.add_parser(
        "witness",
        help="run a C2SP transparency-log witness",
        description="Serve POST /add-checkpoint: cosign a log's checkpoints (Ed25519 "
        "cosignature/v1) only while they stay consistent.",
        parents=[common],
    )
    witness.set_defaults(handler=lambda args, out: (witness.print_help(sys.stderr), 2)[1])
    cmds = witness.add_subparsers(dest="witness_command", metavar="COMMAND")
    p = command(cmds, common, "serve", _serve, help="serve the witness over HTTP")
    p.add_argument("--name", required=True, help="the witness's note name, e.g. witness.example/w1")
    p.add_argument(
        "--key",
        type=Path,
        required=True,
        help="Ed25519 private key (PKCS#8 PEM; created with KEY.pub on first use)",
    )
    p.add_argument(
        "--log",
        action="append",
        required=True,
        metavar="ORIGIN,KEY.pub",
        help="a log to witness: its checkpoint origin and public key (repeatable)",
    )
    p.add_argument("--state", type=Path, required=True, help="SQLite file of cosigned sizes")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=3003, help="listen port (default: 3003)")


def _serve(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.errors import UsageError
    from atlas_intoto.fileio import read_bytes
    from atlas_intoto.tlog import serving
    from atlas_intoto.tlog.witness import Witness, create_witness_app, load_or_create_witness_key

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a TCP port")
    logs: dict[str, list[bytes]] = {}
    for spec in args.log:
        origin, _, path = spec.rpartition(",")
        if not origin:
            raise UsageError(f"--log {spec!r}: expected ORIGIN,KEY.pub")
        logs.setdefault(origin, []).append(read_bytes(Path(path), what="log public key"))
    key = load_or_create_witness_key(args.key)
    witness = Witness(key=key, name=args.name, logs=logs, state=args.state)
    sock = serving.listen(args.host, args.port)
    url = serving.url_of(sock)
    out.human(
        f"witness {args.name} on {url}/add-checkpoint (public key {args.key.with_suffix('.pub')})"
    )
    out.result({"url": url, "name": args.name, "public_key": str(args.key.with_suffix(".pub"))})
    out.flush()
    try:
        serving.serve_foreground(create_witness_app(witness), sock)
    finally:
        witness.close()
    return 0

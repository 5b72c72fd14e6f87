"""CLI: ``tsa serve`` (an RFC 3161 time-stamping authority, as Sigstore's timestamp-authority)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    tsa = sub.add_parser(
        "tsa",
        help="run an RFC 3161 time-stamping authority",
        description="Serve POST /api/v1/timestamp and GET /api/v1/timestamp/certchain.",
        parents=[common],
    )
    tsa.set_defaults(handler=lambda args, out: (tsa.print_help(sys.stderr), 2)[1])
    cmds = tsa.add_subparsers(dest="tsa_command", metavar="COMMAND")
    p = command(cmds, common, "serve", _serve, help="serve the TSA over HTTP")
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="key and certificate chain (default: $ATLAS_INTOTO_HOME/tsa; created on first "
        "use; pin DIR/tsa-root.pem in layouts under trust.tsa.roots)",
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=3002, help="listen port (default: 3002)")
    p.add_argument(
        "--auth",
        type=Path,
        default=None,
        metavar="FILE",
        help="auth config: who may get timestamps (a write); without it anyone who can reach the "
        "TSA may (docs/auth.md)",
    )


def _serve(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.auth import Guard, protect
    from atlas_intoto.errors import UsageError
    from atlas_intoto.home import atlas_home
    from atlas_intoto.tlog import serving
    from atlas_intoto.tsa.http import create_tsa_app
    from atlas_intoto.tsa.keys import load_or_create_tsa, root_path

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a TCP port")
    directory: Path = args.dir or atlas_home() / "tsa"
    guard = Guard.from_file(args.auth) if args.auth is not None else None
    authority = load_or_create_tsa(directory)
    sock = serving.listen(args.host, args.port)
    url = serving.url_of(sock)
    out.human(f"serving an RFC 3161 TSA on {url}/api/v1/timestamp (root {root_path(directory)})")
    out.result({"url": url, "dir": str(directory), "root": str(root_path(directory))})
    out.flush()
    app: Any = create_tsa_app(authority)
    serving.serve_foreground(app if guard is None else protect(app, guard), sock)
    return 0

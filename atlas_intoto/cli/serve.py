"""CLI: ``serve`` (the verification service) — see atlas_intoto/service/."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = command(
        sub,
        common,
        "serve",
        _serve,
        help="run the verification service (HTTP verifier, deployment gate, admission webhook)",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="service config (policies, tokens, limits)")
    source.add_argument(
        "--layout-key",
        type=Path,
        action="append",
        help="quick start: one policy 'default' with this owner key, no tokens (repeatable)",
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="listen port (default: 8080)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
    p.add_argument("--tls-cert", type=Path, default=None, help="TLS certificate chain (PEM)")
    p.add_argument("--tls-key", type=Path, default=None, help="TLS private key (PEM)")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="verify cache shared by the workers (--layout-key mode; default: the user cache)",
    )


def _tls(args: argparse.Namespace, client_ca: Path | None) -> dict[str, str] | None:
    from atlas_intoto.errors import UsageError
    from atlas_intoto.fileio import read_bytes

    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.tls_cert is None:
        if client_ca is not None:
            raise UsageError("mtls in the config needs --tls-cert and --tls-key")
        return None
    for path in (args.tls_cert, args.tls_key, *([client_ca] if client_ca else [])):
        read_bytes(path, what="TLS file")
    tls = {"certfile": str(args.tls_cert), "keyfile": str(args.tls_key)}
    if client_ca is not None:
        tls["client_ca"] = str(client_ca)
    return tls


def _serve(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.errors import UsageError
    from atlas_intoto.service.runner import serve, settings_loader
    from atlas_intoto.tlog import serving

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a TCP port")
    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers {args.workers}: must be between 1 and 64")
    settings: dict[str, Any] = (
        {"config": str(args.config.resolve())}
        if args.config is not None
        else {
            "layout_keys": [str(p.resolve()) for p in args.layout_key],
            "cache_dir": str(args.cache_dir.resolve()) if args.cache_dir else None,
        }
    )
    # Everything that can fail is checked before the port is announced.
    config = settings_loader(settings)()
    tls = _tls(args, config.mtls_ca)
    sock = serving.listen(args.host, args.port)
    url = serving.url_of(sock).replace("http://", "https://" if tls else "http://")
    out.human(
        f"verification service on {url} ({args.workers} worker(s)); policies: "
        f"{', '.join(sorted(config.policies))}"
    )
    out.result({"url": url, "workers": args.workers, "policies": sorted(config.policies)})
    out.flush()
    serve(settings, sock=sock, workers=args.workers, tls=tls)
    return 0

"""CLI: ``ca serve`` (a Fulcio-compatible CA for keyless signing in private deployments) and
``ca dev-token`` (an identity token from the local test issuer, for demos and tests)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    ca = sub.add_parser(
        "ca",
        help="run a Fulcio-compatible certificate authority",
        description="Serve POST /api/v2/signingCert and GET /api/v2/trustBundle (Fulcio's API): "
        "short-lived code-signing certificates for OIDC identities, with an embedded SCT.",
        parents=[common],
    )
    ca.set_defaults(handler=lambda args, out: (ca.print_help(sys.stderr), 2)[1])
    cmds = ca.add_subparsers(dest="ca_command", metavar="COMMAND")
    p = command(cmds, common, "serve", _serve, help="serve the CA over HTTP")
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="keys and certificates (default: $ATLAS_INTOTO_HOME/ca; created on first use; "
        "pin DIR/ca-root.pem and DIR/ct.pub, e.g. with `log trusted-root --ca-dir DIR`)",
    )
    p.add_argument(
        "--issuers",
        type=Path,
        default=None,
        metavar="FILE",
        help='JSON/YAML {"issuers": [{"url", "type": email|github-workflow|gitlab-pipeline|uri, '
        '"jwks_url" | "jwks_file", "subject_domain"?, "base_url"?}]}',
    )
    p.add_argument(
        "--dev-issuer",
        action="store_true",
        help="also trust the local test OIDC issuer (its key is public: tests and demos only)",
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=3003, help="listen port (default: 3003)")
    p.add_argument(
        "--auth",
        type=Path,
        default=None,
        metavar="FILE",
        help="auth config: who may get certificates (a write). Fulcio clients send the identity "
        "token as the bearer, so admit writers by OIDC identity (docs/auth.md)",
    )

    t = command(
        cmds,
        common,
        "dev-token",
        _dev_token,
        help="print an identity token from the local test issuer (tests and demos only)",
    )
    t.add_argument("--email", default=None, help="a verified email identity")
    t.add_argument("--subject", default=None, help="the sub claim (default: the email)")
    t.add_argument("--lifetime", type=int, default=600, help="seconds (default: 600)")


def _read_issuers(path: Path) -> list[Any]:
    import yaml

    from atlas_intoto.ca.oidc import IssuerConfig
    from atlas_intoto.errors import CaConfigError
    from atlas_intoto.fileio import read_bytes

    try:
        doc = yaml.safe_load(read_bytes(path, what="issuer configuration"))
    except yaml.YAMLError as exc:
        # yaml's message spans lines (a snippet and a caret): the kind and position only
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise CaConfigError(f"{path}: not JSON or YAML ({type(exc).__name__}{where})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("issuers"), list):
        raise CaConfigError(f"{path}: issuers: expected an array")
    return [
        IssuerConfig.from_dict(item, source=f"{path}: issuers[{i}]")
        for i, item in enumerate(doc["issuers"])
    ]


def _serve(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.auth import Guard, protect
    from atlas_intoto.ca.keys import load_or_create_ca, root_path
    from atlas_intoto.ca.oidc_dev import DevIssuer
    from atlas_intoto.ca.server import JwksSource, create_ca_app
    from atlas_intoto.errors import UsageError
    from atlas_intoto.home import atlas_home
    from atlas_intoto.tlog import serving

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a TCP port")
    if args.dev_issuer and args.host not in ("127.0.0.1", "::1", "localhost"):
        # anyone can mint the test issuer's tokens: never certify them beyond this machine
        raise UsageError("--dev-issuer: only on a loopback --host (its key is public)")
    configs = [] if args.issuers is None else _read_issuers(args.issuers)
    inline = {}
    if args.dev_issuer:
        dev = DevIssuer()
        configs.append(dev.config("email"))
        inline[dev.url] = dev.jwks()
    if not configs:
        raise UsageError("give --issuers FILE (or --dev-issuer for tests and demos)")
    issuers = {c.url: c for c in configs}
    base = args.issuers.parent if args.issuers is not None else Path(".")
    jwks = JwksSource(issuers, base_dir=base, inline=inline)
    guard = Guard.from_file(args.auth) if args.auth is not None else None
    directory: Path = args.dir or atlas_home() / "ca"
    ca = load_or_create_ca(directory)
    sock = serving.listen(args.host, args.port)
    url = serving.url_of(sock)
    out.human(f"serving a Fulcio-compatible CA on {url} (root {root_path(directory)})")
    out.result(
        {
            "url": url,
            "dir": str(directory),
            "root": str(root_path(directory)),
            "ct_key": str(directory / "ct.pub"),
            "issuers": sorted(issuers),
        }
    )
    out.flush()
    app: Any = create_ca_app(ca, issuers=issuers, jwks=jwks)
    serving.serve_foreground(app if guard is None else protect(app, guard), sock)
    return 0


def _dev_token(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.ca.oidc_dev import DevIssuer
    from atlas_intoto.errors import UsageError

    if args.email is None and args.subject is None:
        raise UsageError("give --email or --subject")
    if args.lifetime <= 0:
        raise UsageError(f"--lifetime {args.lifetime}: a token must be valid for some seconds")
    claims = {} if args.email is None else {"email": args.email, "email_verified": True}
    token = DevIssuer().mint_token(
        subject=args.subject or args.email, claims=claims, lifetime=args.lifetime
    )
    out.result({"token": token, "issuer": DevIssuer().url}, text=token)
    return 0

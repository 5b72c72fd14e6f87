"""CLI: ``auth token`` (a new bearer token and its config entry) and ``auth check`` (validate an
auth config, docs/auth.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    auth = sub.add_parser(
        "auth",
        help="who may write to our servers: tokens and auth configs",
        description="Create bearer tokens and check auth configs (log/tsa/ca serve --auth, "
        "and the verification service's auth:).",
        parents=[common],
    )
    auth.set_defaults(handler=lambda args, out: (auth.print_help(sys.stderr), 2)[1])
    cmds = auth.add_subparsers(dest="auth_command", metavar="COMMAND")
    p = command(
        cmds,
        common,
        "token",
        _token,
        help="make a random bearer token; print it once, and the config entry (its hash only)",
    )
    p.add_argument("name", help="the token's name (what server messages call it)")
    p.add_argument(
        "--scope",
        action="append",
        choices=("read", "write"),
        default=None,
        help="what it may do (repeatable; default: write, which implies read)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the token to this file (0600) instead of printing it",
    )
    p = command(cmds, common, "check", _check, help="validate an auth config file")
    p.add_argument("config", type=Path, metavar="FILE")


#: a token grant's name (schemas/auth-config.schema.json)
_NAME = r"[A-Za-z0-9._@:-]+"


def _token(args: argparse.Namespace, out: Output) -> int:
    import re
    import secrets

    from atlas_intoto.auth.config import hash_token
    from atlas_intoto.errors import UsageError
    from atlas_intoto.fileio import atomic_write

    if re.fullmatch(_NAME, args.name) is None:
        # the entry must pass `auth check` (the schema's pattern) and paste into YAML as is
        raise UsageError(f"name {args.name!r}: letters, digits and . _ @ : - only")
    token = "atl_" + secrets.token_urlsafe(32)
    scopes = list(dict.fromkeys(args.scope or ["write"]))
    entry = {"name": args.name, "sha256": hash_token(token), "scopes": scopes}
    if args.out is not None:
        atomic_write(args.out, (token + "\n").encode(), mode=0o600)
        out.human(f"wrote the token to {args.out} (0600); it is not stored anywhere else")
    else:
        out.human("the token (shown once; give it to the client as ATLAS_INTOTO_LOG_TOKEN):")
        out.human(token)
    out.human("add to the auth config's tokens:")
    out.result(
        {"entry": entry, **({"token": token} if args.out is None else {})},
        text=f"  - {{name: {args.name}, sha256: {entry['sha256']}, "
        f"scopes: [{', '.join(entry['scopes'])}]}}",
    )
    return 0


def _check(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.auth import Guard

    config = Guard.from_file(args.config).config
    out.human(
        f"{args.config}: {len(config.tokens)} token(s) "
        f"({sum(t.revoked for t in config.tokens)} revoked), {len(config.issuers)} OIDC "
        f"issuer(s), {len(config.identities)} identit(ies); reads {config.reads}"
    )
    out.result(config.to_dict())
    return 0

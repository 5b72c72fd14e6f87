"""CLI: ``keygen``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = command(
        sub,
        common,
        "keygen",
        _keygen,
        help="generate an ECDSA P-256 key pair and a C2PA-capable certificate chain",
    )
    p.add_argument("name", help="key name: writes NAME.key, NAME.pub, NAME.crt")
    p.add_argument("--dir", type=Path, default=Path("."), help="output directory (default: .)")
    p.add_argument(
        "--ca-dir", type=Path, default=None, help="directory of the issuing CA (default: --dir)"
    )


def _keygen(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.keys import generate_keypair, load_public_key

    paths = generate_keypair(args.name, directory=args.dir, ca_dir=args.ca_dir)
    keyid = load_public_key(paths.public_key).keyid
    out.human(f"wrote {paths.private_key} (0600), {paths.public_key}, {paths.certificate_chain}")
    out.human(f"keyid {keyid}")
    out.result(
        {
            "keyid": keyid,
            "private_key": str(paths.private_key),
            "public_key": str(paths.public_key),
            "certificate_chain": str(paths.certificate_chain),
            "ca_certificate": str(paths.ca_certificate),
        }
    )
    return 0

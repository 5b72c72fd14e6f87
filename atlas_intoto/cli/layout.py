"""CLI: ``layout sign``, ``layout check``, ``layout export-intoto``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("layout", help="validate, sign and export layouts", parents=[common])
    layout_sub = group.add_subparsers(dest="layout_command", metavar="COMMAND")

    p = command(
        layout_sub,
        common,
        "sign",
        _sign,
        help="validate a layout source, pin its keys and sign it (DSSE)",
    )
    p.add_argument("source", type=Path, help="layout source (YAML or JSON)")
    p.add_argument(
        "--key",
        action="append",
        required=True,
        help="owner private key: PEM file or signer URI such as hsm:2?label=TOKEN (repeatable)",
    )
    p.add_argument("--out", type=Path, required=True, help="signed layout file to write")

    p = command(layout_sub, common, "check", _check, help="validate a layout source only")
    p.add_argument("source", type=Path, help="layout source (YAML or JSON)")

    p = command(
        layout_sub,
        common,
        "export-intoto",
        _export,
        help="write the plain in-toto layout of a signed layout",
        description="Write the plain in-toto layout (steps, functionary keys, rules, expiry) of a "
        "signed layout. With --key the export is a DSSE envelope signed by that owner key, which "
        "upstream in-toto-verify accepts together with our links; without --key it is an unsigned "
        "in-toto Metablock for in-toto-sign.",
    )
    p.add_argument("layout", type=Path, help="signed layout file")
    p.add_argument("--out", type=Path, required=True, help="in-toto layout file to write")
    p.add_argument(
        "--key",
        action="append",
        default=[],
        help="owner private key to sign with (PEM file or signer URI)",
    )


def _sign(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.fileio import atomic_write
    from atlas_intoto.layout import load_and_pin, parse_layout, sign_layout
    from atlas_intoto.layout.checkable import check_checkable
    from atlas_intoto.signer_uri import load_key_signer

    pinned = load_and_pin(args.source)
    layout = parse_layout(pinned, source=str(args.source))
    check_checkable(layout, now=int(time.time()), source=str(args.source))
    signers = [load_key_signer(key).signer for key in args.key]
    envelope = sign_layout(pinned, signers)
    atomic_write(args.out, envelope)
    keyids = [signer.public_key.keyid for signer in signers]
    out.human(
        f"signed {args.source} → {args.out} ({len(layout.steps)} steps, expires {layout.expires})"
    )
    out.result(
        {
            "layout": str(args.out),
            "digest": layout.digest,
            "owner_keyids": keyids,
            "steps": [step.name for step in layout.steps],
            "expires": layout.expires,
        }
    )
    return 0


def _check(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.layout import load_and_pin, parse_layout
    from atlas_intoto.layout.checkable import check_checkable

    pinned = load_and_pin(args.source)
    layout = parse_layout(pinned, source=str(args.source))
    check_checkable(layout, now=int(time.time()), source=str(args.source))
    out.human(f"{args.source}: valid ({len(layout.steps)} steps, expires {layout.expires})")
    out.result(
        {
            "valid": True,
            "source": str(args.source),
            "steps": [step.name for step in layout.steps],
            "functionaries": {n: f.keyid for n, f in layout.functionaries.items()},
            "identities": {n: i.describe() for n, i in layout.identities.items()},
            "expires": layout.expires,
        }
    )
    return 0


def _export(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.fileio import atomic_write
    from atlas_intoto.layout import export_intoto, load_signed_layout
    from atlas_intoto.signer_uri import load_key_signer

    _, layout = load_signed_layout(args.layout)
    signers = [load_key_signer(key).signer for key in args.key]
    data = export_intoto(layout, signers)
    atomic_write(args.out, data)
    kind = "DSSE envelope" if signers else "unsigned Metablock"
    out.human(f"wrote in-toto layout {args.out} ({kind})")
    out.result({"out": str(args.out), "signed": bool(signers), "format": kind})
    return 0

"""CLI: ``export slsa`` (SLSA Provenance v1 of a verified bundle's final model), and the signed
Statement writer ``verify --vsa-key/--vsa-out`` shares."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser(
        "export", help="export standard attestations for policy engines", parents=[common]
    )
    export_sub = group.add_subparsers(dest="export_command", metavar="FORMAT")
    p = command(
        export_sub,
        common,
        "slsa",
        _export_slsa,
        help="verify a bundle and write SLSA Provenance v1 for its final model",
    )
    p.add_argument("bundle", type=Path, help="FILE.atlas.json")
    p.add_argument(
        "--layout-key", type=Path, action="append", required=True, help="layout owner public key"
    )
    p.add_argument("--out", type=Path, required=True, help="where to write the provenance")
    p.add_argument(
        "--key",
        type=Path,
        default=None,
        help="sign it (DSSE) with this key and write a Sigstore bundle instead of the Statement",
    )
    p.add_argument("--log-url", default=None, help="with --key: also log it (Rekor v1)")


def signed_statement_bundle(
    statement: dict[str, Any], *, key_path: Path, log_url: str | None
) -> bytes:
    """Sign ``statement`` with ``key_path``, log it at ``log_url`` (optional), and return the
    Sigstore bundle bytes (the key's certificate as material when keygen made one)."""
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.signer import CryptoSigner

    from atlas_intoto.keys import load_private_key, sslib_key
    from atlas_intoto.sigstore_bundle import make_bundle
    from atlas_intoto.statement import sign_statement
    from atlas_intoto.step_statement import functionary_certificate

    private = load_private_key(key_path)
    signer = CryptoSigner(private, sslib_key(private.public_key()))
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    envelope = sign_statement(statement, signer)
    log_entry = None
    if log_url is not None:
        from atlas_intoto.tlog import backend

        log_entry = (
            backend.get(backend.DEFAULT_BACKEND).publisher(log_url).publish(envelope, public_pem)
        )
    document = make_bundle(
        envelope,
        log_entry=log_entry,
        certificate=functionary_certificate(key_path, public_pem),
    )
    return (json.dumps(document, indent=2) + "\n").encode()


def write_vsa(args: argparse.Namespace, data: bytes, report: Any, out: Output) -> None:
    """``verify --vsa-key KEY --vsa-out FILE [--vsa-log-url URL]``: the signed VSA."""
    from atlas_intoto import __version__
    from atlas_intoto.bundle import parse_bundle
    from atlas_intoto.fileio import atomic_write
    from atlas_intoto.vsa import vsa_statement

    statement = vsa_statement(
        report, parse_bundle(data), resource_uri=args.bundle.name, version=__version__
    )
    atomic_write(
        args.vsa_out,
        signed_statement_bundle(statement, key_path=args.vsa_key, log_url=args.vsa_log_url),
    )
    out.human(f"wrote {args.vsa_out}: SLSA VSA ({statement['predicate']['verificationResult']})")


def _export_slsa(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.cli.bundle import _layout_key_pems
    from atlas_intoto.fileio import atomic_write, read_bytes
    from atlas_intoto.slsa import provenance_statement
    from atlas_intoto.verify import verify_bundle

    data = read_bytes(args.bundle, what="bundle")
    report = verify_bundle(
        data, layout_keys=_layout_key_pems(args.layout_key), source=str(args.bundle)
    )
    if not report.ok:
        out.human(report.text())
        out.human("not exported: the bundle does not verify")
        out.result(report.to_dict())
        return 1
    statement = provenance_statement(report)
    if args.key is not None:
        written = signed_statement_bundle(statement, key_path=args.key, log_url=args.log_url)
    else:
        written = (json.dumps(statement, indent=2) + "\n").encode()
    atomic_write(args.out, written)
    out.human(f"wrote {args.out}: SLSA Provenance v1 of {len(statement['subject'])} artifact(s)")
    out.result({"out": str(args.out), "signed": args.key is not None, "statement": statement})
    return 0

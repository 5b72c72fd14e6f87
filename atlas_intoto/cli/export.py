"""CLI: ``export slsa`` (SLSA Provenance v1 of a verified bundle's final model), ``export
cyclonedx`` and ``export spdx`` (AI-BOMs of a verified bundle), and the signed Statement writer
``verify --vsa-key/--vsa-out`` shares."""

from __future__ import annotations

import argparse
import json
from pathlib import Path, PurePosixPath
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
        default=None,
        help="sign it (DSSE) with this key and write a Sigstore bundle instead of the Statement",
    )
    p.add_argument("--log-url", default=None, help="with --key: also log it (Rekor v1)")
    for name, what in (("cyclonedx", "a CycloneDX 1.6 ML-BOM"), ("spdx", "SPDX 3.0.1 JSON-LD")):
        _bom_command(export_sub, common, name, what)


def _bom_command(export_sub: Any, common: argparse.ArgumentParser, name: str, what: str) -> None:
    p = command(
        export_sub,
        common,
        name,
        _export_bom,
        help=f"verify a bundle and write {what} of its models, datasets, code and steps",
    )
    p.set_defaults(bom_format=name)
    p.add_argument("bundle", type=Path, help="FILE.atlas.json")
    p.add_argument(
        "--layout-key", type=Path, action="append", required=True, help="layout owner public key"
    )
    p.add_argument("--out", type=Path, default=None, help="where to write it (default: stdout)")
    p.add_argument(
        "--artifacts",
        type=Path,
        default=None,
        help="directory (or one file) of the final products, compared as by bundle verify; "
        "evaluation metrics found there (with their signed digests) go into the model card",
    )
    p.add_argument(
        "--allow-unattested",
        action="store_true",
        help="with --artifacts: accept files no step recorded (reported, not compared)",
    )
    p.add_argument(
        "--key",
        default=None,
        help="sign it as an in-toto Statement (DSSE) and write a Sigstore bundle instead",
    )
    p.add_argument("--log-url", default=None, help="with --key: also log it (Rekor v1)")


def signed_statement_bundle(
    statement: dict[str, Any], *, key_path: str | Path, log_url: str | None
) -> bytes:
    """Sign ``statement`` with ``key_path`` (a PEM file or signer URI), log it at ``log_url``
    (optional), and return the Sigstore bundle bytes (the key's certificate as material when
    keygen made one)."""
    from atlas_intoto.signer_uri import load_key_signer
    from atlas_intoto.sigstore_bundle import make_bundle
    from atlas_intoto.statement import sign_statement
    from atlas_intoto.step_statement import functionary_certificate

    loaded = load_key_signer(key_path)
    public_pem = loaded.public_pem
    envelope = sign_statement(statement, loaded.signer)
    log_entry = None
    if log_url is not None:
        from atlas_intoto.tlog import backend

        log_entry = (
            backend.get(backend.DEFAULT_BACKEND).publisher(log_url).publish(envelope, public_pem)
        )
    document = make_bundle(
        envelope,
        log_entry=log_entry,
        certificate=None
        if loaded.path is None
        else functionary_certificate(loaded.path, public_pem),
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


def _metrics_files(report: Any, artifacts: Path | None) -> dict[str, bytes]:
    """The JSON products found under ``artifacts`` (a directory): candidate evaluation
    metrics, which the lineage checks against their signed digests."""
    from atlas_intoto.bundle import read_inside
    from atlas_intoto.errors import InputError

    if artifacts is None or not artifacts.is_dir():
        return {}
    found: dict[str, bytes] = {}
    for step in report.steps:
        for path in step.products:
            if not path.lower().endswith(".json") or not (artifacts / path).is_file():
                continue
            try:
                found[path] = read_inside(artifacts, PurePosixPath(path), what="artifact")
            except InputError:
                continue  # outside the directory (a symlink): not the consumer's file
    return found


def bom_document(
    fmt: str, report: Any, data: bytes, *, source: str, files: dict[str, bytes]
) -> dict[str, Any]:
    """The ``fmt`` ("cyclonedx" or "spdx") export of a verified ``report`` of bundle ``data``."""
    from atlas_intoto import __version__
    from atlas_intoto.bom import bom_export
    from atlas_intoto.bundle import parse_bundle

    return bom_export(
        fmt,
        report,
        parse_bundle(data, source=source),
        source=source,
        version=__version__,
        files=files,
    )


def _export_bom(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.bom import bom_statement
    from atlas_intoto.cli.bundle import _layout_key_pems
    from atlas_intoto.fileio import atomic_write, read_bytes
    from atlas_intoto.verify import verify_bundle

    data = read_bytes(args.bundle, what="bundle")
    report = verify_bundle(
        data,
        layout_keys=_layout_key_pems(args.layout_key),
        artifacts_dir=args.artifacts,
        allow_unattested=args.allow_unattested,
        source=str(args.bundle),
    )
    if not report.ok:
        out.human(report.text())
        out.human("not exported: the bundle does not verify")
        out.result(report.to_dict())
        return 1
    source = args.bundle.name
    document = bom_document(
        args.bom_format,
        report,
        data,
        source=source,
        files=_metrics_files(report, args.artifacts),
    )
    if args.key is not None:
        statement = bom_statement(args.bom_format, document, report)
        written = signed_statement_bundle(statement, key_path=args.key, log_url=args.log_url)
    else:
        written = (json.dumps(document, indent=2) + "\n").encode()
    result = {
        "out": str(args.out) if args.out else None,
        "signed": args.key is not None,
        "format": args.bom_format,
        "document": document,
    }
    if args.out is None:  # the document is the command's answer: stdout
        out.result(result, text=written.decode().rstrip("\n"))
        return 0
    atomic_write(args.out, written)
    signed = " (signed in-toto Statement)" if args.key is not None else ""
    out.human(f"wrote {args.out}: {args.bom_format} export of {source}{signed}")
    out.result(result)
    return 0

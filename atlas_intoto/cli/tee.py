"""CLI: ``tee sim-info``, ``tee verify``, ``tee show``."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas_intoto.cli._common import Output, command

if TYPE_CHECKING:
    from atlas_intoto.tee.quote import Quote


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser(
        "tee", help="simulated TDX platform; inspect and verify TDX quotes", parents=[common]
    )
    tee_sub = group.add_subparsers(dest="tee_command", metavar="COMMAND")
    group.set_defaults(handler=lambda args, out: (group.print_help(), 2)[1])

    command(
        tee_sub,
        common,
        "sim-info",
        _sim_info,
        help="create (on first use) and describe the simulated TDX platform",
        description="Create (on first use) and describe the simulated TDX platform under "
        "ATLAS_INTOTO_HOME: its root CA (PEM, to pin in layouts under trust.tee.roots), MRTD "
        "and RTMR0-3 (to pin under steps[].tee).",
    )

    p = command(
        tee_sub,
        common,
        "verify",
        _verify,
        help="verify a TDX quote with its collateral (dcap-qvl) and print its measurements",
    )
    p.add_argument("quote", type=Path, help="raw quote file (binary, or hex/base64 text)")
    p.add_argument("--collateral", type=Path, required=True, help="QuoteCollateralV3 JSON file")
    p.add_argument(
        "--root",
        action="append",
        default=None,
        metavar="PEM",
        help="pinned root CA certificate (PEM file, or 'intel'; repeatable; default: intel)",
    )
    p.add_argument(
        "--at",
        default=None,
        metavar="TIME",
        help="verification time: unix seconds or RFC 3339 (default: now)",
    )

    p = command(tee_sub, common, "show", _show, help="parse a TDX quote and print its fields")
    p.add_argument("quote", type=Path, help="raw quote file (binary, or hex/base64 text)")


def _sim_info(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.home import atlas_home
    from atlas_intoto.tee.simulated import default_directory, ensure_platform

    directory = default_directory(atlas_home())
    platform = ensure_platform(directory, now=int(time.time()))
    import hashlib

    root_pem = platform.root_pem.decode()
    doc = {
        "directory": str(directory),
        "platform_id": platform.platform_id,
        "root_pem": root_pem,
        "root_sha256": hashlib.sha256(platform.root_der).hexdigest(),
        "mrtd": platform.mr_td.hex(),
        "rtmr": {str(i): value.hex() for i, value in enumerate(platform.rtmr)},
        "fmspc": platform.fmspc.hex(),
    }
    out.human(f"simulated TDX platform {platform.platform_id} in {directory}")
    lines = [root_pem.rstrip(), f"root SHA-256  {doc['root_sha256']}", f"MRTD   {doc['mrtd']}"]
    lines += [f"RTMR{i}  {value.hex()}" for i, value in enumerate(platform.rtmr)]
    out.result(doc, text="\n".join(lines))
    return 0


def _verify(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.errors import NotTdxQuoteError
    from atlas_intoto.fileio import read_bytes
    from atlas_intoto.tee.dcap import verify_quote_collateral
    from atlas_intoto.tee.quote import TEE_TYPE_TDX

    # Bad options fail before any output about the quote.
    at = _parse_time(args.at) if args.at is not None else int(time.time())
    quote_bytes, quote = _load_quote(args.quote)
    _print_measurements(quote, out)
    if quote.header.tee_type != TEE_TYPE_TDX:
        raise NotTdxQuoteError(
            f"{args.quote}: TEE type 0x{quote.header.tee_type:08x} is not TDX (0x00000081)"
        )
    collateral = read_bytes(args.collateral, what="collateral file")
    roots = _load_roots(args.root or ["intel"])
    result = verify_quote_collateral(quote_bytes, collateral, roots=roots, at=at)
    advisories = ", ".join(result.advisory_ids) or "none"
    out.human(f"quote verified at {_utc(at)}: TCB status {result.status}, advisories: {advisories}")
    out.result(
        {
            "verified": True,
            "tcb_status": result.status,
            "advisory_ids": list(result.advisory_ids),
            "at": at,
            "root_sha256": result.root_sha256,
            "quote": _summary(quote),
        },
        text=f"TCB status: {result.status}\nadvisories: {advisories}",
    )
    return 0


def _show(args: argparse.Namespace, out: Output) -> int:
    _, quote = _load_quote(args.quote)
    _print_measurements(quote, out)
    out.result(_summary(quote))
    return 0


def _load_quote(path: Path) -> tuple[bytes, Quote]:
    import base64
    import binascii
    import contextlib

    from atlas_intoto.errors import QuoteFormatError
    from atlas_intoto.fileio import read_bytes
    from atlas_intoto.tee.quote import parse_quote

    data = read_bytes(path, what="quote file")
    candidates = [data]
    text = data.strip()
    if text and all(32 < byte < 127 for byte in text):
        # Quotes are often passed around as hex or base64 text.
        for decode in (bytes.fromhex, base64.b64decode):
            with contextlib.suppress(ValueError, binascii.Error):
                candidates.append(decode(text.decode("ascii")))
    error: QuoteFormatError | None = None
    for candidate in candidates:
        try:
            return candidate, parse_quote(candidate)
        except QuoteFormatError as exc:
            error = error or exc
    assert error is not None
    raise QuoteFormatError(f"{path}: {error}") from error


def _load_roots(entries: list[str]) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from atlas_intoto.errors import InputError
    from atlas_intoto.fileio import read_bytes
    from atlas_intoto.tee.policy import intel_root_der

    roots: list[bytes] = []
    for entry in entries:
        if entry == "intel":
            roots.append(intel_root_der())
            continue
        data = read_bytes(Path(entry), what="root certificate")
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except ValueError:
            try:
                certificates = [x509.load_der_x509_certificate(data)]
            except ValueError as exc:
                raise InputError(f"{entry}: not a PEM or DER certificate") from exc
        roots.extend(c.public_bytes(serialization.Encoding.DER) for c in certificates)
    return roots


_MAX_UNIX = 253402300799  # 9999-12-31T23:59:59Z


def _parse_time(value: str) -> int:
    from atlas_intoto.errors import UsageError

    if value.isascii() and value.isdigit():
        unix = int(value[:20])  # more digits are out of range anyway (and slow to convert)
    else:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise UsageError(f"--at: {value!r} is neither unix seconds nor RFC 3339") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        unix = int(parsed.timestamp())
    # The verifier and the report print the time as a date: keep it within years 1970..9999.
    if not 0 <= unix <= _MAX_UNIX:
        raise UsageError(f"--at: {value!r} is out of range (years 1970 to 9999)")
    return unix


def _utc(unix: int) -> str:
    return dt.datetime.fromtimestamp(unix, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(quote: Quote) -> dict[str, Any]:
    report = quote.report
    doc: dict[str, Any] = {
        "version": quote.header.version,
        "tee_type": f"0x{quote.header.tee_type:08x}",
        "td_report_version": report.version,
        "tee_tcb_svn": report.tee_tcb_svn.hex(),
        "mrseam": report.mr_seam.hex(),
        "mrsignerseam": report.mr_signer_seam.hex(),
        "seam_attributes": report.seam_attributes.hex(),
        "td_attributes": report.td_attributes.hex(),
        "debug": report.debug,
        "xfam": report.xfam.hex(),
        "mrtd": report.mr_td.hex(),
        "mrconfigid": report.mr_config_id.hex(),
        "mrowner": report.mr_owner.hex(),
        "mrownerconfig": report.mr_owner_config.hex(),
        "rtmr": {str(i): value.hex() for i, value in enumerate(report.rtmrs)},
        "report_data": report.report_data.hex(),
    }
    if report.tee_tcb_svn2 is not None and report.mr_service_td is not None:
        doc["tee_tcb_svn2"] = report.tee_tcb_svn2.hex()
        doc["mrservicetd"] = report.mr_service_td.hex()
    return doc


def _print_measurements(quote: Quote, out: Output) -> None:
    report = quote.report
    out.human(
        f"TDX quote v{quote.header.version}, TD report {report.version}"
        f"{' (DEBUG TD)' if report.debug else ''}"
    )
    out.human(f"  MRTD        {report.mr_td.hex()}")
    for index, value in enumerate(report.rtmrs):
        out.human(f"  RTMR{index}       {value.hex()}")
    out.human(f"  MRCONFIGID  {report.mr_config_id.hex()}")
    out.human(f"  MRSEAM      {report.mr_seam.hex()}")
    out.human(f"  TDATTRIBUTES {report.td_attributes.hex()}  XFAM {report.xfam.hex()}")
    out.human(f"  REPORTDATA  {report.report_data.hex()}")

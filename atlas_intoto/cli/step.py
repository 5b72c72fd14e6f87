"""CLI: ``run`` and ``record start`` / ``record stop``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas_intoto.cli._common import Output, command
from atlas_intoto.cli.measure import ProgressBar, add_digest_options, digest_algorithms
from atlas_intoto.recording import (
    DEFAULT_LOG_BACKOFF,
    DEFAULT_LOG_MAX_ENTRY,
    DEFAULT_LOG_RETRIES,
    DEFAULT_OUTPUT_CAP,
)

if TYPE_CHECKING:
    from atlas_intoto.recording import RecordingOptions
    from atlas_intoto.step import RecordedStep


def _identity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--step", required=True, metavar="NAME", help="step name (as in the layout)")
    p.add_argument(
        "--key",
        type=Path,
        default=None,
        metavar="KEY",
        help="functionary private key: a PEM file or a signer URI (file:, hsm:, gcpkms:, awskms:, "
        "azurekms://; docs/auth.md); or sign keyless (--identity-token/--trust-config)",
    )
    _keyless_options(p)
    p.add_argument(
        "--out",
        type=Path,
        default=Path(".atlas"),
        metavar="DIR",
        help="evidence directory (default: .atlas)",
    )


def _keyless_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--identity-token",
        default=None,
        metavar="TOKEN",
        help="keyless: OIDC identity token (default: $ATLAS_INTOTO_IDENTITY_TOKEN, "
        "$SIGSTORE_ID_TOKEN, or ambient CI credentials)",
    )
    p.add_argument(
        "--identity-token-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="keyless: read the OIDC identity token from FILE",
    )
    p.add_argument(
        "--trust-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="keyless: Sigstore ClientTrustConfig naming the CA, log and TSA (as `sigstore "
        "--trust-config`; e.g. from `log trusted-root --trust-config`)",
    )
    p.add_argument(
        "--keyless",
        action="store_true",
        help="sign keyless with a short-lived certificate (implied by --identity-token(-file) "
        "and --trust-config)",
    )


def _keyless_fields(args: argparse.Namespace) -> dict[str, Any]:
    """--key and the keyless options as RecordingOptions fields."""
    from atlas_intoto.errors import UsageError
    from atlas_intoto.fileio import read_bytes

    token = args.identity_token
    if args.identity_token_file is not None:
        if token is not None:
            raise UsageError("give --identity-token or --identity-token-file, not both")
        raw = read_bytes(args.identity_token_file, what="identity token")
        token = raw.decode("utf-8", errors="replace").strip()
        if not token:
            raise UsageError(f"{args.identity_token_file}: empty identity token")
    keyless = args.keyless or token is not None or args.trust_config is not None
    if keyless and args.key is not None:
        raise UsageError(
            "--key and keyless signing (--identity-token/--trust-config) exclude each other"
        )
    return {
        "key_path": args.key or Path(),
        "keyless": keyless,
        "identity_token": token,
        "trust_config": args.trust_config,
    }


def _paths(p: argparse.ArgumentParser, which: str) -> None:
    p.add_argument(
        f"--{which}",
        nargs="+",
        default=[],
        metavar="PATH",
        help=f"{which} to measure (files or directories, relative to --base-path)",
    )


def _path_options(p: argparse.ArgumentParser, *, default_base: Path | None) -> None:
    p.add_argument(
        "--exclude",
        action="append",
        default=None if default_base is None else [],
        metavar="PATTERN",
        help="gitignore-style pattern to leave out (repeatable; .git/ and --out are excluded)",
    )
    p.add_argument(
        "--base-path",
        type=Path,
        default=default_base,
        metavar="DIR",
        help="record paths relative to DIR (default: "
        + ("." if default_base is not None else "as given to 'record start'")
        + ")",
    )
    add_digest_options(p)


def _evidence(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tee",
        choices=("none", "simulated", "tdx"),
        default="none",
        help="bind a TEE quote to the step (default: none)",
    )
    p.add_argument(
        "--tee-collateral-url",
        metavar="URL",
        default=None,
        help="PCCS/PCS URL for quote collateral (--tee tdx)",
    )
    p.add_argument(
        "--c2pa", action="store_true", help="write a C2PA sidecar manifest for each product"
    )
    p.add_argument(
        "--log", metavar="URL", default=None, help="publish the link to this Rekor-compatible log"
    )
    _log_choice(p)
    p.add_argument(
        "--log-retries",
        type=int,
        default=DEFAULT_LOG_RETRIES,
        metavar="N",
        help="retries when the log is unreachable or fails (5xx); then the link is kept with a "
        f"pending marker for 'log publish' (default: {DEFAULT_LOG_RETRIES})",
    )
    p.add_argument(
        "--log-backoff",
        type=float,
        default=DEFAULT_LOG_BACKOFF,
        metavar="SECONDS",
        help=f"first wait between retries, doubling, at most 30 s (default: {DEFAULT_LOG_BACKOFF})",
    )
    p.add_argument(
        "--log-max-entry",
        type=int,
        default=DEFAULT_LOG_MAX_ENTRY,
        metavar="BYTES",
        help="the log's entry limit: a larger link is kept unpublished and reported "
        f"(default: {DEFAULT_LOG_MAX_ENTRY}, as 'log serve --max-body')",
    )
    p.add_argument(
        "--cert",
        type=Path,
        default=None,
        metavar="CHAIN",
        help="C2PA signing certificate chain, PEM, leaf first (default: KEY with suffix .crt)",
    )
    _private_options(p)


def _private_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--private",
        action="append",
        default=[],
        metavar="PATTERN",
        help="record artifacts matching PATTERN as salted commitments, not by path and digest "
        "(repeatable; --layout adds the layout's private patterns; docs/confidentiality.md)",
    )
    p.add_argument(
        "--private-secret",
        type=Path,
        default=None,
        metavar="FILE",
        help="the pipeline secret commitments are keyed with, hex (default: "
        "$ATLAS_INTOTO_PRIVATE_SECRET); every step of a pipeline must use the same one",
    )


def _preflight_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--layout",
        type=Path,
        default=None,
        metavar="FILE",
        help="signed layout: before anything runs, check the step exists, the key is one of its "
        "functionaries, the command matches and the materials satisfy its rules",
    )


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--record-output",
        action="store_true",
        help="keep stdout/stderr in the link, capped (default: only their SHA-256 and size)",
    )
    p.add_argument(
        "--output-cap",
        type=int,
        default=DEFAULT_OUTPUT_CAP,
        metavar="BYTES",
        help=f"bytes of each stream kept with --record-output (default: {DEFAULT_OUTPUT_CAP})",
    )


def _options(args: argparse.Namespace) -> RecordingOptions:
    """The recording options the parsed command line states (one place for every command)."""
    from atlas_intoto.recording import RecordingOptions

    return RecordingOptions(
        **_keyless_fields(args),
        base_path=args.base_path,
        out_dir=args.out,
        exclude=None if args.exclude is None else tuple(args.exclude),
        tee=getattr(args, "tee", "none"),
        tee_collateral_url=getattr(args, "tee_collateral_url", None),
        c2pa=getattr(args, "c2pa", False),
        **{"log_url": getattr(args, "log", None), **_log_options(args)},
        log_retries=getattr(args, "log_retries", DEFAULT_LOG_RETRIES),
        log_backoff=getattr(args, "log_backoff", DEFAULT_LOG_BACKOFF),
        log_max_entry=getattr(args, "log_max_entry", DEFAULT_LOG_MAX_ENTRY),
        cert_path=getattr(args, "cert", None),
        record_output=getattr(args, "record_output", False),
        output_cap=getattr(args, "output_cap", DEFAULT_OUTPUT_CAP),
        layout=getattr(args, "layout", None),
        digests=digest_algorithms(args),
        digest_cache=not args.no_digest_cache,
        private=tuple(getattr(args, "private", None) or ()),
        private_secret=getattr(args, "private_secret", None),
    )


def _log_choice(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log-version",
        choices=("auto", "1", "2"),
        default="auto",
        help="Rekor API of --log: auto detects it (default), 1 or 2",
    )
    p.add_argument(
        "--tsa",
        metavar="URL",
        default=None,
        help="RFC 3161 TSA timestamping the signature (Rekor v2: link and Statement, default the "
        "log's own TSA; Rekor v1: the Statement's Sigstore bundle)",
    )
    p.add_argument(
        "--signing-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="Sigstore SigningConfig v0.2 choosing the log (v1 or v2) and the TSA",
    )
    p.add_argument(
        "--log-visibility",
        choices=("full", "digest"),
        default="full",
        help="what the log learns: full logs the link (default); digest only a hashedrekord "
        "over the SHA-256 of its envelope (and of the Statement's), signed by --key (ECDSA P-256)",
    )


def _log_options(args: argparse.Namespace) -> dict[str, Any]:
    """--log-version, --tsa and --signing-config (or --trust-config's signing config, without
    --log) as RecordingOptions fields."""
    import time

    from atlas_intoto.errors import UsageError

    config = getattr(args, "signing_config", None)
    if config is None and getattr(args, "log", None) is None:
        # keyless: the trust config's signing config chooses the log, as for sigstore clients
        config = getattr(args, "trust_config", None)
    version = getattr(args, "log_version", "auto")
    backend = {"auto": "auto", "1": "rekor-v1", "2": "rekor-v2"}[version]
    options: dict[str, Any] = {
        "log_backend": backend,
        "tsa_url": getattr(args, "tsa", None),
        "log_visibility": getattr(args, "log_visibility", "full"),
    }
    if config is None:
        return options
    from atlas_intoto.ca.trust_config import MEDIA_TYPE as TRUST_CONFIG
    from atlas_intoto.fileio import read_json
    from atlas_intoto.tlog.signing_config import choose

    if getattr(args, "log", None) is not None:
        raise UsageError("--signing-config chooses the log: do not also give --log")
    doc = read_json(config, what="signing config")
    source = str(config)
    if isinstance(doc, dict) and doc.get("mediaType") == TRUST_CONFIG:
        doc, source = doc.get("signingConfig"), f"{config}: signingConfig"
    choice = choose(doc, now=time.time(), source=source)
    return {
        "log_url": choice.log_url,
        "log_backend": choice.log_backend,
        "tsa_url": options["tsa_url"] or choice.tsa_url,
        "log_visibility": options["log_visibility"],
    }


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    run = command(
        sub,
        common,
        "run",
        _run,
        help="run a command as a pipeline step and write its signed link",
        description="Measure materials, run CMD, measure products and write "
        "DIR/NAME.KEYID8.link. If CMD fails, nothing is written and its exit code is returned.",
    )
    _identity(run)
    _paths(run, "materials")
    _paths(run, "products")
    _path_options(run, default_base=Path("."))
    _evidence(run)
    _output_options(run)
    _preflight_option(run)
    run.add_argument(
        "cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARG ...]", help="the step's command"
    )

    record = sub.add_parser(
        "record",
        help="record a step in two parts (start before, stop after the work)",
        description="record start measures materials; record stop measures products and "
        "writes the link.",
    )
    rsub = record.add_subparsers(dest="record_command", metavar="{start,stop}")
    start = command(
        rsub, common, "start", _record_start, help="measure the materials of a step and remember"
    )
    _identity(start)
    _paths(start, "materials")
    _path_options(start, default_base=Path("."))
    _preflight_option(start)
    start.add_argument(
        "--command",
        default=None,
        metavar="'CMD ARG ...'",
        help="the step's declared command (shell-style words), recorded in the link by "
        "'record stop' and checked against the layout's expected_command",
    )
    stop = command(
        rsub, common, "stop", _record_stop, help="measure the products and write the link"
    )
    _identity(stop)
    _paths(stop, "products")
    _path_options(stop, default_base=None)
    _evidence(stop)


def _as_recorded(recorded: RecordedStep) -> tuple[Any, Any]:
    """The materials and products as the link records them: with private artifacts, their
    committed names (stdout is often a public CI log); their openings stay in the file."""
    if recorded.openings_path is None:
        return recorded.materials, recorded.products
    from atlas_intoto.link import read_unverified_link

    link = read_unverified_link(recorded.envelope, source=str(recorded.link_path))
    return dict(link.materials), dict(link.products)


def _report(recorded: RecordedStep, step: str, out: Output, extra: dict[str, Any]) -> None:
    if recorded.superseded is not None:
        out.human(f"previous run of step {step} moved to {recorded.superseded}")
    out.human(
        f"wrote {recorded.link_path} ({len(recorded.materials)} materials, "
        f"{len(recorded.products)} products, keyid {recorded.keyid[:8]})"
    )
    materials, products = _as_recorded(recorded)
    out.result(
        {
            "step": step,
            "link": str(recorded.link_path),
            "keyid": recorded.keyid,
            "binding": recorded.binding.hex(),
            "materials": materials,
            "products": products,
            "log_entry": str(recorded.log_entry_path) if recorded.log_entry_path else None,
            "collateral": str(recorded.collateral_path) if recorded.collateral_path else None,
            "c2pa": recorded.sidecars,
            "superseded": str(recorded.superseded) if recorded.superseded else None,
            "openings": str(recorded.openings_path) if recorded.openings_path else None,
            **extra,
        }
    )


def _run(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.step import run_step

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    bar = ProgressBar.for_output("measuring", out)
    try:
        recorded = run_step(
            step=args.step,
            options=_options(args),
            command=cmd,
            materials=args.materials,
            products=args.products,
            progress=bar,
            # With --json, stdout carries only our document: the command's output goes to stderr.
            echo_stdout=sys.stderr if out.json_mode else sys.stdout,
            echo_stderr=sys.stderr,
        )
    finally:
        bar.close()
    _report(recorded, args.step, out, {"command": cmd})
    return 0


def _record_start(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.step import record_start

    bar = ProgressBar.for_output("measuring", out)
    try:
        path = record_start(
            step=args.step,
            options=_options(args),
            materials=args.materials,
            command=_declared_command(args.command),
            progress=bar,
        )
    finally:
        bar.close()
    out.human(f"recorded materials of step {args.step} in {path}")
    out.result(
        {"step": args.step, "pending": str(path), "command": _declared_command(args.command)}
    )
    return 0


def _declared_command(text: str | None) -> list[str]:
    import shlex

    from atlas_intoto.errors import UsageError

    if text is None:
        return []
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--command {text!r}: {exc}") from exc
    if not words:
        raise UsageError("--command: empty command")
    return words


def _record_stop(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.step import record_stop

    bar = ProgressBar.for_output("measuring", out)
    try:
        recorded = record_stop(
            step=args.step,
            options=_options(args),
            products=args.products,
            progress=bar,
        )
    finally:
        bar.close()
    _report(recorded, args.step, out, {})
    return 0

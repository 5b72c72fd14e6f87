"""CLI: ``run`` and ``record start`` / ``record stop``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas_intoto.cli._common import Output, command
from atlas_intoto.cli.measure import ProgressBar, add_digest_options, digest_algorithms

if TYPE_CHECKING:
    from atlas_intoto.recording import RecordingOptions
    from atlas_intoto.step import RecordedStep


def _identity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--step", required=True, metavar="NAME", help="step name (as in the layout)")
    p.add_argument(
        "--key", required=True, type=Path, metavar="KEY", help="functionary private key (PEM)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path(".atlas"),
        metavar="DIR",
        help="evidence directory (default: .atlas)",
    )


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


def _options(args: argparse.Namespace) -> RecordingOptions:
    """The recording options the parsed command line states (one place for every command)."""
    from atlas_intoto.recording import RecordingOptions

    return RecordingOptions(
        key_path=args.key,
        base_path=args.base_path,
        out_dir=args.out,
        exclude=None if args.exclude is None else tuple(args.exclude),
        tee=getattr(args, "tee", "none"),
        tee_collateral_url=getattr(args, "tee_collateral_url", None),
        c2pa=getattr(args, "c2pa", False),
        log_url=getattr(args, "log", None),
        digests=digest_algorithms(args),
        digest_cache=not args.no_digest_cache,
    )


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
    stop = command(
        rsub, common, "stop", _record_stop, help="measure the products and write the link"
    )
    _identity(stop)
    _paths(stop, "products")
    _path_options(stop, default_base=None)
    _evidence(stop)


def _report(recorded: RecordedStep, step: str, out: Output, extra: dict[str, Any]) -> None:
    out.human(
        f"wrote {recorded.link_path} ({len(recorded.materials)} materials, "
        f"{len(recorded.products)} products, keyid {recorded.keyid[:8]})"
    )
    out.result(
        {
            "step": step,
            "link": str(recorded.link_path),
            "keyid": recorded.keyid,
            "binding": recorded.binding.hex(),
            "materials": recorded.materials,
            "products": recorded.products,
            "log_entry": str(recorded.log_entry_path) if recorded.log_entry_path else None,
            "collateral": str(recorded.collateral_path) if recorded.collateral_path else None,
            "c2pa": recorded.sidecars,
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
            progress=bar,
        )
    finally:
        bar.close()
    out.human(f"recorded materials of step {args.step} in {path}")
    out.result({"step": args.step, "pending": str(path)})
    return 0


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

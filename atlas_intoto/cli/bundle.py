"""CLI: ``bundle create``, ``verify``, ``verify-batch``, ``inspect``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from atlas_intoto.lineage import FORMATS  # light: renderers import their needs when called

    group = sub.add_parser("bundle", help="build model bundles", parents=[common])
    bundle_sub = group.add_subparsers(dest="bundle_command", metavar="COMMAND")
    p = command(
        bundle_sub,
        common,
        "create",
        _create,
        help="bundle a signed layout with the evidence of every step",
    )
    p.add_argument("--layout", type=Path, required=True, help="signed layout file")
    p.add_argument(
        "--evidence",
        type=Path,
        action="append",
        required=True,
        help="evidence directory (links, log entries, tee/, c2pa/); repeatable",
    )
    p.add_argument("--out", type=Path, required=True, help="bundle to write (FILE.atlas.json)")
    p.add_argument(
        "--format",
        dest="bundle_format",
        choices=("v1", "v2"),
        default="v2",
        help="v2 (default): per-step Sigstore bundles (docs/formats.md); v1: the link envelopes",
    )
    p.add_argument(
        "--oms",
        action="append",
        default=[],
        metavar="STEP=MODEL.SIG",
        help="an OMS model signature (model_signing sign) as evidence of STEP (v2); repeatable",
    )
    p.add_argument(
        "--audience",
        choices=("public", "auditor"),
        default="public",
        help="public (default): no private path, digest or sidecar; auditor: adds the openings "
        "of the private artifacts (docs/confidentiality.md)",
    )

    p = command(
        sub,
        common,
        "verify",
        _verify,
        help="verify a bundle end to end (exit 0 verified, 1 invalid evidence, 2 error)",
    )
    p.add_argument("bundle", type=Path, help="FILE.atlas.json")
    _verify_options(p)
    p.add_argument(
        "--openings",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="an auditor's openings file (repeatable): check every private artifact against "
        "its opened digests (and --artifacts)",
    )
    p.add_argument(
        "--artifacts",
        type=Path,
        default=None,
        help="directory (or one file) holding the final products: every file must be one the "
        "pipeline recorded, with the recorded digest",
    )
    p.add_argument(
        "--allow-unattested",
        action="store_true",
        help="with --artifacts: accept files no step recorded (reported, not compared)",
    )
    p.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="also check this model directory against the bundle's OMS model signatures "
        "(extra, missing or changed files fail, as with model-signing)",
    )
    p.add_argument(
        "--online",
        action="store_true",
        help="also prove each logged checkpoint consistent with the log's current one",
    )
    p.add_argument(
        "--log-url",
        default=None,
        help="log URL for --online (default: the layout's trust.logs url)",
    )
    p.add_argument("--html", type=Path, default=None, help="also write the HTML report here")
    p.add_argument(
        "--vsa-key",
        type=Path,
        default=None,
        help="sign a SLSA Verification Summary Attestation with this key (needs --vsa-out)",
    )
    p.add_argument(
        "--vsa-out", type=Path, default=None, help="write the VSA here (a Sigstore bundle)"
    )
    p.add_argument("--vsa-log-url", default=None, help="also log the VSA (Rekor v1 log URL)")

    p = command(
        sub,
        common,
        "verify-batch",
        _verify_batch,
        help="verify many bundles on all cores, verifying shared evidence once",
    )
    p.add_argument("bundles", type=Path, nargs="+", help="FILE.atlas.json ...")
    _verify_options(p)
    p.add_argument(
        "--jobs", type=_positive_int, default=None, help="worker processes (default: all cores)"
    )

    p = command(sub, common, "inspect", _inspect, help="show a bundle's lineage")
    p.add_argument("bundle", type=Path, help="FILE.atlas.json")
    p.add_argument("--format", choices=tuple(FORMATS), default="text")
    p.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    p.add_argument(
        "--layout-key",
        type=Path,
        action="append",
        default=[],
        help="owner public key: also verify and show the results (repeatable)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _verify_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--layout-key",
        type=Path,
        action="append",
        required=True,
        help="layout owner public key (repeatable: every key must have signed)",
    )
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")


def _layout_key_pems(paths: list[Path]) -> list[bytes]:
    from atlas_intoto.fileio import read_bytes
    from atlas_intoto.keys import load_public_key_pem

    pems = []
    for path in paths:
        data = read_bytes(path, what="layout key")
        load_public_key_pem(data, source=str(path))
        pems.append(data)
    return pems


def _create(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.bundle import serialize_bundle
    from atlas_intoto.bundle_v2 import collect_evidence_v2, rerun_evidence, serialize_bundle_v2
    from atlas_intoto.fileio import atomic_write
    from atlas_intoto.layout import load_signed_layout
    from atlas_intoto.rerun import collect_consistent

    envelope, layout = load_signed_layout(args.layout)
    # Re-runs: one link per step and functionary, the consistent set (atlas_intoto.rerun); it
    # also refuses links of undeclared steps, whatever the format.
    has_links = any(Path(d).is_dir() and any(Path(d).glob("*.link")) for d in args.evidence)
    collection = (
        collect_consistent(layout_envelope=envelope, evidence_dirs=args.evidence)
        if has_links or not args.oms  # a model signature may be the only evidence (v2)
        else None
    )
    if args.bundle_format == "v2":
        # A re-run step takes the selected links, not whatever its directory holds now.
        chosen = rerun_evidence(collection.rerun_choices) if collection is not None else []
        bundle = collect_evidence_v2(
            layout_envelope=envelope,
            evidence_dirs=args.evidence,
            extra=_oms_evidence(args.oms),
            chosen=chosen,
        )
    else:
        if args.oms:
            from atlas_intoto.errors import UsageError

            raise UsageError("--oms: model signatures travel in format v2 bundles only")
        assert collection is not None  # --oms without links was refused above
        bundle = collection.bundle
    bundle, openings = _for_audience(args, bundle)
    data = serialize_bundle_v2(bundle) if args.bundle_format == "v2" else serialize_bundle(bundle)
    _refuse_disclosure(args, data, openings)
    links = bundle.links
    atomic_write(args.out, data)
    steps = list(bundle.steps())
    missing = [step.name for step in layout.steps if step.name not in steps]
    out.human(f"wrote {args.out}: {len(links)} link(s) for steps {', '.join(steps)}")
    ignored = collection.ignored if collection is not None else []
    unpublished = collection.unpublished if collection is not None else []
    for path, reason in ignored:
        out.human(f"left out {path}: {reason}")
    for path in unpublished:
        out.human(f"warning: {path} is not in a log yet; run 'atlas-intoto log publish' first")
    if missing:
        out.human(f"warning: no evidence for step(s) {', '.join(missing)}; verification will fail")
    out.result(
        {
            "bundle": str(args.out),
            "format": args.bundle_format,
            "links": len(links),
            "steps": steps,
            "missing_steps": missing,
            "ignored": [{"link": str(p), "reason": r} for p, r in ignored],
            "unpublished": [str(p) for p in unpublished],
            "audience": args.audience,
            "openings": len(openings) if args.audience == "auditor" else 0,
        }
    )
    return 0


def _for_audience(args: argparse.Namespace, bundle: Any) -> tuple[Any, Any]:
    """The bundle for ``--audience`` and the openings of its private artifacts."""
    from atlas_intoto.confidential.audience import collect_openings, for_audience

    openings = collect_openings(args.evidence, bundle)
    return for_audience(bundle, args.audience, openings), openings


def _refuse_disclosure(args: argparse.Namespace, data: bytes, openings: Any) -> None:
    """Fail closed: a public bundle naming a private path or digest is not written."""
    from atlas_intoto.confidential.audience import disclosures

    if args.audience != "public":
        return
    found = disclosures(data, openings)
    if found:
        from atlas_intoto.errors import InputError

        raise InputError(
            f"{args.out}: a public bundle would disclose {found[0]} (recorded in clear by some "
            "link?); not written"
        )


def _oms_evidence(specs: list[str]) -> list[Any]:
    from atlas_intoto.bundle_v2 import oms_evidence
    from atlas_intoto.errors import UsageError

    found = []
    for spec in specs:
        step, sep, path = spec.partition("=")
        if not sep or not step or not path:
            raise UsageError(f"--oms {spec!r}: expected STEP=MODEL.SIG")
        found.append(oms_evidence(Path(path), step=step))
    return found


def _check_output_file(path: Path) -> None:
    """Fail before the work, not after it, when ``path`` cannot be written."""
    from atlas_intoto.errors import OutputError
    from atlas_intoto.fileio import ensure_writable_dir

    if path.is_dir():
        raise OutputError(f"{path}: is a directory, expected an output file")
    ensure_writable_dir(path.parent)


def _verify(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.fileio import atomic_write, read_bytes
    from atlas_intoto.verify import VerifyCache, verify_bundle

    if args.html is not None:
        _check_output_file(args.html)
    if (args.vsa_key is None) != (args.vsa_out is None):
        from atlas_intoto.errors import UsageError

        raise UsageError("--vsa-key and --vsa-out go together")
    data = read_bytes(args.bundle, what="bundle")
    keys = _layout_key_pems(args.layout_key)
    checker = None
    if args.online:
        from atlas_intoto.verify.online import consistency_checker

        checker = consistency_checker(args.log_url)
    cache = None if args.no_cache else VerifyCache.default()
    report = verify_bundle(
        data,
        layout_keys=keys,
        artifacts_dir=args.artifacts,
        cache=cache,
        consistency=checker,
        source=str(args.bundle),
        allow_unattested=args.allow_unattested,
        model_dir=args.model_dir,
        openings=_read_openings(args.openings),
    )
    out.human(report.text())
    if args.html is not None:
        from atlas_intoto.lineage import render_html

        atomic_write(args.html, render_html(data, report=report).encode())
        out.human(f"wrote {args.html}")
    if args.vsa_out is not None:
        from atlas_intoto.cli.export import write_vsa

        write_vsa(args, data, report, out)
    out.result(report.to_dict())
    return 0 if report.ok else 1


def _read_openings(paths: list[Path]) -> Any:
    """The ``--openings`` files, read and parsed (None: none given, a public verification)."""
    from atlas_intoto.confidential.openings import Openings, parse_openings
    from atlas_intoto.fileio import read_bytes

    if not paths:
        return None
    openings = Openings()
    for path in paths:
        openings += parse_openings(read_bytes(path, what="openings"), source=str(path))
    return openings


def _verify_batch(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.verify.batch import is_unreadable, verify_batch

    keys = _layout_key_pems(args.layout_key)
    results = verify_batch(
        args.bundles,
        layout_keys=keys,
        jobs=args.jobs or os.cpu_count() or 1,
        use_cache=not args.no_cache,
    )
    documents = []
    ok_count = unreadable = 0
    for path, report in zip(args.bundles, results, strict=True):
        first = report.first_failure
        status = report.verdict if report.ok else f"FAILED {first.check if first else ''}"
        detail = f": {first.reason}" if first is not None else ""
        out.human(f"{path}: {status}{detail}")
        ok_count += report.ok
        unreadable += is_unreadable(report)
        documents.append({"bundle": str(path), **report.to_dict()})
    out.human(f"{ok_count}/{len(results)} bundle(s) verified")
    if unreadable:
        out.human(f"{unreadable} bundle(s) could not be read or parsed")
    out.result({"ok": ok_count == len(results), "unreadable": unreadable, "bundles": documents})
    # An unreadable bundle is an operational error: nothing is known about its evidence.
    if unreadable:
        return 2
    return 0 if ok_count == len(results) else 1


def _inspect(args: argparse.Namespace, out: Output) -> int:
    import sys

    from atlas_intoto.fileio import atomic_write, read_bytes
    from atlas_intoto.lineage import render

    data = read_bytes(args.bundle, what="bundle")
    report = None
    if args.layout_key:
        from atlas_intoto.verify import VerifyCache, verify_bundle

        report = verify_bundle(
            data,
            layout_keys=_layout_key_pems(args.layout_key),
            cache=VerifyCache.default(),
            source=str(args.bundle),
        )
    fmt = "json" if out.json_mode else args.format
    text = render(data, fmt=fmt, report=report, source=str(args.bundle))
    if args.out is not None:
        atomic_write(args.out, text.encode())
        out.human(f"wrote {args.out} ({fmt})")
        out.result({"out": str(args.out), "format": fmt})
    elif out.json_mode:
        import json

        out.result(json.loads(text))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0

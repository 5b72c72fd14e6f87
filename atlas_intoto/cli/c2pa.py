"""CLI: ``c2pa show FILE [--manifest SIDECAR] [--anchor PEM ...]``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("c2pa", help="C2PA sidecar manifests", parents=[common])
    inner = group.add_subparsers(dest="c2pa_command", metavar="COMMAND")
    group.set_defaults(handler=lambda args, out: (group.print_help(), 2)[1])
    p = command(
        inner,
        common,
        "show",
        _show,
        help="print a file's C2PA manifest summary and its lineage (ingredients, recursively)",
    )
    p.add_argument("file", type=Path, help="the artifact the manifest describes")
    p.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="sidecar manifest store (default: FILE.c2pa, then .atlas/c2pa/FILE.c2pa)",
    )
    p.add_argument(
        "--anchor",
        type=Path,
        action="append",
        default=[],
        help="PEM trust anchor (repeatable); without one the best state is Valid, not Trusted",
    )


def _find_sidecar(file: Path, explicit: Path | None) -> Path:
    from atlas_intoto.errors import InputError

    if explicit is not None:
        return explicit
    candidates = [file.with_name(file.name + ".c2pa")]
    if not file.is_absolute():
        candidates.append(Path(".atlas") / "c2pa" / f"{file.as_posix()}.c2pa")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise InputError(f"{file}: no C2PA sidecar found (tried {tried}); pass --manifest")


def _tree(node: dict[str, Any], indent: str, lines: list[str]) -> None:
    signer = node.get("signer") or {}
    lines.append(f"{indent}manifest {node.get('label')}  title {node.get('title')}")
    lines.append(
        f"{indent}  signed by {signer.get('common_name')} ({signer.get('issuer')}); "
        f"actions {', '.join(node.get('actions') or []) or '-'}"
    )
    if node.get("sha256"):
        lines.append(f"{indent}  sha256 {node['sha256']}")
    step = node.get("step")
    if isinstance(step, dict):
        lines.append(
            f"{indent}  step {step.get('step')}  binding {step.get('binding')}  "
            f"quote {step.get('quote_digest') or '-'}"
        )
    ml = node.get("ml")
    if isinstance(ml, dict):
        parts = [str(ml.get(key)) for key in ("kind", "format", "framework") if ml.get(key)]
        lines.append(f"{indent}  ml {' '.join(parts)}")
        metrics = ml.get("metrics")
        if isinstance(metrics, dict) and metrics:
            shown = ", ".join(f"{k}={v}" for k, v in list(metrics.items())[:8])
            lines.append(f"{indent}  metrics {shown}")
    for ingredient in node.get("ingredients") or []:
        lines.append(f"{indent}  - {ingredient.get('relationship')} {ingredient.get('title')}")
        child = ingredient.get("manifest")
        if isinstance(child, dict):
            _tree(child, indent + "      ", lines)


def _show(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.c2pa import inspect_sidecar
    from atlas_intoto.errors import InputError
    from atlas_intoto.fileio import read_bytes

    sidecar_path = _find_sidecar(args.file, args.manifest)
    sidecar = read_bytes(sidecar_path, what="C2PA sidecar")
    anchors = [_load_anchor(path) for path in args.anchor]
    try:
        with open(args.file, "rb") as asset:
            summary = inspect_sidecar(
                sidecar,
                product_path=args.file.name,
                anchors_pem=anchors,
                asset=asset,
                source=str(sidecar_path),
            )
    except FileNotFoundError as exc:
        raise InputError(f"{args.file}: file not found") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{args.file}: is a directory, expected a file") from exc
    except PermissionError as exc:
        raise InputError(f"{args.file}: not readable (permission denied)") from exc
    document = {"file": str(args.file), "manifest": str(sidecar_path), **summary}
    state = summary.get("validation_state")
    lines = [f"{args.file}: {state} ({summary.get('manifests')} manifests in {sidecar_path})"]
    for failure in summary.get("failures") or []:
        lines.append(f"  failure {failure.get('code')}: {failure.get('explanation')}")
    _tree(summary["active_manifest"], "", lines)
    out.result(document, text="\n".join(lines))
    # Invalid means the bytes or the signature are wrong; Valid is fine without an anchor, but
    # with --anchor the question asked is whether the signer chains to it.
    if state == "Invalid" or (anchors and state != "Trusted"):
        return 1
    return 0


def _load_anchor(path: Path) -> bytes:
    """A trust anchor file: PEM certificate(s). Anything else would reach c2pa-rs, which fails
    with an opaque COSE error (garbage) or silently ignores it (a key, broken PEM)."""
    from cryptography import x509

    from atlas_intoto.errors import InputError
    from atlas_intoto.fileio import read_bytes

    data = read_bytes(path, what="trust anchor")
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise InputError(f"{path}: trust anchor is not a PEM certificate") from exc
    return data

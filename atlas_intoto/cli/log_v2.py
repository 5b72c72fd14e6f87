"""CLI pieces of Rekor v2 inside the ``log`` group: ``log serve`` options for the v2 shard, the
TSA and witnesses, and ``log monitor``. (``tsa serve`` and ``witness serve`` are their own
groups: :mod:`.tsa`, :mod:`.witness`.)"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def add_serve_options(p: argparse.ArgumentParser) -> None:
    """``log serve`` options for Rekor v2, the TSA and witnesses."""
    p.add_argument(
        "--v2-db",
        type=Path,
        default=None,
        help="also serve the Rekor v2 write API and C2SP tiles from this SQLite database "
        "(its own tree, signed with the same key)",
    )
    p.add_argument(
        "--v2-origin", default=None, help="checkpoint origin of the v2 tree (default: --origin)"
    )
    p.add_argument(
        "--tsa-dir",
        type=Path,
        default=None,
        help="also serve an RFC 3161 TSA (/api/v1/timestamp) with the key and chain kept in "
        "DIR (created on first use; pin DIR/tsa-root.pem in layouts)",
    )
    p.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="URL,NAME,KEY.pub",
        help="a C2SP witness every v2 checkpoint must be cosigned by (repeatable)",
    )


def uses_v2(args: argparse.Namespace) -> bool:
    """Whether ``log serve`` was asked for anything beyond the v1 API."""
    return bool(args.v2_db is not None or args.tsa_dir is not None or args.witness)


def parse_witness(spec: str) -> Any:
    """``URL,NAME,KEY.pub`` → a WitnessEndpoint (UsageError naming the option)."""
    from atlas_intoto.errors import CheckpointError, UsageError
    from atlas_intoto.fileio import read_bytes
    from atlas_intoto.tlog.cosignature import witness_key
    from atlas_intoto.tlog.v2.service import WitnessEndpoint

    parts = spec.split(",")
    if len(parts) != 3 or not parts[0].startswith(("http://", "https://")):
        raise UsageError(f"--witness {spec!r}: expected URL,NAME,KEY.pub")
    url, name, key_path = parts
    try:
        key = witness_key(name, read_bytes(Path(key_path), what="witness public key"))
    except CheckpointError as exc:
        raise UsageError(f"--witness {spec!r}: {exc}") from exc
    return WitnessEndpoint(url=url, key=key)


def serve(
    args: argparse.Namespace,
    out: Output,
    *,
    db: Path,
    signer: Any,
    origin: str,
    sock: Any,
    guard: Any = None,
) -> None:
    """Serve v1 + v2 (+ TSA) until interrupted (``log serve`` with v2 options)."""
    import sys

    from atlas_intoto.errors import UsageError
    from atlas_intoto.tlog import serving
    from atlas_intoto.tlog.v2.http import open_log_app

    witnesses = [parse_witness(spec) for spec in args.witness]
    if witnesses and args.v2_db is None:
        raise UsageError("--witness: witnesses cosign the v2 tree; give --v2-db too")
    tsa = None
    if args.tsa_dir is not None:
        from atlas_intoto.tsa.keys import load_or_create_tsa, root_path

        tsa = load_or_create_tsa(args.tsa_dir)
        out.human(f"TSA root {root_path(args.tsa_dir)}")
    url = serving.url_of(sock)
    if args.v2_db is not None:
        out.human(f"serving Rekor v2 API on {url}/api/v2/ and tiles (db {args.v2_db})")
    sys.setswitchinterval(0.0005)
    with open_log_app(
        db=db,
        signer=signer,
        origin=origin,
        max_body=args.max_body,
        v2_db=args.v2_db,
        v2_origin=args.v2_origin,
        witnesses=witnesses,
        tsa=tsa,
    ) as app:
        served: Any = app
        if guard is not None:
            from atlas_intoto.auth import protect

            served = protect(app, guard)
        serving.serve_foreground(served, sock)


def register_monitor(cmds: Any, common: argparse.ArgumentParser) -> None:
    """``log monitor``."""
    p = command(
        cmds,
        common,
        "monitor",
        _monitor,
        help="check a Rekor v2 log only grows: consistency with the last run, cosignatures",
    )
    p.add_argument("--url", required=True, help="log base URL (serving /checkpoint and tiles)")
    p.add_argument(
        "--state", type=Path, required=True, metavar="DIR", help="where checkpoints are kept"
    )
    p.add_argument(
        "--log-key", type=Path, action="append", required=True, help="pinned log public key (PEM)"
    )
    p.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="NAME,KEY.pub",
        help="a witness whose cosignature counts (repeatable)",
    )
    p.add_argument(
        "--witness-threshold",
        type=int,
        default=0,
        help="how many witness cosignatures the checkpoint needs (default: 0)",
    )


def _monitor(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.errors import CheckpointError, UsageError
    from atlas_intoto.fileio import read_bytes
    from atlas_intoto.tlog.cosignature import witness_key
    from atlas_intoto.tlog.monitor import monitor_log

    keys = [read_bytes(path, what="log public key") for path in args.log_key]
    witnesses = []
    for spec in args.witness_key:
        name, _, path = spec.partition(",")
        try:
            witnesses.append(witness_key(name, read_bytes(Path(path), what="witness key")))
        except CheckpointError as exc:
            raise UsageError(f"--witness-key {spec!r}: {exc}") from exc
    if not 0 <= args.witness_threshold <= len(witnesses):
        raise UsageError("--witness-threshold: must be between 0 and the number of witnesses")
    result = monitor_log(
        args.url,
        state_dir=args.state,
        log_keys=keys,
        witnesses=witnesses,
        threshold=args.witness_threshold,
    )
    since = "first run" if result.previous_size is None else f"from {result.previous_size}"
    text = f"{result.origin}: size {result.size} consistent ({since})"
    if result.cosigned_by:
        text += f", cosigned by {', '.join(result.cosigned_by)}"
    out.human(text)
    out.result(result.to_dict())
    return 0


def verify_saved(
    args: argparse.Namespace,
    out: Output,
    doc: dict[str, Any],
    *,
    keys: list[bytes],
    envelope: bytes | None,
) -> int:
    """``log verify`` of a saved Rekor v2 document (its envelope is required: a v2 entry
    names no payload of its own), and with ``--url`` consistency with the live log."""
    from atlas_intoto.errors import UsageError
    from atlas_intoto.tlog.rekor_v2 import RekorV2Backend

    if envelope is None:
        raise UsageError(f"{args.entry}: a Rekor v2 entry is verified against --envelope")
    verified = RekorV2Backend().verify(doc, envelope=envelope, log_keys=keys)
    result: dict[str, Any] = {
        "log_index": verified.log_index,
        "tree_size": verified.tree_size,
        "root_hash": verified.root_hash.hex(),
        "origin": verified.origin,
        "verified": ["body", "inclusion", "checkpoint"],
    }
    out.human(
        f"entry {verified.log_index}: body, inclusion proof and checkpoint signature verify "
        f"(tree size {verified.tree_size})"
    )
    if args.url:
        from atlas_intoto.tlog import checkpoint
        from atlas_intoto.tlog.monitor import check_extension
        from atlas_intoto.tlog.v2.client import RekorV2Client

        saved = checkpoint.verify(doc["entry"]["inclusionProof"]["checkpoint"]["envelope"], keys)
        with RekorV2Client(args.url) as client:
            live = checkpoint.verify(client.checkpoint(), keys)
            check_extension(client, saved, live)
        result["live_tree_size"] = live.size
        result["verified"].append("consistency")
        out.human(f"live log at size {live.size} is consistent with the entry's checkpoint")
    out.result(result)
    return 0

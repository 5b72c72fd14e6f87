"""CLI: ``log serve|publish|info|get|verify|consistency|monitor|trusted-root`` (the
Rekor-compatible transparency log; the Rekor v2 parts are in :mod:`.log_v2`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from atlas_intoto.cli import log_trust, log_v2
from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    log = sub.add_parser(
        "log",
        help="run or query a Rekor v1 transparency log",
        description="Run the embedded Rekor-compatible log, or query and verify any Rekor v1 log.",
        parents=[common],
    )
    log.set_defaults(handler=_no_subcommand(log))
    cmds = log.add_subparsers(dest="log_command", metavar="COMMAND")

    p = command(cmds, common, "serve", _serve, help="serve the Rekor v1 REST API under /api/v1/")
    p.add_argument(
        "--db",
        type=Path,
        default=None,
        help="SQLite database (default: $ATLAS_INTOTO_HOME/log/log.db)",
    )
    p.add_argument(
        "--key",
        type=Path,
        default=None,
        help="log signing key, ECDSA P-256 PEM (default: DB.key beside the database, created "
        "with DB.pub on first use)",
    )
    p.add_argument(
        "--origin",
        default=None,
        help="checkpoint origin name; the note origin is '<NAME> - <treeID>' (default: host name)",
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="listen port (default: 3000)")
    p.add_argument(
        "--max-body",
        "--max-entry-size",
        dest="max_body",
        type=int,
        default=128 * 1024,
        help="the log's entry limit: largest accepted request body in bytes; larger get 413 "
        "(default: 131072; recorders: --log-max-entry)",
    )
    log_v2.add_serve_options(p)
    p.add_argument(
        "--auth",
        type=Path,
        default=None,
        metavar="FILE",
        help="auth config: who may write (and read); without it anyone who can reach the "
        "log may (docs/auth.md)",
    )

    p = command(
        cmds,
        common,
        "publish",
        _publish,
        help="publish every link recorded while the log was unavailable (idempotent)",
    )
    p.add_argument(
        "--evidence",
        type=Path,
        action="append",
        default=None,
        metavar="DIR",
        help="evidence directory with pending links (repeatable; default: .atlas)",
    )
    p.add_argument("--url", required=True, help="log base URL, e.g. http://127.0.0.1:3000")
    p.add_argument(
        "--backend", default=None, help="log backend (default: the one each link was meant for)"
    )
    p.add_argument("--retries", type=int, default=3, help="retries per link (default: 3)")
    p.add_argument(
        "--backoff", type=float, default=1.0, help="first wait between retries, s (default: 1)"
    )
    p.add_argument(
        "--max-entry",
        type=int,
        default=128 * 1024,
        help="the log's entry limit in bytes (default: 131072)",
    )
    p.add_argument(
        "--log-visibility",
        choices=("full", "digest"),
        default=None,
        help="what the log learns (default: as each link was recorded): full logs the link; "
        "digest only a hashedrekord over the SHA-256 of its envelope, signed by the functionary",
    )
    p.add_argument(
        "--key",
        type=Path,
        default=None,
        help="the functionary's private key, to sign the envelope of a link recorded with full "
        "visibility for --log-visibility digest",
    )

    p = command(cmds, common, "info", _info, help="show a log's tree size, root and checkpoint")
    p.add_argument("--url", required=True, help="log base URL, e.g. http://127.0.0.1:3000")
    p.add_argument("--out", type=Path, default=None, help="also save the signed checkpoint here")

    p = command(cmds, common, "get", _get, help="fetch one log entry by UUID or index")
    p.add_argument("--url", required=True, help="log base URL")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--uuid", help="entry UUID (64 hex) or entry ID (80 hex)")
    which.add_argument("--index", type=int, help="log index")
    p.add_argument("--out", type=Path, default=None, help="save the entry ({uuid: LogEntry}) here")

    p = command(
        cmds,
        common,
        "verify",
        _verify,
        help="verify a saved log entry: inclusion proof, checkpoint, SET (and the live log)",
    )
    p.add_argument("entry", type=Path, metavar="ENTRY.json", help="{uuid: LogEntry} document")
    p.add_argument(
        "--log-key", type=Path, action="append", required=True, help="pinned log public key (PEM)"
    )
    p.add_argument(
        "--url",
        default=None,
        help="also check the live log: its current checkpoint is signed by the pinned key and "
        "consistent with the entry's",
    )
    p.add_argument("--envelope", type=Path, default=None, help="the DSSE envelope the entry logs")

    p = command(
        cmds,
        common,
        "consistency",
        _consistency,
        help="prove that a log only grew since a saved checkpoint",
    )
    p.add_argument("--url", required=True, help="log base URL")
    p.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        required=True,
        metavar="CHECKPOINT_FILE",
        help="saved checkpoint (signed note, or `log info --json` output)",
    )
    p.add_argument(
        "--log-key",
        type=Path,
        action="append",
        default=None,
        help="pinned log public key (PEM): both checkpoints must be signed by it",
    )
    p.add_argument(
        "--update",
        action="store_true",
        help="on success, overwrite CHECKPOINT_FILE with the new one",
    )
    log_v2.register_monitor(cmds, common)

    log_trust.register_trusted_root(cmds, common)


def _no_subcommand(parser: argparse.ArgumentParser) -> Any:
    def handler(args: argparse.Namespace, out: Output) -> int:
        parser.print_help(sys.stderr)
        return 2

    return handler


# --------------------------------------------------------------------------------------------
# serve
# --------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, out: Output) -> int:
    import socket

    from atlas_intoto.auth import Guard
    from atlas_intoto.errors import UsageError
    from atlas_intoto.fileio import ensure_writable_dir
    from atlas_intoto.home import atlas_home
    from atlas_intoto.tlog import serving
    from atlas_intoto.tlog.logkey import load_or_create_log_key, write_public_key
    from atlas_intoto.tlog.server import serve
    from atlas_intoto.tlog.store import LogStore

    db: Path = args.db or atlas_home() / "log" / "log.db"
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a TCP port")
    if args.max_body < 1024:
        raise UsageError(f"--max-body {args.max_body}: must be at least 1024 bytes")
    origin = args.origin or socket.gethostname()
    if not origin or any(c.isspace() for c in origin) or "+" in origin:
        raise UsageError(f"--origin {origin!r}: a note name has no spaces and no '+'")
    # Everything that can fail is checked before anything is created or announced: the
    # database opens, the key loads (or is created beside it), the port is ours.
    guard = Guard.from_file(args.auth) if args.auth is not None else None
    ensure_writable_dir(db.parent)
    LogStore(db).close()
    key_path: Path = args.key if args.key is not None else db.with_suffix(".key")
    signer = load_or_create_log_key(key_path, create=args.key is None)
    write_public_key(signer, key_path.with_suffix(".pub"))
    sock = serving.listen(args.host, args.port)
    url = serving.url_of(sock)
    out.human(f"log key {key_path} (public key {key_path.with_suffix('.pub')})")
    out.human(f"serving Rekor v1 API on {url}/api/v1/ (db {db})")
    if guard is not None:
        out.human(f"auth {args.auth}: writes need a token or identity, reads {guard.config.reads}")
    out.result(
        {
            "url": url,
            "db": str(db),
            "log_key": str(key_path),
            "public_key": str(key_path.with_suffix(".pub")),
        }
    )
    out.flush()
    try:
        if log_v2.uses_v2(args):
            log_v2.serve(args, out, db=db, signer=signer, origin=origin, sock=sock, guard=guard)
        else:
            serve(
                db=db,
                signer=signer,
                origin=origin,
                max_body=args.max_body,
                sock=sock,
                guard=guard,
            )
    finally:
        sock.close()
    return 0


# --------------------------------------------------------------------------------------------
# publish
# --------------------------------------------------------------------------------------------


def _publish(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.errors import PublishPendingError, UsageError
    from atlas_intoto.publishing import RetryPolicy, publish_pending

    if args.retries < 0 or args.backoff < 0 or args.max_entry < 1:
        raise UsageError("--retries/--backoff must not be negative, --max-entry must be positive")
    policy = RetryPolicy(retries=args.retries, backoff=args.backoff)
    signer = None
    if args.key is not None:
        from atlas_intoto.keys import load_signer

        signer = load_signer(args.key)
    results: dict[str, Any] = {}
    pending = 0
    for directory in args.evidence or [Path(".atlas")]:
        if not directory.is_dir():
            from atlas_intoto.errors import InputError

            raise InputError(f"{directory.resolve()}: evidence directory not found")
        outcome = publish_pending(
            directory,
            url=args.url,
            backend=args.backend,
            policy=policy,
            max_entry=args.max_entry,
            say=out.human,
            visibility=args.log_visibility,
            signer=signer,
        )
        results[str(directory)] = outcome.to_dict()
        for name in outcome.published:
            out.human(f"published {directory / name}")
        for name in outcome.stale:
            out.human(f"removed stale marker of {directory / name} (link no longer there)")
        for name, reason in outcome.failed.items():
            out.human(f"still pending: {directory / name}: {reason}")
        pending += len(outcome.failed)
    total = sum(len(r["published"]) for r in results.values())
    out.human(f"{total} link(s) published, {pending} still pending")
    out.result({"published": total, "pending": pending, "evidence": results})
    if pending:
        out.flush()
        raise PublishPendingError(
            f"{pending} link(s) still pending; run the same command again when the log is up"
        )
    return 0


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


def _info(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.fileio import atomic_write
    from atlas_intoto.tlog.client import RekorClient

    with RekorClient(args.url) as client:
        info = client.log_info()
    if args.out is not None:
        atomic_write(args.out, str(info["signedTreeHead"]).encode())
        out.human(f"saved checkpoint to {args.out}")
    text = f"tree {info.get('treeID', '?')}: size {info['treeSize']}, root {info['rootHash']}"
    out.human(text)
    out.result(info, text=str(info["signedTreeHead"]).rstrip("\n"))
    return 0


def _get(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.fileio import atomic_write
    from atlas_intoto.tlog.client import RekorClient

    with RekorClient(args.url) as client:
        doc = client.get_entry(uuid=args.uuid, index=args.index)
    text = json.dumps(doc, indent=2)
    if args.out is not None:
        atomic_write(args.out, text.encode() + b"\n")
        out.human(f"saved entry to {args.out}")
    key, entry = next(iter(doc.items()))  # a UUID or entry ID, as the log names it
    out.human(f"entry {key} at index {entry.get('logIndex')}")
    out.result(doc, text=text)
    return 0


def _read_keys(paths: list[Path]) -> list[bytes]:
    from atlas_intoto.fileio import read_bytes

    return [read_bytes(p, what="log public key") for p in paths]


def _verify(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.fileio import read_bytes, read_json
    from atlas_intoto.tlog.logentry import verify_log_entry

    doc = read_json(args.entry, what="log entry")
    keys = _read_keys(args.log_key)
    envelope = read_bytes(args.envelope, what="DSSE envelope") if args.envelope else None
    if isinstance(doc, dict) and doc.get("backend") == "rekor-v2":
        return log_v2.verify_saved(args, out, doc, keys=keys, envelope=envelope)
    verified = verify_log_entry(doc, log_keys=keys, envelope=envelope)
    result: dict[str, Any] = {
        "uuid": verified.uuid,
        "log_index": verified.log_index,
        "integrated_time": verified.integrated_time,
        "tree_size": verified.tree_size,
        "root_hash": verified.root_hash.hex(),
        "verified": ["inclusion", "checkpoint", "set"],
    }
    out.human(
        f"entry {verified.uuid}: inclusion proof, checkpoint signature and SET verify "
        f"(index {verified.log_index}, tree size {verified.tree_size})"
    )
    if args.url:
        current = _check_live(args.url, keys, verified.tree_size, verified.root_hash)
        result["live_tree_size"] = current
        result["verified"].append("consistency")
        out.human(f"live log at size {current} is consistent with the entry's checkpoint")
    out.result(result)
    return 0


def _check_live(url: str, keys: list[bytes], size: int, root: bytes) -> int:
    """The live log's checkpoint is signed by a pinned key and extends (size, root)."""
    from atlas_intoto.tlog.client import RekorClient
    from atlas_intoto.tlog.live import check_against_live_log

    with RekorClient(url) as client:
        live = check_against_live_log(client, size=size, root_hash=root, log_keys=keys)
    return live.size


def _consistency(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.errors import CheckpointError, InputError
    from atlas_intoto.fileio import atomic_write, read_bytes
    from atlas_intoto.tlog import checkpoint
    from atlas_intoto.tlog.client import RekorClient
    from atlas_intoto.tlog.live import check_against_live_log

    raw = read_bytes(args.from_file, what="checkpoint")
    note = _note_text(raw, args.from_file)
    keys = _read_keys(args.log_key) if args.log_key else []
    try:
        old = checkpoint.parse(note)
    except CheckpointError as exc:
        raise InputError(f"{args.from_file}: {exc}") from exc
    if keys:
        checkpoint.verify(note, keys)
    with RekorClient(args.url) as client:
        # Without --log-key only the trees are compared: the live checkpoint is parsed, not
        # verified (the saved one was not verified either).
        new = check_against_live_log(
            client,
            size=old.size,
            root_hash=old.root_hash,
            log_keys=keys or None,
            origin=old.origin,
        )
    if args.update:
        atomic_write(args.from_file, new.note.encode())
    out.human(
        f"log grew from {old.size} to {new.size} entries; consistency proof verifies"
        + (" (checkpoint file updated)" if args.update else "")
    )
    out.result(
        {
            "origin": new.checkpoint.origin,
            "old_size": old.size,
            "old_root": old.root_hash.hex(),
            "new_size": new.size,
            "new_root": new.root_hash.hex(),
            "checkpoint": new.note,
            "consistent": True,
        }
    )
    return 0


def _note_text(raw: bytes, path: Path) -> str:
    """A saved checkpoint: the note itself, or a JSON document holding ``signedTreeHead``."""
    from atlas_intoto.errors import InputError

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: checkpoint is not UTF-8 text") from exc
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InputError(f"{path}: invalid JSON") from exc
        note = doc.get("signedTreeHead") if isinstance(doc, dict) else None
        if not isinstance(note, str):
            raise InputError(f"{path}: JSON has no signedTreeHead checkpoint")
        return note
    return text

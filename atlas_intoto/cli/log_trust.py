"""CLI: ``log trusted-root`` — a Sigstore trusted root (or ClientTrustConfig) for a log, with
the CAs, CT log keys and TSAs signers use (part of the ``log`` group, :mod:`.log`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register_trusted_root(cmds: Any, common: argparse.ArgumentParser) -> None:
    p = command(
        cmds,
        common,
        "trusted-root",
        _trusted_root,
        help="write a Sigstore trusted_root.json for a log (for sigstore clients)",
    )
    p.add_argument("--url", required=True, help="log base URL, e.g. http://127.0.0.1:3000")
    p.add_argument("--out", type=Path, default=None, help="write it here (default: stdout)")
    p.add_argument(
        "--valid-from",
        type=int,
        default=None,
        metavar="UNIX_SECONDS",
        help="start of the key's validity (default: the time of the log's first entry, or now)",
    )
    p.add_argument(
        "--valid-until", type=int, default=None, metavar="UNIX_SECONDS", help="end of validity"
    )
    p.add_argument(
        "--ca",
        type=Path,
        action="append",
        default=[],
        metavar="CA.crt",
        help="a CA (PEM, issuing CA first) whose certificates functionaries carry, e.g. "
        "keygen's ca.crt; repeatable",
    )
    _register_keyless_trust(p)


def _register_keyless_trust(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ca-url",
        default=None,
        metavar="URL",
        help="a Fulcio-compatible CA (`ca serve`): its chain (from --ca-dir, or its "
        "/api/v2/trustBundle) under certificateAuthorities with this URL",
    )
    p.add_argument(
        "--ca-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="our CA's directory (`ca serve --dir`): its chain and CT log key (ct.pub)",
    )
    p.add_argument(
        "--ctlog-key",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="a CT log public key whose SCTs certificates embed (ctlogs); repeatable",
    )
    p.add_argument(
        "--tsa-url",
        default=None,
        metavar="URL",
        help="an RFC 3161 TSA: its chain (--tsa-chain, or its /api/v1/timestamp/certchain) "
        "under timestampAuthorities",
    )
    p.add_argument(
        "--tsa-chain", type=Path, default=None, metavar="PEM", help="the TSA's chain, TSA first"
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--trust-config",
        action="store_true",
        help="write a Sigstore ClientTrustConfig instead: the trusted root plus a SigningConfig "
        "v0.2 naming --ca-url, the log and --tsa-url (for `sigstore --trust-config` and "
        "`run --trust-config`)",
    )
    what.add_argument(
        "--signing-config",
        action="store_true",
        help="write only that SigningConfig v0.2 (for `run --signing-config`, or clients that "
        "take the trusted root separately)",
    )
    p.add_argument(
        "--log-version",
        choices=("1", "2"),
        default="1",
        help="the Rekor API version the SigningConfig names for the log (default: 1)",
    )


def _first_entry_time(client: Any, size: int) -> int | None:
    if size < 1:
        return None
    doc = client.get_entry(index=0)
    entry: Any = next(iter(doc.values()), {})
    value = entry.get("integratedTime") if isinstance(entry, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ca_chain(path: Path) -> list[Any]:
    from cryptography import x509

    from atlas_intoto.errors import InputError
    from atlas_intoto.fileio import read_bytes

    try:
        chain = x509.load_pem_x509_certificates(read_bytes(path, what="CA certificate"))
    except ValueError as exc:
        raise InputError(f"{path}: not a PEM certificate chain") from exc
    return chain


def _trusted_root(args: argparse.Namespace, out: Output) -> int:
    import time

    from atlas_intoto.fileio import atomic_write
    from atlas_intoto.tlog import checkpoint
    from atlas_intoto.tlog.client import RekorClient
    from atlas_intoto.tlog.trusted_root import trusted_root

    with RekorClient(args.url) as client:
        pem = client.public_key()
        info = client.log_info()
        start = args.valid_from
        if start is None:
            start = _first_entry_time(client, int(info.get("treeSize", 0)))
    note = checkpoint.parse(str(info["signedTreeHead"]))
    origin = note.origin
    if not any(sig.name in args.url for sig in note.signatures):
        # sigstore-js accepts a checkpoint only when its signer name occurs in the base URL
        names = ", ".join(sorted({sig.name for sig in note.signatures}))
        out.human(
            f"warning: the log signs its checkpoints as {names}, which is not part of "
            f"{args.url}: sigstore-js will refuse them (serve the log with --origin HOST)"
        )
    # A minute of slack: a client compares the key's validity with the entries' log times.
    valid_from = start - 60 if start is not None else int(time.time()) - 60
    doc = trusted_root(
        **_keyless_trust(args, valid_from=max(valid_from, 0)),
        certificate_authorities=[_ca_chain(path) for path in args.ca],
        public_key_pem=pem,
        url=args.url,
        origin=origin,
        valid_from=max(valid_from, 0),
        valid_until=args.valid_until,
        source=f"{args.url}/api/v1/log/publicKey",
    )
    what = "trusted root"
    if args.trust_config or args.signing_config:
        doc = _client_trust_config(args, doc, valid_from=max(valid_from, 0))
        what = "trust config"
        if args.signing_config:
            doc, what = doc["signingConfig"], "signing config"
    text = json.dumps(doc, indent=2) + "\n"
    if args.out is not None:
        atomic_write(args.out, text.encode())
        out.human(f"wrote {args.out}: {what} of the log {origin} at {args.url}")
    out.result(doc, text=text.rstrip("\n") if args.out is None else None)
    return 0


def _fetch_chain(url: str, what: str) -> list[Any]:
    """A PEM chain served at ``url`` (a CA's trust bundle or a TSA's certchain)."""
    import httpx
    from cryptography import x509

    from atlas_intoto.errors import NetworkError

    try:
        response = httpx.get(url, timeout=30.0)
        response.raise_for_status()
        if url.endswith("/trustBundle"):
            pems = response.json()["chains"][0]["certificates"]
            return [x509.load_pem_x509_certificate(p.encode()) for p in pems]
        return x509.load_pem_x509_certificates(response.content)
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise NetworkError(f"{url}: cannot read the {what} ({exc})") from exc


def _keyless_trust(args: argparse.Namespace, *, valid_from: int) -> dict[str, Any]:
    """--ca-url/--ca-dir/--ctlog-key/--tsa-url/--tsa-chain as ``trusted_root`` arguments."""
    from atlas_intoto.ca.keys import load_or_create_ca
    from atlas_intoto.errors import UsageError
    from atlas_intoto.fileio import read_bytes
    from atlas_intoto.tlog.trusted_root import certificate_authority, ct_log, timestamp_authority

    ct_keys = [(read_bytes(p, what="CT log key"), str(p)) for p in args.ctlog_key]
    chain = None
    if args.ca_dir is not None:
        ca = load_or_create_ca(args.ca_dir, create=False)
        chain = list(ca.chain)
        ct_keys.append((ca.ct_public_key_pem(), str(args.ca_dir / "ct.pub")))
        valid_from = min(valid_from, int(ca.root.not_valid_before_utc.timestamp()))
    elif args.ca_url is not None:
        chain = _fetch_chain(args.ca_url.rstrip("/") + "/api/v2/trustBundle", "CA trust bundle")
    if chain is not None and args.ca_url is None:
        raise UsageError(
            "--ca-dir: give the CA's --ca-url too (clients request certificates there)"
        )
    url = args.ca_url or ""
    tsas = []
    if args.tsa_url is not None:
        from atlas_intoto.tsa.client import timestamp_url

        endpoint = timestamp_url(args.tsa_url)
        tsa_chain = (
            _ca_chain(args.tsa_chain)
            if args.tsa_chain is not None
            else _fetch_chain(endpoint + "/certchain", "TSA chain")
        )
        tsas.append(timestamp_authority(tsa_chain, uri=endpoint))
    return {
        "authorities": [] if chain is None else [certificate_authority(chain, uri=url)],
        "ct_logs": [
            ct_log(pem, url=url, valid_from=valid_from, source=src) for pem, src in ct_keys
        ],
        "timestamp_authorities": tsas,
    }


def _client_trust_config(
    args: argparse.Namespace, root: dict[str, Any], *, valid_from: int
) -> dict[str, Any]:
    from atlas_intoto.ca.trust_config import client_trust_config, signing_config
    from atlas_intoto.errors import UsageError

    if args.ca_url is None:
        raise UsageError(
            "--trust-config/--signing-config: give --ca-url (the CA signers get certificates from)"
        )
    config = signing_config(
        ca_url=args.ca_url,
        log_url=args.url,
        log_version=int(args.log_version),
        tsa_url=None if args.tsa_url is None else args.tsa_url,
        valid_from=valid_from,
    )
    return client_trust_config(trusted_root=root, signing_config=config)

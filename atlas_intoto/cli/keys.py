"""CLI: ``keygen``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = command(
        sub,
        common,
        "keygen",
        _keygen,
        help="generate an ECDSA P-256 key pair and a C2PA-capable certificate chain",
    )
    p.add_argument("name", help="key name: writes NAME.key, NAME.pub, NAME.crt")
    p.add_argument("--dir", type=Path, default=Path("."), help="output directory (default: .)")
    p.add_argument(
        "--ca-dir", type=Path, default=None, help="directory of the issuing CA (default: --dir)"
    )
    p.add_argument(
        "--encrypt",
        action="store_true",
        help="encrypt the private key (PKCS#8); password from ATLAS_INTOTO_KEY_PASSWORD or a "
        "prompt (asked twice)",
    )
    p.add_argument(
        "--hsm",
        metavar="URI",
        default=None,
        help="generate the key pair on a PKCS#11 token instead (hsm:KEYID?label=TOKEN; module "
        "from PYKCS11LIB, PIN from ATLAS_INTOTO_HSM_PIN): writes only NAME.pub and NAME.crt, "
        "and prints the URI to pass as --key",
    )


def _password() -> bytes:
    """The new key's password: the environment variable, else asked twice on a terminal."""
    import getpass
    import os
    import sys

    from atlas_intoto.errors import UsageError
    from atlas_intoto.keys import PASSWORD_ENV

    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        if not env:
            raise UsageError(f"--encrypt: {PASSWORD_ENV} is empty")
        return env.encode()
    if sys.stdin is None or not sys.stdin.isatty():
        raise UsageError(f"--encrypt: set {PASSWORD_ENV} or run on a terminal to be asked")
    first = getpass.getpass("Password for the new key: ")
    if not first:
        raise UsageError("--encrypt: empty password")
    if getpass.getpass("Repeat the password: ") != first:
        raise UsageError("--encrypt: the passwords do not match")
    return first.encode()


def _keygen(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.keys import generate_keypair, load_public_key

    if args.hsm is not None:
        return _keygen_hsm(args, out)
    password = _password() if args.encrypt else None
    paths = generate_keypair(args.name, directory=args.dir, ca_dir=args.ca_dir, password=password)
    keyid = load_public_key(paths.public_key).keyid
    kind = "encrypted, 0600" if paths.encrypted else "0600"
    out.human(f"wrote {paths.private_key} ({kind}), {paths.public_key}, {paths.certificate_chain}")
    ca_state = "created" if paths.ca_created else "existing"
    out.human(
        f"certificate issued by the {ca_state} development CA: key {paths.ca_key} "
        f"(keep it private), certificate {paths.ca_certificate} (the C2PA trust anchor)"
    )
    out.human(f"keyid {keyid}")
    out.result(
        {
            "keyid": keyid,
            "private_key": str(paths.private_key),
            "public_key": str(paths.public_key),
            "certificate_chain": str(paths.certificate_chain),
            "ca_certificate": str(paths.ca_certificate),
            "ca_key": str(paths.ca_key),
            "ca_created": paths.ca_created,
            "encrypted": paths.encrypted,
        }
    )
    return 0


def _keygen_hsm(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.errors import UsageError
    from atlas_intoto.hsm import generate_token_key
    from atlas_intoto.keys import certify_public_key, load_public_key_pem
    from atlas_intoto.signer_uri import load_key_signer

    if args.encrypt:
        raise UsageError("--encrypt: a token key is protected by its PIN, not a password")
    uri = generate_token_key(args.hsm, name=args.name)
    loaded = load_key_signer(uri)
    public = load_public_key_pem(loaded.public_pem, source=uri)
    paths = certify_public_key(args.name, public, directory=args.dir, ca_dir=args.ca_dir)
    out.human(
        f"generated key {uri} on the token; wrote {paths.public_key}, {paths.certificate_chain}"
    )
    out.human(f"sign with --key '{uri}' (and --cert {paths.certificate_chain} for --c2pa)")
    out.human(f"keyid {loaded.keyid}")
    out.result(
        {
            "keyid": loaded.keyid,
            "key_uri": uri,
            "public_key": str(paths.public_key),
            "certificate_chain": str(paths.certificate_chain),
            "ca_certificate": str(paths.ca_certificate),
            "ca_key": str(paths.ca_key),
            "ca_created": paths.ca_created,
        }
    )
    return 0

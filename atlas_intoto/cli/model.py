"""CLI: ``model sign`` (an OpenSSF model signature of a model directory, ``model.sig``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from atlas_intoto.cli._common import Output, command


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("model", help="OpenSSF model signatures (OMS)", parents=[common])
    model_sub = group.add_subparsers(dest="model_command", metavar="COMMAND")
    p = command(
        model_sub,
        common,
        "sign",
        _sign,
        help="sign a model directory in the OMS format (model_signing verify key reads it)",
    )
    p.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    p.add_argument(
        "--key", required=True, help="EC private key (PEM file or file: URI), e.g. keygen's"
    )
    p.add_argument(
        "--signature",
        type=Path,
        default=None,
        help="where to write it (default: MODEL_DIR/model.sig)",
    )


def _sign(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.oms import sign_model

    path = sign_model(args.model_dir, key_path=_key_file(args.key), signature_path=args.signature)
    out.human(f"wrote {path}: OMS signature of {args.model_dir}")
    out.result({"signature": str(path), "model_dir": str(args.model_dir)})
    return 0


def _key_file(value: str) -> Path:
    """The key file of ``--key``: OMS signatures are made by the model-signing library with the
    key itself, so a token or KMS key cannot sign them here."""
    from urllib.parse import urlparse

    from atlas_intoto.errors import SignerUriError
    from atlas_intoto.signer_uri import is_signer_uri

    if not is_signer_uri(value):
        return Path(value)
    if value.startswith("file:"):
        return Path(urlparse(value).path)
    raise SignerUriError(
        f"--key {value}: OMS model signatures need a key file (model-signing signs with the key "
        "itself); use a PEM key here, or model_signing's own pkcs11-key signer for a token"
    )

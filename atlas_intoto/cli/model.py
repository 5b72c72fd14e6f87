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
    p.add_argument("--key", type=Path, required=True, help="EC private key (PEM), e.g. keygen's")
    p.add_argument(
        "--signature",
        type=Path,
        default=None,
        help="where to write it (default: MODEL_DIR/model.sig)",
    )


def _sign(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.oms import sign_model

    path = sign_model(args.model_dir, key_path=args.key, signature_path=args.signature)
    out.human(f"wrote {path}: OMS signature of {args.model_dir}")
    out.result({"signature": str(path), "model_dir": str(args.model_dir)})
    return 0

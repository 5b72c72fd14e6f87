"""A running log with a Rekor v2 shard, a TSA and (optionally) witnesses, for the v2 tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from helpers import ThreadedServer, pem

from atlas_intoto.tlog.v2.http import open_log_app
from atlas_intoto.tsa.keys import load_or_create_tsa, root_path


class V2Log:
    """A log serving v1 + v2 + TSA on 127.0.0.1."""

    def __init__(self, url: str, signer: ec.EllipticCurvePrivateKey, tsa_dir: Path) -> None:
        self.url = url
        self.signer = signer
        self.public_pem = pem(signer)
        self.tsa_root = root_path(tsa_dir).read_bytes()


def run_log(tmp: Path, signer: ec.EllipticCurvePrivateKey, **kwargs: Any) -> Iterator[V2Log]:
    tsa = load_or_create_tsa(tmp / "tsa")
    with (
        open_log_app(
            db=tmp / "v1.db",
            signer=signer,
            origin="test.log",
            max_body=128 * 1024,
            v2_db=tmp / "v2.db",
            tsa=tsa,
            **kwargs,
        ) as app,
        ThreadedServer(app) as server,
    ):
        yield V2Log(server.url, signer, tmp / "tsa")

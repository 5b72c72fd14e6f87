"""An embedded Rekor v2 deployment in this process (the demo's ``--log-version 2``): the log
with a v2 shard and a TSA, and one C2SP witness cosigning its checkpoints, each on a free
127.0.0.1 port and always stopped on leaving the block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EmbeddedV2Log", "embedded_v2_log"]

WITNESS_NAME = "witness.atlas-intoto.local/w1"


@dataclass(frozen=True, kw_only=True)
class EmbeddedV2Log:
    """A running v2 log: URL, log key, TSA root and the witness's name and key (PEM)."""

    url: str
    public_key_pem: bytes
    key_path: Path
    tsa_root_pem: bytes
    witness_name: str
    witness_pem: bytes


@contextlib.contextmanager
def embedded_v2_log(
    directory: Path, *, origin: str = "atlas-intoto-demo"
) -> Iterator[EmbeddedV2Log]:
    """Serve a witnessed Rekor v2 log with a TSA (state under ``directory``) until exit."""
    from atlas_intoto.tlog.logkey import load_or_create_log_key, public_key_pem
    from atlas_intoto.tlog.serving import serve_in_thread
    from atlas_intoto.tlog.v2.http import open_log_app
    from atlas_intoto.tlog.v2.service import WitnessEndpoint
    from atlas_intoto.tlog.witness import Witness, create_witness_app, load_or_create_witness_key
    from atlas_intoto.tsa.keys import load_or_create_tsa, root_path

    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / "log.key"
    signer = load_or_create_log_key(key_path)
    tsa = load_or_create_tsa(directory / "tsa")
    witness = Witness(
        key=load_or_create_witness_key(directory / "witness.key"),
        name=WITNESS_NAME,
        logs={origin: [public_key_pem(signer)]},
        state=directory / "witness.db",
    )
    try:
        with serve_in_thread(create_witness_app(witness), name="embedded witness") as wurl:
            endpoint = WitnessEndpoint(url=wurl, key=witness.public_key)
            with (
                open_log_app(
                    db=directory / "log.db",
                    signer=signer,
                    origin=origin,
                    max_body=128 * 1024,
                    v2_db=directory / "log-v2.db",
                    witnesses=[endpoint],
                    tsa=tsa,
                ) as app,
                serve_in_thread(app, name="embedded log") as url,
            ):
                yield EmbeddedV2Log(
                    url=url,
                    public_key_pem=public_key_pem(signer),
                    key_path=key_path,
                    tsa_root_pem=root_path(directory / "tsa").read_bytes(),
                    witness_name=WITNESS_NAME,
                    witness_pem=witness.public_key.pem().encode(),
                )
    finally:
        witness.close()

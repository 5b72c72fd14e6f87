"""Proofs computed from tiles (full and partial, across tile levels) equal the store's."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import ThreadedServer

from atlas_intoto.errors import NetworkError
from atlas_intoto.tlog.server import create_app
from atlas_intoto.tlog.store import LogStore, NewEntry
from atlas_intoto.tlog.v2.client import RekorV2Client
from atlas_intoto.tlog.v2.http import combined_app
from atlas_intoto.tlog.v2.service import V2LogService


def test_tile_proofs_match_the_store(tmp_path: Path) -> None:
    signer = ec.generate_private_key(ec.SECP256R1())
    store = LogStore(tmp_path / "v2.db")
    store.append_many([NewEntry(body=b"e%d" % i, integrated_time=0) for i in range(600)])
    v1 = LogStore(tmp_path / "v1.db")
    try:
        app = combined_app(
            create_app(v1, signer, "t"), v2=V2LogService(store, signer, origin="t"), max_body=4096
        )
        with ThreadedServer(app) as server, RekorV2Client(server.url) as client:
            for size in (1, 255, 256, 257, 512, 600):
                assert client.root_hash(size) == store.root_hash(size)
            for index, size in [(0, 600), (255, 600), (300, 513), (599, 600)]:
                assert client.inclusion_proof(index, size) == store.inclusion_proof(index, size)
            for first, second in [(1, 600), (256, 512), (300, 600), (599, 600)]:
                assert client.consistency_proof(first, second) == store.consistency_proof(
                    first, second
                )
            assert client.entry(513, 600) == b"e513"
            with pytest.raises(NetworkError):
                client.entry(600, 600)
    finally:
        store.close()
        v1.close()

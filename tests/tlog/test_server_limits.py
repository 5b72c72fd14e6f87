"""Issue 11 items 12 and 13: the log server under attack and on a full disk.

Unauthenticated writes cannot buy unbounded CPU (signatures and verifiers per entry are capped,
duplicates checked once, verification runs off the event loop); reads are answered while
writes are flooded; a full disk answers 507 with a JSON error, keeps the connection usable,
logs one line per fault, and appends resume when space returns.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import ThreadedServer, pem, sign_envelope
from starlette.testclient import TestClient

from atlas_intoto.errors import StoreError
from atlas_intoto.tlog.kinds.material import MAX_SIGNATURES, MAX_VERIFIERS
from atlas_intoto.tlog.proposed import dsse_proposed_entry
from atlas_intoto.tlog.server import create_app
from atlas_intoto.tlog.store import LogStore

API = "/api/v1"
LOG_KEY = ec.derive_private_key(0x5EED_106, ec.SECP256R1())
SIGNER = ec.derive_private_key(0x5EED_51, ec.SECP256R1())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    s = LogStore(tmp_path / "log.db")
    yield s
    s.close()


def _entry(n: int, *, signatures: int = 1, verifiers: int = 1) -> dict[str, Any]:
    envelope = json.loads(sign_envelope(f'{{"n": {n}}}'.encode(), SIGNER))
    envelope["signatures"] = envelope["signatures"] * signatures
    return dsse_proposed_entry(json.dumps(envelope).encode(), [pem(SIGNER)] * verifiers)


def test_too_many_verifiers_or_signatures_is_400(store: LogStore) -> None:
    client = TestClient(create_app(store, LOG_KEY, "log.test"))
    for kw in ({"verifiers": 330}, {"signatures": 330}, {"verifiers": MAX_VERIFIERS + 1}):
        answer = client.post(f"{API}/log/entries", json=_entry(1, **kw))
        assert answer.status_code == 400, kw
        assert "at most" in answer.json()["message"]
    assert store.size == 0


def test_duplicated_verifiers_and_signatures_within_the_caps_are_accepted(
    store: LogStore,
) -> None:
    client = TestClient(create_app(store, LOG_KEY, "log.test"))
    entry = _entry(2, signatures=MAX_SIGNATURES, verifiers=MAX_VERIFIERS)
    assert client.post(f"{API}/log/entries", json=entry).status_code == 201
    assert store.size == 1


def test_reads_are_answered_while_writes_are_flooded(store: LogStore) -> None:
    heavy = [
        json.dumps(_entry(100 + i, signatures=MAX_SIGNATURES, verifiers=MAX_VERIFIERS))
        for i in range(24)
    ]
    stop = threading.Event()
    statuses: list[int] = []

    def flood(url: str, bodies: list[str]) -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            for body in bodies:
                if stop.is_set():
                    return
                statuses.append(c.post(f"{API}/log/entries", content=body).status_code)

    with ThreadedServer(create_app(store, LOG_KEY, "log.test")) as server:
        writers = [threading.Thread(target=flood, args=(server.url, heavy[i::3])) for i in range(3)]
        for w in writers:
            w.start()
        try:
            with httpx.Client(base_url=server.url, timeout=120) as reader:
                for _ in range(10):
                    answer = reader.get(f"{API}/log")
                    assert answer.status_code == 200 and "signedTreeHead" in answer.json()
        finally:
            stop.set()
            for w in writers:
                w.join()
    assert set(statuses) <= {201}


def test_full_disk_answers_507_and_appends_resume(
    store: LogStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_append = store.append
    full = {"on": True}

    def append(body: bytes, **kw: Any) -> Any:
        if full["on"]:
            try:
                raise sqlite3.OperationalError("database or disk is full")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{store.path}: append failed ({exc})") from exc
        return real_append(body, **kw)

    monkeypatch.setattr(store, "append", append)
    caplog.set_level(logging.ERROR, logger="atlas_intoto.tlog.server")
    with (
        ThreadedServer(create_app(store, LOG_KEY, "log.test")) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        for n in range(2):
            answer = client.post(f"{API}/log/entries", json=_entry(10 + n))
            assert answer.status_code == 507
            assert "storage is full" in answer.json()["message"]
        # the same connection keeps working: reads, then appends once space returns
        assert client.get(f"{API}/log").status_code == 200
        full["on"] = False
        answer = client.post(f"{API}/log/entries", json=_entry(12))
        assert answer.status_code == 201
        entry = next(iter(answer.json().values()))
        assert base64.b64decode(entry["body"])
    faults = [r for r in caplog.records if r.name == "atlas_intoto.tlog.server"]
    assert len(faults) == 2 and all("\n" not in r.getMessage() for r in faults)
    assert all(r.exc_info is None for r in faults)


def test_other_store_faults_answer_503(store: LogStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def append(body: bytes, **kw: Any) -> Any:
        raise StoreError(f"{store.path}: append failed (disk I/O error)")

    monkeypatch.setattr(store, "append", append)
    client = TestClient(create_app(store, LOG_KEY, "log.test"))
    answer = client.post(f"{API}/log/entries", json=_entry(20))
    assert answer.status_code == 503 and "unavailable" in answer.json()["message"]

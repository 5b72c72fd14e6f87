"""``log serve --auth``: writes need a token or identity (401/403 JSON), reads as configured,
unauthorised writers cannot append even under load, the recorder and ``log publish`` send
ATLAS_INTOTO_LOG_TOKEN, and no server output ever holds a token."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import link_envelope, pem

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "auth"))
from auth_helpers import (
    READ_TOKEN,
    REVOKED_TOKEN,
    WRITE_TOKEN,
    id_token,
    jwks,
    write_config,
)

from atlas_intoto.auth import Guard, protect
from atlas_intoto.errors import LogServerError
from atlas_intoto.tlog import serving
from atlas_intoto.tlog.client import RekorClient
from atlas_intoto.tlog.proposed import dsse_proposed_entry
from atlas_intoto.tlog.server import create_app
from atlas_intoto.tlog.store import LogStore

LOG_KEY = ec.derive_private_key(0x5EED_A07, ec.SECP256R1())
SIGNER = ec.derive_private_key(0x5EED_A51, ec.SECP256R1())
ENTRIES = "/api/v1/log/entries"


def proposed(n: int) -> dict[str, Any]:
    return dsse_proposed_entry(link_envelope(SIGNER, f"auth-step-{n}"), [pem(SIGNER)])


@pytest.fixture
def log(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, LogStore]]:
    reads = getattr(request, "param", "public")
    guard = Guard.from_file(write_config(tmp_path, reads=reads))
    store = LogStore(tmp_path / "log.db")
    try:
        app = protect(create_app(store, LOG_KEY, "auth.test", 128 * 1024), guard)
        with serving.serve_in_thread(app) as url:
            yield url, store
    finally:
        store.close()


def _post(url: str, n: int, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.post(url + ENTRIES, json=proposed(n), headers=headers, timeout=30)


def _size(url: str) -> int:
    return int(httpx.get(url + "/api/v1/log", timeout=10).json()["treeSize"])


def test_writes_need_a_valid_token(log: tuple[str, LogStore]) -> None:
    url, _ = log
    for token, status in ((None, 401), ("wrong", 401), (REVOKED_TOKEN, 403), (READ_TOKEN, 403)):
        response = _post(url, 1, token)
        assert response.status_code == status
        assert response.json()["code"] == status and response.json()["message"]
        assert (status == 401) == ("www-authenticate" in response.headers)
    assert _size(url) == 0
    assert _post(url, 1, WRITE_TOKEN).status_code == 201
    assert _post(url, 2, id_token()).status_code == 201  # an allowed OIDC identity
    assert _post(url, 3, id_token(subject="repo:evil/x:ref:y")).status_code == 403
    # Public reads: the searches (POSTs that only read) and GETs need nothing.
    assert _size(url) == 2
    search = httpx.post(url + "/api/v1/index/retrieve", json={"hash": "sha256:" + "0" * 64})
    assert search.status_code == 200


@pytest.mark.parametrize("log", ["token"], indirect=True)
def test_token_reads(log: tuple[str, LogStore]) -> None:
    url, _ = log
    assert httpx.get(url + "/api/v1/log").status_code == 401
    headers = {"Authorization": f"Bearer {READ_TOKEN}"}
    assert httpx.get(url + "/api/v1/log", headers=headers).status_code == 200
    headers = {"Authorization": f"Bearer {REVOKED_TOKEN}"}
    assert httpx.get(url + "/api/v1/log", headers=headers).status_code == 403


def test_unauthorised_writers_append_nothing_under_load(log: tuple[str, LogStore]) -> None:
    url, _ = log
    bad = [None, "wrong", REVOKED_TOKEN, READ_TOKEN, id_token(subject="repo:evil/x:ref:y")]
    jobs = [(n, bad[n % len(bad)]) for n in range(200)]
    jobs += [(1000 + n, WRITE_TOKEN) for n in range(10)]
    jobs.sort(key=lambda job: job[0] % 7)  # interleave the authorised among the rest
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda job: (job[1], _post(url, *job).status_code), jobs))
    assert all(code in (401, 403) for token, code in statuses if token != WRITE_TOKEN)
    assert [code for token, code in statuses if token == WRITE_TOKEN] == [201] * 10
    assert _size(url) == 10


def test_client_sends_the_token_from_the_environment(
    log: tuple[str, LogStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = log
    monkeypatch.delenv("ATLAS_INTOTO_LOG_TOKEN", raising=False)
    with RekorClient(url) as client, pytest.raises(LogServerError) as caught:
        client.create_entry(proposed(5))
    assert caught.value.status == 401 and "ATLAS_INTOTO_LOG_TOKEN" in str(caught.value)
    monkeypatch.setenv("ATLAS_INTOTO_LOG_TOKEN", WRITE_TOKEN)
    with RekorClient(url) as client:
        assert client.create_entry(proposed(5))


def test_recorder_keeps_the_link_pending_until_log_publish_has_a_token(
    log: tuple[str, LogStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atlas_intoto.cli import main
    from atlas_intoto.keys import generate_keypair

    url, _ = log
    monkeypatch.chdir(tmp_path)
    generate_keypair("k", directory=tmp_path / "keys")
    monkeypatch.delenv("ATLAS_INTOTO_LOG_TOKEN", raising=False)
    run = ["run", "--step", "s", "--key", "keys/k.key", "--log", url, "--log-retries", "0"]
    main([*run, "--", sys.executable, "-c", "0"])
    (link,) = (tmp_path / ".atlas").glob("s.*.link")  # never lost: written, marked pending
    assert (
        list((tmp_path / ".atlas").glob("*.pending*"))
        or list((tmp_path / ".atlas").glob(".pending*"))
        or not list((tmp_path / ".atlas").glob("s.*.logentry.json"))
    )
    assert _size(url) == 0
    assert main(["log", "publish", "--url", url, "--retries", "0"]) != 0
    monkeypatch.setenv("ATLAS_INTOTO_LOG_TOKEN", WRITE_TOKEN)
    assert main(["log", "publish", "--url", url]) == 0
    assert list((tmp_path / ".atlas").glob("s.*.logentry.json")) and link.exists()
    assert not list((tmp_path / ".atlas" / ".publish-pending").glob("s.*.json"))
    assert _size(url) > 0


def test_jwks_by_url(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def keys(request: Any) -> JSONResponse:
        return JSONResponse(jwks())

    issuer_app = Starlette(routes=[Route("/jwks", keys)])
    with serving.serve_in_thread(issuer_app) as issuer_url:
        path = write_config(tmp_path)
        doc = json.loads(path.read_text())
        doc["oidc"]["issuers"][0] = {
            "issuer": "https://oidc.test",
            "audience": "atlas-intoto",
            "jwks_url": issuer_url + "/jwks",
        }
        path.write_text(json.dumps(doc))
        guard = Guard.from_file(path)
        assert guard.fetches_keys
        store = LogStore(tmp_path / "log.db")
        try:
            app = protect(create_app(store, LOG_KEY, "auth.test", 128 * 1024), guard)
            with serving.serve_in_thread(app) as url:
                assert _post(url, 1, id_token()).status_code == 201
                assert _post(url, 2, "x.y.z").status_code == 401
        finally:
            store.close()


def test_log_serve_never_prints_a_token(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {**os.environ, "ATLAS_INTOTO_HOME": str(tmp_path / "home")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "atlas_intoto",
            "log",
            "serve",
            "--db",
            str(tmp_path / "l.db"),
            "--port",
            "0",
            "--auth",
            str(config),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert server.stdout is not None
        text = ""
        while not text.endswith("}\n"):  # the --json document, printed before serving
            text += server.stdout.readline()
        url = json.loads(text)["url"]
        secret_wrong = "wrong-secret-token-5e5e5e"
        for token in (WRITE_TOKEN, secret_wrong, REVOKED_TOKEN, READ_TOKEN, id_token()):
            _post(url, 7, token)
        assert _size(url) == 2  # the write token's entry and the allowed identity's
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    output = out + err
    for token in (WRITE_TOKEN, "wrong-secret-token-5e5e5e", REVOKED_TOKEN, READ_TOKEN):
        assert token not in output
    assert "auth" in err  # it did say it serves with an auth config


def test_rekor_v2_writes_need_the_token_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rekor v2 with the TSA embedded in the log: both are guarded; the client sends the log
    token to the log and the TSA token to the TSA (never one service's token to another)."""
    from atlas_intoto.tlog import backend
    from atlas_intoto.tlog.v2.http import open_log_app
    from atlas_intoto.tsa.keys import load_or_create_tsa

    guard = Guard.from_file(write_config(tmp_path))
    envelope = link_envelope(SIGNER, "v2-step")
    tsa = load_or_create_tsa(tmp_path / "tsa")
    with (
        open_log_app(
            db=tmp_path / "v1.db",
            signer=LOG_KEY,
            origin="auth.test",
            max_body=128 * 1024,
            v2_db=tmp_path / "v2.db",
            tsa=tsa,
        ) as app,
        serving.serve_in_thread(protect(app, guard)) as url,
    ):
        monkeypatch.delenv("ATLAS_INTOTO_LOG_TOKEN", raising=False)
        monkeypatch.setenv("ATLAS_INTOTO_TSA_TOKEN", WRITE_TOKEN)
        with pytest.raises(LogServerError) as caught:
            backend.get("rekor-v2").publisher(url).publish(envelope, pem(SIGNER))
        assert caught.value.status == 401 and "creating an entry" in str(caught.value)
        monkeypatch.setenv("ATLAS_INTOTO_LOG_TOKEN", WRITE_TOKEN)
        document = backend.get("rekor-v2").publisher(url).publish(envelope, pem(SIGNER))
        assert document["backend"] == "rekor-v2"
        assert httpx.get(url + "/checkpoint").status_code == 200  # a public read

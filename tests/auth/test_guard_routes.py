"""Every route of the servers the auth config guards, walked from the app itself (so a route
added later is covered): with ``reads: token`` nothing answers without a credential, a read
grant reaches exactly the reads (GET/HEAD, Rekor's search POSTs, v2 tiles and checkpoint, the
TSA's certificate chain, the CA's trust bundle), and only a write grant reaches the writes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import READ_TOKEN, REVOKED_TOKEN, WRITE_TOKEN, write_config
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from atlas_intoto.auth import Guard, protect, scope_of

LOG_KEY = ec.derive_private_key(0x5EED_A08, ec.SECP256R1())


def _routes(app: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in getattr(app, "routes", []):
        methods = getattr(route, "methods", None)
        if methods is None and getattr(route, "routes", None) is not None:
            yield from _routes(route, prefix + getattr(route, "path", ""))
            continue
        path = re.sub(r"\{[^}]+\}", "0", prefix + route.path)
        for method in sorted(methods or ()):
            yield method, path


@pytest.fixture
def log_app(tmp_path: Path) -> Iterator[Any]:
    from atlas_intoto.tlog.v2.http import open_log_app
    from atlas_intoto.tsa.keys import load_or_create_tsa

    with open_log_app(
        db=tmp_path / "v1.db",
        signer=LOG_KEY,
        origin="routes.test",
        max_body=64 * 1024,
        v2_db=tmp_path / "v2.db",
        tsa=load_or_create_tsa(tmp_path / "tsa"),
    ) as app:
        yield app


def _ca_app() -> Any:
    from atlas_intoto.ca.keys import create_authority
    from atlas_intoto.ca.oidc_dev import DevIssuer
    from atlas_intoto.ca.server import JwksSource, create_ca_app

    dev = DevIssuer()
    issuers = {dev.url: dev.config("email")}
    jwks = JwksSource(issuers, inline={dev.url: dev.jwks()})
    return create_ca_app(create_authority(), issuers=issuers, jwks=jwks)


def _walk(app: Any, tmp_path: Path) -> list[tuple[str, str, dict[str | None, int]]]:
    guard = Guard.from_file(write_config(tmp_path, reads="token"))
    client = TestClient(protect(app, guard), raise_server_exceptions=False)
    rows = []
    for method, path in _routes(app):
        statuses: dict[str | None, int] = {}
        for token in (None, READ_TOKEN, WRITE_TOKEN, REVOKED_TOKEN):
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            statuses[token] = client.request(
                method, path, headers=headers, content=b"{}"
            ).status_code
        rows.append((method, path, statuses))
    return rows


def _check(rows: list[tuple[str, str, dict[str | None, int]]]) -> None:
    assert rows
    for method, path, statuses in rows:
        where = f"{method} {path}"
        assert statuses[None] == 401, where
        assert statuses[REVOKED_TOKEN] == 403, where
        assert statuses[WRITE_TOKEN] not in (401, 403), where
        if scope_of(method, path) == "read":
            assert statuses[READ_TOKEN] not in (401, 403), where
        else:
            assert statuses[READ_TOKEN] == 403, where


def test_every_log_and_tsa_route_is_guarded_by_its_scope(log_app: Any, tmp_path: Path) -> None:
    rows = _walk(log_app, tmp_path)
    reads = {(m, p) for m, p, _ in rows if scope_of(m, p) == "read"}
    # the routes the brief of the auth config names, by scope
    assert {
        ("GET", "/checkpoint"),
        ("GET", "/tile/0"),
        ("GET", "/api/v1/timestamp/certchain"),
    } <= reads
    assert ("POST", "/api/v1/log/entries/retrieve") in reads
    writes = {(m, p) for m, p, _ in rows} - reads
    assert {("POST", "/api/v1/log/entries"), ("POST", "/api/v2/log/entries")} <= writes
    assert ("POST", "/api/v1/timestamp") in writes
    _check(rows)


def test_every_ca_route_is_guarded_by_its_scope(tmp_path: Path) -> None:
    rows = _walk(_ca_app(), tmp_path)
    assert {(m, p) for m, p, _ in rows if scope_of(m, p) == "write"} == {
        ("POST", "/api/v2/signingCert")
    }
    _check(rows)


def test_unknown_posts_are_writes() -> None:
    assert scope_of("POST", "/api/v1/log/entries/retrieve/extra") == "write"
    assert scope_of("PUT", "/api/v1/log") == "write"
    assert scope_of("DELETE", "/checkpoint") == "write"
    assert scope_of("get", "/checkpoint") == "read"

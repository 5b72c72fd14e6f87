"""Bundles fetched by URL: only under the configured prefixes, no redirects, bounded size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bundle_builder import Pipeline
from service_helpers import TOKEN, final_digests, write_config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from atlas_intoto.service.app import create_app
from atlas_intoto.service.config import load_config
from atlas_intoto.tlog.serving import serve_in_thread

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def store(attested: Pipeline) -> Iterator[str]:
    """A model store on loopback: the bundle, a redirect away from it, a huge file."""
    data = attested.bundle_bytes()

    async def bundle(request: Request) -> Response:
        return Response(data, media_type="application/json")

    async def moved(request: Request) -> Response:
        return RedirectResponse("/elsewhere/model.atlas.json")

    async def huge(request: Request) -> Response:
        return Response(b"x" * 5_000_000)

    app = Starlette(
        routes=[
            Route("/models/model.atlas.json", bundle),
            Route("/models/moved.atlas.json", moved),
            Route("/models/huge.atlas.json", huge),
            Route("/elsewhere/model.atlas.json", bundle),
        ]
    )
    with serve_in_thread(app) as url:
        yield url


def _ask(
    tmp_path: Path, pipeline: Pipeline, store: str, bundle_url: str, **config: Any
) -> httpx.Response:
    path = write_config(
        tmp_path,
        pipeline,
        bundle_urls=[f"{store}/models/"],
        limits={"max_body": 1_000_000},
        **config,
    )
    body = {"policy": "staging", "bundle_url": bundle_url, "artifacts": final_digests(pipeline)}
    with serve_in_thread(create_app(lambda: load_config(path))) as url:
        return httpx.post(f"{url}/v1/verify", json=body, headers=AUTH, timeout=60)


def test_a_bundle_under_an_allowed_prefix_verifies(
    tmp_path: Path, attested: Pipeline, store: str
) -> None:
    answer = _ask(tmp_path, attested, store, f"{store}/models/model.atlas.json")
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is True


@pytest.mark.parametrize(
    ("suffix", "status", "message"),
    [
        ("/elsewhere/model.atlas.json", 403, "not under an allowed URL"),
        ("/models/../elsewhere/model.atlas.json", 400, "must be an http(s) URL"),
        ("/models/moved.atlas.json", 502, "answered HTTP 307"),
        ("/models/huge.atlas.json", 413, "larger than"),
        ("/models/missing.atlas.json", 502, "answered HTTP 404"),
    ],
)
def test_urls_outside_the_rules_are_refused(
    tmp_path: Path, attested: Pipeline, store: str, suffix: str, status: int, message: str
) -> None:
    answer = _ask(tmp_path, attested, store, f"{store}{suffix}")
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]["message"]


def test_without_allowed_urls_nothing_is_fetched(tmp_path: Path, attested: Pipeline) -> None:
    path = write_config(tmp_path, attested)
    body = {
        "policy": "staging",
        "bundle_url": "http://127.0.0.1:9/model.atlas.json",
        "artifacts": final_digests(attested),
    }
    with serve_in_thread(create_app(lambda: load_config(path))) as url:
        answer = httpx.post(f"{url}/v1/verify", json=body, headers=AUTH, timeout=60)
    assert answer.status_code == 400
    assert "fetches no bundles by URL" in answer.json()["error"]["message"]


def test_a_bundle_named_by_path_is_read_again_every_time(
    tmp_path: Path, attested: Pipeline
) -> None:
    """A verdict is never filed under a body that only names the bundle: replacing the file
    must change the answer."""
    path = write_config(tmp_path, attested)
    body = {
        "policy": "staging",
        "bundle_path": "model.atlas.json",
        "artifacts": final_digests(attested),
    }
    with serve_in_thread(create_app(lambda: load_config(path))) as url:
        first = httpx.post(f"{url}/v1/verify", json=body, headers=AUTH, timeout=60)
        assert first.status_code == 200 and first.json()["ok"] is True
        (tmp_path / "bundles" / "model.atlas.json").write_bytes(b"{}")
        again = httpx.post(f"{url}/v1/verify", json=body, headers=AUTH, timeout=60)
    assert again.status_code == 422, again.text  # the new (junk) file was read and refused

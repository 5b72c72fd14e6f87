"""One way to run the log's app: bind first (clear errors), serve in a thread (always stopped)
or in the foreground."""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from atlas_intoto.errors import NetworkError, UsageError
from atlas_intoto.tlog import serving


def _app() -> Starlette:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/", hello)])


def test_serve_in_thread_answers_and_always_stops() -> None:
    with serving.serve_in_thread(_app()) as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/").text == "hello"
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", timeout=2)


def test_serve_in_thread_stops_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), serving.serve_in_thread(_app()) as url:
        raise RuntimeError("boom")
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", timeout=2)


def test_listen_reports_busy_ports_and_bad_hosts() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(NetworkError, match="cannot listen"):
            serving.listen("127.0.0.1", port)
    with pytest.raises(UsageError, match="cannot resolve"):
        serving.listen("no-such-host.invalid", 0)


def test_url_of_brackets_ipv6() -> None:
    try:
        sock = serving.listen("::1", 0)
    except (NetworkError, UsageError):
        pytest.skip("no IPv6 loopback here")
    with sock:
        assert serving.url_of(sock).startswith("http://[::1]:")

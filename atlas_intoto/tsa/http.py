"""The TSA's HTTP API, as Sigstore's timestamp-authority serves it:

* ``POST /api/v1/timestamp`` — ``application/timestamp-query`` → ``application/timestamp-reply``
  (a malformed request gets a ``rejection`` reply with status 400);
* ``GET /api/v1/timestamp/certchain`` — the chain, PEM, TSA certificate first.

Usable alone (``atlas-intoto tsa serve``) or beside the log (``log serve --tsa-dir``).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from atlas_intoto.tsa.authority import MAX_REQUEST, TimestampAuthority

__all__ = ["create_tsa_app", "tsa_routes"]

_QUERY = "application/timestamp-query"
_REPLY = "application/timestamp-reply"


async def _body(request: Request) -> bytes | None:
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_REQUEST:
                return None
            chunks.append(chunk)
    except ClientDisconnect:
        return None
    return b"".join(chunks)


def tsa_routes(
    authority: TimestampAuthority, *, clock: Callable[[], float] = time.time
) -> list[Route]:
    """The TSA's routes (to serve alone or mount beside a log)."""

    async def timestamp(request: Request) -> Response:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in (_QUERY, "application/octet-stream"):
            return Response(f"content type must be {_QUERY}\n", status_code=415)
        body = await _body(request)
        if body is None:
            return Response("request body too large\n", status_code=413)
        now = datetime.datetime.fromtimestamp(clock(), datetime.UTC)
        # A rejection is the client's fault: answer it with a 400 (still a TimeStampResp).
        reply, granted = authority.respond(body, now=now)
        return Response(reply, status_code=200 if granted else 400, media_type=_REPLY)

    async def certchain(request: Request) -> Response:
        return Response(authority.chain_pem(), media_type="application/pem-certificate-chain")

    return [
        Route("/api/v1/timestamp", timestamp, methods=["POST"]),
        Route("/api/v1/timestamp/certchain", certchain, methods=["GET"]),
    ]


def create_tsa_app(
    authority: TimestampAuthority, *, clock: Callable[[], float] = time.time
) -> Starlette:
    """A Starlette app serving only the TSA."""
    return Starlette(routes=tsa_routes(authority, clock=clock))

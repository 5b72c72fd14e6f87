"""HTTP framing of the Rekor v2 API (:mod:`.service`) and the one app ``log serve`` runs: the
v1 API, the v2 write and tile APIs (their own shard) and, optionally, the TSA, side by side."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from atlas_intoto.tlog.server import ApiError, _read_body
from atlas_intoto.tlog.v2.service import V2ApiError, V2LogService, WitnessEndpoint

__all__ = ["combined_app", "open_log_app", "v2_routes"]

_IMMUTABLE = "public, max-age=31536000, immutable"
# A partial tile of a given width never changes either, but is soon superseded.
_PARTIAL = "public, max-age=60"


def _error(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    entry: Mapping[str, Any] | None = None,
) -> JSONResponse:
    doc: dict[str, Any] = {"code": status, "message": message}
    if entry is not None:
        doc["entry"] = entry
    return JSONResponse(doc, status_code=status, headers=headers)


def v2_routes(service: V2LogService, *, max_body: int) -> list[Route]:
    """``POST /api/v2/log/entries``, ``GET /checkpoint``, ``GET /tile/...`` over ``service``."""

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args)

    async def create(request: Request) -> Response:
        try:
            body = await _read_body(request, max_body)
            doc = await run(service.add, body)
        except ApiError as exc:
            return _error(exc.status, exc.message, exc.headers)
        except V2ApiError as exc:
            return _error(exc.status, exc.message, exc.headers, exc.entry)
        return JSONResponse(doc, status_code=201)

    async def checkpoint(request: Request) -> Response:
        try:
            cp = await run(service.cosigned_checkpoint)
        except V2ApiError as exc:
            return _error(exc.status, exc.message)
        return Response(
            cp.text, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"}
        )

    async def tile(request: Request) -> Response:
        path = request.path_params["path"]
        cached = service.cached_tile(path)
        if cached is not None:
            return Response(
                cached,
                media_type="application/octet-stream",
                headers={"Cache-Control": _IMMUTABLE},
            )
        try:
            data, full = await run(service.tile, path)
        except V2ApiError as exc:
            return _error(exc.status, exc.message)
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Cache-Control": _IMMUTABLE if full else _PARTIAL},
        )

    return [
        Route("/api/v2/log/entries", create, methods=["POST"]),
        Route("/checkpoint", checkpoint, methods=["GET"]),
        Route("/tile/{path:path}", tile, methods=["GET"]),
    ]


def combined_app(
    v1_app: Starlette,
    *,
    v2: V2LogService | None = None,
    tsa: Any = None,
    max_body: int,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """One app: the v2 routes (if ``v2``), the TSA routes (if ``tsa``, a TimestampAuthority)
    and everything else to the v1 app."""
    routes: list[Any] = []
    if v2 is not None:
        routes.extend(v2_routes(v2, max_body=max_body))
    if tsa is not None:
        from atlas_intoto.tsa.http import tsa_routes

        routes.extend(tsa_routes(tsa, clock=clock))
    routes.append(Mount("/", app=v1_app))
    app = Starlette(routes=routes)
    app.state.service = v1_app.state.service
    app.state.v2 = v2
    return app


@contextlib.contextmanager
def open_log_app(
    *,
    db: Path,
    signer: ec.EllipticCurvePrivateKey,
    origin: str,
    max_body: int,
    v2_db: Path | None = None,
    v2_origin: str | None = None,
    witnesses: Sequence[WitnessEndpoint] = (),
    tsa: Any = None,
) -> Iterator[Starlette]:
    """The app ``log serve`` runs, its stores open for the block: the v1 tree in ``db``, the
    v2 tree in ``v2_db`` (its own shard, same key), the TSA if given."""
    from atlas_intoto.tlog.server import create_app
    from atlas_intoto.tlog.store import LogStore

    stores = [LogStore(db)]
    try:
        v1 = create_app(stores[0], signer, origin, max_body)
        v2 = None
        if v2_db is not None:
            stores.append(LogStore(v2_db))
            v2 = V2LogService(stores[1], signer, origin=v2_origin or origin, witnesses=witnesses)
        yield combined_app(v1, v2=v2, tsa=tsa, max_body=max_body)
    finally:
        for store in stores:
            store.close()

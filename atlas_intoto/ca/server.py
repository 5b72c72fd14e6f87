"""The CA's HTTP API, as Fulcio serves it (at the edge):

* ``POST /api/v2/signingCert`` — a :mod:`atlas_intoto.ca.request` body → 200 with
  ``signedCertificateEmbeddedSct.chain.certificates`` (PEM, leaf first);
* ``GET /api/v2/trustBundle`` — ``{"chains": [{"certificates": [intermediate, root]}]}``;
* ``GET /api/v2/configuration`` — the issuers it accepts (Fulcio's ``configuration``).

Every refusal is a 4xx JSON ``{"code": status, "message": ...}`` (Fulcio's error shape, which
sigstore clients print): 400 malformed request or bad proof of possession, 401 bad, expired or
unknown-issuer token, 404/405 unknown path or method, 413 oversized body, 415 a body that is
not declared JSON. Tokens are never logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from atlas_intoto.ca.authority import CertificateAuthority
from atlas_intoto.ca.oidc import IssuerConfig, load_jwks, unverified_issuer, verify_token
from atlas_intoto.ca.request import parse_request, proven_key, response_document
from atlas_intoto.errors import CaConfigError, CaRequestError, UnknownIssuerError

__all__ = ["MAX_BODY", "JwksSource", "create_ca_app"]

MAX_BODY = 64 * 1024
#: How long a JWKS fetched by URL is reused before it is fetched again (key rotation).
JWKS_TTL = 600.0


class JwksSource:
    """Each issuer's JWKS: given ``inline`` (issuer URL → JWKS), read from its file at start-up,
    or fetched from its URL on first use and again after :data:`JWKS_TTL` seconds."""

    def __init__(
        self,
        issuers: Mapping[str, IssuerConfig],
        *,
        base_dir: Path = Path("."),
        clock: Callable[[], float] = time.time,
        inline: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self._issuers = issuers
        self._clock = clock
        self._fetched: dict[str, tuple[float, dict[str, Any]]] = {}
        self._files: dict[str, dict[str, Any]] = dict(inline or {})
        for config in issuers.values():
            if config.jwks_file is not None and config.url not in self._files:
                path = base_dir / config.jwks_file
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    raise CaConfigError(f"{path}: cannot read the JWKS ({exc})") from exc
                self._files[config.url] = load_jwks(data, source=str(path))

    def get(self, issuer: str) -> dict[str, Any]:
        """The JWKS of ``issuer`` (UnknownIssuerError when it is not configured)."""
        config = self._issuers.get(issuer)
        if config is None:
            raise UnknownIssuerError(f"identity token: issuer {issuer} is not trusted by this CA")
        if issuer in self._files:
            return self._files[issuer]
        url = config.jwks_url
        if url is None:
            raise UnknownIssuerError(f"identity token: no JWKS for issuer {issuer}")
        cached = self._fetched.get(issuer)
        now = self._clock()
        if cached is not None and now - cached[0] < JWKS_TTL:
            return cached[1]
        try:
            response = httpx.get(url, timeout=10.0)
            response.raise_for_status()
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # the issuer's keys are unavailable: the request cannot be judged, not refused
            raise CaRequestError(f"JWKS of {issuer}: {exc}", status=503) from exc
        try:
            doc = load_jwks(response.content, source=url)
        except CaConfigError as exc:
            # the issuer served something else: as unavailable as no answer (never a 500)
            raise CaRequestError(f"JWKS of {issuer}: {exc}", status=503) from exc
        self._fetched[issuer] = (now, doc)
        return doc


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "message": message}, status_code=status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (unknown path, wrong method) in the same JSON shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 400
    detail = exc.detail if isinstance(exc, HTTPException) else "bad request"
    return _error(status, f"{request.method} {request.url.path}: {detail}")


def _check_content_type(request: Request) -> None:
    # Fulcio's gateway takes JSON only; a form or text body is a client mistake, said so.
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media.lower() != "application/json":
        raise CaRequestError(
            f"Content-Type {media or '(empty)'}: expected application/json", status=415
        )


async def _body(request: Request) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_BODY:
                raise CaRequestError(f"request body larger than {MAX_BODY} bytes", status=413)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise CaRequestError("client disconnected") from exc
    return b"".join(chunks)


def create_ca_app(
    ca: CertificateAuthority,
    *,
    issuers: Mapping[str, IssuerConfig],
    jwks: JwksSource,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """A Starlette app serving the CA's Fulcio v2 API."""
    import datetime

    def sign(body: bytes, authorization: str | None) -> dict[str, Any]:
        request = parse_request(body, authorization=authorization)
        issuer = unverified_issuer(request.token)
        now = clock()
        principal = verify_token(
            request.token, issuers=issuers, jwks={issuer: jwks.get(issuer)}, now=now
        )
        key = proven_key(request, principal)
        moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
        return response_document(ca.issue(key, principal, now=moment))

    async def signing_cert(request: Request) -> JSONResponse:
        try:
            _check_content_type(request)
            body = await _body(request)
            doc = await run_in_threadpool(sign, body, request.headers.get("authorization"))
        except CaRequestError as exc:
            return _error(exc.status, str(exc))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # a request shape no check above anticipated: still the client's fault, never a 500
            return _error(400, f"request: {exc}")
        return JSONResponse(doc, status_code=201)

    async def trust_bundle(request: Request) -> JSONResponse:
        pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in ca.chain]
        return JSONResponse({"chains": [{"certificates": pems}]})

    async def configuration(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuers": [
                    {"issuerUrl": c.url, "audience": c.client_id, "issuerType": c.type}
                    for c in issuers.values()
                ]
            }
        )

    return Starlette(
        exception_handlers={HTTPException: _http_error},
        routes=[
            Route("/api/v2/signingCert", signing_cert, methods=["POST"]),
            Route("/api/v2/trustBundle", trust_bundle, methods=["GET"]),
            Route("/api/v2/configuration", configuration, methods=["GET"]),
        ],
    )

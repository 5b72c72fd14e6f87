"""The verification service's HTTP API (Starlette), over :class:`~.verifier.Verifier`.

==========================  =================================================================
``POST /v1/verify``         one bundle under a policy → the report (+ VSA); token required
``POST /v1/verify-batch``   ``{policy?, items: [...]}`` → ``{ok, results: [...]}``
``POST /v1/admission``      AdmissionReview v1 in and out (:mod:`.admission`)
``GET /healthz``            liveness; ``GET /readyz`` readiness (no token)
``GET /metrics``            Prometheus; ``GET /openapi.json`` the API description (no token)
==========================  =================================================================

Every error is a JSON document ``{"ok": false, "error": {type, check, message}}`` with a 4xx
status (5xx only for a fault of the service itself). Verification runs on worker threads, so
health checks answer while verifications run, and is bounded by ``limits.timeout`` (504).
The configuration is swapped as a whole on :meth:`ServiceState.reload` (``serve`` restarts
its workers on SIGHUP, one by one, so no request is dropped).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from atlas_intoto import __version__
from atlas_intoto.errors import AtlasError, ServiceRequestError
from atlas_intoto.service import admission
from atlas_intoto.service.auth import Principal, authenticate
from atlas_intoto.service.config import ServiceConfig
from atlas_intoto.service.metrics import Metrics
from atlas_intoto.service.openapi import openapi_document
from atlas_intoto.service.verifier import Verifier
from atlas_intoto.verify.cache import VerifyCache, default_cache_dir

__all__ = ["ServiceState", "create_app"]

LOG = logging.getLogger("atlas_intoto.service")
#: request bodies whose policy name this worker remembers (the fast path of repeated requests)
BODY_MEMO_ENTRIES = 10_000
Handler = Callable[[Request], Awaitable[Response]]


class ServiceState:
    """The current configuration and verifier of one worker, replaced as a unit on reload."""

    def __init__(
        self,
        loader: Callable[[], ServiceConfig],
        *,
        cache: VerifyCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.loader = loader
        self.clock = clock
        #: TLS required and verified client certificates (set by create_app)
        self.client_certificates = False
        config = loader()
        # Workers share the file: the configured directory, else the user's verify cache.
        directory = config.cache_dir or default_cache_dir()
        self.cache = cache if cache is not None else VerifyCache(directory)
        self.verifier = Verifier(config, cache=self.cache, clock=clock)
        self.metrics = Metrics()
        self.limiter = anyio.CapacityLimiter(max(4, 2 * (os.cpu_count() or 1)))
        #: SHA-256 of a request body already parsed here → the policy it names
        self.body_policies: OrderedDict[str, str] = OrderedDict()

    def remember_body(self, digest: str, policy: str) -> None:
        """Remember the policy a request body names (bounded, oldest forgotten first)."""
        self.body_policies[digest] = policy
        while len(self.body_policies) > BODY_MEMO_ENTRIES:
            self.body_policies.popitem(last=False)

    @property
    def config(self) -> ServiceConfig:
        return self.verifier.config

    def reload(self) -> bool:
        """Load the configuration again; a bad one is logged and the old one kept."""
        try:
            config = self.loader()
        except AtlasError as exc:
            LOG.error("reload failed, keeping the previous configuration: %s", exc)
            return False
        # One assignment: a request in flight keeps the verifier it started with.
        self.verifier = Verifier(config, cache=self.cache, clock=self.clock)
        return True


def _error(status: int, exc: BaseException | str, *, check: str = "service.request") -> Response:
    if isinstance(exc, AtlasError):
        kind, check, message = type(exc).__name__, exc.check, str(exc)
    else:
        kind, message = "HTTPError", str(exc)
    error = {"type": kind, "check": check, "message": message}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise ServiceRequestError("Content-Length: not a number")
    if declared is not None and int(declared) > limit:
        raise ServiceRequestError(f"request body larger than {limit} bytes", status=413)
    chunks, total = [], 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise ServiceRequestError(f"request body larger than {limit} bytes", status=413)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise ServiceRequestError("client disconnected") from exc
    return b"".join(chunks)


def _parse_json(body: bytes) -> Any:
    from atlas_intoto.fileio import DuplicateKeyError, unique_keys_object

    try:
        # A key twice (a step of an inline bundle, say) would be read as its last value only.
        return json.loads(body, object_pairs_hook=unique_keys_object)
    except DuplicateKeyError as exc:
        raise ServiceRequestError(f"request body: {exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise ServiceRequestError("request body: not valid JSON") from exc


async def _read_json(request: Request, limit: int) -> Any:
    return _parse_json(await _read_body(request, limit))


def _principal(state: ServiceState, request: Request) -> Principal:
    from atlas_intoto.errors import AuthRejectedError

    if len(request.headers.getlist("authorization")) > 1:
        # which one a proxy in front checked is unknowable: refuse, never pick one
        raise AuthRejectedError("Authorization: more than one header", status=401)
    return authenticate(
        state.config,
        authorization=request.headers.get("authorization"),
        # A client certificate was verified only if TLS required one when the service started.
        client_certificate=state.client_certificates and request.url.scheme == "https",
    )


def _policy_of(doc: Any, default: Any = None) -> Any:
    return doc.get("policy", default) if isinstance(doc, dict) else default


async def _in_thread(state: ServiceState, fn: Callable[[], Any]) -> Any:
    timeout = state.config.limits.timeout
    try:
        with anyio.fail_after(timeout):
            return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True, limiter=state.limiter)
    except TimeoutError as exc:
        raise ServiceRequestError(
            f"verification took longer than {timeout:g} s", status=504
        ) from exc


class _Api:
    """The endpoints over one :class:`ServiceState` (each reads the current verifier once, so
    a reload never changes the configuration under a request)."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state

    def guarded(self, endpoint: str, fn: Handler) -> Handler:
        """``fn`` with every error as a JSON document, counted and timed per endpoint."""
        metrics = self.state.metrics

        async def handler(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await fn(request)
            except ServiceRequestError as exc:
                response = _error(exc.status, exc)
            except AtlasError as exc:
                response = _error(422, exc)
            except Exception as exc:
                LOG.exception("internal error on %s", endpoint)
                response = _error(500, f"internal error: {type(exc).__name__}", check="internal")
            metrics.requests.labels(endpoint, str(response.status_code)).inc()
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            return response

        return handler

    async def verify(self, request: Request) -> Response:
        """Steps: 1. the caller; 2. the body within the size limit; 3. a body seen before whose
        verdict may be reused (its policy allowed to this caller); else 4. parse, authorize
        the policy, verify on a worker thread within the time limit."""
        state = self.state
        principal = _principal(state, request)
        body = await _read_body(request, state.config.limits.max_body)
        verifier = state.verifier
        digest = hashlib.sha256(body).hexdigest()
        known = state.body_policies.get(digest)
        answer = None
        if known is not None:
            principal.require(known)
            answer = verifier.cached_answer(digest, known)
        if answer is None:
            doc = _parse_json(body)
            _authorize(principal, _policy_of(doc))
            answer = await _in_thread(
                state,
                lambda: verifier.verify_document(doc, where="request", request_digest=digest),
            )
            state.remember_body(digest, answer["policy"])
        state.metrics.verdict(answer["policy"], answer)
        return JSONResponse(answer)

    async def verify_batch(self, request: Request) -> Response:
        state = self.state
        principal = _principal(state, request)
        doc = await _read_json(request, state.config.limits.max_body)
        verifier = state.verifier
        items = doc.get("items") if isinstance(doc, dict) else None
        if not isinstance(items, list) or not items:
            raise ServiceRequestError("items: must be a non-empty list of verify requests")
        if len(items) > state.config.limits.max_batch:
            raise ServiceRequestError(
                f"items: at most {state.config.limits.max_batch} per batch", status=413
            )
        default = _policy_of(doc)
        for item in items:
            _authorize(principal, _policy_of(item, default))
        results = await _in_thread(state, lambda: _batch(verifier, items, default))
        for item in results:
            if "policy" in item:
                state.metrics.verdict(item["policy"], item)
        return JSONResponse({"ok": all(r.get("ok") for r in results), "results": results})

    async def admit(self, request: Request) -> Response:
        state = self.state
        if state.config.admission.authenticate:
            _principal(state, request)
        review = admission.parse_review(await _read_json(request, state.config.limits.max_body))
        verifier = state.verifier
        answer = await _in_thread(state, lambda: _admission_answer(verifier, review))
        return JSONResponse(answer)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "policies": sorted(self.state.config.policies)})

    async def metrics(self, request: Request) -> Response:
        return Response(self.state.metrics.render(), media_type="text/plain; version=0.0.4")

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(__version__))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 400
    return _error(status, getattr(exc, "detail", None) or "bad request")


def create_app(
    loader: Callable[[], ServiceConfig],
    *,
    cache: VerifyCache | None = None,
    clock: Callable[[], float] = time.time,
    client_certificates: bool = False,
) -> Starlette:
    """The service as an ASGI app; ``app.state.service`` is its :class:`ServiceState`.
    ``client_certificates``: TLS requires and verifies client certificates (mTLS)."""
    state = ServiceState(loader, cache=cache, clock=clock)
    state.client_certificates = client_certificates
    api = _Api(state)
    endpoints: list[tuple[str, str, Handler, str]] = [
        ("/v1/verify", "verify", api.verify, "POST"),
        ("/v1/verify-batch", "verify-batch", api.verify_batch, "POST"),
        ("/v1/admission", "admission", api.admit, "POST"),
        ("/healthz", "healthz", api.healthz, "GET"),
        ("/readyz", "readyz", api.readyz, "GET"),
        ("/metrics", "metrics", api.metrics, "GET"),
        ("/openapi.json", "openapi", api.openapi, "GET"),
    ]
    routes = [
        Route(path, api.guarded(name, fn), methods=[method]) for path, name, fn, method in endpoints
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.service = state
    return app


def _authorize(principal: Principal, policy: Any) -> None:
    # A caller learns nothing about policies it may not use: 403 before "unknown policy".
    if isinstance(policy, str):
        principal.require(policy)


def _batch(verifier: Verifier, items: list[Any], default: Any) -> list[dict[str, Any]]:
    results = []
    for index, item in enumerate(items):
        try:
            where = f"items[{index}]"
            policy = default if isinstance(default, str) else None
            results.append(verifier.verify_document(item, where=where, default_policy=policy))
        except ServiceRequestError as exc:
            error = {"type": type(exc).__name__, "check": exc.check, "message": str(exc)}
            results.append({"ok": False, "status": exc.status, "error": error})
    return results


def _admission_answer(verifier: Verifier, review: admission.AdmissionRequest) -> dict[str, Any]:
    """Steps: 1. deletions pass; 2. only model workloads are judged; 3. the namespace's policy;
    4. the annotations name a bundle and digests; 5. that bundle verifies under the policy."""
    uid = review.uid
    if review.operation in ("DELETE", "CONNECT"):
        return admission.review_response(uid, allowed=True, message="not a deployment")
    if (review.group, review.kind) not in admission.MODEL_WORKLOADS:
        reason = f"{review.group or 'core'}/{review.kind}: not a workload this webhook judges"
        return admission.review_response(uid, allowed=False, message=reason)
    policy = verifier.config.admission.policy_for(review.namespace)
    if policy is None:
        warning = f"namespace {review.namespace!r} is not governed by a policy"
        return admission.review_response(uid, allowed=True, message=warning, warnings=(warning,))
    document = admission.verify_request_document(review, policy)
    if isinstance(document, str):
        return admission.review_response(uid, allowed=False, message=document)
    try:
        answer = verifier.verify_document(document, where="annotations")
    except ServiceRequestError as exc:
        return admission.review_response(uid, allowed=False, message=str(exc))
    if not answer["ok"]:
        return admission.review_response(
            uid, allowed=False, message=admission.denial_reason(answer)
        )
    return admission.review_response(uid, allowed=True, message=f"verified under policy {policy}")

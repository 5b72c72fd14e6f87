"""The service's client (``atlas-intoto gate``): hash the model here, ask the service."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atlas_intoto.errors import InputError, ServiceUnavailableError


def artifact_digests(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` (parallel, as ``measure``), by relative path."""
    from atlas_intoto.measure import measure

    if not directory.is_dir():
        raise InputError(f"{directory}: artifacts directory not found")
    measured = measure(["."], base_path=directory)
    return {path: digests["sha256"] for path, digests in measured.items()}


#: attempts for one request: verification is idempotent, and a keep-alive connection the
#: server closes (a worker retiring on reload) may fail a request that was never processed
ATTEMPTS = 3


def post_with_retry(client: Any, endpoint: str, body: bytes, headers: Mapping[str, str]) -> Any:
    """POST ``body``, again on a dropped connection or refused connect (never on a timeout
    or on any HTTP answer). Returns the httpx response; raises the last httpx error."""
    import time

    import httpx

    for attempt in range(ATTEMPTS):
        try:
            return client.post(endpoint, content=body, headers=dict(headers))
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def request_verdict(
    url: str,
    document: Mapping[str, Any],
    *,
    token: str | None = None,
    timeout: float = 60.0,
    ca_file: str | None = None,
    cert: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """POST ``document`` to ``URL/v1/verify`` and return the verdict document.

    Raises ServiceUnavailableError for anything that is not a verdict (network, 4xx/5xx),
    naming the service's own error message.
    """
    import ssl

    import httpx

    context = ssl.create_default_context(cafile=ca_file)
    if cert is not None:
        try:
            context.load_cert_chain(*cert)
        except (OSError, ssl.SSLError) as exc:
            raise InputError(f"{cert[0]}: cannot load the client certificate/key ({exc})") from exc
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    endpoint = url.rstrip("/") + "/v1/verify"
    try:
        with httpx.Client(timeout=timeout, verify=context) as client:
            response = post_with_retry(client, endpoint, json.dumps(document).encode(), headers)
    except httpx.HTTPError as exc:
        raise ServiceUnavailableError(f"{endpoint}: {type(exc).__name__}: {exc}") from exc
    try:
        answer = response.json()
    except ValueError as exc:
        raise ServiceUnavailableError(
            f"{endpoint}: HTTP {response.status_code}, not a JSON answer"
        ) from exc
    if response.status_code != 200 or not isinstance(answer, dict) or "ok" not in answer:
        error = answer.get("error") if isinstance(answer, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        raise ServiceUnavailableError(
            f"{endpoint}: HTTP {response.status_code}: {message or 'unexpected answer'}"
        )
    return answer

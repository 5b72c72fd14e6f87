"""Requesting an RFC 3161 timestamp from a TSA (``POST <url>/api/v1/timestamp``, as Sigstore's
timestamp-authority and sigstore-python's ``TimestampAuthorityClient``)."""

from __future__ import annotations

from atlas_intoto.errors import LogServerError, NetworkError

__all__ = ["request_timestamp", "timestamp_url"]


def timestamp_url(url: str) -> str:
    """The timestamp endpoint of a TSA base URL (a full ``.../timestamp`` URL is kept)."""
    url = url.rstrip("/")
    return url if url.endswith("/api/v1/timestamp") else f"{url}/api/v1/timestamp"


def request_timestamp(url: str, message: bytes, *, timeout: float = 10.0) -> bytes:
    """A DER TimeStampResp over SHA-256(``message``) with a nonce and the TSA's certificates;
    the response's nonce and imprint are checked against the request (NetworkError: not a TSA
    or not reachable; LogServerError: an HTTP error)."""
    import httpx
    from rfc3161_client import TimestampRequestBuilder, decode_timestamp_response

    from atlas_intoto.auth.client import TSA_TOKEN_ENV, bearer_headers

    request = (
        TimestampRequestBuilder()
        .data(message)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    endpoint = timestamp_url(url)
    try:
        response = httpx.post(
            endpoint,
            content=request.as_bytes(),
            headers={
                "Content-Type": "application/timestamp-query",
                **bearer_headers(TSA_TOKEN_ENV),
            },
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise NetworkError(f"TSA {endpoint}: unreachable ({exc})") from exc
    if response.status_code != 200:
        raise LogServerError(
            f"TSA {endpoint}: HTTP {response.status_code}", status=response.status_code
        )
    try:
        decoded = decode_timestamp_response(response.content)
    except (ValueError, TypeError) as exc:
        raise NetworkError(f"TSA {endpoint}: not a TimeStampResp ({exc})") from exc
    info = decoded.tst_info
    if (
        decoded.status != 0
        or info.nonce != request.nonce
        or info.message_imprint.message != request.message_imprint.message
    ):
        raise NetworkError(f"TSA {endpoint}: refused, or answered another request")
    return bytes(response.content)

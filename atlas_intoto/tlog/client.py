"""A client for any Rekor v1 log (ours, public Sigstore Rekor, a self-hosted Rekor).

Every method returns the server's JSON as Rekor documents it (a LogEntry as ``{entryID:
LogEntry}``). Network failures raise :class:`NetworkError`; HTTP errors raise
:class:`LogServerError` carrying Rekor's ``{code, message}``; answers that are not the Rekor API
raise :class:`NetworkError`. Verification of what comes back is :mod:`atlas_intoto.tlog.logentry`'s
job (pure); this module only talks.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from atlas_intoto import __version__
from atlas_intoto.auth.client import LOG_TOKEN_ENV, bearer_headers
from atlas_intoto.errors import LogServerError, NetworkError, UsageError
from atlas_intoto.tlog.proposed import (
    dsse_proposed_entry,
    hashedrekord_proposed_entry,
    intoto_proposed_entry,
)

__all__ = ["RekorClient"]

_API = "/api/v1"


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # httpx builds a context (parsing the whole CA bundle, ~17 ms of CPU) for every client, even
    # for http:// URLs; a recording publishes twice per step (link, Statement), so a training
    # run's background attestations paid it on every checkpoint. One per process, as httpx
    # would build it (certifi or SSL_CERT_FILE/SSL_CERT_DIR); SSLContext is thread-safe.
    return httpx.create_ssl_context()


class RekorClient:
    """Talks to the Rekor v1 REST API at ``url`` (e.g. ``http://127.0.0.1:3000``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"log URL {url!r}: expected http:// or https://")
        self.url = url.rstrip("/")
        try:
            self._http = httpx.Client(
                base_url=self.url + _API,
                timeout=timeout,
                transport=transport,
                verify=_tls_context(),
                headers={"User-Agent": f"atlas-intoto/{__version__}", "Accept": "application/json"},
            )
        except httpx.InvalidURL as exc:
            raise UsageError(f"log URL {url!r}: {exc}") from exc
        # The log's write token (docs/auth.md), from the environment, never the command line.
        self._http.headers.update(bearer_headers())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RekorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        ok: Sequence[int] = (200,),
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json_body, params=params)
        except httpx.TimeoutException as exc:
            raise NetworkError(f"{self.url}: log request timed out ({method} {path})") from exc
        except httpx.HTTPError as exc:
            raise NetworkError(f"{self.url}: cannot reach log ({exc})") from exc
        except httpx.InvalidURL as exc:
            raise UsageError(f"{self.url}: invalid request URL ({exc})") from exc
        if response.status_code not in ok:
            raise LogServerError(
                f"{self.url}: log answered {response.status_code} to {method} {_API}{path}: "
                f"{_message(response)}{_auth_hint(response.status_code)}",
                status=response.status_code,
            )
        return response

    def _json(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except (ValueError, RecursionError) as exc:  # ValueError: also huge integers
            raise NetworkError(f"{self.url}: {what} is not JSON; is this a Rekor log?") from exc

    def _entry_doc(self, doc: Any, what: str) -> dict[str, Any]:
        if (
            not isinstance(doc, dict)
            or len(doc) != 1
            or not isinstance(next(iter(doc.values())), dict)
        ):
            raise NetworkError(f"{self.url}: {what} is not a Rekor LogEntry ({{uuid: entry}})")
        return doc

    # --- writing -------------------------------------------------------------------------------

    def create_entry(self, proposed: Mapping[str, Any]) -> dict[str, Any]:
        """POST a proposed entry; returns ``{entryID: LogEntry}``. An entry the log already holds
        (409) is fetched from the ``Location`` it names and returned, so publishing is
        idempotent."""
        response = self._request("POST", "/log/entries", json_body=proposed, ok=(201, 409))
        if response.status_code == 409:
            location = response.headers.get("Location", "")
            # Rekor names the existing entry by its entry ID (ours) or UUID: both are accepted.
            existing = location.rstrip("/").rsplit("/", 1)[-1]
            if not existing:
                raise NetworkError(f"{self.url}: 409 without the Location of the existing entry")
            return self.get_entry(uuid=existing)
        return self._entry_doc(self._json(response, "new entry"), "new entry")

    def publish_dsse(self, envelope: bytes, public_key_pem: bytes) -> dict[str, Any]:
        """Publish a DSSE envelope as a ``dsse`` 0.0.1 entry verified by ``public_key_pem``
        (SPKI PEM or certificate PEM)."""
        return self.create_entry(dsse_proposed_entry(envelope, [public_key_pem]))

    def publish_intoto(self, envelope: bytes, public_key_pem: bytes) -> dict[str, Any]:
        """Publish a DSSE envelope as an ``intoto`` 0.0.2 entry."""
        return self.create_entry(intoto_proposed_entry(envelope, public_key_pem))

    def publish_hashedrekord(
        self, *, signature: bytes, public_key_pem: bytes, digest: bytes, algorithm: str = "sha256"
    ) -> dict[str, Any]:
        """Publish a signature over an artifact digest as a ``hashedrekord`` 0.0.1 entry."""
        return self.create_entry(
            hashedrekord_proposed_entry(
                signature=signature,
                public_key_pem=public_key_pem,
                digest=digest,
                algorithm=algorithm,
            )
        )

    # --- reading -------------------------------------------------------------------------------

    def get_entry(self, *, uuid: str | None = None, index: int | None = None) -> dict[str, Any]:
        """One entry by UUID (64 hex) / entry ID (80 hex), or by log index."""
        if (uuid is None) == (index is None):
            raise UsageError("get_entry: give exactly one of uuid= or index=")
        if uuid is not None:
            response = self._request("GET", f"/log/entries/{uuid}")
        else:
            response = self._request("GET", "/log/entries", params={"logIndex": index})
        return self._entry_doc(self._json(response, "log entry"), "log entry")

    def retrieve(
        self,
        *,
        uuids: Sequence[str] = (),
        indexes: Sequence[int] = (),
        proposed: Sequence[Mapping[str, Any]] = (),
    ) -> list[dict[str, Any]]:
        """POST /log/entries/retrieve: entries by UUID, index or content."""
        query: dict[str, Any] = {}
        if uuids:
            query["entryUUIDs"] = list(uuids)
        if indexes:
            query["logIndexes"] = list(indexes)
        if proposed:
            query["entries"] = list(proposed)
        doc = self._json(self._request("POST", "/log/entries/retrieve", json_body=query), "result")
        if not isinstance(doc, list):
            raise NetworkError(f"{self.url}: retrieve answer is not a list")
        return [self._entry_doc(item, "retrieved entry") for item in doc]

    def search(
        self,
        *,
        hash: str | None = None,
        public_key_pem: bytes | None = None,
        email: str | None = None,
        operator: str | None = None,
    ) -> list[str]:
        """POST /index/retrieve: entry IDs by artifact hash, public key (x509) or email."""
        import base64

        query: dict[str, Any] = {}
        if hash is not None:
            query["hash"] = hash
        if public_key_pem is not None:
            query["publicKey"] = {
                "format": "x509",
                "content": base64.b64encode(public_key_pem).decode(),
            }
        if email is not None:
            query["email"] = email
        if operator is not None:
            query["operator"] = operator
        doc = self._json(self._request("POST", "/index/retrieve", json_body=query), "search")
        if not isinstance(doc, list) or not all(isinstance(i, str) for i in doc):
            raise NetworkError(f"{self.url}: index search answer is not a list of entry IDs")
        return doc

    def log_info(self) -> dict[str, Any]:
        """GET /log: ``{rootHash, treeSize, signedTreeHead, treeID}``."""
        doc = self._json(self._request("GET", "/log"), "log info")
        if not isinstance(doc, dict) or not {"rootHash", "treeSize", "signedTreeHead"} <= set(doc):
            raise NetworkError(f"{self.url}: log info lacks rootHash/treeSize/signedTreeHead")
        return doc

    def consistency_proof(
        self, first: int, last: int, tree_id: str | None = None
    ) -> dict[str, Any]:
        """GET /log/proof: ``{rootHash, hashes}`` proving tree ``last`` extends tree ``first``."""
        params: dict[str, Any] = {"firstSize": first, "lastSize": last}
        if tree_id is not None:
            params["treeID"] = tree_id
        doc = self._json(self._request("GET", "/log/proof", params=params), "consistency proof")
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("hashes"), list)
            or not isinstance(doc.get("rootHash"), str)
        ):
            raise NetworkError(f"{self.url}: consistency proof lacks rootHash/hashes")
        return doc

    def public_key(self) -> bytes:
        """GET /log/publicKey: the log's public key (PEM)."""
        return self._request("GET", "/log/publicKey").content


def _message(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except (ValueError, RecursionError):
        text = response.text.strip().splitlines()
        return text[0][:200] if text else response.reason_phrase
    if isinstance(doc, dict) and isinstance(doc.get("message"), str) and doc["message"]:
        return str(doc["message"])[:500]
    return response.reason_phrase


def _auth_hint(status: int) -> str:
    if status == 401:
        return f" (set {LOG_TOKEN_ENV} to a token the log accepts)"
    if status == 403:
        return f" (the token in {LOG_TOKEN_ENV} may not do this, or is revoked)"
    return ""

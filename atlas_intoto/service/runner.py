"""Starting the service: uvicorn worker processes over one listening socket.

``serve`` validates the configuration, binds the socket, then hands both to uvicorn's process
supervisor: ``workers`` processes accept on the shared socket and open the same verify cache
(SQLite WAL) and Prometheus directory. On SIGHUP the supervisor starts a new worker, waits until
it is ready and only then stops an old one (which finishes its requests first), one by one: a
reload drops no request, and a bad configuration keeps the old workers. A worker rebuilds its
configuration from the ``ATLAS_INTOTO_SERVICE`` environment (:func:`app_from_environment`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from atlas_intoto.errors import ServiceConfigError
from atlas_intoto.service.config import ServiceConfig, load_config, quick_config

SETTINGS_ENV = "ATLAS_INTOTO_SERVICE"


def settings_loader(settings: Mapping[str, Any]) -> Callable[[], ServiceConfig]:
    """How a worker (re)loads its configuration: ``{"config": FILE}`` or the quick start
    ``{"layout_keys": [FILE...], "cache_dir": DIR | None}``."""
    if settings.get("config"):
        path = Path(settings["config"])
        return lambda: load_config(path)
    keys = [Path(p) for p in settings.get("layout_keys", ())]
    if not keys:
        raise ServiceConfigError("serve: give --config FILE or at least one --layout-key")
    cache_dir = Path(settings["cache_dir"]) if settings.get("cache_dir") else None
    return lambda: quick_config(keys, cache_dir=cache_dir)


def app_from_environment() -> Any:
    """The app factory uvicorn's workers call (``--factory``)."""
    from atlas_intoto.service.app import create_app

    settings = json.loads(os.environ[SETTINGS_ENV])
    return create_app(
        settings_loader(settings), client_certificates=bool(settings.get("client_certificates"))
    )


def serve(
    settings: Mapping[str, Any],
    *,
    sock: socket.socket,
    workers: int = 1,
    tls: Mapping[str, str] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM with ``workers`` processes; SIGHUP reloads.

    ``tls``: ``{"certfile", "keyfile"}`` and, for mTLS, ``"client_ca"`` (client certificates
    then required).
    """
    import ssl

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    tls = dict(tls or {})
    # Whether TLS demands client certificates is fixed at start: a reload cannot add it.
    os.environ[SETTINGS_ENV] = json.dumps(
        {**settings, "client_certificates": bool(tls.get("client_ca"))}
    )
    metrics_dir = tempfile.mkdtemp(prefix="atlas-service-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    config = uvicorn.Config(
        f"{__name__}:app_from_environment",
        factory=True,
        workers=workers,
        access_log=False,
        log_level="warning",
        http="httptools",
        loop="uvloop",
        # The scheme must come from our own TLS, never from a client's X-Forwarded-Proto.
        proxy_headers=False,
        timeout_graceful_shutdown=10,
        ssl_certfile=tls.get("certfile"),
        ssl_keyfile=tls.get("keyfile"),
        ssl_ca_certs=tls.get("client_ca"),
        ssl_cert_reqs=ssl.CERT_REQUIRED if tls.get("client_ca") else ssl.CERT_NONE,
    )
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)

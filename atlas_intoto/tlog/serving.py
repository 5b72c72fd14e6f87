"""Running an ASGI app (the log's API) with uvicorn: the one way the log is started.

* :func:`listen` binds the socket first, so a bad host or a busy port is one clear error
  before anything is announced;
* :func:`serve_in_thread` runs the app in a background thread of this process (the embedded
  log, tests) and always stops it when the block exits;
* :func:`serve_foreground` runs it until interrupted (``log serve``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from atlas_intoto.errors import NetworkError, UsageError

__all__ = ["listen", "serve_foreground", "serve_in_thread", "url_of"]

#: How long a background server may take to start.
START_TIMEOUT = 10.0


def listen(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port), or one clear error:
    :class:`UsageError` for a host that does not resolve, :class:`NetworkError` if the address
    cannot be bound."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--host {host!r}: cannot resolve ({exc})") from exc
    try:
        return socket.create_server(address, family=family, backlog=2048)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise NetworkError(f"{host}:{port}: cannot listen ({reason})") from exc


def url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (IPv6 hosts bracketed)."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _server(app: Any, *, foreground: bool) -> Any:
    import uvicorn

    if foreground:
        # The production settings: the fast HTTP parser and event loop, a bounded shutdown.
        config = uvicorn.Config(
            app,
            access_log=False,
            log_level="warning",
            http="httptools",
            loop="uvloop",
            proxy_headers=False,
            timeout_graceful_shutdown=5,
        )
    else:
        # In-process: the app has no lifespan hooks, and the host owns signal handling.
        config = uvicorn.Config(
            app, access_log=False, log_level="warning", lifespan="off", proxy_headers=False
        )
    return uvicorn.Server(config)


def serve_foreground(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` on the listening ``sock`` until interrupted (SIGINT/SIGTERM); the socket
    is closed on return."""
    try:
        _server(app, foreground=True).run(sockets=[sock])
    finally:
        sock.close()


@contextlib.contextmanager
def serve_in_thread(
    app: Any, *, sock: socket.socket | None = None, name: str = "atlas-log"
) -> Iterator[str]:
    """Serve ``app`` in a daemon thread on ``sock`` (default: a free 127.0.0.1 port) and yield
    its URL. The server is stopped and the socket closed when the block exits, whatever
    happens; :class:`NetworkError` if it does not start within :data:`START_TIMEOUT`."""
    sock = sock if sock is not None else listen("127.0.0.1", 0)
    try:
        url = url_of(sock)
        server = _server(app, foreground=False)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise NetworkError(f"{name} on {url} did not start")
                time.sleep(0.01)
            yield url
        finally:
            server.should_exit = True
            thread.join(timeout=START_TIMEOUT)
    finally:
        sock.close()


@contextlib.contextmanager
def log_server_process(db: Path, key: Path) -> Iterator[str]:
    """``atlas-intoto log serve`` in a child process on a free loopback port until exit; yields
    its URL. Its own interpreter: serving the log never shares the caller's GIL (a training
    job's, in the case studies)."""
    import httpx

    with listen() as probe:  # a free port, released for the child to bind
        url = url_of(probe)
    port = url.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "atlas_intoto", "log", "serve", "--db", str(db)]
    command += ["--key", str(key), "--port", port]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/v1/log", timeout=1).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                error = server.stderr.read().decode() if server.stderr else ""
                raise NetworkError(f"{url}: local log did not start ({error.strip()[-200:]})")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr:
            server.stderr.close()

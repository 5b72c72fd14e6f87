"""Checkpoint attestations in a process of their own, at the lowest CPU priority.

A training run's checkpoints are attested while training goes on. On a thread of the training
process that work competed for the GIL with the training loop, and a low-priority thread holding
the GIL stalls the loop until the scheduler lets it run again (priority inversion). In a process
of its own the attestation has its own interpreter: training never waits for it, and at
niceness 19 it runs on CPU time that training leaves idle.

The worker is a fresh interpreter (``python -P -m atlas_intoto.integrations.attest_worker FD
NICENESS``), not a fork: a fork would share the training process's pages copy-on-write, and
every weight the optimizer then updates would be copied. It lowers its priority before
importing anything, then answers requests one at a time over a socket pair: each request is a
:class:`~atlas_intoto.integrations.training.CheckpointJob`, each answer ``("ok", result)`` or
``("error", exception)``, pickled (both ends are this package, in processes of the same user).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from atlas_intoto.errors import AttestationFailedError

#: Niceness of the worker process: it runs when training leaves a core idle.
WORKER_NICENESS = 19
#: Seconds :meth:`WorkerProcess.close` waits for the worker to end before killing it.
CLOSE_TIMEOUT = 30.0


def available() -> bool:
    """Whether this platform can hand the worker its socket (POSIX ``pass_fds``)."""
    return os.name == "posix" and hasattr(socket, "socketpair") and bool(sys.executable)


class WorkerProcess:
    """The parent's end: start the worker, send it jobs one at a time, stop it."""

    def __init__(self, *, niceness: int = WORKER_NICENESS) -> None:
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONPATH=package_root + (os.pathsep + path if path else ""))
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-m", __name__, str(theirs.fileno()), str(niceness)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self._process.pid

    def call(self, job: Any) -> Any:
        """Run ``job`` in the worker and return its result, or raise what it raised."""
        with self._lock:
            try:
                self._conn.send(job)
                status, value = self._conn.recv()
            except (EOFError, OSError) as exc:
                code = self._process.poll()
                raise AttestationFailedError(
                    f"the checkpoint attestation worker (pid {self.pid}) exited"
                    + ("" if code is None else f" with code {code}")
                ) from exc
            except Exception as exc:  # an answer that does not unpickle (e.g. an odd exception)
                raise AttestationFailedError(
                    f"the checkpoint attestation worker sent an unreadable answer: {exc}"
                ) from exc
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        """Ask the worker to end (after the job it is running) and reap it."""
        with contextlib.suppress(OSError):
            self._conn.send(None)
        try:
            self._process.wait(timeout=CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._conn.close()


def _answer(conn: Connection, job: Any) -> None:
    from atlas_intoto.integrations.training import attest_checkpoint

    try:
        reply: tuple[str, Any] = ("ok", attest_checkpoint(job))
    except Exception as exc:
        reply = ("error", exc)
    try:
        conn.send(reply)
    except Exception:  # the exception does not pickle: send its one line instead
        conn.send(("error", AttestationFailedError(f"{type(reply[1]).__name__}: {reply[1]}")))


def serve(fd: int, niceness: int) -> int:
    """The worker's loop: answer jobs until the parent sends None or goes away."""
    with contextlib.suppress(OSError):
        os.nice(niceness)  # before the imports: they are CPU too
    # Ctrl-C reaches the whole process group: the training process decides (abort, or finish),
    # and the worker ends when told to or when its socket closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Import everything a job needs now, while training runs, not when the first job comes.
    from atlas_intoto.integrations import training

    training.import_recording_modules()
    conn = Connection(fd)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return 0
        if job is None:
            return 0
        os.chdir(job.cwd)
        _answer(conn, job)


if __name__ == "__main__":
    code = serve(int(sys.argv[1]), int(sys.argv[2]))
    sys.stderr.flush()
    # Every file a job wrote is complete (atomic writes): skip the interpreter's teardown,
    # which the training process would otherwise wait for at the end of the run.
    os._exit(code)

"""Running a step's command: output echoed live and captured as in-toto byproducts."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import threading
from collections.abc import Sequence
from typing import IO, Any

from atlas_intoto.errors import CommandError, UsageError


def _pump(fd: int, sink: Any, chunks: list[bytes]) -> None:
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
        if sink is None:
            continue
        with contextlib.suppress(OSError, ValueError):
            buffer = getattr(sink, "buffer", None)
            if buffer is not None:
                buffer.write(chunk)
                buffer.flush()
            elif isinstance(sink, io.TextIOBase):
                sink.write(chunk.decode("utf-8", "replace"))
                sink.flush()
            else:
                sink.write(chunk)
                sink.flush()


def execute_command(
    command: Sequence[str],
    *,
    echo_stdout: IO[str] | IO[bytes] | None = None,
    echo_stderr: IO[str] | IO[bytes] | None = None,
) -> dict[str, Any]:
    """Run ``command``, echoing and capturing its output; return in-toto byproducts.

    Same result shape as in-toto's ``runlib.execute_link`` (``stdout``, ``stderr``,
    ``return-value``). Not that function itself: it polls the child in a busy loop (a whole core
    while a training job runs), has a default 10 s timeout and decodes output as locale text.
    Here two threads block on pipes and output is decoded as UTF-8 with replacement.
    """
    if not command:
        raise UsageError("no command given (use: run ... -- CMD [ARG ...])")
    argv = [os.fspath(part) for part in command]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise CommandError(f"{argv[0]}: command not found") from exc
    except PermissionError as exc:
        raise CommandError(f"{argv[0]}: command is not executable") from exc
    except OSError as exc:
        raise CommandError(f"{argv[0]}: cannot start command ({exc.strerror or exc})") from exc
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(
            target=_pump, args=(proc.stdout.fileno(), echo_stdout, out_chunks), daemon=True
        ),
        threading.Thread(
            target=_pump, args=(proc.stderr.fileno(), echo_stderr, err_chunks), daemon=True
        ),
    ]
    for pump in pumps:
        pump.start()
    try:
        returncode = proc.wait()
        for pump in pumps:
            pump.join()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        proc.stdout.close()
        proc.stderr.close()
    return {
        "stdout": b"".join(out_chunks).decode("utf-8", "replace"),
        "stderr": b"".join(err_chunks).decode("utf-8", "replace"),
        "return-value": returncode,
    }

"""Running a step's command: output echoed live and captured as in-toto byproducts."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import threading
from collections.abc import Sequence
from typing import IO, Any

from atlas_intoto.errors import CommandError, UsageError
from atlas_intoto.recording import DEFAULT_OUTPUT_CAP


class _Capture:
    """One output stream: its SHA-256 and size over every byte, and at most ``cap`` bytes kept.

    The whole stream is never held in memory, so a job printing gigabytes costs a hash, not RAM.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.kept: list[bytes] = []
        self._kept_size = 0

    def add(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.size += len(chunk)
        room = self.cap - self._kept_size
        if room > 0:
            self.kept.append(chunk[:room])
            self._kept_size += min(room, len(chunk))

    def byproducts(self, name: str, *, record: bool) -> dict[str, Any]:
        """``NAME-sha256`` and ``NAME-size`` always; with ``record`` the (capped) text too,
        ``NAME-truncated`` saying whether bytes were left out."""
        out: dict[str, Any] = {f"{name}-sha256": self.sha256.hexdigest(), f"{name}-size": self.size}
        if record:
            out[name] = b"".join(self.kept).decode("utf-8", "replace")
            out[f"{name}-truncated"] = self.size > self._kept_size
        return out


def _pump(fd: int, sink: Any, capture: _Capture) -> None:
    while chunk := os.read(fd, 65536):
        capture.add(chunk)
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
    record_output: bool = False,
    output_cap: int = DEFAULT_OUTPUT_CAP,
) -> dict[str, Any]:
    """Run ``command``, echoing its output; return in-toto byproducts.

    The byproducts are bounded: ``return-value`` and, per stream, ``stdout-sha256`` /
    ``stdout-size`` over every byte (likewise ``stderr``). With ``record_output`` the first
    ``output_cap`` bytes of each stream are kept as ``stdout``/``stderr`` (UTF-8 with
    replacement, as in-toto's keys) with ``stdout-truncated``/``stderr-truncated`` stating
    whether the rest was left out. Not in-toto's ``runlib.execute_link``: it polls the child in
    a busy loop (a whole core while a training job runs), has a default 10 s timeout and keeps
    the whole output as locale text. Here two threads block on pipes.
    """
    if output_cap < 0:
        raise UsageError(f"--output-cap {output_cap}: must not be negative")
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
    out_capture, err_capture = _Capture(output_cap), _Capture(output_cap)
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(
            target=_pump, args=(proc.stdout.fileno(), echo_stdout, out_capture), daemon=True
        ),
        threading.Thread(
            target=_pump, args=(proc.stderr.fileno(), echo_stderr, err_capture), daemon=True
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
        **out_capture.byproducts("stdout", record=record_output),
        **err_capture.byproducts("stderr", record=record_output),
        "return-value": returncode,
    }

"""CLI: ``measure`` (and the stderr progress bar the step commands share)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from atlas_intoto.cli._common import Output, command

_BAR_WIDTH = 28


class ProgressBar:
    """A one-line progress bar on stderr, shown only for work that lasts over a second.

    Hidden entirely with ``--json`` or when stderr is not a terminal, so logs and pipes stay
    clean. Used as the ``progress`` callback of :func:`atlas_intoto.measure.measure`.
    """

    def __init__(
        self, label: str, *, enabled: bool, stream: TextIO | None = None, delay: float = 1.0
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.delay = delay
        self.start = time.monotonic()
        self.shown = False

    @classmethod
    def for_output(cls, label: str, out: Output) -> ProgressBar:
        return cls(label, enabled=not out.json_mode and sys.stderr.isatty())

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if total and done >= total:
            # One measurement finished: clear the line so the next phase (or the wrapped
            # command's output) starts clean, and time the next phase afresh.
            self.close()
            self.start = time.monotonic()
            return
        elapsed = time.monotonic() - self.start
        if not self.shown and elapsed < self.delay:
            return
        self.shown = True
        fraction = min(1.0, done / total) if total else 1.0
        filled = int(fraction * _BAR_WIDTH)
        rate = done / elapsed / 1e9 if elapsed > 0 else 0.0
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {fraction:4.0%} "
            f"{done / 1e9:.2f}/{total / 1e9:.2f} GB {rate:.2f} GB/s"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.shown = False


def _digest_list(text: str) -> list[str]:
    return [part for part in text.replace(" ", ",").split(",") if part]


def add_digest_options(parser: argparse.ArgumentParser) -> None:
    """``--digest`` (repeatable, comma-separated) and ``--no-digest-cache``."""
    parser.add_argument(
        "--digest",
        action="extend",
        type=_digest_list,
        default=None,
        metavar="ALG",
        help="digest algorithm(s) to record: sha256, blake3, or both (repeatable or "
        "comma-separated; default: sha256)",
    )
    parser.add_argument(
        "--no-digest-cache",
        action="store_true",
        help="read every file, without reusing digests of files unchanged since measured "
        "(also: ATLAS_INTOTO_DIGEST_CACHE=0)",
    )


def digest_algorithms(args: argparse.Namespace) -> tuple[str, ...]:
    """The parsed ``--digest`` algorithms, checked (default: sha256)."""
    from atlas_intoto.measure import DEFAULT_ALGORITHMS, check_algorithms

    given = getattr(args, "digest", None)
    return check_algorithms(given) if given is not None else DEFAULT_ALGORITHMS


def add_measure_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="gitignore-style pattern to leave out (repeatable; .git/ is always excluded)",
    )
    parser.add_argument(
        "--base-path",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="record paths relative to DIR; relative PATHs are taken from DIR (default: .)",
    )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = command(
        sub,
        common,
        "measure",
        _measure,
        help="print the digests of files and directories exactly as links record them",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="file or directory")
    add_measure_options(p)
    add_digest_options(p)


def _line(name: str, entry: dict[str, str]) -> str:
    # One algorithm: the sha256sum/b3sum line; several: each digest prefixed by its algorithm.
    if len(entry) == 1:
        return f"{next(iter(entry.values()))}  {name}"
    return " ".join(f"{alg}:{hexdigest}" for alg, hexdigest in entry.items()) + f"  {name}"


def _measure(args: argparse.Namespace, out: Output) -> int:
    from atlas_intoto.digestcache import default_cache
    from atlas_intoto.measure import measure_files

    algorithms = digest_algorithms(args)
    bar = ProgressBar.for_output("measuring", out)
    cache = default_cache(enabled=not args.no_digest_cache)
    try:
        result = measure_files(
            args.paths,
            base_path=args.base_path,
            exclude=args.exclude,
            progress=bar,
            algorithms=algorithms,
            cache=cache,
        )
    finally:
        bar.close()
        if cache is not None:
            cache.close()
    digests = result.digests
    text = "\n".join(_line(name, entry) for name, entry in digests.items())
    out.result(digests, text=text if digests else None)
    cached = f" ({result.files_cached} unchanged since measured)" if result.files_cached else ""
    out.human(f"{len(digests)} file(s) measured{cached}")
    return 0

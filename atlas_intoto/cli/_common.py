"""Shared CLI plumbing: common options, JSON/human output, error reporting."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from atlas_intoto.errors import AtlasError

Handler = Callable[[argparse.Namespace, "Output"], int]


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print exactly one JSON document on stdout",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show Python tracebacks on errors",
    )


class Output:
    """Collects a command's result and prints it per the CLI conventions."""

    def __init__(self, *, json_mode: bool, debug: bool) -> None:
        self.json_mode = json_mode
        self.debug = debug
        self._document: Any = None
        self._flushed = False

    def human(self, message: str) -> None:
        """A line for people: always stderr, so stdout stays clean for --json."""
        print(message, file=sys.stderr, flush=True)

    def result(self, document: Any, *, text: str | None = None) -> None:
        """Set the command's result. With --json it is printed on stdout at the end; otherwise
        ``text`` (if given) goes to stdout, because it is the command's answer (e.g. digests)."""
        self._document = document
        if not self.json_mode and text is not None:
            print(text, flush=True)

    def flush(self, *, code: int = 0) -> None:
        if self._flushed:
            return
        self._flushed = True
        if self.json_mode:
            doc = self._document if self._document is not None else {"ok": code == 0}
            sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
            sys.stdout.flush()

    def fail(self, exc: BaseException, *, traceback_text: str) -> int:
        if isinstance(exc, AtlasError):
            code, kind, check = exc.exit_code, type(exc).__name__, exc.check
        else:
            code, kind, check = 2, type(exc).__name__, "internal"
        message = str(exc) or kind
        if not isinstance(exc, AtlasError):
            message = f"internal error: {kind}: {message} (rerun with --debug for details)"
        if self.debug:
            sys.stderr.write(traceback_text)
        print(f"atlas-intoto: error: {message}", file=sys.stderr, flush=True)
        if self.json_mode and not self._flushed:
            self._flushed = True
            error = {"type": kind, "check": check, "message": message, "exit_code": code}
            sys.stdout.write(json.dumps({"ok": False, "error": error}, indent=2) + "\n")
        return code

    def usage_error(self, message: str) -> None:
        """The JSON error document for a usage error argparse already reported on stderr."""
        if self.json_mode and not self._flushed:
            self._flushed = True
            error = {"type": "UsageError", "check": "usage", "message": message, "exit_code": 2}
            sys.stdout.write(json.dumps({"ok": False, "error": error}, indent=2) + "\n")
            sys.stdout.flush()

    def fail_message(self, message: str, *, code: int) -> None:
        print(f"atlas-intoto: {message}", file=sys.stderr, flush=True)
        if self.json_mode and not self._flushed:
            self._flushed = True
            # Same shape as every other error document.
            error: dict[str, Any] = {"type": "Interrupted", "check": "interrupted"}
            error.update(message=message, exit_code=code)
            sys.stdout.write(json.dumps({"ok": False, "error": error}, indent=2) + "\n")
            sys.stdout.flush()


def command(
    sub: Any,
    common: argparse.ArgumentParser,
    name: str,
    handler: Handler,
    *,
    help: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add a subcommand that accepts the common options and dispatches to ``handler``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description or help, parents=[common]
    )
    parser.set_defaults(handler=handler)
    return parser

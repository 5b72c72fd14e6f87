"""The ``atlas-intoto`` command line: a thin layer over the library API.

Conventions (README.md): exit 0 success, 1 invalid evidence, 2 usage/operational error;
``--json`` prints exactly one JSON document on stdout; human output goes to stderr; errors are
one line unless ``--debug``. Command modules import heavy libraries inside their handlers so
that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import traceback
from collections.abc import Sequence

from atlas_intoto import __version__
from atlas_intoto.cli._common import Output, add_common_options

#: One module per command group; each defines ``register(subparsers, common)``.
COMMAND_MODULES = (
    "keys",
    "measure",
    "step",
    "tee",
    "c2pa",
    "log",
    "tsa",
    "ca",
    "witness",
    "layout",
    "bundle",
    "export",
    "model",
    "demo",
    "serve",
    "gate",
    "auth",
)
#: Top-level command → the module that registers it. A command line naming one of these builds
#: only that module's parsers: setting up every group's argparse parsers costs more CPU than the
#: interpreter's start, and `measure` on a few GB is otherwise slower as a command than as a
#: library call. Anything else (help, --version, a command not listed) registers every module.
_COMMAND_MODULE = {
    "keygen": "keys",
    "measure": "measure",
    "run": "step",
    "record": "step",
    "tee": "tee",
    "c2pa": "c2pa",
    "log": "log",
    "ca": "ca",
    "layout": "layout",
    "bundle": "bundle",
    "inspect": "bundle",
    "verify": "bundle",
    "verify-batch": "bundle",
    "demo": "demo",
    "auth": "auth",
}


class _UsageExit(SystemExit):
    """argparse's usage error, carrying its message so ``main`` can also report it as JSON."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2 (its default too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise _UsageExit(f"{self.prog}: {message}")


def _require_subcommands(parser: argparse.ArgumentParser) -> None:
    """Make every command group (``log``, ``tee``, ...) demand a subcommand, so a bare group
    is a usage error (exit 2, JSON error document) rather than help text on stdout."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                for inner in child._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        inner.required = True
                        _require_subcommands(child)


def _wants_json(argv: Sequence[str]) -> bool:
    # Only options before ``--``: after it come the wrapped command's own arguments.
    head = list(argv)[: list(argv).index("--")] if "--" in argv else list(argv)
    return "--json" in head


def _modules_for(argv: Sequence[str] | None) -> Sequence[str]:
    if argv is None:
        return COMMAND_MODULES
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    module = _COMMAND_MODULE.get(first or "")
    return (module,) if module is not None else COMMAND_MODULES


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command-line parser: every command group, or (given ``argv``) only the group of the
    command ``argv`` names, when it is a known one."""
    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common)
    parser = _Parser(
        prog="atlas-intoto",
        description="Attest ML pipelines: in-toto links bound to TEE quotes, C2PA manifests "
        "and a transparency log; verify model bundles before deployment.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"atlas-intoto {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _modules_for(argv):
        module = importlib.import_module(f"atlas_intoto.cli.{name}")
        module.register(sub, common)
    _require_subcommands(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except _UsageExit as exc:
        if _wants_json(argv):
            Output(json_mode=True, debug=False).usage_error(exc.message)
        raise
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        if _wants_json(argv):
            Output(json_mode=True, debug=False).usage_error("atlas-intoto: no command given")
        return 2
    out = Output(
        json_mode=bool(getattr(args, "json", False)), debug=bool(getattr(args, "debug", False))
    )
    try:
        code = int(handler(args, out))
        out.flush(code=code)
    except KeyboardInterrupt:
        out.fail_message("interrupted", code=130)
        return 130
    except BrokenPipeError:
        return _stdout_closed()
    except Exception as exc:
        return out.fail(exc, traceback_text=traceback.format_exc())
    return code


def _stdout_closed() -> int:
    """The reader of stdout went away (``atlas-intoto measure . | head``): say so in one line
    and keep Python from failing again when it flushes stdout at exit."""
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    with contextlib.suppress(OSError):
        print("atlas-intoto: error: stdout closed (broken pipe)", file=sys.stderr, flush=True)
    return 2


def run() -> None:
    sys.exit(main())

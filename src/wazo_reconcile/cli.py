"""Command line: argument parsing, the error boundary, and the only place that prints.

Each subcommand lives in ``wazo_reconcile.commands.<name>`` and exposes
``register(subparsers)`` (build its parser) and ``run(args, output) -> int``: ``output`` is
the one `commands.common.Output` every byte of the program goes through (secrets masked).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from wazo_reconcile import __version__
from wazo_reconcile.commands import SUMMARIES as SUMMARIES  # re-exported
from wazo_reconcile.commands.common import Output, OutputHandler, report_error
from wazo_reconcile.errors import ExitCode
from wazo_reconcile.secrets import ScrubbingFilter

COMMANDS = tuple(SUMMARIES)  # in the order `reconcile --help` lists them

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors; 2 means "changes pending" here, so exit 1."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(ExitCode.ERROR)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the command it names is complete (the others are
    listed by name and summary, without importing them)."""
    chosen = _chosen_command(argv)
    parser = _Parser(
        prog="reconcile",
        description="Configuration-as-code for Wazo Platform interconnections.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        if argv is not None and name != chosen:
            subparsers.add_parser(name, help=SUMMARIES[name], add_help=False)
        else:
            importlib.import_module(f"wazo_reconcile.commands.{name}").register(subparsers)
    return parser


def _chosen_command(argv: Sequence[str] | None) -> str | None:
    """The command ``argv`` names: its first argument that is not an option."""
    for arg in argv or ():
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def configure_logging(verbosity: int, output: Output) -> None:
    """Log records on stderr, every secret the output knows masked in them (the filter sees
    the records of every logger the handler writes, httpx's included)."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = OutputHandler(output)  # a fleet run's records go to their PBX's section
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ScrubbingFilter(output.secrets))
    root = logging.getLogger("wazo_reconcile")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def console() -> NoReturn:
    """The ``reconcile`` program: `main`, then its exit status, output flushed."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # the reader went away, or a closed stream
        # Python would fail to flush again at exit and print an "Exception ignored" note.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = code or ExitCode.ERROR
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names (default ``sys.argv[1:]``); return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitCode.ERROR
    output = Output()  # everything the command writes passes through it
    configure_logging(getattr(args, "verbose", 0), output)
    try:
        return int(args.func(args, output))
    except (Exception, KeyboardInterrupt) as exc:  # the boundary: see `report_error`
        return report_error(exc, output)

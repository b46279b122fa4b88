"""What the commands share: printing safely, reading and checking a stack, connecting.

Every byte the program writes (stdout, stderr, the files of `--out`/`--report`, log records)
goes through one `Output`, which the CLI makes and hands to the command. It masks every
secret value known — resolved `${env:…}`/`${file:…}` references, literal passwords, the token
and password of the connection — in every form they may take (`secrets.encoded_forms`), and
text that came from outside (an error a server answered) is masked before it is shortened
for display (`Output.shown`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from wazo_reconcile.errors import ConfigError, Problem, UsageError, printable
from wazo_reconcile.secrets import SecretRegistry, SecretResolver
from wazo_reconcile.settings import ConnectionSettings, add_connection_args, settings_from_args
from wazo_reconcile.stack import Stack, read_stack

if TYPE_CHECKING:  # imported where used: `export` needs neither the planner nor the linter
    from wazo_reconcile.confd import ConfdClient
    from wazo_reconcile.planner import Plan, Selection

log = logging.getLogger(__name__)

FORMATS = ("text", "json", "markdown")


# Server messages longer than this are cut when shown (after masking): an error page's text.
SHOWN_LIMIT = 400


@dataclass
class Output:
    """stdout/stderr/files with every known secret masked: the one place output passes."""

    secrets: SecretRegistry = field(default_factory=SecretRegistry)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)

    def shown(self, text: str, limit: int = SHOWN_LIMIT) -> str:
        """Outside text (a server's error) on one line: masked first, then re-spaced, cut
        and escaped for a terminal (a secret cut in two would no longer be recognised)."""
        text = " ".join(self.secrets.scrub(text).split())
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        return printable(text)

    def out(self, text: str) -> None:
        self.stdout.write(self.secrets.scrub(text))
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(self.secrets.scrub(text))
        self.stderr.flush()

    def write_file(self, path: str, text: str) -> None:
        Path(path).write_text(self.secrets.scrub(text), encoding="utf-8")

    def json_text(self, document: Any, *, ensure_ascii: bool = True) -> str:
        # Values are masked before JSON escapes them (the escaped forms are masked too).
        masked = _scrub_values(document, self.secrets)
        return json.dumps(masked, indent=2, ensure_ascii=ensure_ascii) + "\n"


def _scrub_values(value: Any, secrets: SecretRegistry) -> Any:
    if isinstance(value, str):
        return secrets.scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_values(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_values(v, secrets) for v in value]
    return value


def add_stack_args(parser: argparse.ArgumentParser, *, path_required: bool = True) -> None:
    parser.add_argument(
        "path",
        metavar="PATH",
        nargs=None if path_required else "?",
        help="the stack: a YAML file or a directory of them",
    )
    add_connection_args(parser)
    parser.add_argument("--strict", action="store_true", help="treat validation warnings as errors")


def add_selection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="KIND/NAME",
        help="only this resource and what it needs (repeatable, wildcards allowed: trunks/*)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="KIND/NAME",
        help="leave this resource and what depends on it alone (repeatable)",
    )


def selection_of(args: argparse.Namespace) -> Selection:
    from wazo_reconcile.planner import Selection

    return Selection(tuple(args.target), tuple(args.exclude))


@dataclass
class Session:
    """A command's stack, connection and output, ready to plan."""

    stack: Stack
    settings: ConnectionSettings
    output: Output
    resolver: SecretResolver

    def client(self) -> ConfdClient:
        from wazo_reconcile.commands.connection import open_client

        return open_client(self.settings)

    def compare(self, client: ConfdClient, selection: Selection | None = None) -> Plan:
        """Fetch the live state and compare the stack with it."""
        from wazo_reconcile.pipeline import fetch_and_compare
        from wazo_reconcile.planner import Selection

        return fetch_and_compare(
            self.stack,
            client,
            tenant=self.settings.tenant,
            resolver=self.resolver,
            selection=selection or Selection(),
        )

    @property
    def target(self) -> str:
        where = "in-process sandbox" if self.settings.sandbox else str(self.settings.url)
        return f"{self.stack.path} → {where}"


def open_session(args: argparse.Namespace, path: str, output: Output) -> Session:
    """Settings, and the stack checked offline (every problem at once)."""
    settings = settings_from_args(args, os.environ)
    protect_logs(output.secrets, settings)
    resolver = SecretResolver(os.environ)
    strict = getattr(args, "strict", False)
    stack = load_checked(path, output, resolver, strict=strict)
    return Session(stack, settings, output, resolver)


def load_checked(
    path: str,
    output: Output,
    resolver: SecretResolver,
    *,
    strict: bool,
    resolve_secrets: bool = True,
) -> Stack:
    """The stack at ``path``, checked; a `ConfigError` with every problem if any is an error.
    ``resolve_secrets=False``: references are checked for their syntax only (`status`)."""
    if not Path(path).exists():
        raise UsageError(f"{path}: no such file or directory")
    from wazo_reconcile.lint import LintOptions, check_stack

    options = LintOptions(env=resolver.env, resolve_secrets=resolve_secrets)
    stack, problems = read_stack(path)
    problems += check_stack(stack, options=options, secrets=output.secrets)
    if strict:
        problems = [
            replace(p, severity="error") if p.severity == "warning" else p for p in problems
        ]
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(problems_to_show(problems))
    for problem in sorted(problems, key=Problem.sort_key):
        if problem.severity == "warning":
            output.err(f"{problem}\n")
    return stack


def problems_to_show(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity != "info"]


def protect_logs(secrets: SecretRegistry, settings: ConnectionSettings) -> None:
    """Mask the connection's token and password wherever the output shows them (the log
    handler scrubs with the same registry: `cli.configure_logging`)."""
    for value in (settings.token, settings.password):
        if value:
            secrets.add(value)

"""What the commands share: printing safely, reading and checking a stack, connecting.

Every byte the program writes (stdout, stderr, the files of `--out`/`--report`, log records)
goes through one `Output`, which the CLI makes and hands to the command. It masks every
secret value known — resolved `${env:…}`/`${file:…}` references, literal passwords, the token
and password of the connection — in every form they may take (`secrets.encoded_forms`), and
text that came from outside (an error a server answered) is masked before it is shortened
for display (`Output.shown`).

A fleet run (`commands.fleet`) gives each PBX an `Output` of its own, a *section* kept in
memory and printed whole when that PBX is done: two PBXs running at once never mix their
lines. Log records go to the section of the run that logs them (`SECTION`, which the
thread pools of a run carry to their threads).

A command acts on a `Target`: the stack's paths (one, or an inventory's several merged),
the connection settings and the variables of one PBX.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from wazo_reconcile.errors import (
    ConfigError,
    ExitCode,
    Location,
    Problem,
    ReconcileError,
    UsageError,
    plural,
    printable,
)
from wazo_reconcile.secrets import SecretRegistry, SecretResolver
from wazo_reconcile.settings import (
    ConnectionSettings,
    add_connection_args,
    settings_from_args,
    whole_number,
)
from wazo_reconcile.stack import Stack, read_stack

if TYPE_CHECKING:  # imported where used: `export` needs neither the planner nor the linter
    from wazo_reconcile.confd import ConfdClient
    from wazo_reconcile.lint import LintOptions
    from wazo_reconcile.live import LiveState
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

    def write_file(self, path: str, text: str, *, atomic: bool = False) -> None:
        """Write ``text`` (masked) to ``path``; ``atomic``: through a temporary file renamed
        over it, so that a reader (node_exporter) never sees half a file."""
        target = Path(path)
        written = target.with_name(f".{target.name}.{os.getpid()}.tmp") if atomic else target
        written.write_text(self.secrets.scrub(text), encoding="utf-8")
        if atomic:
            os.replace(written, target)

    def json_text(self, document: Any, *, ensure_ascii: bool = True) -> str:
        # Values are masked before JSON escapes them (the escaped forms are masked too).
        masked = _scrub_values(document, self.secrets)
        return json.dumps(masked, indent=2, ensure_ascii=ensure_ascii) + "\n"


SECTION: ContextVar[Output | None] = ContextVar("wazo_reconcile_section", default=None)
"""The `Output` of the PBX whose run the current thread serves (a fleet run), else None."""


class OutputHandler(logging.Handler):
    """Log records as lines on the stderr of an `Output`: the `SECTION` of the run that logs
    them, else the program's (the CLI installs it, with `secrets.ScrubbingFilter`)."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self.output = output

    def emit(self, record: logging.LogRecord) -> None:
        try:
            (SECTION.get() or self.output).err(self.format(record) + "\n")
        except Exception:  # logging never raises into the program
            self.handleError(record)


def _scrub_values(value: Any, secrets: SecretRegistry) -> Any:
    if isinstance(value, str):
        return secrets.scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_values(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_values(v, secrets) for v in value]
    return value


def add_stack_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        help="the stack: a YAML file or a directory of them (or, with an inventory, --pbx)",
    )
    add_connection_args(parser)
    parser.add_argument("--strict", action="store_true", help="treat validation warnings as errors")
    add_inventory_args(parser)


def add_inventory_args(parser: argparse.ArgumentParser, *, fleet: bool = True) -> None:
    """``--vars``, and the PBXs of an inventory: ``--inventory``, ``--pbx``, ``--all``,
    ``--select``, ``--concurrency`` (``fleet=False``: a single ``--pbx``)."""
    group = parser.add_argument_group("PBXs of an inventory (docs/fleet.md)")
    group.add_argument(
        "--inventory",
        metavar="FILE",
        help="the inventory naming the PBXs (default: inventory.yaml, with --pbx or --all)",
    )
    group.add_argument(
        "--pbx",
        action="append",
        default=[],
        metavar="NAME",
        help="run against this PBX of the inventory (repeatable; wildcards: 'paris-*')",
    )
    if fleet:
        group.add_argument(
            "--all", dest="all_pbxs", action="store_true", help="run against every PBX"
        )
        group.add_argument(
            "--select",
            action="append",
            default=[],
            metavar="LABEL=VALUE",
            help="only the PBXs with this label (repeatable: all must match)",
        )
        group.add_argument(
            "--concurrency",
            type=whole_number(1),
            default=4,
            metavar="N",
            help="PBXs run at once (default 4)",
        )
    group.add_argument(
        "--vars",
        metavar="FILE",
        help="values of the stack's ${var:NAME} references (a YAML mapping); with an "
        "inventory, they win over its variables",
    )


def add_selection_args(parser: argparse.ArgumentParser) -> None:
    for flag, text in (
        (
            "--target",
            "only this resource and what it needs (repeatable, wildcards allowed: trunks/*)",
        ),
        ("--exclude", "leave this resource and what depends on it alone (repeatable)"),
    ):
        parser.add_argument(flag, action="append", default=[], metavar="KIND/NAME", help=text)


def selection_of(args: argparse.Namespace) -> Selection:
    from wazo_reconcile.planner import Selection

    return Selection(tuple(args.target), tuple(args.exclude))


@dataclass(frozen=True)
class Target:
    """What one run acts on: the stack (its paths, merged in order), the PBX's connection
    settings (None offline), the values of its ``${var:…}`` references (None: none given),
    and, for a PBX of an inventory, its name and where the inventory gives its tenant."""

    paths: tuple[str, ...]
    settings: ConnectionSettings | None
    variables: Mapping[str, str] | None = None
    pbx: str | None = None
    tenant_at: Location | None = None
    stop: threading.Event | None = None  # set when a fleet run is interrupted

    @property
    def in_fleet(self) -> bool:
        """One of several PBXs run at once (a fleet run sets `stop`)."""
        return self.stop is not None


def single_target(args: argparse.Namespace, path: str | None, *, connect: bool = True) -> Target:
    """The target of a run without inventory: ``path``, the flags and ``WAZO_*`` variables,
    and ``--vars``."""
    if path is None:
        raise UsageError("give the stack PATH (or, with an inventory, --pbx NAME or --all)")
    settings = settings_from_args(args, os.environ) if connect else None
    return Target((path,), settings, variables_of(args))


def variables_of(
    args: argparse.Namespace, base: Mapping[str, str] | None = None
) -> Mapping[str, str] | None:
    """``base`` (an inventory's variables of the PBX) with those of ``--vars FILE`` over them."""
    path = getattr(args, "vars", None)
    if path is None:
        return base
    from wazo_reconcile.inventory import read_variables

    return {**(base or {}), **read_variables(path)}


@dataclass
class Session:
    """A command's stack, connection and output, ready to plan."""

    stack: Stack
    settings: ConnectionSettings
    output: Output
    resolver: SecretResolver
    pbx: str | None = None
    tenant_at: Location | None = None  # where the inventory gives the default tenant
    stop: threading.Event | None = None
    live: LiveState | None = None  # what `compare` read

    def client(self) -> ConfdClient:
        from wazo_reconcile.commands.connection import open_client

        return open_client(self.settings)

    def resolve_tenants(self, client: ConfdClient) -> None:
        """Tenants written by name (documents, the default tenant) become UUIDs, through
        wazo-auth (`tenants.resolve_names`); the client's default tenant too."""
        from wazo_reconcile.tenants import resolve_names

        self.stack, tenant = resolve_names(
            self.stack, self.settings.tenant, client, tenant_at=self.tenant_at
        )
        if tenant != self.settings.tenant:
            self.settings = replace(self.settings, tenant=tenant)
        client.tenant = tenant

    def compare(self, client: ConfdClient, selection: Selection | None = None) -> Plan:
        """Resolve tenant names, fetch the live state (kept in `live`) and compare the stack
        with it."""
        from wazo_reconcile.pipeline import compare_with_live
        from wazo_reconcile.planner import Selection

        self.resolve_tenants(client)
        plan, self.live = compare_with_live(
            self.stack,
            client,
            tenant=self.settings.tenant,
            resolver=self.resolver,
            selection=selection or Selection(),
        )
        return plan

    @property
    def target(self) -> str:
        named = f"{self.pbx}: " if self.pbx else ""
        return f"{named}{self.stack.shown} → {self.settings.where}"


def open_session(args: argparse.Namespace, target: Target, output: Output) -> Session:
    """Settings, and the stack checked offline (every problem at once)."""
    settings = target.settings
    if settings is None:
        raise ValueError("an offline target has no connection")
    protect_logs(output.secrets, settings)
    resolver = SecretResolver(os.environ, target.variables)
    strict = getattr(args, "strict", False)
    stack = load_checked(target.paths, output, resolver, strict=strict)
    return Session(
        stack,
        settings,
        output,
        resolver,
        pbx=target.pbx,
        tenant_at=target.tenant_at,
        stop=target.stop,
    )


def load_checked(
    path: str | Sequence[str],
    output: Output,
    resolver: SecretResolver,
    *,
    strict: bool,
    resolve_secrets: bool = True,
) -> Stack:
    """The stack at ``path`` (or its paths, merged), checked; a `ConfigError` with every
    problem if any is an error. ``resolve_secrets=False``: references are checked for their
    syntax only (`status`)."""
    paths = [path] if isinstance(path, str) else list(path)
    for each in paths:
        if not Path(each).exists():
            raise UsageError(f"{each}: no such file or directory")
    from wazo_reconcile.lint import LintOptions

    options = LintOptions(
        env=resolver.env, variables=resolver.variables, resolve_secrets=resolve_secrets
    )
    stack, problems = checked_stack(paths, options, output.secrets, strict=strict)
    if error_count(problems):
        raise ConfigError([p for p in problems if p.severity != "info"])
    for problem in sorted(problems, key=Problem.sort_key):
        if problem.severity == "warning":
            output.err(f"{problem}\n")
    return stack


def checked_stack(
    paths: Sequence[str], options: LintOptions, secrets: SecretRegistry | None, *, strict: bool
) -> tuple[Stack, list[Problem]]:
    """The stack at ``paths`` (several: merged) and its problems; with ``strict``, warnings
    become errors. The secret values met go into ``secrets``."""
    from wazo_reconcile.lint import check_stack

    stack, problems = read_stack(paths[0] if len(paths) == 1 else tuple(paths))
    problems += check_stack(stack, options=options, secrets=secrets)
    if strict:
        problems = [
            replace(p, severity="error") if p.severity == "warning" else p for p in problems
        ]
    return stack, problems


def error_count(problems: Sequence[Problem]) -> int:
    return sum(1 for p in problems if p.severity == "error")


def protect_logs(secrets: SecretRegistry, settings: ConnectionSettings) -> None:
    """Mask the connection's token and password wherever the output shows them (the log
    handler scrubs with the same registry: `cli.configure_logging`)."""
    for value in (settings.token, settings.password):
        if value:
            secrets.add(value)


def report_error(exc: BaseException, output: Output) -> int:
    """What the CLI's error boundary says of ``exc`` on ``output``, and the exit status: every
    problem of bad input, the message of an expected failure, a traceback for a bug."""
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            output.err(f"{problem}\n")
        errors = plural(error_count(exc.problems), "problem")
        output.err(f"error: {errors} in the input; nothing sent to the PBX\n")
        return int(exc.exit_code)
    if isinstance(exc, ReconcileError):
        output.err(f"error: {output.shown(str(exc), limit=2000)}\n")
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        output.err("interrupted\n")
        return ExitCode.INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return ExitCode.ERROR
    output.err("".join(traceback.format_exception(exc)))
    output.err(
        "error: unexpected failure (a bug in wazo-reconcile); please report it with the "
        "traceback above\n"
    )
    return ExitCode.ERROR

"""``reconcile status``: is each trunk up? Registration and calls in progress, from wazo-calld."""

from __future__ import annotations

import argparse
import os
from typing import Any

from wazo_reconcile import __version__
from wazo_reconcile.commands import add_command
from wazo_reconcile.commands.common import FORMATS, Output, load_checked, protect_logs
from wazo_reconcile.commands.health import live_refs, live_trunks, read_health, stack_refs
from wazo_reconcile.errors import ExitCode
from wazo_reconcile.health import HealthReport
from wazo_reconcile.render import FORMAT_VERSION, health_dict, health_lines, health_markdown
from wazo_reconcile.secrets import SecretResolver
from wazo_reconcile.settings import add_connection_args, settings_from_args

DESCRIPTION = """\
Show, for each trunk, its technology, whether it should register (a SIP registration with a
client_uri, or an IAX register), whether Asterisk says it is registered (yes, no, unknown) and
its calls in progress, as wazo-calld reports them. With PATH, the trunks the stack declares;
without, every trunk the token can see. Read-only; the connection is the one of the other
commands (wazo-calld is reached at <url>/api/calld/1.0, with the same token)."""

EPILOG = """\
examples:
  reconcile status --url https://wazo.example.com                # every trunk
  reconcile status stacks/paris                                  # the trunks the stack declares
  reconcile status stacks/paris --format json                    # for monitoring
  reconcile status --sandbox                                     # the sandbox's emulated calld

`registered` is Asterisk's view (docs/health.md): a registered trunk can still have its calls
refused by the provider, and `unknown` (custom trunks, endpoints Asterisk does not know) is
never an alert by itself. The token needs the ACL calld.trunks.read.

exit status: 0 every trunk that should register is registered, 1 error (bad input, confd or
wazo-calld unreachable, ACL missing), 2 a trunk that should register is not registered."""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "status", DESCRIPTION, EPILOG)
    parser.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        help="the stack (a YAML file or a directory): only the trunks it declares",
    )
    add_connection_args(parser)
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="output format (default: text)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, output: Output) -> int:
    settings = settings_from_args(args, os.environ)
    protect_logs(output.secrets, settings)
    stack = None
    if args.path:  # only names, types and registrations are read: secrets stay unresolved
        stack = load_checked(
            args.path, output, SecretResolver(os.environ), strict=False, resolve_secrets=False
        )
    from wazo_reconcile.commands.connection import open_client
    from wazo_reconcile.live import token_tenant
    from wazo_reconcile.tenants import resolve_names

    with open_client(settings) as client:
        if stack is None:
            refs = live_refs(client)
        else:  # tenants named by slug or name become UUIDs, as for a plan
            stack, tenant = resolve_names(stack, settings.tenant, client)
            refs = stack_refs(stack, live_trunks(client), tenant or token_tenant(client))
        report = read_health(client, refs)
    source = f"{args.path} → {settings.where}" if args.path else settings.where
    output.out(_render(report, args.format, source, output))
    return ExitCode.OK if report.ok else ExitCode.CHANGES


def _render(report: HealthReport, format: str, source: str, output: Output) -> str:
    if format == "json":
        return output.json_text(
            {
                "format_version": FORMAT_VERSION,
                "kind": "status",
                "tool": {"name": "wazo-reconcile", "version": __version__},
                "source": source,
                **health_dict(report),
            }
        )
    if format == "markdown":
        return "\n".join([f"### wazo-reconcile status: `{source}`", "", *health_markdown(report)])
    return "\n".join([f"wazo-reconcile status: {source}", "", *health_lines(report)]) + "\n"

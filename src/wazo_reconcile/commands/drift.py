"""``reconcile drift``: has the PBX been changed by hand? Read-only; exit 2 when it has."""

from __future__ import annotations

import argparse
from typing import Any

from wazo_reconcile.commands.common import Output, add_stack_args, open_session
from wazo_reconcile.commands.plan import add_plan_output_args, render
from wazo_reconcile.errors import ApiError, ExitCode
from wazo_reconcile.health import HealthReport

DESCRIPTION = """\
Compare the live PBX with the stack and report drift: changed fields, declared objects that are
missing, and unmanaged objects in kinds the policy prunes. Read-only — the cron-job command.
With --health, also whether the declared trunks are up (wazo-calld), reported apart."""

EPILOG = """\
examples:
  reconcile drift stacks/paris                     # exit 0 in sync, 2 drift found
  reconcile drift stacks/paris --format json       # for monitoring
  reconcile drift stacks/paris --format markdown   # an issue body
  reconcile drift stacks/paris --health            # and is every trunk registered?

--health adds the trunks' registration and calls (as `reconcile status PATH` shows them) after
the drift report, and "health" to the JSON; it needs the ACL calld.trunks.read.

exit status: 0 in sync (and, with --health, every trunk that should register is registered),
1 error (with --health: wazo-calld unreachable, after the drift report), 2 drift found
(whatever the health), 5 with --health: no drift, but a trunk that should register is not."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "drift",
        help="report hand edits on the PBX (exit 2 on drift)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_stack_args(parser)
    add_plan_output_args(parser)
    parser.add_argument(
        "--health",
        action="store_true",
        help="also report whether the declared trunks are registered (wazo-calld); exit 5 "
        "when one that should register is not and there is no drift",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, output: Output) -> int:
    session = open_session(args, args.path, output)
    health: HealthReport | None = None
    with session.client() as client:
        plan = session.compare(client)
        if args.health:
            from wazo_reconcile.commands.health import read_health, stack_refs

            try:
                health = read_health(
                    client, stack_refs(client, session.stack, session.settings.tenant)
                )
            except ApiError:
                session.output.out(render(plan, args, session, title="drift"))
                raise  # the drift report stands; the health could not be read (exit 1)
    session.output.out(render(plan, args, session, title="drift", health=health))
    if not plan.is_empty:
        return ExitCode.CHANGES
    return ExitCode.UNHEALTHY if health is not None and not health.ok else ExitCode.OK

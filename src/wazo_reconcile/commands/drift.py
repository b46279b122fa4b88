"""``reconcile drift``: has the PBX been changed by hand? Read-only; exit 2 when it has."""

from __future__ import annotations

import argparse
from typing import Any

from wazo_reconcile.commands.common import Output, add_stack_args, open_session
from wazo_reconcile.commands.plan import add_plan_output_args, render
from wazo_reconcile.errors import ExitCode

DESCRIPTION = """\
Compare the live PBX with the stack and report drift: changed fields, declared objects that are
missing, and unmanaged objects in kinds the policy prunes. Read-only — the cron-job command."""

EPILOG = """\
examples:
  reconcile drift stacks/paris                     # exit 0 in sync, 2 drift found
  reconcile drift stacks/paris --format json       # for monitoring
  reconcile drift stacks/paris --format markdown   # an issue body

exit status: 0 in sync, 1 error, 2 drift found."""


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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, output: Output) -> int:
    session = open_session(args, args.path, output)
    with session.client() as client:
        plan = session.compare(client)
    session.output.out(render(plan, args, session, title="drift"))
    return ExitCode.OK if plan.is_empty else ExitCode.CHANGES

"""``reconcile plan``: what would change on the PBX, in order, with its Asterisk impact."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from wazo_reconcile.commands import add_command
from wazo_reconcile.commands.common import (
    FORMATS,
    Output,
    Session,
    Target,
    add_selection_args,
    add_stack_args,
    open_session,
    selection_of,
)
from wazo_reconcile.commands.health import add_call_guard_args, with_call_guard
from wazo_reconcile.commands.runs import Result, run_targets
from wazo_reconcile.errors import ExitCode, UnsafePlanError, UsageError, plural
from wazo_reconcile.health import HealthReport
from wazo_reconcile.planner import Plan
from wazo_reconcile.render import (
    RenderOptions,
    health_dict,
    health_lines,
    health_markdown,
    plan_dict,
    render_markdown,
    render_text,
)
from wazo_reconcile.savedplan import saved_plan

DESCRIPTION = """\
Compare the stack with the live PBX and print the changes that `reconcile apply` would make,
in the order it would make them, each with its Asterisk impact (none, reload:pjsip,
reload:dialplan, reload:iax2, restart). Read-only: nothing is written to the PBX."""

EPILOG = """\
examples:
  reconcile plan --sandbox examples/nat-provider
  reconcile plan --url https://wazo.example.com --token "$TOKEN" stacks/paris
  reconcile plan stacks/paris --format markdown > plan.md      # a PR comment
  reconcile plan stacks/paris --out plan.json   # later: reconcile apply --plan plan.json
  reconcile plan stacks/paris --detailed-exitcode               # CI: 0 in sync, 2 changes pending
  reconcile plan stacks/paris --target trunks/acme --target 'outcalls/*'
  reconcile plan --pbx paris                  # a PBX of inventory.yaml (docs/fleet.md)
  reconcile plan --all --detailed-exitcode    # every PBX: a section each, then a summary

A plan that deletes trunks asks wazo-calld for their calls in progress: a trunk that carries
calls, or a wazo-calld that cannot be read, is refused like the other guards (exit 3);
--skip-call-check is for a PBX without wazo-calld. Other plans never need wazo-calld.

exit status: 0 success (with --detailed-exitcode: no changes), 1 error, 2 changes pending
(--detailed-exitcode), 3 refused by a safety guard (max_*_percent, protect, calls in progress
on a trunk to delete) without --force."""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "plan", DESCRIPTION, EPILOG)
    add_stack_args(parser)
    add_plan_output_args(parser)
    add_selection_args(parser)
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="also save the plan (no secret values) for `apply --plan`; for several PBXs, "
        "{pbx} in FILE stands for each one's name (plans/{pbx}.json)",
    )
    parser.add_argument(
        "--detailed-exitcode", action="store_true", help="exit 2 when changes are pending"
    )
    parser.add_argument(
        "--force", action="store_true", help="do not stop on safety guards (exit 3)"
    )
    add_call_guard_args(parser, wait=False)
    parser.set_defaults(func=run)


def add_plan_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="output format (default: text)"
    )
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the text output (default: auto = on a terminal, unless NO_COLOR is set)",
    )


def use_color(args: argparse.Namespace) -> bool:
    import os

    if args.color == "always":
        return True
    if args.color == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def render(
    plan: Plan,
    args: argparse.Namespace,
    session: Session,
    *,
    title: str = "plan",
    health: HealthReport | None = None,
) -> str:
    """The plan in the chosen format; ``health`` (drift --health) follows it, apart."""
    options = RenderOptions(
        color=use_color(args),
        title=title,
        source=session.target,
        forced=bool(getattr(args, "force", False)),
        pbx=session.pbx,
    )
    if args.format == "json":
        document = plan_dict(plan, options)
        if health is not None:
            document["health"] = health_dict(health)
        return session.output.json_text(document)
    if args.format == "markdown":
        text = render_markdown(plan, options)
        return text + "\n".join(health_markdown(health)) if health is not None else text
    text = render_text(plan, options)
    if health is not None:
        text += "\nTrunk health (wazo-calld):\n" + "\n".join(health_lines(health)) + "\n"
    return text


def target_of(session: Session) -> dict[str, Any]:
    settings = session.settings
    found = {
        "url": None if settings.sandbox else settings.url,
        "sandbox": settings.sandbox,
        "tenant": settings.tenant,
    }
    if session.pbx is not None:
        found["pbx"] = session.pbx
    return found


def per_pbx(path: str, pbx: str | None, *, several: bool, flag: str) -> str:
    """A file option's path for one PBX: ``{pbx}`` replaced by its name (needed when the run
    is on several PBXs, so that each writes its own file)."""
    if "{pbx}" in path:
        if pbx is None:
            raise UsageError(f"{flag} {path}: {{pbx}} needs a PBX of an inventory (--pbx, --all)")
        return path.replace("{pbx}", pbx)
    if several:
        raise UsageError(
            f"{flag} {path}: with several PBXs, write {{pbx}} in it (plans/{{pbx}}.json)"
        )
    return path


def run(args: argparse.Namespace, output: Output) -> int:
    code, _ = run_targets(args, output, execute, command="plan", path=args.path)
    return code


def execute(args: argparse.Namespace, output: Output, target: Target) -> Result:
    """One PBX's plan."""
    several = target.in_fleet
    out = None if args.out is None else per_pbx(args.out, target.pbx, several=several, flag="--out")
    session = open_session(args, target, output)
    selection = selection_of(args)
    with session.client() as client:
        plan, _ = with_call_guard(client, session.compare(client, selection), args)
    session.output.out(render(plan, args, session))
    if out:
        stacks = [Path(p) for p in target.paths]
        document = saved_plan(plan, stacks=stacks, target=target_of(session), selection=selection)
        session.output.write_file(out, session.output.json_text(document))
        again = f"--pbx {target.pbx} " if target.pbx else ""
        session.output.err(
            f"Saved the plan to {out}; apply it with: reconcile apply {again}--plan {out}\n"
        )
    if plan.refusals and not args.force:
        raise UnsafePlanError(refusal_message(plan.refusals))
    changes = len(plan.changes)
    outcome = "no changes" if plan.is_empty else f"{plural(changes, 'change')} pending"
    code = ExitCode.CHANGES if args.detailed_exitcode and not plan.is_empty else ExitCode.OK
    return Result(code, outcome, changes, plan=plan)


def refusal_message(refusals: tuple[str, ...]) -> str:
    return "refused by safety guards: " + "; ".join(refusals) + " (use --force to proceed anyway)"

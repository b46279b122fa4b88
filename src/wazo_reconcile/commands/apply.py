"""``reconcile apply``: make the PBX match the stack, in dependency order, safely, resumably."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from wazo_reconcile.apply import Outcome, Report, Status, apply_plan
from wazo_reconcile.commands import add_command
from wazo_reconcile.commands import health as trunk_health
from wazo_reconcile.commands.common import (
    Output,
    Session,
    Target,
    add_selection_args,
    add_stack_args,
    open_session,
    selection_of,
)
from wazo_reconcile.commands.health import (
    CallCheck,
    add_call_guard_args,
    call_refusals,
    changed_trunks,
    duration,
    shown_duration,
    wait_healthy,
    wait_idle,
    watched_refs,
    with_call_guard,
)
from wazo_reconcile.commands.plan import (
    add_plan_output_args,
    per_pbx,
    refusal_message,
    render,
    target_of,
)
from wazo_reconcile.commands.runs import Result, run_targets, selects_pbxs
from wazo_reconcile.errors import ApiError, ExitCode, UnsafePlanError, UsageError
from wazo_reconcile.health import HealthReport
from wazo_reconcile.planner import Plan
from wazo_reconcile.render import (
    health_dict,
    health_lines,
    outcome_line,
    report_dict,
    report_text,
)
from wazo_reconcile.savedplan import check_fresh, read_saved_plan, saved_selection
from wazo_reconcile.settings import whole_number

if TYPE_CHECKING:  # imported where used: apply reads its stack before it imports httpx
    from wazo_reconcile.confd import ConfdClient

DESCRIPTION = """\
Plan, show the plan, ask for confirmation, then carry it out: changes run in dependency order,
up to --parallelism at a time inside a dependency level. A failed change blocks only what
depends on it; the report says what was done, what failed (with confd's message) and what was
not attempted, and running apply again converges."""

EPILOG = """\
examples:
  reconcile apply --sandbox --auto-approve examples/nat-provider
  reconcile apply stacks/paris                                  # asks before writing
  reconcile apply --plan plan.json --auto-approve               # a plan saved by `plan --out`
  reconcile apply stacks/paris --auto-approve --report report.json --parallelism 8
  reconcile apply stacks/paris --auto-approve --wait-healthy 2m   # then: are the trunks up?
  reconcile apply stacks/paris --auto-approve --wait-idle 5m      # let calls end before a delete
  reconcile apply --pbx paris                                   # a PBX of inventory.yaml
  reconcile apply --all --auto-approve --report 'reports/{pbx}.json'   # every PBX

A saved plan is re-checked against the live PBX first and refused (exit 1) if anything it was
computed from has changed since.

--wait-healthy DURATION: after writing, ask wazo-calld (every 0.5 s, 1 s, 2 s, then 5 s) until
every trunk the apply created or changed that should register (a SIP registration, an IAX
register) is registered, or DURATION has passed; each trunk's outcome is printed and goes to
the report. A plan that deletes trunks first asks wazo-calld for their calls in progress:
refused (exit 3) while a call is up, unless --wait-idle DURATION lets the calls end first, or
--force; an unreachable wazo-calld refuses too, unless --skip-call-check (a PBX without it).

exit status: 0 applied (or nothing to do; with --wait-healthy: and the trunks are up), 1 error
(bad input, API error, stale plan, no confirmation; with --wait-healthy: wazo-calld could not
be read after the apply), 3 refused by a safety guard (calls in progress on a trunk to delete
included), 4 some changes failed, 5 applied, but a trunk that should register is not
registered (--wait-healthy), 130 interrupted."""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "apply", DESCRIPTION, EPILOG)
    add_stack_args(parser)
    add_plan_output_args(parser)
    add_selection_args(parser)
    parser.add_argument(
        "--plan",
        metavar="FILE",
        help="apply a plan saved by `reconcile plan --out` ({pbx}: each PBX's name)",
    )
    parser.add_argument(
        "--auto-approve", action="store_true", help="do not ask for confirmation (CI)"
    )
    parser.add_argument(
        "--parallelism",
        type=whole_number(1),
        default=4,
        metavar="N",
        help="changes run at once inside a dependency level (default 4; 1 = one at a time)",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="write a JSON report of the apply ({pbx}: each PBX's name)",
    )
    parser.add_argument("--force", action="store_true", help="do not stop on safety guards")
    parser.add_argument(
        "--wait-healthy",
        type=duration,
        metavar="DURATION",
        help="after writing, wait up to DURATION (2m, 90s) for the trunks created or changed "
        "to register (wazo-calld); exit 5 if one that should register does not",
    )
    add_call_guard_args(parser, wait=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, output: Output) -> int:
    path = args.path
    if path is None and args.plan and not selects_pbxs(args):
        saved = read_saved_plan(args.plan)
        if saved.get("target", {}).get("pbx"):
            raise UsageError(
                f"--plan {args.plan} was made for PBX {saved['target']['pbx']} of an inventory: "
                f"add --pbx {saved['target']['pbx']}"
            )
        path = saved["stack"] if not saved.get("stacks") else None
    if path is None and not selects_pbxs(args):
        raise UsageError("give the stack PATH, or --plan FILE, or --pbx NAME / --all")
    code, _ = run_targets(args, output, execute, command="apply", path=path)
    return code


def execute(args: argparse.Namespace, output: Output, target: Target) -> Result:
    """One PBX's apply."""
    several = target.in_fleet
    if several and not args.auto_approve:
        raise UsageError(
            "apply on several PBXs needs --auto-approve (review their plans first: "
            "reconcile plan with the same PBXs)"
        )
    saved = None
    if args.plan:
        saved = read_saved_plan(per_pbx(args.plan, target.pbx, several=several, flag="--plan"))
    session = open_session(args, target, output)
    selection = selection_of(args)
    if saved is not None and not selection:
        selection = saved_selection(saved)
    with session.client() as client:
        plan = session.compare(client, selection)
        if saved is not None:
            check_fresh(saved, plan, target=target_of(session))
        plan, calls = with_call_guard(client, plan, args)
        text = render(plan, args, session)
        (output.err if args.format == "json" else output.out)(text)
        if plan.refusals and not args.force:
            raise UnsafePlanError(refusal_message(plan.refusals))
        if plan.is_empty:
            return _finish(Report((), 0.0), args, session, target)
        if not args.auto_approve:
            _confirm(len(plan.changes), session.target)
        if calls is not None:
            _wait_idle(client, plan, calls, args, output)
        progress = _Progress(len(plan.changes), output, quiet=args.format == "json")
        report = apply_plan(
            plan,
            client,
            parallelism=args.parallelism,
            on_outcome=progress.done,
            stop=session.stop,
        )
        progress.close()
        health = _wait_healthy(client, plan, report, args, output)
    return _finish(report, args, session, target, health)


def _wait_idle(
    client: ConfdClient, plan: Plan, check: CallCheck, args: argparse.Namespace, output: Output
) -> None:
    busy = ", ".join(f"{b.ref} ({b.calls})" for b in check.busy)
    limit = shown_duration(args.wait_idle)
    output.err(f"Waiting up to {limit} for the calls in progress to end: {busy}\n")
    check = wait_idle(client, plan, check, args.wait_idle, trunk_health.CLOCK)
    if not check.clear:
        raise UnsafePlanError(
            f"still after waiting {shown_duration(round(check.waited, 1))}: "
            + refusal_message(call_refusals(check))
        )
    output.err(f"No call in progress on the trunks to delete after {check.waited:.1f}s.\n")


def _wait_healthy(
    client: ConfdClient, plan: Plan, report: Report, args: argparse.Namespace, output: Output
) -> HealthReport | str | None:
    """What --wait-healthy found: the report, or why it could not be read (None: no wait)."""
    if args.wait_healthy is None or report.interrupted:
        return None
    done = changed_trunks(plan, lambda i: report.outcomes[i].status is Status.DONE)
    if not done:
        return None
    limit = shown_duration(args.wait_healthy)
    names = ", ".join(sorted(done.values()))
    output.err(f"Waiting up to {limit} for the trunks to register: {names}\n")
    try:
        refs = watched_refs(client, done)
        return wait_healthy(client, refs, args.wait_healthy, trunk_health.CLOCK)
    except ApiError as exc:
        return str(exc)


def _confirm(count: int, target: str) -> None:
    if not sys.stdin.isatty():
        raise UsageError(
            "refusing to apply without confirmation: there is no terminal to ask on. "
            "Review the plan, then run again with --auto-approve (e.g. in CI)."
        )
    sys.stderr.write(f"\nApply these {count} changes to {target}? Only 'yes' is accepted: ")
    sys.stderr.flush()
    if sys.stdin.readline().strip() != "yes":
        raise UsageError("apply cancelled: nothing was changed")


def _finish(
    report: Report,
    args: argparse.Namespace,
    session: Session,
    target: Target,
    health: HealthReport | str | None = None,
) -> Result:
    """The report, the trunks' ``health`` (`_wait_healthy`) and the result of the apply."""
    output = session.output
    document = report_dict(report, pbx=session.pbx)
    if isinstance(health, HealthReport):
        document["health"] = health_dict(health)
    elif health is not None:
        document["health_error"] = output.shown(health, limit=2000)
    if args.report:
        path = per_pbx(args.report, target.pbx, several=target.in_fleet, flag="--report")
        output.write_file(path, output.json_text(document))
    if args.format == "json":
        output.out(output.json_text(document))
    elif report.outcomes:
        output.out(report_text(report, shown=output.shown))
    if isinstance(health, HealthReport) and args.format != "json":
        output.out(_health_text(health, args))
    done = len(report.of(Status.DONE))
    if report.interrupted:
        return Result(ExitCode.INTERRUPTED, f"interrupted after {done} changes", done)
    failed = len(report.of(Status.FAILED)) + len(report.of(Status.NOT_ATTEMPTED))
    if failed:
        return Result(ExitCode.PARTIAL, f"partial: {done} done, {failed} not", done)
    if isinstance(health, str):
        output.err(f"error: the trunks' health could not be read: {output.shown(health)}\n")
        return Result(ExitCode.ERROR, "applied; health not read", done)
    if health is not None and not health.ok:
        count = len(health.unhealthy)
        return Result(ExitCode.UNHEALTHY, f"applied; {count} trunk(s) not healthy", done)
    return Result(ExitCode.OK, "applied" if done else "nothing to do", done)


def _health_text(found: HealthReport, args: argparse.Namespace) -> str:
    head = (
        f"Trunk health after {found.seconds:.1f}s "
        f"(--wait-healthy {shown_duration(args.wait_healthy)}, wazo-calld):"
    )
    lines = ["", head, *health_lines(found)]
    if not found.ok:
        count = len(found.unhealthy)
        lines.append(
            f"Applied, but {count} trunk{'s are' if count != 1 else ' is'} not healthy: check "
            "the registration (credentials, NAT, the provider's view; docs/health.md)."
        )
    return "\n".join(lines) + "\n"


class _Progress:
    """A line per completed change; on a terminal, a progress bar on stderr too."""

    def __init__(self, total: int, output: Output, *, quiet: bool) -> None:
        self.total = total
        self.output = output
        self.quiet = quiet
        self.count = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.bar = output.stderr.isatty() and not quiet

    def done(self, outcome: Outcome) -> None:
        with self.lock:
            self.count += 1
            if self.bar:
                self.output.err("\r\033[K")
            if not self.quiet and outcome.status is Status.DONE:
                self.output.out(outcome_line(outcome, shown=self.output.shown) + "\n")
            if self.bar:
                self._draw()

    def _draw(self) -> None:
        width = 30
        filled = width * self.count // max(self.total, 1)
        elapsed = time.monotonic() - self.started
        bar = "#" * filled + "." * (width - filled)
        self.output.err(f"[{bar}] {self.count}/{self.total} changes, {elapsed:.1f}s")

    def close(self) -> None:
        if self.bar:
            self.output.err("\r\033[K")

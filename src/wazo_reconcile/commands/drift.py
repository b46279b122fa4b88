"""``reconcile drift``: has the PBX been changed by hand? Read-only; exit 2 when it has."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from wazo_reconcile.commands.common import Output, Target, add_stack_args, open_session
from wazo_reconcile.commands.plan import add_plan_output_args, render
from wazo_reconcile.commands.runs import Result, Run, run_targets
from wazo_reconcile.errors import ExitCode, ReconcileError
from wazo_reconcile.metrics import DriftSample, drift_metrics, last_successes

DESCRIPTION = """\
Compare the live PBX with the stack and report drift: changed fields, declared objects that are
missing, and unmanaged objects in kinds the policy prunes. Read-only — the cron-job command."""

EPILOG = """\
examples:
  reconcile drift stacks/paris                     # exit 0 in sync, 2 drift found
  reconcile drift stacks/paris --format json       # for monitoring
  reconcile drift stacks/paris --format markdown   # an issue body
  reconcile drift --all --metrics-file /var/lib/node_exporter/textfile/wazo_reconcile.prom
                                                   # every PBX of inventory.yaml, as metrics

--metrics-file writes OpenMetrics text for node_exporter's textfile collector (one series per
PBX and kind, whether the check succeeded, when it last did): see docs/fleet.md.

exit status: 0 in sync, 1 error, 2 drift found (several PBXs: the most severe)."""


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
        "--metrics-file",
        metavar="FILE",
        help="also write the result as OpenMetrics text (node_exporter's textfile collector: "
        "a *.prom file in its directory), replaced atomically",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, output: Output) -> int:
    try:
        code, runs = run_targets(args, output, execute, command="drift", path=args.path)
    except ReconcileError as exc:  # one PBX, failed: the metrics say so too
        if args.metrics_file:
            _write_metrics(args, output, [Run(_label(args), Result(exc.exit_code, "failed"))])
        raise
    if args.metrics_file:
        _write_metrics(args, output, runs)
    return code


def execute(args: argparse.Namespace, output: Output, target: Target) -> Result:
    """One PBX's drift."""
    session = open_session(args, target, output)
    with session.client() as client:
        plan = session.compare(client)
    session.output.out(render(plan, args, session, title="drift"))
    changes = len(plan.changes)
    if plan.is_empty:
        return Result(ExitCode.OK, "in sync", 0, drift=False, plan=plan)
    outcome = f"drift: {changes} change{'s' if changes != 1 else ''}"
    return Result(ExitCode.CHANGES, outcome, changes, drift=True, plan=plan)


def _label(args: argparse.Namespace) -> str:
    return (args.pbx or [None])[0] or "default"


def _write_metrics(args: argparse.Namespace, output: Output, runs: list[Run]) -> None:
    path = Path(args.metrics_file)
    previous = last_successes(path.read_text("utf-8")) if path.exists() else {}
    samples = [
        DriftSample(
            run.pbx or _label(args),
            run.result.plan,
            ok=run.result.code in (ExitCode.OK, ExitCode.CHANGES),
        )
        for run in runs
    ]
    text = drift_metrics(samples, now=time.time(), previous=previous)
    output.write_file(str(path), text, atomic=True)

"""``reconcile drift``: has the PBX been changed by hand? Read-only; exit 2 when it has."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from wazo_reconcile.commands import add_command
from wazo_reconcile.commands.common import Output, Target, add_stack_args, open_session
from wazo_reconcile.commands.health import read_health, stack_refs
from wazo_reconcile.commands.plan import add_plan_output_args, render
from wazo_reconcile.commands.runs import Result, Run, run_targets
from wazo_reconcile.errors import ApiError, ExitCode, ReconcileError, plural
from wazo_reconcile.health import HealthReport
from wazo_reconcile.metrics import DriftSample, drift_metrics, last_successes

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
  reconcile drift --all --metrics-file /var/lib/node_exporter/textfile/wazo_reconcile.prom
                                                   # every PBX of inventory.yaml, as metrics

--metrics-file writes OpenMetrics text for node_exporter's textfile collector (one series per
PBX and kind, whether the check succeeded, when it last did): see docs/fleet.md.

--health adds the trunks' registration and calls (as `reconcile status PATH` shows them) after
the drift report, and "health" to the JSON; it needs the ACL calld.trunks.read.

exit status: 0 in sync (and, with --health, every trunk that should register is registered),
1 error (with --health: wazo-calld unreachable, after the drift report), 2 drift found
(whatever the health), 5 with --health: no drift, but a trunk that should register is not;
several PBXs: the most severe."""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "drift", DESCRIPTION, EPILOG)
    add_stack_args(parser)
    add_plan_output_args(parser)
    parser.add_argument(
        "--health",
        action="store_true",
        help="also report whether the declared trunks are registered (wazo-calld); exit 5 "
        "when one that should register is not and there is no drift",
    )
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
    """One PBX's drift (and, with --health, its trunks' health)."""
    session = open_session(args, target, output)
    health: HealthReport | None = None
    with session.client() as client:
        plan = session.compare(client)
        if args.health:
            live = session.live  # the trunks and the token's tenant, as the plan read them
            assert live is not None
            default = session.settings.tenant or live.token_tenant
            try:
                health = read_health(client, stack_refs(session.stack, live.trunks, default))
            except ApiError:
                session.output.out(render(plan, args, session, title="drift"))
                raise  # the drift report stands; the health could not be read (exit 1)
    session.output.out(render(plan, args, session, title="drift", health=health))
    changes = len(plan.changes)
    if not plan.is_empty:
        outcome = f"drift: {plural(changes, 'change')}"
        return Result(ExitCode.CHANGES, outcome, changes, drift=True, plan=plan)
    if health is not None and not health.ok:
        return Result(ExitCode.UNHEALTHY, "in sync; a trunk is down", 0, drift=False, plan=plan)
    return Result(ExitCode.OK, "in sync", 0, drift=False, plan=plan)


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

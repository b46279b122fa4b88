"""Runs against the PBXs of an inventory: one PBX (``--pbx NAME``) or a fleet (``--all``).

`run_targets` is what ``plan``, ``apply``, ``drift`` and ``validate`` call: without an
inventory selection it runs the command once, as it always did; with ``--pbx NAME`` it runs
it on that PBX (its stack paths, URL, credentials, variables and tenant from the inventory);
with ``--all``, ``--select`` or several ``--pbx``, on each chosen PBX, ``--concurrency`` at a
time. Each PBX then writes into a section of its own (`common.Output`, in memory), printed
whole, in inventory order, as soon as it and those before it are done; a summary table
follows (PBX, changes, drift, result), and the exit status is the most severe of the runs
(`most_severe`). One PBX failing (unreachable, bad input, a bug) is reported in its section
and its row; the others run on.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wazo_reconcile.commands.common import (
    SECTION,
    Output,
    Target,
    error_count,
    report_error,
    single_target,
    variables_of,
)
from wazo_reconcile.errors import ConfigError, ExitCode, ReconcileError, UsageError, plural
from wazo_reconcile.inventory import (
    DEFAULT_INVENTORY,
    Inventory,
    Pbx,
    load_inventory,
    single_selection,
)
from wazo_reconcile.render import columns
from wazo_reconcile.secrets import SecretRegistry
from wazo_reconcile.settings import ConnectionSettings, settings_from_args

if TYPE_CHECKING:
    from wazo_reconcile.planner import Plan

FORMAT_VERSION = 1
# From least to most severe: the exit status of a fleet run is the last of these any PBX had.
# A partly applied PBX comes before an error: it is the one left half-changed.
SEVERITY = (
    ExitCode.OK,
    ExitCode.CHANGES,
    ExitCode.REFUSED,
    ExitCode.ERROR,
    ExitCode.PARTIAL,
    ExitCode.INTERRUPTED,
)
_ONE_OF_A_FLEET = ("url", "token", "username", "password", "sandbox")


@dataclass(frozen=True)
class Result:
    """What one run gives: its exit status and what the summary says of it."""

    code: int
    outcome: str  # a few words: "in sync", "3 changes pending", "failed: …"
    changes: int | None = None  # changes planned, drifted or applied
    drift: bool | None = None  # drift only: whether the PBX drifted
    plan: Plan | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Run:
    """One PBX's run: its result, and its section's text."""

    pbx: str | None
    result: Result
    out: str = ""
    err: str = ""
    url: str | None = None


Execute = Callable[[argparse.Namespace, Output, Target], Result]


def most_severe(codes: Sequence[int]) -> int:
    """The most severe exit status of ``codes`` (`SEVERITY`; an unknown one counts as 1)."""
    ranks = [SEVERITY.index(c) if c in SEVERITY else SEVERITY.index(ExitCode.ERROR) for c in codes]
    return int(SEVERITY[max(ranks, default=0)])


def selects_pbxs(args: argparse.Namespace) -> bool:
    return bool(
        getattr(args, "pbx", None)
        or getattr(args, "all_pbxs", False)
        or getattr(args, "select", None)
    )


def run_targets(
    args: argparse.Namespace,
    output: Output,
    execute: Execute,
    *,
    command: str,
    path: str | None,
    connect: bool = True,
) -> tuple[int, list[Run]]:
    """Run ``execute`` on the stack at ``path``, or on the PBXs the arguments choose; the
    exit status and each run (one without an inventory: its exceptions propagate)."""
    if not selects_pbxs(args):
        if getattr(args, "inventory", None):
            raise UsageError("--inventory needs --pbx NAME or --all (or --select LABEL=VALUE)")
        result = execute(args, output, single_target(args, path, connect=connect))
        return result.code, [Run(None, result)]
    if path is not None:
        raise UsageError(
            f"give the stack PATH ({path}) or PBXs of the inventory (--pbx, --all), not both"
        )
    inventory = load_inventory(args.inventory or DEFAULT_INVENTORY)
    everything = getattr(args, "all_pbxs", False)
    selectors = getattr(args, "select", [])
    chosen = inventory.select(args.pbx, everything=everything, selectors=selectors)
    if single_selection(args.pbx, everything=everything, selectors=selectors):
        target = inventory_target(chosen[0], args, os.environ, connect=connect)
        result = execute(args, output, target)
        return result.code, [Run(chosen[0].name, result, url=chosen[0].url)]
    return _fleet(args, output, execute, inventory, chosen, command=command, connect=connect)


def one_target(args: argparse.Namespace, path: str | None, *, connect: bool = True) -> Target:
    """The target of a command that acts on one PBX only (``explain``): ``path`` with the
    flags, or the one PBX of the inventory ``--pbx NAME`` names."""
    if not selects_pbxs(args):
        return single_target(args, path, connect=connect)
    if path is not None:
        raise UsageError(f"give the stack PATH ({path}) or --pbx NAME, not both")
    inventory = load_inventory(args.inventory or DEFAULT_INVENTORY)
    if not single_selection(args.pbx, everything=False, selectors=()):
        raise UsageError("this command runs on one PBX: give one --pbx NAME")
    (pbx,) = inventory.select(args.pbx, everything=False)
    return inventory_target(pbx, args, os.environ, connect=connect)


def inventory_target(
    pbx: Pbx,
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    connect: bool = True,
    stop: threading.Event | None = None,
) -> Target:
    """The target of one PBX of the inventory (``connect=False``: offline, no settings)."""
    settings = pbx_settings(pbx, args, environ) if connect else None
    from_inventory = not getattr(args, "tenant", None) and pbx.tenant is not None
    return Target(
        pbx.stacks,
        settings,
        variables_of(args, pbx.variables),
        pbx=pbx.name,
        tenant_at=pbx.tenant_at if from_inventory else None,
        stop=stop,
    )


def pbx_settings(
    pbx: Pbx, args: argparse.Namespace, environ: Mapping[str, str]
) -> ConnectionSettings:
    """The connection of a PBX: the inventory's URL, its credentials from the environment
    variables it names, its tenant and CA bundle (``--tenant``/``--ca-bundle`` win; then
    ``WAZO_TENANT``/``WAZO_CA_BUNDLE``), and the flags' timeouts and retries."""
    for name in _ONE_OF_A_FLEET:
        if getattr(args, name, None):
            raise UsageError(
                f"--{name} cannot be used with an inventory: it gives each PBX's URL and the "
                "variables its credentials come from"
            )
    token, username, password = pbx.credentials.values(environ)
    if not token and not (username and password):
        raise UsageError(_no_credentials(pbx))
    chosen = argparse.Namespace(**vars(args))
    chosen.url, chosen.sandbox = pbx.url, None
    chosen.token, chosen.username, chosen.password = token, username, password
    chosen.tenant = getattr(args, "tenant", None) or pbx.tenant
    chosen.ca_bundle = getattr(args, "ca_bundle", None) or pbx.ca_bundle
    fallbacks = {k: v for k, v in environ.items() if k in ("WAZO_TENANT", "WAZO_CA_BUNDLE")}
    return settings_from_args(chosen, fallbacks)


def _no_credentials(pbx: Pbx) -> str:
    names = pbx.credentials
    ways = []
    if names.token_env:
        ways.append(names.token_env)
    if names.username_env and names.password_env:
        ways.append(f"{names.username_env} and {names.password_env}")
    return (
        f"no credentials for PBX {pbx.name}: set {' or '.join(ways) or 'a variable'} "
        f"(the inventory names them at {names.at})"
    )


# ---------------------------------------------------------------------------- the fleet


def _fleet(
    args: argparse.Namespace,
    output: Output,
    execute: Execute,
    inventory: Inventory,
    chosen: Sequence[Pbx],
    *,
    command: str,
    connect: bool,
) -> tuple[int, list[Run]]:
    stop = threading.Event()
    runs: list[Run] = []
    form = getattr(args, "format", "text")
    workers = max(1, getattr(args, "concurrency", 4))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pbx") as pool:
        futures = [
            pool.submit(_run_one, args, pbx, execute, output, stop=stop, connect=connect)
            for pbx in chosen
        ]
        for pbx, future in zip(chosen, futures, strict=True):
            run = _collect(pbx, future, futures, stop)
            runs.append(run)
            if form != "json":
                _print_section(output, run, form)
    code = most_severe([run.result.code for run in runs])
    if form == "json":
        output.out(output.json_text(fleet_document(runs, command=command, code=code)))
    else:
        output.out(summary_text(runs, command=command, code=code, markdown=form == "markdown"))
    return code, runs


def _collect(
    pbx: Pbx, future: Future[Run], futures: Sequence[Future[Run]], stop: threading.Event
) -> Run:
    """The run of ``pbx``; on Ctrl-C, the PBXs not started are dropped, those running are
    told to stop (an apply stops between two dependency levels) and waited for."""
    while True:
        try:
            return future.result()
        except KeyboardInterrupt:
            stop.set()
            for other in futures:
                other.cancel()
        except Exception:  # cancelled: never started
            break
    result = Result(ExitCode.INTERRUPTED, "not run (interrupted)")
    return Run(pbx.name, result, url=pbx.url)


def _run_one(
    args: argparse.Namespace,
    pbx: Pbx,
    execute: Execute,
    main: Output,
    *,
    stop: threading.Event,
    connect: bool,
) -> Run:
    """One PBX's run, written into a section of its own; failures are its result."""
    out, err = io.StringIO(), io.StringIO()
    section = Output(secrets=SecretRegistry(), stdout=out, stderr=err)
    token = SECTION.set(section)
    try:
        if stop.is_set():
            raise KeyboardInterrupt
        target = inventory_target(pbx, args, os.environ, connect=connect, stop=stop)
        result = execute(args, section, target)
    except (Exception, KeyboardInterrupt) as exc:
        code = report_error(exc, section)
        result = Result(code, _failure(exc, section))
    finally:
        SECTION.reset(token)
    for value in section.secrets.values():  # the program's output knows them too
        main.secrets.add(value)
    return Run(pbx.name, result, out.getvalue(), err.getvalue(), url=pbx.url)


def _failure(exc: BaseException, section: Output) -> str:
    if isinstance(exc, ConfigError):
        return f"invalid: {plural(error_count(exc.problems), 'problem')} in the input"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, ReconcileError):
        return "failed: " + section.shown(str(exc), limit=100)
    return "failed: a bug in wazo-reconcile (traceback above)"


# ------------------------------------------------------------------------------ output


def _print_section(output: Output, run: Run, form: str) -> None:
    title = f"## {run.pbx}" if form == "markdown" else f"=== {run.pbx} ==="
    if run.err:
        output.err(f"{title}\n{run.err}")
    body = run.out or f"{run.result.outcome}\n"
    output.out(f"{title}\n\n{body}\n" if form == "markdown" else f"{title}\n{body}\n")


def summary_text(runs: Sequence[Run], *, command: str, code: int, markdown: bool) -> str:
    """The table after the sections: one row per PBX."""
    rows = [
        (
            str(run.pbx),
            "-" if run.result.changes is None else str(run.result.changes),
            "-" if run.result.drift is None else ("yes" if run.result.drift else "no"),
            run.result.outcome,
            str(run.result.code),
        )
        for run in runs
    ]
    head = ("PBX", "changes", "drift", "result", "exit")
    title = f"{command} on {plural(len(runs), 'PBX')}: exit status {code}"
    if markdown:
        lines = [f"### wazo-reconcile {title}", "", "| " + " | ".join(head) + " |"]
        lines.append("|---|---:|---|---|---:|")
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    lines = [f"Summary of {title} (the most severe)"]
    lines += ["  " + line for line in columns([tuple(h.upper() for h in head), *rows])]
    return "\n".join(lines) + "\n"


def fleet_document(runs: Sequence[Run], *, command: str, code: int) -> dict[str, Any]:
    """The JSON of a fleet run: each PBX's own JSON document (as one run prints it, with
    its name) under ``output``, its error lines under ``errors``."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": "fleet",
        "command": command,
        "exit_code": code,
        "pbxs": [
            {
                "pbx": run.pbx,
                "url": run.url,
                "exit_code": run.result.code,
                "result": run.result.outcome,
                "changes": run.result.changes,
                "drift": run.result.drift,
                "output": _json_or_none(run.out),
                "errors": run.err.splitlines(),
            }
            for run in runs
        ],
    }


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None

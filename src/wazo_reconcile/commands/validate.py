"""``reconcile validate``: offline checks of stacks (YAML, schema, lint), printed for people or CI.

Never touches the network. Every problem of every stack is reported, sorted by place, and
all output goes through the secret registry of the stack before it is written.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wazo_reconcile.commands import add_command
from wazo_reconcile.commands.common import (
    Output,
    Target,
    add_inventory_args,
    checked_stack,
    variables_of,
)
from wazo_reconcile.commands.runs import Result, run_targets, selects_pbxs
from wazo_reconcile.errors import ExitCode, Problem, UsageError, plural
from wazo_reconcile.lint import LintOptions
from wazo_reconcile.pjsip import PjsipDoc
from wazo_reconcile.secrets import SecretRegistry

FORMAT_VERSION = 1

DESCRIPTION = """\
Check stacks offline: YAML syntax, duplicate keys and names, the schema of every document,
references between declarations, values confd would refuse, caller IDs, and that every
${env:NAME} / ${file:path} / ${var:NAME} reference resolves. Nothing is sent to the PBX."""

EPILOG = """\
Each PATH is one stack: a YAML file, or a directory whose *.yaml / *.yml files
(recursively, in sorted order, hidden ones skipped) are merged into one stack.

Problems go to stderr, one per line, as
    file:line:col: path: message            (an error)
    file:line:col: path: warning: message   (a warning; an error with --strict)
and a summary per stack goes to stdout. Secret values are never printed.

examples:
  reconcile validate examples/nat-provider
  reconcile validate --strict stacks/pbx-paris stacks/pbx-lyon
  reconcile validate --pjsip-doc pjsip-doc.json pbx.yaml
  reconcile validate --no-resolve-secrets stacks/paris      # no secrets on this machine
  reconcile validate --format json stacks/pbx-paris > validate.json
  reconcile validate --all                   # every PBX of inventory.yaml: its merged stack
                                             # and its variables (docs/fleet.md)
  reconcile validate --vars paris.yaml stacks/shared   # ${var:NAME} values from a file

  # the PJSIP option names of your own server, for --pjsip-doc:
  curl -H "X-Auth-Token: $WAZO_TOKEN" https://wazo.example.com/api/confd/1.1/asterisk/pjsip/doc

exit status: 0 valid, 1 errors (or warnings with --strict) or bad usage."""

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "validate", DESCRIPTION, EPILOG)
    parser.add_argument("paths", nargs="*", metavar="PATH", help="a stack: YAML file or directory")
    parser.add_argument("--strict", action="store_true", help="treat warnings as errors")
    parser.add_argument(
        "--pjsip-doc",
        metavar="FILE",
        type=Path,
        help="check PJSIP option names against this JSON body of GET /asterisk/pjsip/doc "
        "(default: the table shipped with wazo-reconcile)",
    )
    parser.add_argument(
        "--no-resolve-secrets",
        action="store_true",
        help="check the syntax of ${env:…}/${file:…} references without resolving them "
        "(workstations and pre-commit hooks without the production secrets)",
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="also show notes; -vv for debug logs"
    )
    add_inventory_args(parser)
    parser.set_defaults(func=run)


@dataclass
class StackResult:
    """The outcome of validating one stack."""

    path: str
    problems: list[Problem]
    resources: int

    def count(self, severity: str) -> int:
        return sum(1 for p in self.problems if p.severity == severity)

    @property
    def valid(self) -> bool:
        return self.count("error") == 0


def run(args: argparse.Namespace, output: Output) -> int:
    if selects_pbxs(args):
        if args.paths:
            raise UsageError("give stack PATHs or PBXs of the inventory (--pbx, --all), not both")
        code, _ = run_targets(args, output, execute, command="validate", path=None, connect=False)
        return code
    if not args.paths:
        raise UsageError("give the stack PATHs (or, with an inventory, --pbx NAME or --all)")
    options = _options(args, variables_of(args))
    results = [
        validate_path(path, options=options, strict=args.strict, secrets=output.secrets)
        for path in args.paths
    ]
    _print(results, args, output)
    return ExitCode.OK if all(r.valid for r in results) else ExitCode.ERROR


def execute(args: argparse.Namespace, output: Output, target: Target) -> Result:
    """One PBX of an inventory: its merged stack, with its variables, offline."""
    options = _options(args, target.variables)
    result = validate_path(
        target.paths, options=options, strict=args.strict, secrets=output.secrets
    )
    result.path = f"{target.pbx}: {' + '.join(target.paths)}"
    _print([result], args, output, pbx=target.pbx)
    errors, warnings = result.count("error"), result.count("warning")
    outcome = "valid" if result.valid else f"invalid: {plural(errors, 'error')}"
    if warnings and result.valid:
        outcome += f" ({plural(warnings, 'warning')})"
    return Result(ExitCode.OK if result.valid else ExitCode.ERROR, outcome)


def _options(args: argparse.Namespace, variables: Any) -> LintOptions:
    return LintOptions(
        pjsip_doc=_pjsip_doc(args.pjsip_doc),
        env=os.environ,
        resolve_secrets=not args.no_resolve_secrets,
        variables=variables,
    )


def _print(
    results: list[StackResult], args: argparse.Namespace, output: Output, pbx: str | None = None
) -> None:
    if args.format == "json":
        output.out(output.json_text(_json_document(results, pbx), ensure_ascii=False))
    else:
        for result in results:
            _print_text(result, output, verbose=args.verbose > 0)


def validate_path(
    path: str | tuple[str, ...],
    *,
    options: LintOptions,
    strict: bool = False,
    secrets: SecretRegistry | None = None,
) -> StackResult:
    """Read and check one stack; with ``strict``, warnings become errors. The secret values
    met go into ``secrets``."""
    paths = (path,) if isinstance(path, str) else path
    stack, problems = checked_stack(paths, options, secrets, strict=strict)
    problems.sort(key=Problem.sort_key)
    log.debug("%s: %d documents, %d problems", path, len(stack.documents), len(problems))
    return StackResult(
        path if isinstance(path, str) else stack.shown, problems, stack.resource_count
    )


def _pjsip_doc(path: Path | None) -> PjsipDoc | None:
    if path is None:
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--pjsip-doc {path}: {exc.strerror}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"--pjsip-doc {path}: not a JSON file ({exc})") from exc
    if not _is_doc(body):
        raise UsageError(
            f"--pjsip-doc {path}: expected the body of GET /asterisk/pjsip/doc, "
            '{"<section>": {"<option>": {...}}}'
        )
    return PjsipDoc.from_confd(body)


def _is_doc(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and bool(body)
        and all(
            isinstance(options, dict) and all(isinstance(o, dict) for o in options.values())
            for options in body.values()
        )
    )


def _print_text(result: StackResult, output: Output, *, verbose: bool) -> None:
    for problem in result.problems:
        if problem.severity != "info" or verbose:
            output.err(f"{problem}\n")
    errors, warnings = result.count("error"), result.count("warning")
    output.out(
        f"{result.path}: {plural(errors, 'error')}, {plural(warnings, 'warning')} "
        f"({plural(result.resources, 'resource')})\n"
    )


def _json_document(results: list[StackResult], pbx: str | None = None) -> dict[str, Any]:
    named = {} if pbx is None else {"pbx": pbx}
    return {
        "format_version": FORMAT_VERSION,
        **named,
        "valid": all(r.valid for r in results),
        "stacks": [_stack_json(r) for r in results],
    }


def _stack_json(result: StackResult) -> dict[str, Any]:
    return {
        "path": result.path,
        "valid": result.valid,
        "resources": result.resources,
        "errors": result.count("error"),
        "warnings": result.count("warning"),
        "problems": [
            {
                "file": p.location.file,
                "line": p.location.line,
                "col": p.location.col,
                "path": p.path,
                "severity": p.severity,
                "message": p.message,
            }
            for p in result.problems
        ],
    }

"""``reconcile fleet``: the PBXs of an inventory, for people and for CI.

- ``list``: each PBX, its URL, stacks, labels (text or JSON);
- ``matrix``: the PBXs as a CI job matrix, JSON for GitHub Actions' ``fromJSON`` or GitLab's
  ``parallel: matrix`` (optionally only those a change touches: ``--changed FILE…``);
- ``env``: the names of the environment variables a PBX's run reads (its credentials, its
  stack's ``${env:…}`` secrets), so that a CI job can pass exactly those.

Offline: nothing is sent to any PBX.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from wazo_reconcile.commands import add_command
from wazo_reconcile.commands.common import Output
from wazo_reconcile.errors import ExitCode
from wazo_reconcile.inventory import DEFAULT_INVENTORY, Inventory, Pbx, load_inventory
from wazo_reconcile.render import columns
from wazo_reconcile.secrets import find_refs, scan_strings
from wazo_reconcile.stack import read_stack

DESCRIPTION = """\
The PBXs of an inventory (docs/fleet.md): list them, print them as a CI job matrix, or name
the environment variables one of them needs. Offline."""

EPILOG = """\
examples:
  reconcile fleet list
  reconcile fleet matrix --format github          # {"pbx": ["lyon", "paris"]}
  reconcile fleet matrix --format gitlab          # [{"PBX": ["lyon", "paris"]}]
  reconcile fleet matrix --changed pbx/paris/trunks.yaml shared/outcalls.yaml
  reconcile fleet env --pbx paris                 # PARIS_WAZO_TOKEN, ACME_PASSWORD, …

  # GitHub Actions: a job per PBX
  #   strategy: {matrix: ${{ fromJSON(needs.pbxs.outputs.matrix) }}}
  #   environment: ${{ matrix.pbx }}

exit status: 0 printed, 1 error (an invalid inventory, an unknown PBX)."""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "fleet", DESCRIPTION, EPILOG)
    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=type(parser)
    )
    listing = actions.add_parser("list", help="each PBX: URL, stacks, labels")
    _common(listing)
    listing.add_argument("--format", choices=("text", "json"), default="text")
    matrix = actions.add_parser("matrix", help="the PBXs as a CI job matrix (JSON)")
    _common(matrix)
    matrix.add_argument(
        "--format",
        choices=("github", "gitlab"),
        default="github",
        help='github: {"pbx": [...]} for fromJSON; gitlab: [{"PBX": [...]}] for parallel: '
        "matrix (default: github)",
    )
    matrix.add_argument(
        "--changed",
        nargs="*",
        metavar="FILE",
        help="only the PBXs whose stack holds one of these files (all of them if the "
        "inventory is one); none given: no PBX",
    )
    env = actions.add_parser("env", help="the environment variables a PBX's run reads")
    _common(env)
    for sub in (listing, matrix, env):
        sub.set_defaults(func=run)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inventory", metavar="FILE", default=DEFAULT_INVENTORY, help="default: inventory.yaml"
    )
    parser.add_argument(
        "--pbx", action="append", default=[], metavar="NAME", help="only these PBXs (wildcards)"
    )
    parser.add_argument(
        "--select", action="append", default=[], metavar="LABEL=VALUE", help="only these labels"
    )


def run(args: argparse.Namespace, output: Output) -> int:
    inventory = load_inventory(args.inventory)
    chosen = inventory.select(args.pbx, everything=not args.pbx, selectors=args.select)
    if args.action == "matrix":
        if args.changed is not None:
            chosen = inventory.changed(chosen, args.changed)
        names = [pbx.name for pbx in chosen]  # GitHub's object of lists, GitLab's list of them
        found = {"pbx": names} if args.format == "github" else [{"PBX": names}]
        output.out(json.dumps(found) + "\n")
    elif args.action == "env":
        output.out("".join(f"{name}\n" for name in needed_variables(chosen)))
    elif args.format == "json":
        output.out(output.json_text(_listing(inventory, chosen)))
    else:
        output.out(_table(chosen))
    return ExitCode.OK


def needed_variables(pbxs: list[Pbx]) -> list[str]:
    """The names of the environment variables the runs of ``pbxs`` read, sorted: their
    credentials' and their stacks' ``${env:NAME}`` references (values are never read)."""
    names: set[str] = set()
    for pbx in pbxs:
        names.update(pbx.credentials.names)
        stack, _ = read_stack(list(pbx.stacks) if len(pbx.stacks) > 1 else pbx.stacks[0])
        for document in stack.documents:
            for found in scan_strings(document.data):
                names.update(r.target for r in find_refs(found.text) if r.scheme == "env")
    return sorted(names)


def _listing(inventory: Inventory, pbxs: list[Pbx]) -> dict[str, Any]:
    return {
        "format_version": 1,
        "inventory": str(inventory.path),
        "pbxs": [
            {
                "name": pbx.name,
                "url": pbx.url,
                "description": pbx.description,
                "stacks": list(pbx.stacks),
                "tenant": pbx.tenant,
                "labels": dict(pbx.labels),
                "variables": dict(pbx.variables),
                "credentials": list(pbx.credentials.names),
            }
            for pbx in pbxs
        ],
    }


def _table(pbxs: list[Pbx]) -> str:
    rows = [("PBX", "URL", "STACKS", "LABELS")]
    for pbx in pbxs:
        labels = ",".join(f"{k}={v}" for k, v in pbx.labels.items()) or "-"
        rows.append((pbx.name, pbx.url, " + ".join(pbx.stacks), labels))
    return "\n".join(columns(rows)) + "\n"

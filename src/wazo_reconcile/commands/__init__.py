"""Subcommands of the ``reconcile`` CLI; each exposes ``register`` and ``run``."""

from __future__ import annotations

import argparse
from typing import Any

# What `reconcile --help` says of each command, so that only the chosen command's module is
# imported (importing them all took half a second of every run); each command registers
# itself with the same words (`add_command`).
SUMMARIES = {
    "validate": "check stacks offline (YAML, schema, references, confd rules)",
    "plan": "show what apply would change on the PBX (read-only)",
    "apply": "make the PBX match the stack",
    "drift": "report hand edits on the PBX (exit 2 on drift)",
    "status": "show whether the trunks are up (exit 2 on a trunk down)",
    "export": "write the live configuration as a stack (adopt an existing PBX)",
    "explain": "explain why a call presents its caller ID (read-only)",
    "fleet": "the PBXs of an inventory: list, CI matrix, variables they need",
    "sandbox": "serve an embedded wazo-confd emulator on 127.0.0.1",
}


def add_command(
    subparsers: Any, name: str, description: str, epilog: str, *, help: str | None = None
) -> argparse.ArgumentParser:
    """The parser of command ``name`` (its summary from `SUMMARIES` unless ``help``), its
    description and epilog shown as written."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help or SUMMARIES[name],
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser

"""``reconcile export``: write the live configuration as a stack (adopt an existing PBX)."""

from __future__ import annotations

import argparse
import datetime
import logging
import os
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wazo_reconcile import __version__
from wazo_reconcile.commands import add_command
from wazo_reconcile.commands.common import Output, protect_logs
from wazo_reconcile.commands.connection import open_client
from wazo_reconcile.errors import ApiError, ExitCode, UsageError
from wazo_reconcile.export import EXPORT_KINDS, ExportResult, Provenance, export_documents
from wazo_reconcile.live import LiveState, fetch_live, index_live
from wazo_reconcile.normalise import normalise_live
from wazo_reconcile.secrets import is_secret_key
from wazo_reconcile.settings import ConnectionSettings, add_connection_args, settings_from_args
from wazo_reconcile.tenants import (
    Directory,
    TenantNameError,
    canonical_uuid,
    fetch_directory,
    label_tenants,
)

if TYPE_CHECKING:
    from wazo_reconcile.confd import ConfdClient

log = logging.getLogger(__name__)

DESCRIPTION = """\
Read the live configuration of the PBX and write it as a stack in the wazo-reconcile format:
one file per kind (pjsip.yaml, transports.yaml, sip_templates.yaml, trunks.yaml, outcalls.yaml,
users.yaml, policy.yaml), each with one document per tenant. Everything is named (templates,
transports, trunks, contexts, users), never by uuid or id; what equals confd's defaults is left
out, so the files stay short and `reconcile plan` on them shows no change.

Secrets (password, secret, md5_cred, auth_password options) are written as ${env:NAME}
references; the variables to set are listed on stderr, never their values. Tenants are written
by slug (`tenant: sub`), so that the stack serves another PBX too; --tenant-uuids writes UUIDs.
Read-only: nothing is written to the PBX."""

EPILOG = """\
examples:
  reconcile export --url https://wazo.example.com --output stacks/paris
  reconcile export --output -                        # one YAML stream on stdout
  reconcile export --output stacks/paris --kinds trunks outcalls
  reconcile export --output stacks/sub --tenant sub          # a slug, a name or a UUID
  reconcile export --output stacks/paris --force     # overwrite a previous export
  reconcile export --sandbox --all --output -        # what a fresh Wazo holds

then (docs/export.md):
  reconcile validate stacks/paris
  export WAZO_TRUNK_ACME_PASSWORD='…'                # each variable listed by export
  reconcile plan --detailed-exitcode stacks/paris    # 0: the stack matches the PBX

The header of each file says where and when it was exported (the date is UTC, or
SOURCE_DATE_EPOCH when set, for reproducible files).

exit status: 0 exported, 1 error (connection, API, existing files without --force)."""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "export", DESCRIPTION, EPILOG)
    parser.add_argument(
        "--output",
        "-o",
        metavar="DIR|-",
        default="-",
        help="directory to write the files into (created if needed), or - for stdout (default: -)",
    )
    parser.add_argument(
        "--kinds",
        nargs="+",
        action="extend",
        choices=EXPORT_KINDS,
        metavar="KIND",
        help=f"export only these kinds (default: all of {', '.join(EXPORT_KINDS)})",
    )
    parser.add_argument(
        "--include-secrets",
        action="store_true",
        help="write secret values instead of ${env:…} references (never commit the result)",
    )
    parser.add_argument(
        "--all",
        dest="everything",
        action="store_true",
        help="also write what equals confd's defaults (default templates, transports, PJSIP "
        "settings, default field values)",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite files of a previous export in DIR"
    )
    parser.add_argument(
        "--tenant-uuids",
        action="store_true",
        help="write tenants as UUIDs (default: by slug, read from wazo-auth, so that the stack "
        "is portable)",
    )
    parser.add_argument(
        "--schema-ref",
        metavar="REF",
        help="the $schema reference written in each file's first line "
        "(default: the schema's $id, else schemas/stack.schema.json)",
    )
    add_connection_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, output: Output) -> int:
    settings = settings_from_args(args, os.environ)
    protect_logs(output.secrets, settings)
    target = _target(args.output, force=args.force, kinds=args.kinds or EXPORT_KINDS)
    with open_client(settings) as client:
        tenant = _tenant(settings, client)
        live = fetch_live(client)
        directory = None if args.tenant_uuids else _directory(client, output)
    index = index_live(live)
    resources = normalise_live(live, index)
    for item in _secret_values(live):
        output.secrets.add(item)
    source = "an in-process sandbox (--sandbox)" if settings.sandbox else str(settings.url)
    result = export_documents(
        live,
        index,
        resources,
        tenant=tenant,
        kinds=args.kinds or EXPORT_KINDS,
        include_secrets=args.include_secrets,
        everything=args.everything,
        provenance=Provenance(source, _date(), f"wazo-reconcile {__version__}"),
        schema_ref=args.schema_ref,
        tenant_labels=label_tenants(sorted(live.tenants), directory),
    )
    if target is None:
        output.stdout.write(result.stream)  # unscrubbed: the YAML holds no secret value
        output.stdout.flush()
    else:
        target.mkdir(parents=True, exist_ok=True)
        for name, text in result.files.items():
            (target / name).write_text(text, encoding="utf-8")
    _report(output, result, target, include_secrets=args.include_secrets)
    return ExitCode.OK


def _tenant(settings: ConnectionSettings, client: ConfdClient) -> str | None:
    """``--tenant`` as a UUID (a slug or name is looked up in wazo-auth)."""
    if settings.tenant is None or canonical_uuid(settings.tenant) is not None:
        return settings.tenant
    try:
        return fetch_directory(client).resolve(settings.tenant)
    except TenantNameError as exc:
        raise UsageError(f"--tenant / WAZO_TENANT: {exc}") from None


def _directory(client: ConfdClient, output: Output) -> Directory | None:
    """wazo-auth's tenants, to write slugs; None (UUIDs, with a warning) if it refuses."""
    try:
        return fetch_directory(client)
    except (ApiError, TenantNameError) as exc:
        output.err(f"warning: tenants are written as UUIDs: {output.shown(str(exc))}\n")
        return None


def _target(output: str, *, force: bool, kinds: Collection[str]) -> Path | None:
    """The output directory (None for stdout), checked before anything is read."""
    if output == "-":
        return None
    directory = Path(output)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--output {output}: not a directory")
    existing = [
        str(directory / f"{kind}.yaml")
        for kind in EXPORT_KINDS
        if kind in kinds and (directory / f"{kind}.yaml").exists()
    ]
    if existing and not force:
        raise UsageError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
            "use --force to overwrite, or another --output directory"
        )
    return directory


def _report(
    output: Output, result: ExportResult, target: Path | None, *, include_secrets: bool
) -> None:
    where = "stdout" if target is None else f"{target}/ ({', '.join(result.files)})"
    counts = ", ".join(f"{n} {kind}" for kind, n in result.counts.items() if n)
    output.err(f"Exported {counts or 'nothing but defaults'} to {where}.\n")
    for note in result.notes:
        output.err(f"warning: {note}\n")
    if include_secrets:
        output.err(
            "WARNING: --include-secrets: the export holds secret values in clear text. Do not "
            "commit it; keep it out of logs and shared storage.\n"
        )
    elif result.env:
        output.err(
            "Secrets were replaced by ${env:…} references. Set these variables (to the values "
            "on the PBX) before `reconcile validate` and `reconcile plan`:\n"
        )
        # Names and option paths only, never a value: written as is, since masking thousands
        # of secret values in thousands of lines costs seconds (SecretRegistry.scrub).
        output.stderr.write(
            "".join(f"  export {v.name}='…'   # {', '.join(v.used_by)}\n" for v in result.env)
        )
        output.stderr.flush()


def _secret_values(live: LiveState) -> list[str]:
    """Every secret option value of the live state, so that stderr never shows one."""
    found = []
    for kind in ("sip_templates", "endpoints_sip"):
        for item in live.items(kind):
            for name, pairs in item.items():
                if name.endswith("_section_options"):
                    found += [str(v) for k, v in pairs or [] if is_secret_key(k)]
    for item in [*live.endpoints_iax, *live.transports]:
        found += [str(v) for k, v in item.get("options") or [] if is_secret_key(k)]
    return found


def _date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        datetime.datetime.fromtimestamp(int(epoch), datetime.UTC)
        if epoch and epoch.isdigit()
        else datetime.datetime.now(datetime.UTC)
    )
    return moment.date().isoformat()

"""The stages after loading, in order, as plan, apply, drift and explain run them.

fetch the live state (live) → normalise both sides (normalise) → the checks only the live PBX
can answer (lint) → diff → order into a plan (planner). Every problem found before the diff is
reported at once as a `ConfigError`; nothing here writes to the PBX.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from wazo_reconcile.diff import Action, diff, matches
from wazo_reconcile.errors import ConfigError, Problem
from wazo_reconcile.lint import check_live, data_of
from wazo_reconcile.live import LiveIndex, LiveState, fetch_live, index_live, read_trunk_endpoints
from wazo_reconcile.model import Resource
from wazo_reconcile.normalise import (
    DesiredContext,
    declared_handles,
    normalise_desired,
    normalise_live,
)
from wazo_reconcile.planner import Guards, Plan, Selection, order_changes
from wazo_reconcile.secrets import SecretResolver
from wazo_reconcile.stack import Declaration, Policy, Stack
from wazo_reconcile.tenants import resolve_names

if TYPE_CHECKING:
    from wazo_reconcile.confd import ConfdClient


@dataclass(frozen=True)
class Sides:
    """Both sides of the comparison, normalised: what the stack declares, what the PBX has."""

    index: LiveIndex
    desired: tuple[Resource, ...]
    live: tuple[Resource, ...]
    tenants: frozenset[str]  # the tenants the stack manages


def fetch_and_compare(
    stack: Stack,
    client: ConfdClient,
    *,
    tenant: str | None = None,
    resolver: SecretResolver | None = None,
    selection: Selection | None = None,
) -> Plan:
    """Resolve the tenants written by name, fetch the live state the stack needs, then
    compare `stack` with it (`compare_with_live`)."""
    return compare_with_live(stack, client, tenant=tenant, resolver=resolver, selection=selection)[
        0
    ]


def compare_with_live(
    stack: Stack,
    client: ConfdClient,
    *,
    tenant: str | None = None,
    resolver: SecretResolver | None = None,
    selection: Selection | None = None,
) -> tuple[Plan, LiveState]:
    """`fetch_and_compare`, and the live state read (for what else the command reads of it).

    A plan that changes a template shows what inherits it: then every trunk's SIP endpoint
    is read, not only the declared trunks'.
    """
    stack, tenant = resolve_names(stack, tenant, client)  # wazo-auth, only for names
    live = fetch_live(client, sip_names=sip_namespace(stack))
    plan = compare(stack, live, tenant=tenant, resolver=resolver, selection=selection)
    if live.unread_trunk_endpoints and any(
        c.key.kind == "sip_templates" and c.action is not Action.CREATE for c in plan.changes
    ):
        live = read_trunk_endpoints(client, live)
        plan = compare(stack, live, tenant=tenant, resolver=resolver, selection=selection)
    return plan, live


def _unknown_tenants(stack: Stack, live: LiveState) -> list[Problem]:
    """A document's `tenant:` the token cannot see, at its place in the file."""
    visible = ", ".join(sorted(live.tenants)) or "none"
    return [
        Problem(
            document.locate(("tenant",)),
            "tenant",
            f"tenant {document.tenant} is not visible to this token (visible: {visible})",
        )
        for document in stack.documents
        if document.tenant is not None and document.tenant not in live.tenants
    ]


def _unreadable_registers(declarations: Sequence[Declaration], live: LiveState) -> list[Problem]:
    """A declared IAX `register` the token may not read (``/registers/iax``)."""
    if live.registers_readable:
        return []
    return [
        Problem(
            decl.locate("register", key=True),
            f"trunks.{decl.name}.register",
            "the token may not read IAX registers (GET /registers/iax was refused): it needs "
            "the ACL confd.registers.iax.read to manage them",
        )
        for decl in declarations
        if decl.kind == "trunks" and "register" in data_of(decl)
    ]


def sip_namespace(stack: Stack) -> frozenset[str]:
    """The names the stack declares in confd's SIP namespace: SIP trunks (their endpoints),
    templates and transports."""
    return frozenset(
        decl.name
        for decl in stack.all_declarations()
        if decl.kind in ("transports", "sip_templates")
        or (decl.kind == "trunks" and data_of(decl).get("type", "sip") == "sip")
    )


def compare(
    stack: Stack,
    live: LiveState,
    *,
    tenant: str | None = None,
    resolver: SecretResolver | None = None,
    selection: Selection | None = None,
) -> Plan:
    """The plan that makes `live` match `stack` (pure)."""
    sides = normalise_sides(stack, live, tenant=tenant, resolver=resolver)
    plan = changes_between(sides, stack.policy, live.fingerprint, selection=selection)
    return replace(plan, tenant_labels=stack.tenant_labels) if stack.tenant_labels else plan


def changes_between(
    sides: Sides,
    policy: Policy,
    fingerprint: str | Callable[[], str],
    *,
    selection: Selection | None = None,
) -> Plan:
    """Diff both sides under the stack's policy, and order the changes into a plan.
    ``fingerprint``: the live state's, or how to compute it (shown by JSON and saved plans)."""
    result = diff(
        sides.desired,
        sides.live,
        policy,
        tenants=sides.tenants,
        transport_users=sides.index.transport_users,
    )
    return order_changes(
        result,
        desired=sides.desired,
        live=sides.live,
        index=sides.index,
        guards=Guards(policy.max_delete_percent, policy.max_update_percent),
        selection=selection,
        fingerprint=fingerprint,
    )


def normalise_sides(
    stack: Stack,
    live: LiveState,
    *,
    tenant: str | None = None,
    resolver: SecretResolver | None = None,
) -> Sides:
    """Both sides normalised, and checked against the live PBX; a `ConfigError` with every
    problem found (unknown references, names taken, …)."""
    resolver = resolver or SecretResolver()

    def expand(text: str, decl: Declaration) -> str:
        return resolver.expand(text, decl.document.base_dir)

    declarations = stack.all_declarations()
    default_tenant = live.default_tenant(tenant)  # a UsageError if the token cannot see it
    unknown = _unknown_tenants(stack, live)
    if unknown:
        raise ConfigError(unknown)
    index = index_live(live, declared_handles(declarations, expand))
    ctx = DesiredContext(
        index=index,
        default_tenant=default_tenant,
        expand=expand,
        exact=lambda decl: matches(f"{decl.kind}/{decl.name}", stack.policy.authoritative),
        shown=stack.tenant_shown,
    )
    desired = normalise_desired(declarations, ctx)
    live_resources = normalise_live(live, index)
    problems = ctx.problems + _unreadable_registers(declarations, live)
    problems += check_live(
        stack,
        desired,
        live_resources,
        pjsip_readable=live.pjsip_readable,
        pjsip_doc=live.pjsip_doc,
        names_taken={
            e["name"]: f"the SIP endpoint of line {(e.get('line') or {}).get('id')}"
            for e in live.endpoints_sip
            if e.get("line")
        },
        env=resolver.env,
    )
    if problems:
        raise ConfigError(problems)
    tenants = frozenset({default_tenant} | {ctx.tenant_of(d) for d in declarations})
    return Sides(index, tuple(desired), tuple(live_resources), tenants)

"""What only the live PBX can tell, checked when `plan`, `apply` and `drift` have read it:
missing default templates, tenants, names taken elsewhere, two declarations of one PBX object,
option keys and values this PBX's PJSIP doc refuses (it may differ from the shipped one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from wazo_reconcile.errors import Problem
from wazo_reconcile.lint.context import (
    LintOptions,
    StackContext,
    data_of,
    options_of,
    sip_trunks,
)
from wazo_reconcile.lint.options import AT_KEY_SECTIONS, checked_value
from wazo_reconcile.model import DEFAULT_TEMPLATES, SIP_SECTIONS, Resource
from wazo_reconcile.pjsip import PjsipDoc
from wazo_reconcile.stack import Declaration, Stack, format_path, option_text


def check_live(
    stack: Stack,
    desired: Sequence[Resource],
    live_resources: Sequence[Resource],
    *,
    pjsip_readable: bool,
    pjsip_doc: dict[str, dict[str, dict[str, Any]]] | None,
    names_taken: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Problem]:
    """What only the live PBX can tell: missing defaults, tenants, names taken elsewhere,
    two declarations that are one PBX object, option keys and values this PBX's PJSIP
    (``pjsip_doc``, as confd serves it) refuses. ``names_taken``: SIP names the live resources
    do not show (a phone line's endpoint) and what holds them. ``env``: for the secret
    references of option values."""
    origins = {d.location: d for d in stack.all_declarations()}
    declared = [(want, origins[want.origin]) for want in desired if want.origin in origins]
    by_identity = {r.identity: r for r in live_resources}
    sip_names = dict(names_taken or {})
    sip_names |= {
        r.key.name: str(r.key)
        for r in live_resources
        if _sip_named(r) and r.key.name not in DEFAULT_TEMPLATES
    }
    problems: list[Problem] = []
    for want, decl in declared:
        have = by_identity.get(want.identity)
        message = _live_problem(want, have, pjsip_readable, sip_names, stack.tenant_shown)
        if message:
            problems.append(Problem(decl.location, format_path(decl.path), message))
    problems += _one_declaration_each(declared)
    if pjsip_doc:
        options = LintOptions(pjsip_doc=PjsipDoc.from_confd(pjsip_doc), env=env)
        problems += _against_this_pbx(StackContext(stack, options))
    return problems


def _live_problem(
    want: Resource,
    have: Resource | None,
    pjsip_readable: bool,
    sip_names: Mapping[str, str],
    shown: Callable[[str], str],
) -> str | None:
    kind, name, tenant = want.key.kind, want.key.name, want.key.tenant
    if kind == "pjsip" and not pjsip_readable:
        return "PJSIP settings can only be managed with a master-tenant token"
    if kind == "sip_templates" and name in DEFAULT_TEMPLATES and have is None:
        return f"tenant {shown(tenant)} has no default '{name}' template"
    if have is not None and tenant and have.key.tenant != tenant:
        return (
            f"'{name}' already exists in tenant {shown(have.key.tenant)}; "
            "confd names are unique across tenants"
        )
    if have is None and _sip_named(want) and name in sip_names:
        return (
            f"the name '{name}' is already used by {sip_names[name]} on the PBX "
            "(SIP names share one namespace)"
        )
    return None


def _sip_named(resource: Resource) -> bool:
    kind = resource.key.kind
    return kind in ("transports", "sip_templates") or (kind == "trunks" and resource.type == "sip")


def _one_declaration_each(declared: Sequence[tuple[Resource, Declaration]]) -> list[Problem]:
    """Two declarations of one PBX object (a user by username and by email, a default
    template by its name and by its live name…) would each enforce their own values: the
    object would flip at every apply and never converge."""
    first: dict[tuple[str, ...], Declaration] = {}
    problems = []
    for want, decl in declared:
        other = first.setdefault(want.identity, decl)
        if other is not decl:
            message = (
                f"the same PBX object as {format_path(other.path)} at {other.location} "
                f"({_described(want.identity)}): declare it once (two declarations of one "
                "object never converge)"
            )
            problems.append(Problem(decl.location, format_path(decl.path), message))
    return problems


def _described(identity: tuple[str, ...]) -> str:
    kind, *rest = identity
    if kind == "user":
        return f"the user {rest[0]}"
    if kind == "template" and rest[0]:
        return f"the '{rest[1]}' template of tenant {rest[0]}"
    return f"{kind} '{rest[-1]}'"


def _against_this_pbx(ctx: StackContext) -> Iterator[Problem]:
    """Option keys and values the live server's PJSIP doc refuses (it may differ from ours)."""
    for decl in [*ctx.declarations("sip_templates"), *sip_trunks(ctx)]:
        data = data_of(decl)
        for section in SIP_SECTIONS:
            yield from _section(ctx, decl, section, data.get(section), (section,))
    for decl in [*ctx.declarations("transports"), *ctx.declarations("pjsip")]:
        section = "transport" if decl.kind == "transports" else decl.name
        yield from _section(ctx, decl, section, decl.data, ())


def _section(
    ctx: StackContext, decl: Declaration, section: str, value: Any, at: tuple[str, ...]
) -> Iterator[Problem]:
    allowed = ctx.allowed(section)
    unknown: dict[tuple[str | int, ...], str] = {}
    for option in options_of(value):
        key = str(option.key)
        if key not in allowed and not (key.startswith("@") and section in AT_KEY_SECTIONS):
            unknown[option.key_path] = key
        else:
            path = (*at, *option.value_path)
            yield from checked_value(ctx, decl, section, key, option_text(option.value), path)
    for path, key in unknown.items():
        yield Problem(
            decl.locate(*at, *path, key=len(path) == 1),
            format_path((*decl.path, *at, key)),
            f"option '{key}' is not known to this PBX's PJSIP ({section} section)",
        )

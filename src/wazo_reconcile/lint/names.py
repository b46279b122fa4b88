"""Names confd refuses, and confd's one namespace for SIP transports, templates and trunks."""

from __future__ import annotations

import re
from collections.abc import Iterator

from wazo_reconcile.errors import Problem
from wazo_reconcile.lint.context import DocumentContext, StackContext, data_of, trunk_type
from wazo_reconcile.stack import Declaration

SIP_NAME = re.compile(r"[-_.a-zA-Z0-9]{1,79}")
IAX_NAME = re.compile(r"[a-zA-Z0-9_-]{1,40}")
RESERVED_SIP_NAMES = frozenset({"global", "system"})


def check_names(ctx: DocumentContext) -> Iterator[Problem]:
    """Names confd would refuse: patterns, lengths, reserved words."""
    for decl in ctx.declarations("transports"):
        yield from _sip_name(ctx, decl, "transport")
    for decl in ctx.declarations("sip_templates"):
        if decl.name != "global":
            yield from _sip_name(ctx, decl, "SIP template")
    for decl in ctx.declarations("trunks"):
        kind = trunk_type(decl)
        if kind == "sip":
            yield from _sip_name(ctx, decl, "SIP trunk")
        elif kind == "iax" and not IAX_NAME.fullmatch(decl.name):
            message = f"invalid IAX trunk name '{decl.name}': use 1 to 40 letters, digits, - or _"
            yield ctx.problem(decl, (), message, key=True)
    for decl in ctx.declarations("outcalls"):
        if not 1 <= len(decl.name) <= 128:
            yield ctx.problem(decl, (), "an outcall name has 1 to 128 characters", key=True)


def _sip_name(ctx: DocumentContext, decl: Declaration, what: str) -> Iterator[Problem]:
    if decl.name in RESERVED_SIP_NAMES:
        message = f"'{decl.name}' is reserved by PJSIP and cannot name a {what}"
        yield ctx.problem(decl, (), message, key=True)
    elif not SIP_NAME.fullmatch(decl.name):
        message = f"invalid {what} name '{decl.name}': use 1 to 79 letters, digits, -, _ or ."
        yield ctx.problem(decl, (), message, key=True)


def check_namespace(ctx: StackContext) -> Iterator[Problem]:
    """SIP transports, templates and trunks share one instance-wide namespace in confd."""
    owners: dict[str, Declaration] = {}
    sip_trunks = [d for d in ctx.stack.declarations("trunks") if trunk_type(d) == "sip"]
    templates = [d for d in ctx.stack.declarations("sip_templates") if d.name != "global"]
    for decl in [*ctx.stack.declarations("transports"), *templates, *sip_trunks]:
        first = owners.setdefault(decl.name, decl)
        if first is not decl and first.kind != decl.kind:
            message = (
                f"name '{decl.name}' is already used by {_what(first)} at {first.location}; "
                "SIP transports, templates and trunks share one namespace in confd"
            )
            yield ctx.problem(decl, (), message, key=True)
    interfaces: dict[str, Declaration] = {}
    for decl in ctx.declarations("trunks"):
        interface = data_of(decl).get("interface")
        if trunk_type(decl) != "custom" or not isinstance(interface, str):
            continue
        first = interfaces.setdefault(interface, decl)
        if first is not decl:
            message = (
                f"interface '{interface}' is already used by trunk '{first.name}' "
                f"at {first.location}"
            )
            yield ctx.problem(decl, ("interface",), message)


def _what(decl: Declaration) -> str:
    kinds = {"transports": "transport", "sip_templates": "SIP template", "trunks": "SIP trunk"}
    return f"{kinds.get(decl.kind, decl.kind)} '{decl.name}'"

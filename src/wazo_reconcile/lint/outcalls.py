"""Outcalls: dial patterns as confd validates them, the caller IDs Wazo sends, and patterns
that never take a call.

What Wazo does with caller IDs and dial patterns is decided in one place, `callerid.py`; these
checks only read the YAML into its types and locate its findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from wazo_reconcile.callerid import (
    OutcallView,
    UserView,
    caller_id_problems,
    pattern_value_problems,
    user_problems,
)
from wazo_reconcile.dialpattern import Finding, context_problems, exten_problems
from wazo_reconcile.errors import Problem
from wazo_reconcile.lint.context import WARNING, Context, DocumentContext, StackContext, data_of
from wazo_reconcile.model import Pattern
from wazo_reconcile.stack import Declaration, option_text

EXTEN = re.compile(r"_?\+?[*#0-9_XxZzNn\[\].!-]*")
PREFIX = re.compile(r"\+.*|\+?[0-9#*]+", re.S)


def check_outcalls(ctx: DocumentContext) -> Iterator[Problem]:
    """Dial patterns as confd validates them, and routes that cannot work."""
    for decl in ctx.declarations("outcalls"):
        data = data_of(decl)
        if data.get("trunks") == []:
            message = "no trunk: calls matching this outcall will fail"
            yield ctx.problem(decl, ("trunks",), message, WARNING, key=True)
        for index, pattern in enumerate(data.get("patterns") or []):
            yield from _pattern(ctx, decl, index, pattern)


def check_pattern_uniqueness(ctx: StackContext) -> Iterator[Problem]:
    """An extension belongs to one outcall: (context, exten) is unique in a tenant."""
    used: dict[tuple[str | None, str, str], tuple[Declaration, int]] = {}
    for decl in ctx.declarations("outcalls"):
        for index, pattern in enumerate(data_of(decl).get("patterns") or []):
            context = pattern.get("context")
            key = (decl.tenant, str(context or ""), option_text(pattern["exten"]))
            other, other_index = used.setdefault(key, (decl, index))
            if (other, other_index) != (decl, index):
                where = f"context '{context}'" if context else "the tenant's outcall context"
                message = (
                    f"extension '{key[2]}' in {where} is already a pattern of outcall "
                    f"'{other.name}' at {other.locate('patterns', other_index)}; confd allows one"
                )
                yield ctx.problem(decl, ("patterns", index, "exten"), message)


def _pattern(
    ctx: DocumentContext, decl: Declaration, index: int, pattern: dict[str, Any]
) -> Iterator[Problem]:
    path: tuple[str | int, ...] = ("patterns", index)
    exten = option_text(pattern["exten"])
    if not exten:
        yield ctx.problem(decl, (*path, "exten"), "an extension pattern must not be empty")
    elif not _checkable_exten(exten):
        message = (
            f"invalid outcall extension '{exten}': at most 40 characters, an optional _ and +, "
            "then digits, * #, X Z N, [ ] . ! and -"
        )
        yield ctx.problem(decl, (*path, "exten"), message)
    for name, limit in (("prefix", 32), ("external_prefix", 64)):
        if pattern.get(name) is not None:
            yield from _prefix(ctx, decl, (*path, name), option_text(pattern[name]), limit)


def _prefix(
    ctx: DocumentContext, decl: Declaration, path: tuple[str | int, ...], text: str, limit: int
) -> Iterator[Problem]:
    name = str(path[-1])
    if text == "":
        yield ctx.problem(decl, path, f"empty {name}: confd refuses it; remove the key instead")
    elif len(text) > limit or not PREFIX.fullmatch(text):
        message = (
            f"invalid {name} '{text}': at most {limit} characters, starting with + "
            "or only digits, # and *"
        )
        yield ctx.problem(decl, path, message)


# ------------------------------------------------------------------------------ caller IDs


def yaml_pattern(pattern: Mapping[str, Any]) -> Pattern:
    """A dial pattern as written (context as written, "" for the tenant's outcall context)."""
    return Pattern(
        context=str(pattern.get("context") or ""),
        exten=option_text(pattern["exten"]),
        caller_id=pattern.get("caller_id") if isinstance(pattern.get("caller_id"), str) else None,
        strip_digits=int(pattern.get("strip_digits") or 0),
        prefix=_optional_text(pattern.get("prefix")),
        external_prefix=_optional_text(pattern.get("external_prefix")),
    )


def _optional_text(value: Any) -> str | None:
    return None if value is None else option_text(value)


def yaml_outcall(decl: Declaration) -> OutcallView:
    """An outcall declaration as the caller-ID policy sees it (absent keys: confd's defaults)."""
    data = data_of(decl)
    return OutcallView(
        name=decl.name,
        patterns=tuple(yaml_pattern(p) for p in data.get("patterns") or []),
        trunks=tuple(str(t) for t in data.get("trunks") or []),
        internal_caller_id=data.get("internal_caller_id") is True,
        enabled=data.get("enabled") is not False,
    )


def _checkable_exten(exten: str) -> bool:
    """An extension `check_outcalls` accepts (the others are reported there, once)."""
    return bool(exten) and len(exten) <= 40 and EXTEN.fullmatch(exten) is not None


def _located(ctx: Context, decl: Declaration, path: Sequence[str | int], f: Finding) -> Problem:
    return ctx.problem(decl, tuple(path), f.message, f.severity)


def check_caller_ids(ctx: DocumentContext) -> Iterator[Problem]:
    """Caller IDs as Wazo reads them (a missing number part is a warning), pattern values that
    do nothing (`prefix`, a `caller_id` behind `internal_caller_id`, `strip_digits` removing
    everything) and extensions that never match or that Asterisk reads differently."""
    for decl in ctx.declarations("outcalls"):
        outcall = yaml_outcall(decl)
        for index, pattern in enumerate(outcall.patterns):
            at = ("patterns", index)
            for f in pattern_value_problems(outcall, pattern):
                yield _located(ctx, decl, (*at, f.field or "exten"), f)
            if _checkable_exten(pattern.exten):
                for f in exten_problems(pattern):
                    if f.code != "invalid-exten":
                        yield _located(ctx, decl, (*at, "exten"), f)
    for decl in ctx.declarations("users"):
        value = data_of(decl).get("outgoing_caller_id")
        if isinstance(value, str):
            for severity, message in caller_id_problems(value, for_user=True):
                yield ctx.problem(decl, ("outgoing_caller_id",), message, severity)


class _Declared(NamedTuple):
    decl: Declaration
    at: int  # the pattern's index in the declaration's `patterns` list
    pattern: Pattern


def check_dial_patterns(ctx: StackContext) -> Iterator[Problem]:
    """Patterns of a context (one outcall's or several) that never take a call because a more
    specific one gets all their numbers, or that Asterisk loads as one extension. Contexts are
    compared as written (offline, a label and the name of one context look different)."""
    groups: dict[tuple[str | None, str], list[_Declared]] = {}
    for decl in ctx.declarations("outcalls"):
        for index, pattern in enumerate(yaml_outcall(decl).patterns):
            if _checkable_exten(pattern.exten):
                key = (decl.tenant, pattern.context)
                groups.setdefault(key, []).append(_Declared(decl, index, pattern))
    for declared in groups.values():
        if len(declared) > 1:
            yield from _clashes(ctx, declared)


def _clashes(ctx: StackContext, declared: list[_Declared]) -> Iterator[Problem]:
    by_exten: dict[str, list[_Declared]] = {}
    for item in declared:
        by_exten.setdefault(item.pattern.exten, []).append(item)
    for f in context_problems(item.pattern for item in declared):
        if f.exten is None or f.related is None or f.exten == f.related:
            continue  # the same text twice: check_pattern_uniqueness says it
        winner = by_exten[f.related][0]
        for item in by_exten[f.exten]:
            message = f.message
            if winner.decl is not item.decl:
                where = winner.decl.locate("patterns", winner.at)
                message += f" ({f.related} is a pattern of outcall '{winner.decl.name}' at {where})"
            yield ctx.problem(item.decl, ("patterns", item.at, "exten"), message, f.severity)


def check_forwarded_caller_ids(ctx: StackContext) -> Iterator[Problem]:
    """A user's `outgoing_caller_id` that routes with `internal_caller_id` ignore (info): the
    caller's own caller ID goes out there, `anonymous` included."""
    forwarding = [
        (decl.tenant, yaml_outcall(decl))
        for decl in ctx.declarations("outcalls")
        if data_of(decl).get("internal_caller_id") is True
    ]
    if not forwarding:
        return
    for decl in ctx.declarations("users"):
        value = data_of(decl).get("outgoing_caller_id")
        if not isinstance(value, str):
            continue
        # Tenants as written: a document without `tenant:` goes to the token's tenant, which
        # offline is only known to equal another document without `tenant:`.
        routes = [view for tenant, view in forwarding if tenant == decl.tenant]
        for f in user_problems(UserView(decl.name, value), routes):
            if f.code != "caller-id":  # check_caller_ids reads the value itself
                yield _located(ctx, decl, ("outgoing_caller_id",), f)

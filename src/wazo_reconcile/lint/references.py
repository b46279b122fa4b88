"""References between declarations: templates, transports and trunks named by another
declaration, template inheritance (cycles, the `global` template), `policy.ignore` rules.

A reference to an object the stack does not declare may name one on the PBX: offline it is a
warning, unless it is a typo of a declared name or of one every Wazo has (`global`,
`transport-udp`…): an error, with "did you mean"; or the policy prunes its kind (then apply
would delete it: an error). `plan` checks it against the PBX.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from wazo_reconcile.diff import matches
from wazo_reconcile.errors import Problem
from wazo_reconcile.lint.context import (
    WARNING,
    StackContext,
    YamlPath,
    data_of,
    options_of,
    sip_trunks,
)
from wazo_reconcile.model import DEFAULT_TEMPLATES, DEFAULT_TRANSPORTS, TEMPLATES_INHERITING_GLOBAL
from wazo_reconcile.stack import Declaration, format_path
from wazo_reconcile.suggest import suggestions


def check_references(ctx: StackContext) -> Iterator[Problem]:
    """Templates, transports and trunks named by a declaration: declared, or on the PBX?"""
    for decl in [*ctx.declarations("sip_templates"), *sip_trunks(ctx)]:
        data = data_of(decl)
        for index, name in enumerate(data.get("templates") or []):
            yield from _template_ref(ctx, decl, ("templates", index), name)
        if isinstance(data.get("transport"), str):
            yield from _transport_ref(ctx, decl, ("transport",), data["transport"])
        registration = data.get("registration")
        if isinstance(registration, dict) and "transport" not in registration:
            continue  # most registrations: no option to list (5,000 trunks: 0.03 s)
        for option in options_of(registration):
            if option.key == "transport" and isinstance(option.value, str):
                yield from _transport_ref(
                    ctx, decl, ("registration", *option.value_path), option.value
                )
    for decl in ctx.declarations("outcalls"):
        for index, name in enumerate(data_of(decl).get("trunks") or []):
            yield from _trunk_ref(ctx, decl, ("trunks", index), name)


def _template_ref(
    ctx: StackContext, decl: Declaration, path: YamlPath, name: str
) -> Iterator[Problem]:
    declared = ctx.names.get("sip_templates", {}).get(name, [])
    if any(_same_tenant(decl.tenant, t.tenant) for t in declared):
        return
    if declared:
        message = (
            f"SIP template '{name}' is declared for tenant {declared[0].tenant}, not for "
            f"tenant {decl.tenant}; confd refuses templates of another tenant"
        )
        yield ctx.problem(decl, path, message)
    elif name not in DEFAULT_TEMPLATES:
        known = [*ctx.names.get("sip_templates", {}), *DEFAULT_TEMPLATES]
        yield _undeclared(ctx, decl, path, "sip_templates", name, "SIP template", known)


def _transport_ref(
    ctx: StackContext, decl: Declaration, path: YamlPath, name: str
) -> Iterator[Problem]:
    declared = ctx.names.get("transports", {})
    if name not in declared:
        known = [*declared, *DEFAULT_TRANSPORTS]
        yield _undeclared(ctx, decl, path, "transports", name, "transport", known)


def _trunk_ref(
    ctx: StackContext, decl: Declaration, path: YamlPath, name: str
) -> Iterator[Problem]:
    trunks = ctx.names.get("trunks", {})
    declared = trunks.get(name)
    if not declared:
        yield _undeclared(ctx, decl, path, "trunks", name, "trunk", trunks)
    elif not _same_tenant(decl.tenant, declared[0].tenant):
        message = (
            f"trunk '{name}' belongs to tenant {declared[0].tenant}, this outcall to tenant "
            f"{decl.tenant}; confd refuses trunks of another tenant"
        )
        yield ctx.problem(decl, path, message)


def _undeclared(
    ctx: StackContext,
    decl: Declaration,
    path: YamlPath,
    kind: str,
    name: str,
    what: str,
    known: Iterable[str],
) -> Problem:
    typo = suggestions(name, known, typos=True)
    if typo:
        message = f"{what} '{name}' is not declared in this stack; did you mean '{typo[0]}'?"
        return ctx.problem(decl, path, message)
    if ctx.pruned(kind, name):
        message = (
            f"{what} '{name}' is not declared, and the policy prunes {kind}: "
            "apply would delete it; declare or protect it"
        )
        return ctx.problem(decl, path, message)
    message = f"{what} '{name}' is not declared in this stack; it must exist on the PBX"
    return ctx.problem(decl, path, message, WARNING)


def _same_tenant(a: str | None, b: str | None) -> bool:
    # A document without `tenant:` goes to the token's tenant, unknown offline.
    return a is None or b is None or a == b


# ----------------------------------------------------------------------- template inheritance


def check_template_cycles(ctx: StackContext) -> Iterator[Problem]:
    """Template inheritance must not loop (confd refuses it)."""
    graph = {
        _node(d.name, d.tenant): [_node(n, d.tenant) for n in data_of(d).get("templates") or []]
        for d in ctx.declarations("sip_templates")
    }
    reported: set[frozenset[str]] = set()
    for decl in ctx.declarations("sip_templates"):
        cycle = _cycle_from(graph, _node(decl.name, decl.tenant))
        if cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            shown = " -> ".join([*(n.split("@")[0] for n in cycle), cycle[0].split("@")[0]])
            if len(cycle) == 1:
                message = f"template '{decl.name}' inherits itself"
            else:
                message = f"template inheritance cycle: {shown}"
            yield ctx.problem(decl, ("templates",), message, key=True)


def _node(name: str, tenant: str | None) -> str:
    return f"global@{tenant or ''}" if name == "global" else name


def _cycle_from(graph: Mapping[str, list[str]], start: str) -> list[str]:
    """The cycle through ``start``, as a list of nodes starting with it, or []."""
    path: list[str] = []
    seen: set[str] = set()

    def walk(node: str) -> list[str]:
        for child in graph.get(node, ()):
            if child == start:
                return [*path, node]
            if child not in seen:
                seen.add(child)
                path.append(node)
                found = walk(child)
                path.pop()
                if found:
                    return found
        return []

    return walk(start)


def check_global_inheritance(ctx: StackContext) -> Iterator[Problem]:
    """A SIP trunk that does not inherit the `global` template misses tenant-wide settings."""
    templates = {  # templates that passed the schema: an invalid one hides the answer
        _node(d.name, d.tenant): data_of(d).get("templates") or []
        for d in ctx.declarations("sip_templates")
    }
    for decl in sip_trunks(ctx):
        parents = data_of(decl).get("templates") or []
        if _inherits_global(templates, parents, decl.tenant) is False:
            message = (
                f"SIP trunk '{decl.name}' does not inherit the 'global' template, directly or "
                "through its templates: tenant-wide settings (NAT, codecs) will not apply"
            )
            yield ctx.problem(decl, ("templates",) if parents else (), message, WARNING, key=True)


def _inherits_global(
    templates: Mapping[str, list[str]], parents: list[str], tenant: str | None
) -> bool | None:
    """True/False when known; None when an undeclared template hides the answer."""
    unknown = False
    todo, seen = list(parents), set()
    while todo:
        name = todo.pop()
        if name in TEMPLATES_INHERITING_GLOBAL:
            return True
        node = _node(name, tenant)
        if node in seen:
            continue
        seen.add(node)
        if node in templates:
            todo += templates[node]
        elif name not in DEFAULT_TEMPLATES:
            unknown = True
    return None if unknown else False


# ---------------------------------------------------------------------------------- policy


def check_policy(ctx: StackContext) -> Iterator[Problem]:
    """`policy.ignore` rules must name declared objects, or they do nothing."""
    for document in ctx.stack.documents:
        policy = document.data.get("policy")
        ignore = policy.get("ignore") if isinstance(policy, dict) else None
        if not isinstance(ignore, dict):
            continue
        for ref in ignore:
            kind, _, name = str(ref).partition("/")
            declared = ctx.names.get(kind, {})
            if name and not any(matches(f"{kind}/{n}", [str(ref)]) for n in declared):
                message = f"{ref} is not declared in this stack: this ignore rule has no effect"
                path = ("policy", "ignore", ref)
                yield Problem(document.locate(path, key=True), format_path(path), message, WARNING)

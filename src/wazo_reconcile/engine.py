"""The pipeline from a loaded stack and a live PBX to a plan, as the commands run it.

load (config) → validate (schema + lint) → fetch live (live) → normalise both sides
(normalise) → check references against the live PBX → diff → plan. Every problem found before
the diff is reported at once as a `ConfigError`; nothing here writes to the PBX.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any

from wazo_reconcile.config import Declaration, Stack, option_text
from wazo_reconcile.diff import Action, DiffResult, Kept, diff
from wazo_reconcile.errors import ConfigError, Problem
from wazo_reconcile.gcpause import gc_paused
from wazo_reconcile.live import LiveState, fetch_live
from wazo_reconcile.model import SIP_SECTIONS, TENANT_TEMPLATES, Resource
from wazo_reconcile.normalise import (
    DesiredContext,
    LiveIndex,
    LivePreparer,
    Prepared,
    PreparedLive,
    index_live,
    normalise_desired,
    normalise_live,
    prepare_desired,
    texter,
)
from wazo_reconcile.ops import assign_bare_trunks, operations
from wazo_reconcile.pjsip import PjsipDoc
from wazo_reconcile.planner import Guards, Plan, ReferenceGraph, build_plan, dependencies
from wazo_reconcile.secrets import SecretResolver

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selection:
    """`--target` / `--exclude` patterns on `kind/name` (shell wildcards allowed)."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.targets or self.excludes)


@dataclass(frozen=True)
class Planned:
    """A plan and everything apply needs to carry it out."""

    plan: Plan
    live: LiveState
    index: LiveIndex
    desired: tuple[Resource, ...]
    live_resources: tuple[Resource, ...]
    operations: dict[int, tuple[str, ...]] = field(default_factory=dict)


def compute_plan(
    stack: Stack,
    client: Any,
    *,
    tenant: str | None = None,
    resolver: SecretResolver | None = None,
    selection: Selection = Selection(),
) -> Planned:
    """Fetch the live state and plan the changes that make it match `stack`."""
    # The live state and the plan are a million small acyclic objects that live until the
    # command ends: the cyclic collector rescanning them cost a sixth of a plan at 5,000 trunks.
    resolver = resolver or SecretResolver()
    with gc_paused(freeze=True):
        # The desired state's option sections need no live state, and a live SIP item's
        # sections need nothing else: both are normalised while the live state is read (the
        # reads mostly wait for confd).
        preparer = LivePreparer()
        with ThreadPoolExecutor(1, thread_name_prefix="fetch") as pool:
            fetching = pool.submit(fetch_live, client, received=preparer)
            prepared = prepare_desired(stack.all_declarations(), _texter(resolver))
            live = fetching.result()
        return plan_against(
            stack,
            live,
            tenant=tenant,
            resolver=resolver,
            selection=selection,
            prepared=prepared,
            prepared_live=preparer.prepared(),
        )


def _texter(resolver: SecretResolver) -> Callable[[Declaration], Callable[[Any], str]]:
    expand = _expander(resolver)
    return lambda decl: texter(option_text, expand, decl)


def _expander(resolver: SecretResolver) -> Callable[[str, Declaration], str]:
    """Secret references of a declaration's text resolved from its document's directory."""
    return lambda text, decl: resolver.expand(text, decl.document.base_dir)


def plan_against(
    stack: Stack,
    live: LiveState,
    *,
    tenant: str | None = None,
    resolver: SecretResolver | None = None,
    selection: Selection = Selection(),
    prepared: Prepared | None = None,
    prepared_live: PreparedLive | None = None,
) -> Planned:
    """The plan for `stack` against an already fetched live state (pure). ``prepared`` and
    ``prepared_live``: what `prepare_desired` computed for these declarations and
    a `LivePreparer` for these live items, if they were run ahead."""
    resolver = resolver or SecretResolver()
    index = index_live(live)
    default_tenant = live.default_tenant(tenant)
    declarations = stack.all_declarations()
    for decl in declarations:
        if decl.tenant is not None:
            live.default_tenant(decl.tenant)  # a UsageError if the token cannot see it
    ctx = DesiredContext(
        index=index,
        default_tenant=default_tenant,
        expand=_expander(resolver),
        locate=lambda decl, path: decl.locate(*path),
        option_text=option_text,
        prepared=prepared or {},
    )
    desired = normalise_desired(declarations, ctx)
    index.use_handles({r.identity: r.key.name for r in desired if r.key.kind == "trunks"})
    live_resources = normalise_live(live, index, prepared_live)
    problems = ctx.problems + live_problems(stack, desired, live_resources, live, index)
    if problems:
        raise ConfigError(problems)
    tenants = frozenset({default_tenant} | {ctx.tenant_of(d) for d in declarations})
    result = keep_used_transports(
        diff(desired, live_resources, stack.policy, tenants=tenants), live, desired
    )
    guards = Guards(stack.policy.max_delete_percent, stack.policy.max_update_percent)
    fingerprint = live.fingerprint  # computed when shown (JSON plan, saved plan), not before
    plan = build_plan(
        result, desired=desired, live=live_resources, guards=guards, fingerprint=fingerprint
    )
    if selection:
        plan = build_plan(
            _select(plan, result, desired, live_resources, selection),
            desired=desired,
            live=live_resources,
            guards=guards,
            fingerprint=fingerprint,
        )
    adopt = assign_bare_trunks(plan.changes, index)
    summaries = {
        i: tuple(op.summary for op in operations(change, index, adopt))
        for i, change in enumerate(plan.changes)
    }
    return Planned(plan, live, index, tuple(desired), tuple(live_resources), summaries)


def keep_used_transports(
    result: DiffResult, live: LiveState, desired: Sequence[Resource]
) -> DiffResult:
    """Prune never deletes a transport still in use: confd refuses it (400) without a fallback.

    In use: referenced by a SIP endpoint or template that stays (lines' endpoints included), or
    by the desired state.
    """
    going = {c.key.name for c in result.changes if c.action is Action.DELETE}
    users: dict[str, list[str]] = {}
    names = {t["uuid"]: t["name"] for t in live.transports}
    for item in (*live.sip_templates, *live.endpoints_sip):
        transport = item.get("transport")
        if transport and item["name"] not in going and transport["uuid"] in names:
            users.setdefault(names[transport["uuid"]], []).append(
                str(item.get("label") or item["name"])
            )
    for resource in desired:
        if resource.fields.get("transport"):
            users.setdefault(resource.fields["transport"], []).append(str(resource.key))
    changes, kept = [], list(result.kept)
    for change in result.changes:
        used_by = users.get(change.key.name)
        if change.action is Action.DELETE and change.key.kind == "transports" and used_by:
            shown = ", ".join(sorted(set(used_by))[:3]) + (", …" if len(set(used_by)) > 3 else "")
            kept.append(Kept(change.resource, f"in use by {shown}"))
        else:
            changes.append(change)
    return replace(result, changes=tuple(changes), kept=tuple(kept))


def _select(
    plan: Plan,
    result: DiffResult,
    desired: Sequence[Resource],
    live: Sequence[Resource],
    selection: Selection,
) -> DiffResult:
    """Targets plus what they depend on, minus excludes and what depends on them."""
    changes = list(plan.changes)
    edges = dependencies(changes, ReferenceGraph(desired, live))
    chosen = set(range(len(changes)))
    if selection.targets:
        chosen = _closure(
            {i for i, c in enumerate(changes) if _matches(c.key.ref, selection.targets)}, edges
        )
    excluded = {i for i, c in enumerate(changes) if _matches(c.key.ref, selection.excludes)}
    dependents: dict[int, set[int]] = {}
    for i, deps in edges.items():
        for d in deps:
            dependents.setdefault(d, set()).add(i)
    excluded = _closure(excluded, dependents)
    kept = tuple(c for i, c in enumerate(changes) if i in chosen - excluded)
    return replace(result, changes=kept, unmanaged=(), kept=())


def _closure(start: set[int], edges: dict[int, set[int]]) -> set[int]:
    seen, stack = set(start), list(start)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _matches(ref: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(ref, p) for p in patterns)


# ------------------------------------------------------------------ live-dependent checks


def live_problems(
    stack: Stack,
    desired: Sequence[Resource],
    live_resources: Sequence[Resource],
    live: LiveState,
    index: LiveIndex,
) -> list[Problem]:
    """What only the live PBX can tell: missing defaults, tenants, names taken elsewhere."""
    origins = {d.location: d for d in stack.all_declarations()}
    by_identity = {r.identity: r for r in live_resources}
    problems: list[Problem] = []
    sip_names = _sip_namespace(live_resources)
    for want in desired:
        decl = origins.get(want.origin) if want.origin else None
        if decl is None:
            continue
        have = by_identity.get(want.identity)
        if want.key.kind == "pjsip" and not live.pjsip_readable:
            problems.append(
                _at(decl, "PJSIP settings can only be managed with a master-tenant token")
            )
        elif (
            want.key.kind == "sip_templates" and want.key.name in TENANT_TEMPLATES and have is None
        ):
            problems.append(
                _at(decl, f"tenant {want.key.tenant} has no default '{want.key.name}' template")
            )
        elif have is not None and have.key.tenant != want.key.tenant and want.key.tenant:
            problems.append(
                _at(
                    decl,
                    f"'{want.key.name}' already exists in tenant {have.key.tenant}; "
                    "confd names are unique across tenants",
                )
            )
        elif have is None and _sip_named(want) and want.key.name in sip_names:
            problems.append(
                _at(
                    decl,
                    f"the name '{want.key.name}' is already used by "
                    f"{sip_names[want.key.name]} on the PBX (SIP names share one namespace)",
                )
            )
    if live.pjsip_doc:
        problems += _option_problems(stack, PjsipDoc.from_confd(live.pjsip_doc))
    return problems


def _sip_named(resource: Resource) -> bool:
    kind = resource.key.kind
    return kind in ("transports", "sip_templates") or (kind == "trunks" and resource.type == "sip")


def _sip_namespace(live_resources: Sequence[Resource]) -> dict[str, str]:
    names = {}
    for resource in live_resources:
        if _sip_named(resource) and resource.key.name not in TENANT_TEMPLATES:
            names[resource.key.name] = str(resource.key)
    return names


def _at(decl: Declaration, message: str) -> Problem:
    return Problem(decl.location, f"{decl.kind}.{decl.name}", message)


def _option_problems(stack: Stack, doc: PjsipDoc) -> list[Problem]:
    """Option keys the live server's PJSIP doc does not know (it may differ from ours)."""
    problems = []
    allowed_keys = {section: doc.allowed(section) for section in SIP_SECTIONS}  # once, not per decl
    for decl in stack.declarations("sip_templates") + stack.declarations("trunks"):
        data = decl.data if isinstance(decl.data, dict) else {}
        for section in SIP_SECTIONS:
            allowed, value = allowed_keys[section], data.get(section)
            if value is None or (type(value) is dict and allowed.issuperset(value)):
                continue  # the usual case: 35,000 sections at 5,000 trunks
            for key, where in _unknown_keys(value, allowed):
                if not (key.startswith("@") and section in ("aor", "endpoint")):
                    problems.append(
                        Problem(
                            decl.locate(section, *where, key=len(where) == 1),
                            f"{decl.kind}.{decl.name}.{section}.{key}",
                            f"option '{key}' is not known to this PBX's PJSIP ({section} section)",
                        )
                    )
    return problems


def _unknown_keys(section: Any, allowed: frozenset[str]) -> list[tuple[str, tuple[str | int, ...]]]:
    """The option keys of a section (a mapping or [key, value] pairs) not in `allowed`, in
    order, each with its path in the section (a mapping key's, or a pair's first item)."""
    if isinstance(section, dict):
        return [(str(k), (k,)) for k in section if str(k) not in allowed]
    if isinstance(section, list):
        return [
            (str(pair[0]), (i, 0))
            for i, pair in enumerate(section)
            if isinstance(pair, list | tuple) and pair and str(pair[0]) not in allowed
        ]
    return []

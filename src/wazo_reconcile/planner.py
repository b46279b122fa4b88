"""Plan stage: order the changes, attach their Asterisk impact, check the safety guards (pure).

Order is a dependency graph (DESIGN.md §4): a change runs after the changes that create or
update what it references (transports → templates, parents first → trunks → outcalls), and a
delete runs after every change that stops referencing what it deletes. Ties break on
(`KIND_ORDER`, key), so the same inputs always give the same plan.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TypeVar

from wazo_reconcile.diff import Action, Change, DiffResult, Kept, matches
from wazo_reconcile.errors import plural
from wazo_reconcile.live import LiveIndex
from wazo_reconcile.model import KINDS, Resource, ResourceKey
from wazo_reconcile.normalise import template_identity
from wazo_reconcile.ops import TRUNK_FIELDS, Operation, operations_of

T = TypeVar("T")

KIND_ORDER = {kind: rank for rank, kind in enumerate(KINDS)}  # creation order

# From least to most disruptive; a change's `impact[0]` is its most disruptive class.
IMPACT_RANK = ("none", "reload:dialplan", "reload:iax2", "reload:pjsip", "restart")

RESTART_NOTE = "a transport change needs an Asterisk restart; confd only reloads res_pjsip"
PATTERN_NOTE = "dial patterns whose exten or context changes are dissociated and recreated"
# Phone lines' SIP endpoints are never read (live.py): a line using the transport is unknown.
TRANSPORT_DELETE_NOTE = (
    "confd refuses the delete while a SIP endpoint still uses the transport (phone lines are "
    "not read: the apply would report it, and nothing changes)"
)


@dataclass(frozen=True)
class Guards:
    max_delete_percent: float | None = None
    max_update_percent: float | None = None


@dataclass(frozen=True)
class Selection:
    """`--target` / `--exclude` patterns on `kind/name` (shell wildcards allowed)."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.targets or self.excludes)


@dataclass(frozen=True)
class Plan:
    """Ordered changes, what the reviewer needs to judge them, and what apply needs to carry
    them out: each change's requests (`operations`, built once) and the live index they were
    built against (server ids known before the apply)."""

    changes: tuple[Change, ...]
    operations: tuple[tuple[Operation, ...], ...] = ()  # one tuple per change, in order
    index: LiveIndex | None = field(default=None, repr=False, compare=False)
    unmanaged: tuple[Resource, ...] = ()
    kept: tuple[Kept, ...] = ()
    in_sync: int = 0
    # Dependency levels: indexes into `changes`; a level only depends on earlier levels.
    levels: tuple[tuple[int, ...], ...] = ()
    depends_on: Mapping[int, tuple[int, ...]] | None = None
    refusals: tuple[str, ...] = ()
    # The live state's fingerprint, or how to compute it: only JSON plans and saved plans show
    # it, and it costs a sixth of a plan at 5,000 trunks (see `fingerprint`).
    fingerprint_of: str | Callable[[], str] = field(default="", repr=False, compare=False)
    # A tenant's UUID -> the name the stack wrote for it (`Stack.tenant_labels`), for display.
    tenant_labels: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def fingerprint(self) -> str:
        """The fingerprint of the live state the plan was computed from (computed once)."""
        source = self.fingerprint_of
        return source if isinstance(source, str) else source()

    @property
    def is_empty(self) -> bool:
        return not self.changes

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(change.action for change in self.changes)
        return {action.value: counts[action] for action in Action}

    @property
    def restart_reasons(self) -> tuple[str, ...]:
        return tuple(str(c.key) for c in self.changes if "restart" in c.impact)

    @property
    def restart_required(self) -> bool:
        return bool(self.restart_reasons)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What a reviewer must not miss: options taken from a template others inherit."""
        return tuple(f"{change.key} {text}" for change in self.changes for text in change.warnings)

    def summaries(self, i: int) -> tuple[str, ...]:
        """What the requests of change ``i`` are, secret-free ("POST /trunks acme")."""
        return tuple(op.summary for op in self.operations[i]) if self.operations else ()


def order_changes(
    result: DiffResult,
    *,
    desired: Sequence[Resource],
    live: Sequence[Resource],
    index: LiveIndex | None = None,
    guards: Guards = Guards(),
    selection: Selection | None = None,
    fingerprint: str | Callable[[], str] = "",
) -> Plan:
    """Annotate `result.changes`, keep the selected ones, order them by their dependencies,
    list what the guards refuse and, given the live ``index``, build each change's requests."""
    graph = ReferenceGraph(desired, live)
    changes = [annotate(change, graph) for change in result.changes]
    edges = dependencies(changes, graph)
    if selection:  # neither None nor empty
        chosen = _selected(changes, edges, selection)
        renumber = {old: new for new, old in enumerate(chosen)}
        changes = [changes[i] for i in chosen]
        edges = {renumber[i]: {renumber[d] for d in edges[i] if d in renumber} for i in chosen}
        result = replace(result, unmanaged=(), kept=())
    order = _topological(changes, edges)
    position = {old: new for new, old in enumerate(order)}
    ordered = tuple(changes[i] for i in order)
    depends_on = {
        position[i]: tuple(sorted(position[d] for d in deps)) for i, deps in edges.items()
    }
    return Plan(
        changes=ordered,
        operations=operations_of(ordered, index) if index is not None else (),
        index=index,
        unmanaged=result.unmanaged,
        kept=result.kept,
        in_sync=result.in_sync,
        levels=_levels(len(ordered), depends_on),
        depends_on=depends_on,
        refusals=_refusals(ordered, result, live, guards),
        fingerprint_of=fingerprint,
    )


def _selected(
    changes: Sequence[Change], edges: Mapping[int, set[int]], selection: Selection
) -> list[int]:
    """Targets plus what they depend on, minus excludes and what depends on them."""
    chosen = set(range(len(changes)))
    if selection.targets:
        targets = {i for i, c in enumerate(changes) if matches(c.key.ref, selection.targets)}
        chosen = _closure(targets, edges)
    excluded = {i for i, c in enumerate(changes) if matches(c.key.ref, selection.excludes)}
    dropped: set[int] = _closure(excluded, _dependents(edges))
    return sorted(chosen - dropped)


def _dependents(edges: Mapping[int, Iterable[int]]) -> dict[int, set[int]]:
    """The edges reversed: for each change index, the indexes that wait for it."""
    dependents: dict[int, set[int]] = defaultdict(set)
    for i, deps in edges.items():
        for d in deps:
            dependents[d].add(i)
    return dependents


def _closure(start: set[T], edges: Mapping[T, Iterable[T]]) -> set[T]:
    seen, stack = set(start), list(start)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


# ----------------------------------------------------------------------- references


class ReferenceGraph:
    """Who references whom, in the desired state where declared, else in the live state."""

    def __init__(self, desired: Sequence[Resource], live: Sequence[Resource]) -> None:
        self.desired = {r.identity: r for r in desired}
        self.live = {r.identity: r for r in live}
        self.trunk_by_handle = {  # desired last: it wins
            r.key.name: r.identity for r in [*live, *desired] if r.key.kind == "trunks"
        }
        self._children: dict[tuple[str, ...], set[tuple[str, ...]]] | None = None

    def references(
        self, resource: Resource | None, fallback: Resource | None = None
    ) -> set[tuple[str, ...]]:
        """Identities a resource points to (declared fields, else the live ones)."""
        if resource is None:
            return set()
        fields = {**(fallback.fields if fallback is not None else {}), **resource.fields}
        refs: set[tuple[str, ...]] = set()
        tenant = resource.key.tenant
        for name in fields.get("templates") or ():
            refs.add(template_identity(tenant, name))
        if fields.get("transport"):
            refs.add(("transport", fields["transport"]))
        if resource.key.kind == "outcalls":
            for handle in fields.get("trunks") or ():
                if handle in self.trunk_by_handle:
                    refs.add(self.trunk_by_handle[handle])
        return refs

    def current(self, identity: tuple[str, ...]) -> Resource | None:
        return self.desired.get(identity) or self.live.get(identity)

    def inheriting(self, template: tuple[str, ...]) -> set[tuple[str, ...]]:
        """Every resource that inherits `template`, directly or through other templates."""
        if self._children is None:
            self._children = defaultdict(set)
            for identity in {*self.desired, *self.live}:
                resource = self.current(identity)
                fallback = self.live.get(identity)
                for ref in self.references(resource, fallback):
                    if ref[0] == "template":
                        self._children[ref].add(identity)
        return _closure(set(self._children.get(template, ())), self._children)


# --------------------------------------------------------------------------- impact


def annotate(change: Change, graph: ReferenceGraph) -> Change:
    impact = impact_of(change)
    notes: list[str] = []
    warnings: list[str] = []
    affects: tuple[str, ...] = ()
    kind = change.key.kind
    if "restart" in impact:
        notes.append(RESTART_NOTE)
    if kind == "transports" and change.action is Action.DELETE:
        notes.append(TRANSPORT_DELETE_NOTE)
    if kind == "sip_templates" and change.action is not Action.CREATE:
        heirs = graph.inheriting(change.resource.identity)
        affects = tuple(
            sorted(str(graph.current(i).key) for i in heirs if graph.current(i) is not None)  # type: ignore[union-attr]
        )
        if change.action is Action.DELETE and affects:
            notes.append("confd unlinks it silently: inheriting endpoints lose its options")
        removed = _options_removed(change)
        if removed and affects:
            warnings.append(f"removes {plural(removed, 'option')} inherited by {_heirs(affects)}")
    if kind == "outcalls" and change.action is Action.UPDATE:
        notes += _pattern_notes(change)
    return replace(
        change, impact=impact, notes=tuple(notes), affects=affects, warnings=tuple(warnings)
    )


def _options_removed(change: Change) -> int:
    """How many option pairs an update of a template takes away (its sections' multisets)."""
    removed = 0
    for delta in change.fields:
        if _is_options(delta.before) or _is_options(delta.after):
            removed += sum((Counter(delta.before or ()) - Counter(delta.after or ())).values())
    return removed


def _is_options(value: object) -> bool:
    return (
        isinstance(value, tuple)
        and all(isinstance(pair, tuple) and len(pair) == 2 for pair in value)
        and bool(value)
    )


def _heirs(affects: Sequence[str]) -> str:
    kinds = Counter(ref.split("/", 1)[0] for ref in affects)
    words = {"trunks": "trunk", "sip_templates": "template"}
    return " and ".join(plural(n, words.get(kind, kind)) for kind, n in sorted(kinds.items()))


def _pattern_notes(change: Change) -> list[str]:
    """A note when a dial pattern's exten or context changes (not for its other values,
    changed in place)."""
    for delta in change.fields:
        if delta.field == "patterns":
            before = {p.ident for p in delta.before or ()}
            after = {p.ident for p in delta.after or ()}
            if before != after:
                return [PATTERN_NOTE]
    return []


def impact_of(change: Change) -> tuple[str, ...]:
    """Asterisk impact classes, most disruptive first (REFERENCE.md §4.4)."""
    kind, action = change.key.kind, change.action
    changed = {d.field for d in change.fields}
    found: set[str] = set()
    if kind == "transports":
        found.add("restart")
    elif kind == "pjsip":
        found.add("reload:pjsip")
    elif kind == "sip_templates":
        if action is not Action.CREATE:
            found |= {"reload:pjsip", "reload:dialplan"}
    elif kind == "trunks":
        found |= _trunk_impact(change.resource.type, action, changed)
    elif kind == "outcalls":
        if action is Action.DELETE or "patterns" in changed:
            found.add("reload:dialplan")
        elif action is Action.CREATE and change.resource.fields.get("patterns"):
            found.add("reload:dialplan")
    elif kind == "users":
        found |= {"reload:pjsip", "reload:dialplan"}
    return tuple(sorted(found, key=IMPACT_RANK.index, reverse=True)) or ("none",)


def _trunk_impact(trunk_type: str, action: Action, changed: set[str]) -> set[str]:
    if trunk_type == "iax":
        return {"reload:iax2"}
    if trunk_type != "sip":
        return set()
    if action is Action.CREATE or (action is Action.UPDATE and changed.issubset(TRUNK_FIELDS)):
        return {"reload:pjsip"}
    return {"reload:pjsip", "reload:dialplan"}


# ----------------------------------------------------------------------- dependencies


def dependencies(changes: Sequence[Change], graph: ReferenceGraph) -> dict[int, set[int]]:
    """For each change index, the indexes it must wait for."""
    writes = {
        c.resource.identity: i for i, c in enumerate(changes) if c.action is not Action.DELETE
    }
    deletes = {c.resource.identity: i for i, c in enumerate(changes) if c.action is Action.DELETE}
    names = {(c.key.name): i for i, c in enumerate(changes) if c.action is Action.DELETE}
    edges: dict[int, set[int]] = {i: set() for i in range(len(changes))}
    for i, change in enumerate(changes):
        after = graph.references(change.after, change.before)
        before = graph.references(change.before)
        for ref in after:
            if ref in writes and writes[ref] != i:
                edges[i].add(writes[ref])
        for ref in before - after:
            if ref in deletes and deletes[ref] != i:
                edges[deletes[ref]].add(i)
        if change.action is Action.CREATE and change.key.name in names:
            edges[i].add(names[change.key.name])  # a freed name is reused
    return edges


def _sort_key(change: Change) -> tuple[int, int, ResourceKey]:
    phase = 1 if change.action is Action.DELETE else 0
    order = KIND_ORDER[change.key.kind]
    return (phase, -order if phase else order, change.key)


def _topological(changes: Sequence[Change], edges: Mapping[int, Iterable[int]]) -> list[int]:
    waiting = {i: set(deps) for i, deps in edges.items()}
    dependents = _dependents(waiting)
    ready = [(_sort_key(changes[i]), i) for i, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for j in dependents[i]:
            waiting[j].discard(i)
            if not waiting[j]:
                heapq.heappush(ready, (_sort_key(changes[j]), j))
    if len(order) != len(changes):  # a cycle: fall back to the stable order, never lose a change
        order += sorted(set(range(len(changes))) - set(order), key=lambda i: _sort_key(changes[i]))
    return order


def _levels(count: int, depends_on: Mapping[int, tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
    level: dict[int, int] = {}
    grouped: dict[int, list[int]] = defaultdict(list)
    for i in range(count):  # changes are in topological order
        level[i] = 1 + max((level[d] for d in depends_on.get(i, ()) if d < i), default=-1)
        grouped[level[i]].append(i)
    return tuple(tuple(grouped[lvl]) for lvl in sorted(grouped))


# ------------------------------------------------------------------------------ guards


def _refusals(
    changes: Sequence[Change], result: DiffResult, live: Sequence[Resource], guards: Guards
) -> tuple[str, ...]:
    """Protected updates, and deletes/updates over their share of each kind's live objects."""
    refusals = [
        f"{key} is protected by policy and would be updated" for key in result.protected_updates
    ]
    live_count = Counter(r.key.kind for r in live if not r.default_object)
    for action, limit in (
        (Action.DELETE, guards.max_delete_percent),
        (Action.UPDATE, guards.max_update_percent),
    ):
        if limit is None:
            continue
        count = Counter(c.key.kind for c in changes if c.action is action)
        for kind in sorted(count, key=KIND_ORDER.__getitem__):
            total = max(live_count[kind], 1)
            percent = 100.0 * count[kind] / total
            if percent > limit:
                refusals.append(
                    f"{count[kind]} {action.value}s of {kind} = {percent:.1f}% of "
                    f"{live_count[kind]} live, over max_{action.value}_percent ({limit:g}%)"
                )
    return tuple(refusals)

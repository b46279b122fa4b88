"""Diff stage: desired vs live resources -> changes (pure).

Field authority (DESIGN.md §3): a declared resource is authoritative for what it declares and
nothing else, so only the fields present in the desired resource are compared. Live objects
that are not declared are reported as unmanaged and deleted only for kinds in `policy.prune`,
never when protected nor when they are confd's default objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, Protocol

from wazo_reconcile.model import PRUNABLE_KINDS, Options, Resource, ResourceKey, options
from wazo_reconcile.normalise import identify_by_has_header


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class Change:
    """One resource to create, update or delete; `fields` lists what differs."""

    action: Action
    key: ResourceKey
    before: Resource | None
    after: Resource | None
    fields: tuple[FieldChange, ...] = ()
    # Filled in by the planner.
    impact: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    affects: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # what a reviewer must not miss

    @property
    def resource(self) -> Resource:
        resource = self.after or self.before
        assert resource is not None
        return resource


@dataclass(frozen=True, slots=True)
class Kept:
    """A live object that prune would delete but a rule keeps."""

    resource: Resource
    reason: str


@dataclass(frozen=True, slots=True)
class DiffResult:
    changes: tuple[Change, ...]
    unmanaged: tuple[Resource, ...] = ()
    kept: tuple[Kept, ...] = ()
    in_sync: int = 0
    protected_updates: tuple[ResourceKey, ...] = field(default=())


class PolicyLike(Protocol):
    @property
    def prune(self) -> Sequence[str]: ...

    @property
    def protect(self) -> Sequence[str]: ...

    @property
    def ignore(self) -> Mapping[str, Sequence[str]]: ...


def matches(ref: str, patterns: Iterable[str]) -> bool:
    """`kind/name` against policy patterns (shell-style wildcards allowed: `trunks/*`)."""
    return any(fnmatchcase(ref, pattern) for pattern in patterns)


def ignored_paths(ref: str, policy: PolicyLike) -> tuple[str, ...]:
    return tuple(
        p for pattern, paths in policy.ignore.items() if fnmatchcase(ref, pattern) for p in paths
    )


TransportUsers = Mapping[str, Sequence[tuple[str, str]]]  # name -> ((user name, shown), ...)


def diff(
    desired: Sequence[Resource],
    live: Sequence[Resource],
    policy: PolicyLike,
    *,
    tenants: frozenset[str],
    transport_users: TransportUsers | None = None,
) -> DiffResult:
    """Compare; `tenants` are the tenants this stack manages (prune never leaves them);
    `transport_users`: the live SIP endpoints and templates using each transport (prune keeps
    a transport in use)."""
    live_by_identity = {r.identity: r for r in live}
    matched: set[tuple[str, ...]] = set()
    changes: list[Change] = []
    in_sync = 0
    protected_updates = []
    for want in desired:
        have = live_by_identity.get(want.identity)
        if have is None:
            changes.append(Change(Action.CREATE, want.key, None, want))
            continue
        matched.add(want.identity)
        want = _with_ignored(_merged(want, have), have, ignored_paths(want.key.ref, policy))
        deltas = field_changes(want, have)
        if not deltas:
            in_sync += 1
            continue
        after = Resource.create(
            want.key, want.identity, want.fields, remote=have.remote, origin=want.origin
        )
        changes.append(Change(Action.UPDATE, want.key, have, after, deltas))
        if matches(want.key.ref, policy.protect):
            protected_updates.append(want.key)
    unmanaged, kept = [], []
    for have in sorted(live, key=lambda r: r.key):
        if have.identity in matched or not _in_scope(have, tenants):
            continue
        if have.key.kind not in policy.prune:
            unmanaged.append(have)
        elif have.default_object:
            kept.append(Kept(have, "confd default object"))
        elif matches(have.key.ref, policy.protect):
            kept.append(Kept(have, "protected by policy"))
        else:
            changes.append(Change(Action.DELETE, have.key, have, None))
    changes, kept = _keep_used_transports(changes, kept, desired, transport_users or {})
    return DiffResult(
        tuple(changes), tuple(unmanaged), tuple(kept), in_sync, tuple(protected_updates)
    )


def _keep_used_transports(
    changes: list[Change], kept: list[Kept], desired: Sequence[Resource], live: TransportUsers
) -> tuple[list[Change], list[Kept]]:
    """Prune never deletes a transport still in use: confd refuses it (400) without a fallback.

    In use: by a live SIP endpoint or template that stays (lines' endpoints included), or by
    the desired state.
    """
    going = {c.key.name for c in changes if c.action is Action.DELETE}
    users = {t: {shown for name, shown in found if name not in going} for t, found in live.items()}
    for resource in desired:
        if resource.fields.get("transport"):
            users.setdefault(str(resource.fields["transport"]), set()).add(str(resource.key))
    remaining = []
    for change in changes:
        used_by = sorted(users.get(change.key.name, ()))
        if change.action is Action.DELETE and change.key.kind == "transports" and used_by:
            shown = ", ".join(used_by[:3]) + (", …" if len(used_by) > 3 else "")
            kept.append(Kept(change.resource, f"in use by {shown}"))
        else:
            remaining.append(change)
    return remaining, kept


def _in_scope(resource: Resource, tenants: frozenset[str]) -> bool:
    if resource.key.kind not in PRUNABLE_KINDS or resource.default_object:
        return False
    return not resource.key.tenant or resource.key.tenant in tenants


def field_changes(want: Resource, have: Resource) -> tuple[FieldChange, ...]:
    """Declared fields whose value differs from the live one."""
    if want.fields.items() <= have.fields.items():  # the usual case, checked in C
        return ()
    return tuple(
        FieldChange(name, have.fields.get(name), value)
        for name, value in want.fields.items()
        if have.fields.get(name) != value
    )


def _merged(want: Resource, have: Resource) -> Resource:
    """A resource managed key by key (`Resource.merge`), its sections completed with the live
    keys it leaves alone: what the sections must be once the declared keys are applied."""
    if not want.merge:
        return want
    fields = dict(want.fields)
    for section, removed in want.merge.items():
        declared: Options = fields.get(section) or ()
        touched = {key for key, _ in declared} | removed
        kept = [pair for pair in have.fields.get(section) or () if pair[0] not in touched]
        fields[section] = options([*kept, *declared])
    if "endpoint" in want.merge and "identify_by_header" in fields:
        # derived from the whole section now, unless a declared match_header requires it
        fields["identify_by_header"] = bool(fields.get("match_header")) or identify_by_has_header(
            fields["endpoint"]
        )
    return Resource.create(
        want.key, want.identity, fields, remote=want.remote, origin=want.origin, merge=want.merge
    )


def _with_ignored(want: Resource, have: Resource, paths: tuple[str, ...]) -> Resource:
    """The desired resource with ignored fields/options taken from the live one."""
    if not paths:
        return want
    fields = dict(want.fields)
    for path in paths:
        name, _, option = path.partition(".")
        if name not in fields:
            continue
        if not option:
            del fields[name]
        elif isinstance(fields[name], tuple):
            mine = [p for p in fields[name] if p[0] != option]
            theirs = [p for p in have.fields.get(name) or () if p[0] == option]
            fields[name] = tuple(sorted(mine + theirs))
    return Resource.create(want.key, want.identity, fields, remote=want.remote, origin=want.origin)

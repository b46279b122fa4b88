"""Tenants by name: a tenant is written as its slug, its name or its UUID.

A stack's ``tenant:``, ``--tenant``/``WAZO_TENANT`` and an inventory's ``tenant`` may name a
tenant rather than give its UUID, which differs on every PBX: one stack then serves several
PBXs. Names are resolved before anything is planned, through wazo-auth's list of the tenants
the token sees (``GET /api/auth/0.1/tenants``, `ConfdClient.auth_tenants`), and only when a
name is used: a stack of UUIDs costs no request more. A slug wins over a name (slugs are
unique in wazo-auth, names are not); a name two tenants share is ambiguous. What cannot be
resolved is a located problem listing the visible tenants.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from wazo_reconcile.errors import AuthError, ConfigError, Location, Problem, ReconcileError
from wazo_reconcile.stack import Stack, collect_declarations

if TYPE_CHECKING:
    from wazo_reconcile.confd import ConfdClient


def canonical_uuid(text: str) -> str | None:
    """``text`` as a canonical UUID (lower case, hyphens), or None if it is not one."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class AuthTenant:
    """A tenant as wazo-auth lists it."""

    uuid: str
    name: str
    slug: str

    def __str__(self) -> str:
        named = f", name '{self.name}'" if self.name != self.slug else ""
        return f"{self.slug} ({self.uuid}{named})"


class TenantNameError(ReconcileError):
    """A tenant name or slug that matches no visible tenant, or several."""


@dataclass(frozen=True)
class Directory:
    """The tenants the token sees, to resolve names and slugs (and to write slugs)."""

    tenants: tuple[AuthTenant, ...]

    @classmethod
    def of(cls, items: Iterable[Mapping[str, object]]) -> Directory:
        found = []
        for item in items:
            uuid_, slug = item.get("uuid"), item.get("slug")
            if isinstance(uuid_, str) and isinstance(slug, str):
                name = item.get("name")
                tenant_uuid = canonical_uuid(uuid_) or uuid_
                found.append(AuthTenant(tenant_uuid, name if isinstance(name, str) else slug, slug))
        return cls(tuple(sorted(found, key=lambda t: (t.slug, t.uuid))))

    def resolve(self, text: str) -> str:
        """The UUID ``text`` designates: itself if it is a UUID, else the tenant whose slug
        it is, else the one tenant so named (then the same, case aside); a `TenantNameError`
        otherwise."""
        as_uuid = canonical_uuid(text)
        if as_uuid is not None:
            return as_uuid
        wanted = text.strip()
        for matches in (
            [t for t in self.tenants if t.slug == wanted],
            [t for t in self.tenants if t.name == wanted],
            [t for t in self.tenants if t.slug.casefold() == wanted.casefold()],
            [t for t in self.tenants if t.name.casefold() == wanted.casefold()],
        ):
            if len(matches) == 1:
                return matches[0].uuid
            if len(matches) > 1:
                named = ", ".join(str(t) for t in matches)
                raise TenantNameError(
                    f"tenant '{wanted}' is ambiguous: {len(matches)} tenants are named so "
                    f"({named}); write its slug or its UUID"
                )
        raise TenantNameError(
            f"tenant '{wanted}' is not visible to this token (visible tenants: {self.visible})"
        )

    @property
    def visible(self) -> str:
        return ", ".join(str(t) for t in self.tenants) or "none"

    def slugs(self) -> dict[str, str]:
        """UUID -> slug, for writing portable stacks (export)."""
        return {t.uuid: t.slug for t in self.tenants}


def fetch_directory(client: ConfdClient) -> Directory:
    """The tenants the client's token sees, from wazo-auth."""
    try:
        return Directory.of(client.auth_tenants())
    except AuthError as exc:
        raise TenantNameError(
            f"{exc.method} {exc.path}: HTTP {exc.status}: the token cannot list wazo-auth's "
            "tenants (ACL auth.tenants.read), which resolving tenant names needs; give the "
            "token that ACL, or write tenant UUIDs"
        ) from exc


def names_in(stack: Stack, tenant: str | None) -> bool:
    """Whether the stack's documents or the default ``tenant`` name a tenant other than by
    its UUID (then wazo-auth is asked)."""
    written = [d.tenant for d in stack.documents if d.tenant is not None]
    if tenant is not None:
        written.append(tenant)
    return any(canonical_uuid(text) is None for text in written)


def resolve_names(
    stack: Stack,
    tenant: str | None,
    client: ConfdClient,
    *,
    tenant_at: Location | None = None,
) -> tuple[Stack, str | None]:
    """The stack with every document's ``tenant:`` a UUID, and the default ``tenant`` as a
    UUID. A `ConfigError` lists every name that cannot be resolved at its place (the default
    tenant at ``tenant_at``, its place in the inventory; without a place, a `TenantNameError`)."""
    # UUIDs alone need no directory: each is only written canonically
    directory = fetch_directory(client) if names_in(stack, tenant) else Directory(())
    problems: list[Problem] = []
    resolved_default = None
    if tenant is not None:
        try:
            resolved_default = directory.resolve(tenant)
        except TenantNameError as exc:
            if tenant_at is None:
                raise TenantNameError(f"--tenant / WAZO_TENANT: {exc}") from None
            problems.append(Problem(tenant_at, "tenant", str(exc)))
    uuids: dict[int, str] = {}
    for document in stack.documents:
        if document.tenant is None:
            continue
        try:
            uuids[document.ordinal] = directory.resolve(document.tenant)
        except TenantNameError as exc:
            problems.append(Problem(document.locate(("tenant",)), "tenant", str(exc)))
    if problems:
        raise ConfigError(problems)
    resolved = _with(stack, uuids)
    if tenant is not None and resolved_default is not None and canonical_uuid(tenant) is None:
        labels = {resolved_default: tenant, **resolved.tenant_labels}
        resolved = replace(resolved, tenant_labels=labels)
    return resolved, resolved_default


def _with(stack: Stack, uuids: Mapping[int, str]) -> Stack:
    if all(stack.documents[i].tenant == value for i, value in uuids.items()):
        return stack
    resolved, problems = with_tenants(stack, uuids)
    if problems:  # two documents declared one default template of one tenant, named twice
        raise ConfigError(problems)
    return resolved


def with_tenants(stack: Stack, tenants: Mapping[int, str]) -> tuple[Stack, list[Problem]]:
    """The stack with the ``tenant:`` of some documents replaced (by document ordinal): a
    tenant's name resolved to its UUID. Locations stay those of the files; the problems are
    the declarations that now clash (one tenant's default template declared twice)."""
    documents = tuple(
        replace(document, data={**document.data, "tenant": tenants[document.ordinal]})
        if document.ordinal in tenants
        else document
        for document in stack.documents
    )
    labels = dict(stack.tenant_labels)
    for document in stack.documents:
        written = document.tenant
        if written is not None and document.ordinal in tenants and canonical_uuid(written) is None:
            labels.setdefault(tenants[document.ordinal], written)
    by_kind, problems = collect_declarations(documents)
    resolved = replace(stack, documents=documents, by_kind=by_kind, tenant_labels=labels)
    return resolved, problems


def label_tenants(tenants: Sequence[str], directory: Directory | None) -> dict[str, str]:
    """UUID -> how to write it: its slug when the directory knows it, else the UUID."""
    slugs = directory.slugs() if directory is not None else {}
    return {tenant: slugs.get(tenant, tenant) for tenant in tenants}

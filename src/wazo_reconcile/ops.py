"""Operations: each planned change as the confd requests that carry it out (pure builders).

A change becomes a short sequence of `Operation`s (run in order); ids that do not exist yet
(the uuid of a template created earlier in the same apply, a new trunk's id) are looked up in
`Refs` when the operation runs. Updates send only the changed top-level confd fields, each
changed option section whole (confd replaces lists wholesale, REFERENCE.md §1.6).

Nothing is ever duplicated: an endpoint, trunk or IAX register left behind by an interrupted
apply is adopted instead of created again (`LiveIndex.orphan_*`, `bare_trunks`), and every POST
knows how to find its object again by identity (`Operation.lookup`) when its outcome is unknown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from wazo_reconcile.diff import Action, Change
from wazo_reconcile.live import LiveIndex, trunk_endpoint
from wazo_reconcile.model import SIP_SECTIONS, Options, Pattern, Resource
from wazo_reconcile.normalise import (
    header_set_var,
    identify_by_has_header,
    template_identity,
    with_identify_by_header,
)
from wazo_reconcile.registers import live_register, register_body
from wazo_reconcile.shapes import Trunk


class Reader(Protocol):
    """The part of `confd.ConfdClient` a lookup needs."""

    def list(
        self, path: str, *, params: Mapping[str, Any] | None = ..., tenant: Any = ...
    ) -> list[dict[str, Any]]: ...


class SharedExclusive:
    """Many holders at once, or one exclusive holder (a reader-writer lock).

    Creating trunks holds it shared; reading trunks back after an unknown outcome holds it
    exclusively, so that no other creation is between its commit and its claim meanwhile.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class Refs:
    """Server ids known so far: from the live state, then from what this apply creates."""

    def __init__(self, index: LiveIndex) -> None:
        self._lock = threading.Lock()
        self.groups: dict[str, SharedExclusive] = {"trunks": SharedExclusive()}
        self.ids: dict[tuple[str, ...], object] = {
            **{("template", *key): uuid for key, uuid in index.template_uuids.items()},
            **{("transport", name): uuid for name, uuid in index.transport_uuids.items()},
            **{("trunk", handle): trunk_id for handle, trunk_id in index.trunk_ids.items()},
            **{("extension", *key): ext["id"] for key, ext in index.extensions.items()},
        }
        self.known_trunk_ids: set[int] = set(index.trunk_handles)

    def get(self, *key: str) -> object:
        with self._lock:
            if key not in self.ids:
                raise KeyError(f"no id known for {'/'.join(key)} (its creation did not complete)")
            return self.ids[key]

    def set(self, value: object, *key: str) -> None:
        with self._lock:
            self.ids[key] = value

    def shared(self, group: str | None) -> AbstractContextManager[None]:
        return self.groups[group].shared() if group else nullcontext()

    def exclusive(self, group: str | None) -> AbstractContextManager[None]:
        return self.groups[group].exclusive() if group else nullcontext()

    def claim_new_trunk(self, candidates: list[int]) -> int | None:
        """After an unknown POST /trunks outcome: a new bare trunk nobody claimed yet."""
        with self._lock:
            for trunk_id in sorted(candidates):
                if trunk_id not in self.known_trunk_ids:
                    self.known_trunk_ids.add(trunk_id)
                    return trunk_id
        return None

    def template_uuid(self, tenant: str, name: str) -> str:
        return str(self.get(*template_identity(tenant, name)))


T = TypeVar("T")
Json = dict[str, Any]  # a confd request body or answer
Path = Callable[[Refs], str]
Body = Callable[[Refs], Json]


@dataclass(frozen=True)
class Operation:
    """One confd request of a change."""

    method: str  # POST | PUT | DELETE
    path: str | Path  # relative to /api/confd/1.1, or refs -> it
    summary: str  # human-readable, secret-free: "POST /endpoints/sip acme"
    body: Json | Body | None = None  # or refs -> it
    tenant: str | None = None  # Wazo-Tenant header
    created: Callable[[Refs, Json], None] | None = None  # record ids from a POST's answer
    lookup: Callable[[Reader, Refs], object] | None = None  # find a POSTed object again
    params: Mapping[str, str] = field(default_factory=dict)
    # POSTs of one group are held shared, their lookups exclusive (see SharedExclusive).
    group: str | None = None

    def resolve(self, refs: Refs) -> tuple[str, Json | None]:
        """The path and body, the ids they need taken from ``refs``."""
        path = self.path if isinstance(self.path, str) else self.path(refs)
        return path, self.body(refs) if callable(self.body) else self.body


def operations(
    change: Change,
    index: LiveIndex,
    adopt: Mapping[str, int],
    registers: Mapping[str, int] | None = None,
) -> tuple[Operation, ...]:
    """The requests that carry out `change`; `adopt` maps trunk handles to bare trunk ids,
    `registers` to orphan IAX registers equal to the one they declare."""
    kind = change.key.kind
    if kind == "pjsip":
        return _pjsip_ops(change)
    if kind == "transports":
        return _transport_ops(change)
    if kind == "sip_templates":
        return _template_ops(change)
    if kind == "trunks":
        return _trunk_ops(change, index, adopt) + _register_ops(change, registers or {})
    if kind == "outcalls":
        return _outcall_ops(change, index)
    if kind == "users":
        return _user_ops(change)
    raise ValueError(f"unknown kind {kind}")


def operations_of(changes: Sequence[Change], index: LiveIndex) -> tuple[tuple[Operation, ...], ...]:
    """The requests of each change, in order (bare trunks adopted by the first creations)."""
    adopt = assign_bare_trunks(changes, index)
    registers = assign_orphan_registers(changes, index)
    return tuple(operations(change, index, adopt, registers) for change in changes)


def assign_bare_trunks(changes: Sequence[Change], index: LiveIndex) -> dict[str, int]:
    """Trunks left without endpoint by an interrupted apply, reused by creations (in order)."""
    pool = {tenant: list(ids) for tenant, ids in index.bare_trunks.items()}
    adopt: dict[str, int] = {}
    for change in changes:
        if change.key.kind == "trunks" and change.action is Action.CREATE:
            free = pool.get(change.key.tenant) or []
            if free:
                adopt[change.key.name] = free.pop(0)
    return adopt


def assign_orphan_registers(changes: Sequence[Change], index: LiveIndex) -> dict[str, int]:
    """IAX registers left on no trunk by an interrupted apply, reused by the trunks that
    declare the same register (in order): never two `register =>` lines for one."""
    pool = {fields: list(ids) for fields, ids in index.orphan_registers.items()}
    adopt: dict[str, int] = {}
    for change in changes:
        if change.key.kind == "trunks" and change.action is not Action.DELETE:
            wanted = _register_of(change.after)
            if wanted and _register_of(change.before) != wanted and pool.get(wanted):
                adopt[change.key.name] = pool[wanted].pop(0)
    return adopt


def _register_of(resource: Resource | None) -> Options:
    found: Options = resource.fields.get("register") or () if resource is not None else ()
    return found


# ------------------------------------------------------------------------------ pjsip


def _pjsip_ops(change: Change) -> tuple[Operation, ...]:
    after = change.after
    assert after is not None
    section = change.key.name
    body = {"options": dict(after.fields["options"])}
    return (Operation("PUT", f"/asterisk/pjsip/{section}", f"PUT /asterisk/pjsip/{section}", body),)


# -------------------------------------------------------------------------- transports


def _transport_ops(change: Change) -> tuple[Operation, ...]:
    def body(_refs: Refs) -> Json:
        assert change.after is not None
        return {"options": [list(p) for p in change.after.fields["options"]]}

    return _named_ops(change, "/sip/transports", ("transport", change.key.name), body, body, None)


def _named_ops(
    change: Change,
    path: str,
    ref: tuple[str, ...],
    create_body: Body,
    update_body: Json | Body,
    tenant: str | None,
) -> tuple[Operation, ...]:
    """Create/update/delete of an object confd knows by uuid and we know by name."""
    name, what = change.key.name, ref[0]
    if change.action is Action.CREATE:
        return (
            Operation(
                "POST",
                path,
                f"POST {path} {name}",
                lambda refs: {"name": name, **create_body(refs)},
                tenant,
                created=lambda refs, answer: refs.set(answer["uuid"], *ref),
                lookup=_by_name(path, name, tenant, "uuid", ref),
            ),
        )
    uuid = _remote(change, "uuid")
    if change.action is Action.UPDATE:
        summary = f"PUT {what} {name}"
        return (Operation("PUT", f"{path}/{uuid}", summary, update_body, tenant),)
    summary = f"DELETE {what} {name}"
    return (Operation("DELETE", f"{path}/{uuid}", summary, tenant=tenant),)


def _by_name(
    path: str,
    name: str,
    tenant: str | None,
    id_field: str,
    ref: tuple[str, ...],
    filter_key: str = "name",
    params: Mapping[str, str] | None = None,
) -> Callable[[Reader, Refs], object]:
    """Find a POSTed object again by its name (``filter_key``), or by ``params``."""
    query = {**(params or {filter_key: name}), "recurse": "true"}

    def lookup(client: Reader, refs: Refs) -> object:
        found = client.list(path, params=query, tenant=tenant)
        if not found:
            return None
        refs.set(found[0][id_field], *ref)
        return found[0]

    return lookup


# --------------------------------------------------------------------------- SIP bodies


def _merged(change: Change, name: str) -> Any:
    """A field's value after the change: declared, else live, else empty."""
    if change.after is not None and name in change.after.fields:
        return change.after.fields[name]
    if change.before is not None and name in change.before.fields:
        return change.before.fields[name]
    return None


def endpoint_section(change: Change) -> Options:
    pairs = list(_merged(change, "endpoint") or ())
    pairs += [header_set_var(k, v) for k, v in _merged(change, "headers") or ()]
    result: Options = tuple(sorted(pairs))
    wants_header = _merged(change, "identify_by_header")
    if wants_header and not identify_by_has_header(result):
        result = with_identify_by_header(result)
    return result


def identify_section(change: Change) -> Options:
    pairs = list(_merged(change, "identify") or ())
    match_header = _merged(change, "match_header")
    if match_header:
        pairs.append(("match_header", match_header))
    return tuple(sorted(pairs))


_CONFD_SIP_FIELDS: dict[str, str] = {
    "headers": "endpoint",
    "identify_by_header": "endpoint",
    "match_header": "identify",
}


def sip_body(change: Change, changed: set[str] | None) -> Body:
    """The confd body for a SIP endpoint/template: all declared fields, or only `changed`."""
    after = change.after
    assert after is not None
    tenant = change.key.tenant
    wanted = set(after.fields) if changed is None else changed
    confd_fields = {_CONFD_SIP_FIELDS.get(f, f) for f in wanted}

    def build(refs: Refs) -> Json:
        body: Json = {}
        if "label" in confd_fields:
            body["label"] = after.fields.get("label")
        if "templates" in confd_fields:
            body["templates"] = [
                {"uuid": refs.template_uuid(tenant, t)} for t in after.fields["templates"]
            ]
        if "transport" in confd_fields:
            transport = after.fields["transport"]
            body["transport"] = {"uuid": refs.get("transport", transport)} if transport else None
        for section in SIP_SECTIONS:
            if section not in confd_fields:
                continue
            if section == "endpoint":
                pairs = endpoint_section(change)
            elif section == "identify":
                pairs = identify_section(change)
            else:
                pairs = after.fields.get(section, ())
            body[f"{section}_section_options"] = [list(p) for p in pairs]
        return body

    return build


def _changed(change: Change) -> set[str]:
    return {d.field for d in change.fields}


# -------------------------------------------------------------------------- templates


def _template_ops(change: Change) -> tuple[Operation, ...]:
    name = change.key.name
    body = sip_body(change, None) if change.action is Action.CREATE else None

    def create_body(refs: Refs) -> Json:
        assert body is not None and change.after is not None
        label = change.after.fields.get("label") or name
        return {"label": label, **_without_label(body(refs))}

    update_body = sip_body(change, _changed(change)) if change.action is Action.UPDATE else None
    return _named_ops(
        change,
        "/endpoints/sip/templates",
        ("template", "", name),
        create_body,
        update_body or {},
        change.key.tenant,
    )


def _without_label(body: Json) -> Json:
    return {k: v for k, v in body.items() if k != "label" or v is not None}


# ------------------------------------------------------------------------------ trunks


TRUNK_FIELDS = ("context", "outgoing_caller_id_format")
# Our field -> confd's, in the body of an IAX or custom endpoint.
_ENDPOINT_FIELDS = {
    "iax": {"host": "host", "peer_type": "type", "options": "options"},
    "custom": {f: f for f in ("interface", "interface_suffix", "enabled")},
}


def _trunk_ops(change: Change, index: LiveIndex, adopt: Mapping[str, int]) -> tuple[Operation, ...]:
    handle, tenant = change.key.name, change.key.tenant
    if change.action is Action.DELETE:
        trunk_id = _remote(change, "trunk_id")
        summary = f"DELETE trunk {handle} (and its endpoint)"
        return (Operation("DELETE", f"/trunks/{trunk_id}", summary, tenant=tenant),)
    trunk_type = change.resource.type
    if change.action is Action.UPDATE:
        return _trunk_update_ops(change, trunk_type)
    ops = [_endpoint_create_op(change, trunk_type, index)]
    ops.append(_trunk_create_op(change, adopt.get(handle)))
    ep_path = f"/endpoints/{trunk_type}"
    ops.append(
        Operation(
            "PUT",
            lambda refs: (
                f"/trunks/{refs.get('trunk', handle)}{ep_path}/"
                f"{refs.get('endpoint', trunk_type, handle)}"
            ),
            f"PUT /trunks/{{{handle}}}{ep_path}/{{{handle}}}",
            tenant=tenant,
        )
    )
    if trunk_type != "sip":
        # confd copies trunk.context into IAX/custom endpoints on trunk PUT, not on association.
        ops.append(
            Operation(
                "PUT",
                lambda refs: f"/trunks/{refs.get('trunk', handle)}",
                f"PUT /trunks/{{{handle}}} (sync context)",
                _trunk_body(change.after, None),
                tenant,
            )
        )
    return tuple(ops)


def _trunk_body(resource: Resource | None, only: set[str] | None) -> Json:
    assert resource is not None
    return {
        f: resource.fields[f]
        for f in TRUNK_FIELDS
        if f in resource.fields and (only is None or f in only)
    }


def _endpoint_body(change: Change, trunk_type: str, changed: set[str] | None) -> Json | Body:
    after = change.after
    assert after is not None
    if trunk_type == "sip":
        return sip_body(change, changed)
    fields = after.fields
    body: Json = {}
    for ours, theirs in _ENDPOINT_FIELDS[trunk_type].items():
        if ours in fields and (changed is None or ours in changed):
            value = fields[ours]
            body[theirs] = [list(p) for p in value] if ours == "options" else value
    return body


def _endpoint_create_op(change: Change, trunk_type: str, index: LiveIndex) -> Operation:
    handle, tenant = change.key.name, change.key.tenant
    path = f"/endpoints/{trunk_type}"
    id_field = "uuid" if trunk_type == "sip" else "id"
    name_field = "interface" if trunk_type == "custom" else "name"  # how confd finds it
    identity = change.resource.fields.get("interface", handle) if trunk_type == "custom" else handle
    ref = ("endpoint", trunk_type, handle)
    orphans: Mapping[str, Mapping[str, object]] = {
        "sip": index.orphan_sip,
        "iax": index.orphan_iax,
        "custom": index.orphan_custom,
    }[trunk_type]
    body = _endpoint_body(change, trunk_type, None)
    if identity in orphans:
        orphan_id = orphans[identity][id_field]
        summary = f"PUT {path}/{orphan_id} (adopt {identity})"
        return _adopt(f"{path}/{orphan_id}", summary, body, tenant, orphan_id, ref)

    def create_body(refs: Refs) -> Json:
        named = {name_field: identity}
        if trunk_type == "sip" and change.after is not None and "label" not in change.after.fields:
            named["label"] = handle
        return {**named, **(body(refs) if callable(body) else body)}

    return Operation(
        "POST",
        path,
        f"POST {path} {identity}",
        create_body,
        tenant,
        created=lambda refs, answer: refs.set(answer[id_field], *ref),
        lookup=_by_name(path, str(identity), tenant, id_field, ref, name_field),
    )


def _adopt(
    path: str, summary: str, body: Json | Body, tenant: str, found: object, ref: tuple[str, ...]
) -> Operation:
    """A PUT that adopts ``found``, left by an interrupted apply, as this change's ``ref``."""

    def adopt_body(refs: Refs) -> Json:
        refs.set(found, *ref)
        return body(refs) if callable(body) else body

    return Operation("PUT", path, summary, adopt_body, tenant)


def _trunk_create_op(change: Change, bare_id: int | None) -> Operation:
    handle, tenant = change.key.name, change.key.tenant
    body = _trunk_body(change.after, None)
    if bare_id is not None:
        summary = f"PUT /trunks/{bare_id} (adopt bare trunk)"
        return _adopt(f"/trunks/{bare_id}", summary, body, tenant, bare_id, ("trunk", handle))

    def lookup(client: Reader, refs: Refs) -> object:
        trunks = client.list("/trunks", params={"recurse": "true"}, tenant=tenant)
        bare = [
            t["id"]
            for t in trunks
            if t.get("tenant_uuid") == tenant
            and trunk_endpoint(cast(Trunk, t)) is None
            and not t.get("register_iax")
        ]
        trunk_id = refs.claim_new_trunk(bare)
        if trunk_id is None:
            return None
        refs.set(trunk_id, "trunk", handle)
        return {"id": trunk_id}

    def created(refs: Refs, answer: Json) -> None:
        refs.set(answer["id"], "trunk", handle)
        refs.claim_new_trunk([answer["id"]])

    return Operation(
        "POST", "/trunks", f"POST /trunks ({handle})", body, tenant, created, lookup, group="trunks"
    )


def _trunk_update_ops(change: Change, trunk_type: str) -> tuple[Operation, ...]:
    handle, tenant = change.key.name, change.key.tenant
    changed = _changed(change)
    ops = []
    endpoint_changed = changed - set(TRUNK_FIELDS) - {"register"}
    if endpoint_changed:
        key = "endpoint_uuid" if trunk_type == "sip" else "endpoint_id"
        ep_id = _remote(change, key)
        path = f"/endpoints/{trunk_type}"
        body = _endpoint_body(change, trunk_type, endpoint_changed)
        ops.append(Operation("PUT", f"{path}/{ep_id}", f"PUT {path} {handle}", body, tenant))
    if changed & set(TRUNK_FIELDS):
        trunk_id = _remote(change, "trunk_id")
        summary = f"PUT /trunks/{trunk_id} ({handle})"
        trunk_body = _trunk_body(change.after, changed)
        ops.append(Operation("PUT", f"/trunks/{trunk_id}", summary, trunk_body, tenant))
    return tuple(ops)


# ------------------------------------------------------------------------ IAX registers


def _register_ops(change: Change, adopt: Mapping[str, int]) -> tuple[Operation, ...]:
    """The IAX register of a trunk created or updated: after the trunk's own requests."""
    if change.action is Action.DELETE or (
        change.action is Action.UPDATE and "register" not in _changed(change)
    ):
        return ()  # a trunk deleted takes its register along; an undeclared one is left alone
    before, after = _register_of(change.before), _register_of(change.after)
    if before == after:
        return ()
    handle, tenant = change.key.name, change.key.tenant
    if before:
        item = f"/registers/iax/{_remote(change, 'register_id')}"
        if not after:
            return (Operation("DELETE", item, f"DELETE {item} ({handle})"),)
        body = register_body(after)
        return (Operation("PUT", item, f"PUT {item} ({handle})", body),)
    if handle in adopt:  # an orphan register equal to the declared one
        orphan = adopt[handle]
        summary = f"PUT /trunks/{{{handle}}}/registers/iax/{orphan} (adopt it)"
        path = _register_link(change, lambda _refs: orphan)
        return (Operation("PUT", path, summary, tenant=tenant),)
    create = Operation(
        "POST",
        "/registers/iax",
        f"POST /registers/iax ({handle})",
        register_body(after),
        created=lambda refs, answer: refs.set(answer["id"], "register", handle),
        lookup=_register_lookup(after, handle),
    )
    path = _register_link(change, lambda refs: refs.get("register", handle))
    summary = f"PUT /trunks/{{{handle}}}/registers/iax/{{{handle}}}"
    return (create, Operation("PUT", path, summary, tenant=tenant))


def _register_link(change: Change, register: Callable[[Refs], object]) -> Path:
    """``/trunks/{id}/registers/iax/{id}`` of the change's trunk (created earlier, or live)."""
    trunk_id = change.before.remote["trunk_id"] if change.before is not None else None

    def path(refs: Refs) -> str:
        trunk = trunk_id if trunk_id is not None else refs.get("trunk", change.key.name)
        return f"/trunks/{trunk}/registers/iax/{register(refs)}"

    return path


def _register_lookup(wanted: Options, handle: str) -> Callable[[Reader, Refs], object]:
    """After an unknown POST outcome: the newest register on no trunk with these fields."""

    def lookup(client: Reader, refs: Refs) -> object:
        found = [
            r
            for r in client.list("/registers/iax", tenant=None)
            if not r.get("trunk") and live_register(r) == wanted
        ]
        if not found:
            return None
        newest = max(found, key=lambda r: int(r["id"]))
        refs.set(newest["id"], "register", handle)
        return newest

    return lookup


# ---------------------------------------------------------------------------- outcalls


_OUTCALL_FIELDS = (
    "internal_caller_id",
    "description",
    "enabled",
    "ring_time",
    "preprocess_subroutine",
)


def _outcall_ops(change: Change, index: LiveIndex) -> tuple[Operation, ...]:
    name, tenant = change.key.name, change.key.tenant
    if change.action is Action.DELETE:
        outcall_id = _remote(change, "id")
        ops = [
            Operation("DELETE", f"/outcalls/{outcall_id}", f"DELETE outcall {name}", tenant=tenant)
        ]
        for (context, exten), ext_id in sorted(_remote(change, "extension_ids").items()):
            summary = f"DELETE extension {exten}@{context}"
            ops.append(Operation("DELETE", f"/extensions/{ext_id}", summary, tenant=tenant))
        return tuple(ops)
    after = change.after
    assert after is not None
    ops = []
    if change.action is Action.CREATE:
        body = {"name": name, **{f: after.fields[f] for f in _OUTCALL_FIELDS if f in after.fields}}
        ops.append(
            Operation(
                "POST",
                "/outcalls",
                f"POST /outcalls {name}",
                body,
                tenant,
                created=lambda refs, answer: refs.set(answer["id"], "outcall", name),
                lookup=_by_name("/outcalls", name, tenant, "id", ("outcall", name)),
            )
        )
        trunks_changed = bool(after.fields.get("trunks"))
        before_patterns: tuple[Pattern, ...] = ()
    else:
        outcall_id = _remote(change, "id")
        ops_fields = {f: after.fields[f] for f in _OUTCALL_FIELDS if f in _changed(change)}
        if ops_fields:
            summary = f"PUT /outcalls {name}"
            ops.append(Operation("PUT", f"/outcalls/{outcall_id}", summary, ops_fields, tenant))
        trunks_changed = "trunks" in _changed(change)
        assert change.before is not None
        before_patterns = change.before.fields.get("patterns", ())
    outcall_path = _outcall_path(change)
    if trunks_changed:
        handles = after.fields["trunks"]
        ops.append(
            Operation(
                "PUT",
                lambda refs: f"{outcall_path(refs)}/trunks",
                f"PUT /outcalls/{{{name}}}/trunks [{', '.join(handles)}]",
                lambda refs: {"trunks": [{"id": refs.get("trunk", h)} for h in handles]},
                tenant,
            )
        )
    if "patterns" in after.fields:
        ops += _pattern_ops(change, before_patterns, after.fields["patterns"], outcall_path, index)
    return tuple(ops)


def _outcall_path(change: Change) -> Callable[[Refs], str]:
    name = change.key.name
    if change.before is not None:
        outcall_id = change.before.remote["id"]
        return lambda _refs: f"/outcalls/{outcall_id}"
    return lambda refs: f"/outcalls/{refs.get('outcall', name)}"


def _pattern_ops(
    change: Change,
    before: tuple[Pattern, ...],
    after: tuple[Pattern, ...],
    outcall_path: Callable[[Refs], str],
    index: LiveIndex,
) -> list[Operation]:
    tenant, name = change.key.tenant, change.key.name
    old = {p.ident: p for p in before}
    new = {p.ident: p for p in after}
    ops: list[Operation] = []
    for context, exten in sorted(set(old) - set(new)):
        where = f"{exten}@{context}"
        link = _link_path(outcall_path, context, exten)
        summary = f"DELETE /outcalls/{{{name}}}/extensions/{{{where}}}"
        ops.append(Operation("DELETE", link, summary, tenant=tenant))
        summary = f"DELETE extension {where}"
        ops.append(Operation("DELETE", _extension_path(context, exten), summary, tenant=tenant))
    for ident in sorted(new):
        pattern = new[ident]
        if old.get(ident) == pattern:
            continue
        if ident not in old and ident not in index.extensions:
            ops.append(_extension_create_op(pattern, tenant))
        link = _link_path(outcall_path, pattern.context, pattern.exten)
        where = f"{pattern.exten}@{pattern.context}"
        summary = f"PUT /outcalls/{{{name}}}/extensions/{{{where}}}"
        ops.append(Operation("PUT", link, summary, _pattern_body(pattern), tenant))
    return ops


def _link_path(outcall_path: Path, context: str, exten: str) -> Path:
    return lambda refs: f"{outcall_path(refs)}/extensions/{refs.get('extension', context, exten)}"


def _extension_path(context: str, exten: str) -> Path:
    return lambda refs: f"/extensions/{refs.get('extension', context, exten)}"


def _pattern_body(pattern: Pattern) -> Json:
    return {
        "caller_id": pattern.caller_id,
        "strip_digits": pattern.strip_digits,
        "prefix": pattern.prefix,
        "external_prefix": pattern.external_prefix,
    }


def _extension_create_op(pattern: Pattern, tenant: str) -> Operation:
    """Create the dial pattern's extension, or reuse a free one left in the context."""
    ref = ("extension", pattern.context, pattern.exten)
    where = {"exten": pattern.exten, "context": pattern.context}
    return Operation(
        "POST",
        "/extensions",
        f"POST /extensions {pattern.exten}@{pattern.context}",
        where,
        tenant,
        created=lambda refs, answer: refs.set(answer["id"], *ref),
        lookup=_by_name("/extensions", pattern.exten, tenant, "id", ref, params=where),
    )


# ------------------------------------------------------------------------------- users


def _user_ops(change: Change) -> tuple[Operation, ...]:
    before = change.before
    assert before is not None and change.after is not None
    uuid = before.remote["uuid"]
    body = {"outgoing_caller_id": change.after.fields["outgoing_caller_id"]}
    return (
        Operation(
            "PUT",
            f"/users/{uuid}",
            f"PUT /users/{uuid} ({change.key.name})",
            body,
            change.key.tenant,
        ),
    )


def _remote(change: Change, name: str) -> Any:
    source = change.before or change.after
    assert source is not None
    return source.remote[name]

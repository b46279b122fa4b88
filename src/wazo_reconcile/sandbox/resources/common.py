"""What every confd resource shares: lookup with confd's 404, collection GETs, answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from operator import methodcaller
from typing import Any

from marshmallow import Schema, ValidationError, fields

from wazo_reconcile.sandbox import problems
from wazo_reconcile.sandbox.call import Call
from wazo_reconcile.sandbox.http import Response
from wazo_reconcile.sandbox.listing import SearchConfig, parse_params, search
from wazo_reconcile.sandbox.mallow import BaseSchema
from wazo_reconcile.sandbox.routing import Handler, Route
from wazo_reconcile.sandbox.store import Key, Record, Store

Dump = Callable[[Call, Record], dict[str, object]]
ID_REF = BaseSchema.from_dict({"id": fields.Integer(required=True)})  # {"id": 3} in a list


def _everything(row: Record) -> bool:
    return True


@dataclass(frozen=True)
class Kind:
    """A confd resource kind: its table, its 404 wording, its dump and search columns.

    ``key`` is the primary key (``id`` or ``uuid``), also the metadata key of the 404;
    ``path`` the collection's URL below the API prefix, which also names its ACLs.
    Tenant-scoped kinds are looked up among the visible tenants (the selected tenant and its
    sub-tenants), as confd's item resources do; lists show the selected tenant only, or every
    visible one with ``recurse=true``.
    """

    table: str
    resource: str
    path: str
    dump: Dump
    search: SearchConfig
    key: str = "id"
    tenant_scoped: bool = True
    where: Callable[[Record], bool] = field(default=_everything)
    # extra columns computed from other tables, for search/filter/order (not stored)
    derive: Callable[[Store, Record], dict[str, object]] | None = None
    unique: tuple[str, ...] = ()  # columns unique instance-wide (id-keyed kinds only)

    def find(self, call: Call, value: Key, tenants: list[str] | None = None) -> Record | None:
        row = call.store.table(self.table).get(value)
        if row is None or not self.where(row):
            return None
        if not self.tenant_scoped:
            return row
        allowed = call.visible_tenants() if tenants is None else tenants
        return row if row.get("tenant_uuid") in allowed else None

    def get(self, call: Call, value: Key, tenants: list[str] | None = None) -> Record:
        row = self.find(call, value, tenants)
        if row is None:
            raise self.not_found(value)
        return row

    def shown(self, value: Key) -> object:
        """A key as confd's messages show it (a uuid as ``UUID('…')``)."""
        return problems.as_uuid(str(value)) if self.key == "uuid" else value

    def not_found(self, value: Key) -> problems.ApiProblem:
        return problems.not_found(self.resource, **{self.key: self.shown(value)})

    def list(self, call: Call, *, uuid_list: bool = False) -> Response:
        """A collection GET; ``uuid_list`` accepts ``uuid=<u1>,<u2>`` (a comma-separated set)."""
        params = parse_params(call.request.query)
        rows = [row for row in call.store.rows(self.table) if self.where(row)]
        if self.tenant_scoped:
            tenants = call.visible_tenants() if params.recurse else [call.tenant_uuid]
            rows = [row for row in rows if row.get("tenant_uuid") in tenants]
        if self.derive is not None:
            rows = [{**row, **self.derive(call.store, row)} for row in rows]
        if uuid_list and "uuid" in params.filters:
            wanted = set(params.filters["uuid"].split(","))
            rows = [row for row in rows if row["uuid"] in wanted]
            params = replace(
                params, filters={k: v for k, v in params.filters.items() if k != "uuid"}
            )
        total, page = search(rows, self.search, params)
        call.listed = page
        return Response.json(200, {"total": total, "items": [self.dump(call, r) for r in page]})

    def read(self, call: Call, value: Key) -> Response:
        return Response.json(200, self.dump(call, self.get(call, value)))

    def created(self, call: Call, row: Record) -> Response:
        """confd's answer to a creation: 201, the row, its URL in ``Location``."""
        location = call.href(self.path, row[self.key])
        return Response.json(201, self.dump(call, row), {"Location": location})

    def load(self, call: Call, schema: Schema, row: Record | None = None) -> dict[str, Any]:
        """The body of a creation (``row`` None) or of ``row``'s partial update, loaded, then
        each ``unique`` column checked as confd's ``UniqueField``/``UniqueFieldChanged`` do:
        400 ``<resource> already exists``."""
        form = call.load(schema, partial=row is not None)
        for column in self.unique:
            self._check_unique(call, column, form.get(column), None if row is None else row["id"])
        return form

    def _check_unique(self, call: Call, column: str, value: object, exclude: Key | None) -> None:
        if value is None:
            return
        rows = call.store.table(self.table).values()
        if value not in map(methodcaller("get", column), rows):  # in C, before the details
            return
        for row in rows:
            if row.get(column) == value and row["id"] != exclude:
                raise problems.resource_exists(self.resource, **{column: value})

    def insert(self, call: Call, row: Record) -> Response:
        """Store a new row and answer its creation."""
        call.store.table(self.table)[row[self.key]] = row
        return self.created(call, row)


def current(form: dict[str, Any], row: Record, key: str) -> Any:
    """The value a partial update leaves: the one sent, else the stored one."""
    return form[key] if key in form else row[key]


def ref(call: Call, rel: str, path: str, row: Record, *names: str) -> dict[str, object]:
    """How a body shows another object: its id, the fields ``names``, its link."""
    return {
        "id": row["id"],
        **{name: row[name] for name in names},
        "links": [call.link(rel, path, row["id"])],
    }


def trunk_ref(call: Call, column: str, key: Key) -> dict[str, object] | None:
    """An endpoint's ``trunk`` field: ``{id, links}`` of the trunk whose ``column`` is ``key``."""
    trunk = call.first_by("trunks", column, key)
    return None if trunk is None else ref(call, "trunks", "trunks", trunk)


def unlink_trunks(store: Store, column: str, key: Key) -> None:
    """A deleted endpoint leaves its trunk without endpoint (``ON DELETE SET NULL``)."""
    trunk = store.trunk_with(column, key)  # an endpoint belongs to one trunk at most
    if trunk is not None:
        store.link_trunk(trunk, column, None)


def delete_endpoint(kind: Kind, column: str, call: Call) -> Response:
    """DELETE of an IAX or custom endpoint: its trunk (``column`` links it) is left without."""
    row = kind.get(call, call.params["id"])
    del call.store.table(kind.table)[row["id"]]
    unlink_trunks(call.store, column, row["id"])
    return Response.empty(204)


def crud_routes(
    kind: Kind,
    *,
    create: Handler,
    update: Handler,
    delete: Handler,
    read: Handler | None = None,
    listing: Handler | None = None,
    master_only_writes: bool = False,
) -> tuple[Route, ...]:
    """The five routes of a confd collection; the item is ``{<key>:int|uuid}`` and its ACLs
    ``<acl>.{<key>}.read|update|delete`` (the collection's: ``<acl>.read|create``), where
    ``<acl>`` is ``confd.`` and the path, dotted."""
    key, path, acl = kind.key, f"/{kind.path}", "confd." + kind.path.replace("/", ".")
    item = f"{path}/{{{key}:{'uuid' if key == 'uuid' else 'int'}}}"
    master = master_only_writes
    return (
        Route("GET", path, f"{acl}.read", listing or kind.list),
        Route("POST", path, f"{acl}.create", create, master),
        Route(
            "GET", item, f"{acl}.{{{key}}}.read", read or (lambda c: kind.read(c, c.params[key]))
        ),
        Route("PUT", item, f"{acl}.{{{key}}}.update", update, master),
        Route("DELETE", item, f"{acl}.{{{key}}}.delete", delete, master),
    )


def load_value(field_: fields.Field, name: str, value: str | None) -> object:
    """Validate one value outside a body (e.g. a query parameter) with a schema field."""
    try:
        return field_.deserialize(value)
    except ValidationError as exc:
        raise problems.schema_errors({name: exc.messages}) from None


# Owners of the instance-wide name namespace, as confd's messages name them: the table and the
# rows of each.
NAME_OWNERS: dict[str, tuple[str, Callable[[Record], bool]]] = {
    "Transport": ("transports", _everything),
    "SIPEndpoint": ("sip", lambda row: not row["template"]),
    "SIPEndpointTemplate": ("sip", lambda row: bool(row["template"])),
}


def check_name_free(
    call: Call,
    name: str | None,
    own_uuid: str | None,
    owners: Sequence[str],
    resource: str | None = None,
) -> None:
    """SIP transports, endpoints and templates share one namespace, instance-wide. ``owners``
    are checked in confd's validator order; the first already using ``name`` gives ``<owner>
    already exists`` (``<resource> already exists`` when given)."""
    if name is None:
        return
    # The rows called `name` come from the store's index (a POST at 5,000 endpoints scanned
    # them twice through two lambdas per row: 6 ms a request).
    holders = [(t, row) for t, row in call.store.named(name) if row["uuid"] != own_uuid]
    for owner in owners:
        table, where = NAME_OWNERS[owner]
        if any(t == table and where(row) for t, row in holders):
            raise problems.resource_exists(resource or owner, name=name)


def same_tenant(**tenants: str) -> None:
    """confd's check that rows belong to one tenant: ``different tenants`` names each
    ``<name>_tenant_uuid``, in the order given."""
    if len(set(tenants.values())) > 1:
        raise problems.different_tenants(
            **{f"{name}_tenant_uuid": uuid for name, uuid in tenants.items()}
        )

"""Contexts (``/contexts``, ``PUT /contexts/{id}/contexts``) and extensions (``/extensions``).

A context's ``name`` is generated (``ctx-<tenant slug>-<type>-<uuid>``) and is what extensions
and trunks reference. An extension belongs to its context's tenant; in an ``outcall`` context
its ``exten`` may be a dial pattern. An extension bound to an outcall cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, pre_load, validates_schema
from marshmallow.validate import Length, OneOf, Predicate, Range, Regexp

from wazo_reconcile.sandbox import problems
from wazo_reconcile.sandbox.call import Call
from wazo_reconcile.sandbox.http import Response
from wazo_reconcile.sandbox.listing import SearchConfig
from wazo_reconcile.sandbox.mallow import BaseSchema, Nested, StrictBoolean, schema
from wazo_reconcile.sandbox.resources.common import (
    ID_REF,
    Kind,
    crud_routes,
    current,
    ref,
    same_tenant,
)
from wazo_reconcile.sandbox.routing import Route
from wazo_reconcile.sandbox.store import Record, Store

RANGE_KINDS = ("user_ranges", "group_ranges", "queue_ranges", "conference_room_ranges")
EXTEN = r"^_[*#0-9_XxZzNn\[\].!-]{1,39}$|[*#0-9]{1,40}$"
EXTEN_OUTCALL = r"^_?\+?[*#0-9_XxZzNn\[\].!-]*$"


_DIGITS = (Predicate("isdigit"), Length(max=16))


class _RangeSchema(BaseSchema):
    start = fields.String(validate=_DIGITS, required=True)
    end = fields.String(validate=_DIGITS, load_default=None, allow_none=False)

    @validates_schema
    def check_range(self, data: dict[str, str], **kwargs: object) -> None:
        start, end = data.get("start"), data.get("end")
        if start and end:
            if len(start) != len(end):
                raise ValidationError("Start and end must be of the same length")
            if int(start) > int(end):
                raise ValidationError("Start of range must be lower than or equal to the end")


class _IncallRangeSchema(_RangeSchema):
    did_length = fields.Integer(validate=Range(min=0), load_default=0)


class _ContextSchema(BaseSchema):
    @pre_load
    def label_from_name(self, data: object, **kwargs: object) -> object:
        """Deprecated: a body with ``name`` but no ``label`` sets the label."""
        if isinstance(data, dict) and "label" not in data and "name" in data:
            return {**data, "label": data["name"]}
        return data


CONTEXT_SCHEMA = schema(
    {
        "label": fields.String(validate=Length(1, 128), required=True),
        "type": fields.String(
            validate=OneOf(["internal", "incall", "outcall", "services", "others"])
        ),
        **{kind: Nested(_RangeSchema, many=True) for kind in RANGE_KINDS},
        "incall_ranges": Nested(_IncallRangeSchema, many=True),
        "description": fields.String(allow_none=True),
        "enabled": StrictBoolean(),
    },
    base=_ContextSchema,
)
INCLUDES_SCHEMA = schema({"contexts": Nested(ID_REF, many=True, required=True)})


def new_context(store: Store, tenant_uuid: str, **values: Any) -> Record:
    """A stored context; its name is generated unless given (seeded contexts)."""
    uuid = values.get("uuid") or store.new_uuid()
    kind = values.get("type") or "internal"
    slug = store.table("tenants")[tenant_uuid]["slug"]
    row: Record = {
        "id": values.get("id") or store.next_id("contexts"),
        "uuid": uuid,
        "name": values.get("name") or f"ctx-{slug}-{kind}-{uuid}",
        "label": values["label"],
        "type": kind,
        **{k: [dict(r) for r in values.get(k) or []] for k in (*RANGE_KINDS, "incall_ranges")},
        "description": values.get("description"),
        "tenant_uuid": tenant_uuid,
        "enabled": values.get("enabled", True),
        "includes": list(values.get("includes", [])),
    }
    store.bump_sequence("contexts", row["id"])
    store.table("contexts")[row["id"]] = row
    return row


def _dump_context(call: Call, row: Record) -> dict[str, object]:
    table = call.store.table("contexts")
    included = [table[i] for i in row["includes"] if i in table]
    return {
        "id": row["id"],
        "uuid": row["uuid"],
        "name": row["name"],
        "label": row["label"],
        "type": row["type"],
        **{k: [dict(r) for r in row[k]] for k in (*RANGE_KINDS, "incall_ranges")},
        "description": row["description"],
        "tenant_uuid": row["tenant_uuid"],
        "enabled": row["enabled"],
        "links": [call.link("contexts", "contexts", row["id"])],
        "contexts": [ref(call, "contexts", "contexts", c, "name", "label") for c in included],
    }


CONTEXTS = Kind(
    table="contexts",
    resource="Context",
    path="contexts",
    dump=_dump_context,
    search=SearchConfig.of("id", "name", "label", "type", "description", default_sort="id"),
)


def create_context(call: Call) -> Response:
    form = call.load(CONTEXT_SCHEMA)
    row = new_context(call.store, call.tenant_uuid, **form)
    return CONTEXTS.created(call, row)


def update_context(call: Call) -> Response:
    row = CONTEXTS.get(call, call.params["id"])
    row.update(call.load(CONTEXT_SCHEMA, partial=True))
    return Response.empty(204)


def delete_context(call: Call) -> Response:
    row = CONTEXTS.get(call, call.params["id"])
    for table, resource in (("extensions", "Extension"), ("trunks", "Trunk")):
        user = call.store.find(table, lambda r: r["context"] == row["name"])
        if user is not None:
            key = f"{resource.lower()}_id"
            raise problems.resource_associated(
                "Context", resource, context_id=row["id"], **{key: user["id"]}
            )
    del call.store.table("contexts")[row["id"]]
    for other in call.store.rows("contexts"):
        other["includes"] = [i for i in other["includes"] if i != row["id"]]
    return Response.empty(204)


def update_includes(call: Call) -> Response:
    """Replace the list of included contexts (confd looks contexts up in every tenant)."""
    table = call.store.table("contexts")
    context_id = call.params["context_id"]
    if context_id not in table:
        raise problems.not_found("Context", id=context_id)
    ids = [item["id"] for item in call.load(INCLUDES_SCHEMA)["contexts"]]
    for included in ids:
        if included not in table:
            raise problems.param_not_found("contexts", "Context", id=included)
    if len(ids) != len(set(ids)):
        raise problems.not_permitted("Cannot include same context more than once")
    if context_id in ids:
        raise problems.not_permitted("Cannot include context inside itself")
    table[context_id]["includes"] = ids
    return Response.empty(204)


EXTENSION_SCHEMA = schema(
    {
        "exten": fields.String(validate=Length(max=40), required=True),
        "context": fields.String(required=True),
        "commented": fields.Boolean(),
        "enabled": fields.Boolean(),
    }
)


def _dump_extension(call: Call, row: Record) -> dict[str, object]:
    outcall = (
        call.store.table("outcalls").get(int(row["typeval"])) if row["type"] == "outcall" else None
    )
    return {
        "id": row["id"],
        "tenant_uuid": row["tenant_uuid"],
        "exten": row["exten"],
        "context": row["context"],
        "commented": not row["enabled"],
        "enabled": row["enabled"],
        "links": [call.link("extensions", "extensions", row["id"])],
        "conference": None,
        "parking_lot": None,
        "group": None,
        "incall": None,
        "lines": [],
        "outcall": ref(call, "outcalls", "outcalls", outcall, "name") if outcall else None,
        "queue": None,
    }


def _extension_type(store: Store, row: Record) -> dict[str, object]:
    context = store.find("contexts", lambda c: c["name"] == row["context"])
    return {"context_type": context["type"] if context else None}


EXTENSIONS = Kind(
    table="extensions",
    resource="Extension",
    path="extensions",
    dump=_dump_extension,
    search=SearchConfig(
        {"exten": "exten", "context": "context", "type": "context_type"}, default_sort="exten"
    ),
    derive=_extension_type,
)


def _context_named(call: Call, name: str) -> Record:
    tenants = call.visible_tenants()
    context = call.store.find(
        "contexts", lambda c: c["name"] == name and c["tenant_uuid"] in tenants
    )
    if context is None:
        raise problems.param_not_found("context", "Context", context=name)
    return context


def _check_exten(call: Call, exten: str, context: Record, own_id: int | None) -> None:
    for other in call.store.rows("extensions"):
        if (
            other["exten"] == exten
            and other["context"] == context["name"]
            and other["id"] != own_id
        ):
            raise problems.resource_exists("Extension", exten=exten, context=context["name"])


def _check_pattern(exten: str, context: Record) -> None:
    pattern = EXTEN_OUTCALL if context["type"] == "outcall" else EXTEN
    try:
        Regexp(pattern)(exten)
    except ValidationError as exc:
        raise problems.input_error(f"exten: {exc.messages}") from None


def _enabled(form: Mapping[str, object], current: bool) -> bool:
    if "enabled" in form:
        return bool(form["enabled"])
    if "commented" in form:
        return not form["commented"]
    return current


def create_extension(call: Call) -> Response:
    form = call.load(EXTENSION_SCHEMA)
    context = _context_named(call, form["context"])
    _check_exten(call, form["exten"], context, None)
    _check_pattern(form["exten"], context)
    row: Record = {
        "id": call.store.next_id("extensions"),
        "tenant_uuid": context["tenant_uuid"],
        "exten": form["exten"],
        "context": context["name"],
        "enabled": _enabled(form, True),
        "type": "user",
        "typeval": "0",
    }
    return EXTENSIONS.insert(call, row)


def update_extension(call: Call) -> Response:
    row = EXTENSIONS.get(call, call.params["id"])
    form = call.load(EXTENSION_SCHEMA, partial=True)
    context = _context_named(call, current(form, row, "context"))
    exten = current(form, row, "exten")
    _check_exten(call, exten, context, row["id"])
    if row["type"] == "outcall" and context["type"] != "outcall":
        raise problems.unhandled_context_type(context["type"])
    _check_pattern(exten, context)
    old = call.store.find("contexts", lambda c: c["name"] == row["context"])
    if old is not None:
        same_tenant(current=old["tenant_uuid"], context=context["tenant_uuid"])
    row.update(exten=exten, context=context["name"], enabled=_enabled(form, row["enabled"]))
    return Response.empty(204)


def bound_elsewhere(row: Record) -> problems.ApiProblem:
    """The error of an extension already bound to something (``type``, ``typeval``)."""
    return problems.resource_associated(
        "Extension", row["type"], extension_id=row["id"], associated_id=row["typeval"]
    )


def delete_extension(call: Call) -> Response:
    row = EXTENSIONS.get(call, call.params["id"])
    if row["type"] != "user" and row["typeval"] != "0":
        raise bound_elsewhere(row)
    del call.store.table("extensions")[row["id"]]
    return Response.empty(204)


ROUTES = (
    *crud_routes(CONTEXTS, create=create_context, update=update_context, delete=delete_context),
    Route(
        "PUT",
        "/contexts/{context_id:int}/contexts",
        "confd.contexts.{context_id}.contexts.update",
        update_includes,
    ),
    *crud_routes(
        EXTENSIONS, create=create_extension, update=update_extension, delete=delete_extension
    ),
)

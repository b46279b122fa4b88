"""Custom endpoints (``/endpoints/custom``): an interface string, unique instance-wide."""

from __future__ import annotations

from functools import partial

from marshmallow import fields
from marshmallow.validate import Length, Regexp

from wazo_reconcile.sandbox.call import Call
from wazo_reconcile.sandbox.http import Response
from wazo_reconcile.sandbox.listing import SearchConfig
from wazo_reconcile.sandbox.mallow import StrictBoolean, schema
from wazo_reconcile.sandbox.resources.common import (
    Kind,
    crud_routes,
    delete_endpoint,
    trunk_ref,
)
from wazo_reconcile.sandbox.resources.endpoints_iax import sync_trunk_context
from wazo_reconcile.sandbox.store import Record

SCHEMA = schema(
    {
        "interface": fields.String(validate=Regexp(r"^[a-zA-Z0-9#*./_@:-]{1,128}$"), required=True),
        "interface_suffix": fields.String(validate=Length(max=32), load_default=None),
        "enabled": StrictBoolean(load_default=True),
    }
)


def _dump(call: Call, row: Record) -> dict[str, object]:
    return {
        "id": row["id"],
        "tenant_uuid": row["tenant_uuid"],
        "interface": row["interface"],
        "interface_suffix": row["interface_suffix"] or None,  # stored '' reads back null
        "enabled": row["enabled"],
        "links": [call.link("endpoint_custom", "endpoints/custom", row["id"])],
        "trunk": trunk_ref(call, "endpoint_custom_id", row["id"]),
        "line": None,
    }


CUSTOM = Kind(
    table="custom",
    resource="CustomEndpoint",
    path="endpoints/custom",
    dump=_dump,
    search=SearchConfig.of("id", "interface", "context", default_sort="interface"),
    unique=("interface",),
)


def create(call: Call) -> Response:
    form = CUSTOM.load(call, SCHEMA)
    row = {
        "id": call.store.next_id("custom"),
        "tenant_uuid": call.tenant_uuid,
        **form,
        "interface_suffix": form["interface_suffix"] or "",
        "context": None,
    }
    return CUSTOM.insert(call, row)


def update(call: Call) -> Response:
    row = CUSTOM.get(call, call.params["id"])
    form = CUSTOM.load(call, SCHEMA, row)
    if "interface_suffix" in form:
        form["interface_suffix"] = form["interface_suffix"] or ""
    row.update(form)
    sync_trunk_context(call, row, "endpoint_custom_id")
    return Response.empty(204)


ROUTES = crud_routes(
    CUSTOM,
    create=create,
    update=update,
    delete=partial(delete_endpoint, CUSTOM, "endpoint_custom_id"),
)

"""SIP transports, PJSIP global/system sections, the PJSIP doc and the live-reload flag.

All instance-wide (not tenant-scoped); writes, and reads of global/system/live reload, need a
master-tenant token (``@required_master_tenant`` checks the token's tenant, not Wazo-Tenant).
"""

from __future__ import annotations

import re
from functools import partial

from marshmallow import ValidationError, fields, pre_load
from marshmallow.validate import Length, Regexp, Validator

from wazo_reconcile.sandbox import doc, problems
from wazo_reconcile.sandbox.call import Call
from wazo_reconcile.sandbox.http import Response
from wazo_reconcile.sandbox.listing import SearchConfig
from wazo_reconcile.sandbox.mallow import BaseSchema, Nested, StrictBoolean, schema
from wazo_reconcile.sandbox.resources.common import (
    Kind,
    check_name_free,
    crud_routes,
    current,
    load_value,
)
from wazo_reconcile.sandbox.routing import Handler, Route
from wazo_reconcile.sandbox.store import Record

_SECTION_NAME = re.compile(r"^[-_.a-zA-Z0-9]+$")
OPTION_TEXT = r"^[a-zA-Z0-9-_\/\.:,]*$"


def pjsip_section_name(value: str) -> None:
    """confd's ``PJSIPSection`` validator (a section name of pjsip.conf)."""
    if not value:
        raise ValidationError("Shorter than minimum length 1")
    if len(value) > 79:
        raise ValidationError("Longer than maximum length 79")
    if value in ("global", "system"):
        raise ValidationError("Reserved Asterisk section name")
    if _SECTION_NAME.match(value) is None:
        raise ValidationError("Not a valid Asterisk section name")


def option_pairs(*, value_pattern: str | None, max_items: int) -> fields.List:
    """A list of ``[key, value]`` string pairs (confd's ``PJSIPSectionOption`` lists), ``[]``
    when absent."""
    checks: list[Validator] = [Length(1, 4092)]
    if value_pattern:
        checks.append(Regexp(value_pattern))
    pair = fields.List(fields.String(validate=checks), validate=Length(2, 2))
    return fields.List(pair, validate=Length(max=max_items), load_default=list)


TRANSPORT_SCHEMA = schema(
    {
        "name": fields.String(validate=pjsip_section_name, required=True),
        "options": option_pairs(value_pattern=OPTION_TEXT, max_items=128),
    }
)


def dump_transport(call: Call, row: Record) -> dict[str, object]:
    return {"uuid": row["uuid"], "name": row["name"], "options": [list(p) for p in row["options"]]}


TRANSPORTS = Kind(
    table="transports",
    resource="Transport",
    key="uuid",
    path="sip/transports",
    dump=dump_transport,
    search=SearchConfig.of("name", "uuid", default_sort="name", search=("name",)),
    tenant_scoped=False,
)


# confd's transport validators: on create every clash says "name", on edit the owner's kind
_NAME_OWNERS = ("Transport", "SIPEndpoint", "SIPEndpointTemplate")


def create_transport(call: Call) -> Response:
    form = call.load(TRANSPORT_SCHEMA)
    check_name_free(call, form["name"], None, _NAME_OWNERS, "name")
    doc.check_keys("options", "transport", [key for key, _ in form["options"]])
    row = {"uuid": call.store.new_uuid(), "name": form["name"], "options": form["options"]}
    call.store.put_named("transports", row)
    return TRANSPORTS.created(call, row)


def update_transport(call: Call) -> Response:
    row = TRANSPORTS.get(call, call.params["uuid"])
    form = call.load(TRANSPORT_SCHEMA, partial=True)
    check_name_free(call, current(form, row, "name"), row["uuid"], _NAME_OWNERS)
    if "options" in form:
        doc.check_keys("options", "transport", [key for key, _ in form["options"]])
    if "name" in form:
        call.store.rename("transports", row, form["name"])
    row.update(form)
    return Response.empty(204)


def delete_transport(call: Call) -> Response:
    row = TRANSPORTS.get(call, call.params["uuid"])
    fallback_uuid = load_value(
        fields.UUID(allow_none=True), "fallback", call.request.query.get("fallback")
    )
    fallback = TRANSPORTS.get(call, str(fallback_uuid)) if fallback_uuid else None
    users = [sip for sip in call.store.rows("sip") if sip["transport_uuid"] == row["uuid"]]
    if fallback is None and users:
        raise problems.resource_associated(
            "Transport",
            "EndpointSIP",
            transport_uuid=problems.as_uuid(row["uuid"]),
            endpoint_sip_uuid=problems.as_uuid(users[0]["uuid"]),
        )
    for sip in users:
        sip["transport_uuid"] = fallback["uuid"] if fallback else None
    call.store.delete_named("transports", row["uuid"])
    return Response.empty(204)


_OPTION = BaseSchema.from_dict(
    {
        "key": fields.String(validate=Length(max=255), required=True),
        "value": fields.String(required=True),
    }
)


class _SectionSchema(BaseSchema):
    options = Nested(_OPTION, many=True, required=True)

    @pre_load
    def options_as_items(self, data: object, **kwargs: object) -> object:
        """``{"options": {key: value}}`` is read as a list of ``{key, value}`` items."""
        if isinstance(data, dict) and isinstance(options := data.get("options"), dict):
            return {**data, "options": [{"key": k, "value": v} for k, v in options.items()]}
        return data


SECTION_SCHEMA = _SectionSchema()


def read_section(section: str, call: Call) -> Response:
    return Response.json(200, {"options": dict(call.store.pjsip[section])})


def update_section(section: str, call: Call) -> Response:
    """PUT replaces the whole section: keys not sent are removed."""
    items = call.load(SECTION_SCHEMA)["options"]
    doc.check_keys("options", section, [item["key"] for item in items])
    call.store.pjsip[section] = {item["key"]: item["value"] for item in items}
    return Response.empty(204)


def read_doc(call: Call) -> Response:
    return Response.json(200, doc.served())


LIVE_RELOAD_SCHEMA = schema({"enabled": StrictBoolean(required=True)})


def read_live_reload(call: Call) -> Response:
    return Response.json(200, {"enabled": call.store.live_reload})


def update_live_reload(call: Call) -> Response:
    call.store.live_reload = call.load(LIVE_RELOAD_SCHEMA)["enabled"]
    return Response.empty(204)


def _singleton(path: str, read: Handler, update: Handler) -> tuple[Route, ...]:
    """GET and PUT of an instance-wide object, master tenant only; ACLs ``confd.<path>.*``."""
    acl = "confd." + path.replace("/", ".")
    return (
        Route("GET", f"/{path}", f"{acl}.read", read, True),
        Route("PUT", f"/{path}", f"{acl}.update", update, True),
    )


ROUTES = (
    *crud_routes(
        TRANSPORTS,
        create=create_transport,
        update=update_transport,
        delete=delete_transport,
        master_only_writes=True,
    ),
    Route("GET", "/asterisk/pjsip/doc", "confd.asterisk.pjsip.doc.read", read_doc),
    *(
        route
        for section in ("global", "system")
        for route in _singleton(
            f"asterisk/pjsip/{section}",
            partial(read_section, section),
            partial(update_section, section),
        )
    ),
    *_singleton("configuration/live_reload", read_live_reload, update_live_reload),
)

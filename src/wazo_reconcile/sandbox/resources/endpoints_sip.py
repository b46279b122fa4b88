"""SIP endpoints (``/endpoints/sip``) and SIP templates (``/endpoints/sip/templates``).

Both live in one table (confd's ``endpoint_sip``, ``template`` flag) and share one name
namespace with transports. Seven option sections, an ordered template list (parents), an
optional transport. ``view=merged`` folds the templates in (later wins, own options last,
one value per key). Deleting a template never fails: it is unlinked from every endpoint and
template and the tenant's pointer to it is nulled.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any
from uuid import UUID

from marshmallow import fields
from marshmallow.validate import Length, OneOf

from wazo_reconcile.sandbox import doc, problems
from wazo_reconcile.sandbox.call import Call
from wazo_reconcile.sandbox.http import Response
from wazo_reconcile.sandbox.listing import SearchConfig
from wazo_reconcile.sandbox.mallow import BaseSchema, Nested, schema
from wazo_reconcile.sandbox.resources.common import (
    Kind,
    check_name_free,
    crud_routes,
    current,
    load_value,
    trunk_ref,
    unlink_trunks,
)
from wazo_reconcile.sandbox.resources.pjsip import option_pairs, pjsip_section_name
from wazo_reconcile.sandbox.routing import Handler, Route
from wazo_reconcile.sandbox.store import Key, Record, Store

# confd section name -> PJSIP doc section whose keys it accepts
SECTIONS = {
    "aor": "aor",
    "auth": "auth",
    "endpoint": "endpoint",
    "identify": "identify",
    "registration": "registration",
    "registration_outbound_auth": "auth",
    "outbound_auth": "auth",
}
TEMPLATE_POINTERS = {
    "global": "global_sip_template_uuid",
    "webrtc": "webrtc_sip_template_uuid",
    "registration_trunk": "registration_trunk_sip_template_uuid",
    "meeting_guest": "meeting_guest_sip_template_uuid",
}

_UUID_REF = BaseSchema.from_dict({"uuid": fields.UUID(required=True)})

SIP_SCHEMA = schema(
    {
        "name": fields.String(validate=pjsip_section_name),
        "label": fields.String(validate=Length(max=128), allow_none=True),
        **{
            f"{section}_section_options": option_pairs(value_pattern=None, max_items=512)
            for section in SECTIONS
        },
        "templates": fields.List(Nested(_UUID_REF), load_default=list),
        "transport": Nested(_UUID_REF, allow_none=True),
        "asterisk_id": fields.String(validate=Length(max=1024), allow_none=True),
    }
)
VIEW = fields.String(validate=OneOf(["merged"]), allow_none=True)


def new_sip_record(store: Store, tenant_uuid: str, *, template: bool, **values: Any) -> Record:
    """A stored endpoint/template; ``values`` may set any field (sections keyed by name)."""
    row: Record = {
        "uuid": values.get("uuid") or store.new_uuid(),
        "tenant_uuid": tenant_uuid,
        "template": template,
        "name": values.get("name") or store.unused_name("sip", "transports"),
        "label": values.get("label"),
        "sections": {s: list(values.get(f"{s}_section_options", [])) for s in SECTIONS},
        "templates": list(values.get("templates", [])),
        "transport_uuid": values.get("transport_uuid"),
        "asterisk_id": values.get("asterisk_id"),
    }
    store.put_named("sip", row)
    return row


def _dump(call: Call, row: Record, *, merged: bool = False) -> dict[str, object]:
    table = call.store.table("sip")
    out: dict[str, object] = {
        "uuid": row["uuid"],
        "tenant_uuid": row["tenant_uuid"],
        "name": row["name"],
        "label": row["label"],
        # the stored pairs as they are, not copies: a dump is serialised at once, under the lock
        **{f"{s}_section_options": row["sections"][s] for s in SECTIONS},
    }
    out["templates"] = [
        {"uuid": u, "label": table[u]["label"]} for u in row["templates"] if u in table
    ]
    out["transport"] = {"uuid": row["transport_uuid"]} if row["transport_uuid"] else None
    out["asterisk_id"] = row["asterisk_id"]
    if row["template"]:
        out["links"] = [call.link("endpoint_sip_templates", "endpoints/sip/templates", row["uuid"])]
        return out
    out["links"] = [call.link("endpoint_sip", "endpoints/sip", row["uuid"])]
    out["trunk"] = trunk_ref(call, "endpoint_sip_uuid", row["uuid"])
    out["line"] = None
    if merged:  # confd's merged schema pops the sections and appends them flattened
        for section in SECTIONS:
            del out[f"{section}_section_options"]
        for section in SECTIONS:
            folded = dict(_flatten(table, row, section))
            out[f"{section}_section_options"] = [[k, v] for k, v in folded.items()]
    return out


def _flatten(table: dict[Key, Record], row: Record, section: str) -> list[tuple[str, str]]:
    options: list[tuple[str, str]] = []
    for parent in row["templates"]:
        if parent in table:
            options.extend(_flatten(table, table[parent], section))
    options.extend((key, value) for key, value in row["sections"][section])
    return options


ENDPOINTS = Kind(
    table="sip",
    resource="SIPEndpoint",
    key="uuid",
    path="endpoints/sip",
    dump=_dump,
    search=SearchConfig.of("name", "label", "asterisk_id", default_sort="label"),
    where=lambda r: not r["template"],
)
TEMPLATES = replace(
    ENDPOINTS,
    resource="SIPEndpointTemplate",
    path="endpoints/sip/templates",
    where=lambda r: bool(r["template"]),
)


def _resolve_templates(call: Call, refs: list[dict[str, UUID]], tenants: list[str]) -> list[str]:
    uuids = []
    for ref in refs:
        if TEMPLATES.find(call, str(ref["uuid"]), tenants) is None:
            shown = problems.OrderedDictRepr(ref)
            raise problems.param_not_found("templates", "endpoint_sip", templates=shown)
        uuids.append(str(ref["uuid"]))
    return uuids


def _resolve_transport(call: Call, ref: dict[str, UUID] | None) -> str | None:
    if not ref:
        return None
    if str(ref["uuid"]) not in call.store.table("transports"):
        raise problems.param_not_found("transport", "SIPTransport", uuid=ref["uuid"])
    return str(ref["uuid"])


_NAME_OWNERS = ("SIPEndpoint", "SIPEndpointTemplate", "Transport")


def _check_options(form: dict[str, Any]) -> None:
    for section, doc_section in SECTIONS.items():
        field = f"{section}_section_options"
        if field in form:
            doc.check_keys(field, doc_section, [key for key, _ in form[field]])


def _check_cycles(call: Call, row: Record, templates: list[str]) -> None:
    """confd's ``EndpointSIPTemplatesValidator``: no self reference, no cycle."""
    if row["uuid"] in templates:
        raise problems.not_permitted("Cannot use itself as template")
    table = call.store.table("sip")

    def visit(parents: list[str]) -> None:
        for parent_uuid in parents:
            parent = table.get(parent_uuid)
            if parent is None:
                continue
            if row["uuid"] in parent["templates"]:
                raise problems.not_permitted(
                    f"SIPEndpointTemplate({parent['uuid']}) already include this template"
                )
            visit(parent["templates"])

    visit(templates)


def _create(kind: Kind, call: Call) -> Response:
    form = call.load(SIP_SCHEMA)
    form["templates"] = _resolve_templates(call, form["templates"], [call.tenant_uuid])
    form["transport_uuid"] = _resolve_transport(call, form.get("transport"))
    check_name_free(call, form.get("name"), None, _NAME_OWNERS)
    _check_options(form)
    row = new_sip_record(call.store, call.tenant_uuid, template=kind is TEMPLATES, **form)
    # confd answers a template creation with the endpoint URL in Location
    return ENDPOINTS.created(call, row)


def _update(kind: Kind, call: Call) -> Response:
    row = kind.get(call, call.params["uuid"])
    form = call.load(SIP_SCHEMA, partial=True)
    if form.get("templates"):
        form["templates"] = _resolve_templates(call, form["templates"], call.visible_tenants())
    if "transport" in form:
        form["transport_uuid"] = _resolve_transport(call, form["transport"])
    _check_cycles(call, row, current(form, row, "templates"))
    check_name_free(call, current(form, row, "name"), row["uuid"], _NAME_OWNERS)
    _check_options(form)
    _apply(call.store, row, form)
    return Response.empty(204)


def _apply(store: Store, row: Record, form: dict[str, Any]) -> None:
    if "name" in form:
        store.rename("sip", row, form["name"])
    for key in ("label", "templates", "transport_uuid", "asterisk_id"):
        if key in form:
            row[key] = form[key]
    for section in SECTIONS:
        if f"{section}_section_options" in form:
            row["sections"][section] = form[f"{section}_section_options"]


def _read_endpoint(call: Call) -> Response:
    """``?view=merged`` folds the templates in (a template's GET ignores ``view``)."""
    row = ENDPOINTS.get(call, call.params["uuid"])
    view = load_value(VIEW, "view", call.request.query.get("view"))
    return Response.json(200, _dump(call, row, merged=view == "merged"))


def _delete(kind: Kind, call: Call) -> Response:
    row = kind.get(call, call.params["uuid"])
    delete_sip(call.store, row["uuid"])
    return Response.empty(204)


def delete_sip(store: Store, uuid: str) -> None:
    """Delete an endpoint or template and everything that pointed at it (ON DELETE rules)."""
    store.delete_named("sip", uuid)
    for other in store.rows("sip"):
        other["templates"] = [u for u in other["templates"] if u != uuid]
    for tenant in store.rows("tenants"):
        for pointer in TEMPLATE_POINTERS.values():
            if tenant.get(pointer) == uuid:
                tenant[pointer] = None
    unlink_trunks(store, "endpoint_sip_uuid", uuid)


def _routes(kind: Kind, read: Handler | None = None) -> tuple[Route, ...]:
    return crud_routes(
        kind,
        create=partial(_create, kind),
        update=partial(_update, kind),
        delete=partial(_delete, kind),
        read=read,
        listing=lambda call: kind.list(call, uuid_list=True),
    )


ROUTES = _routes(TEMPLATES) + _routes(ENDPOINTS, read=_read_endpoint)

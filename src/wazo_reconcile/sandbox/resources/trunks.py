"""Trunks (``/trunks``) and their endpoint links (``/trunks/{id}/endpoints/{sip,iax,custom}/{id}``).

A trunk has no name: ``?name=`` filters on its endpoint's name (SIP/IAX) or interface (custom),
``?label=`` on its SIP endpoint's label. A trunk holds at most one endpoint, and at most one IAX
register (``registers_iax.py``), which a SIP or custom trunk cannot have. Deleting a trunk
deletes its endpoint and its register, and removes it from every outcall.
"""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import fields
from marshmallow.validate import OneOf

from wazo_reconcile.sandbox import problems
from wazo_reconcile.sandbox.call import Call
from wazo_reconcile.sandbox.http import Response
from wazo_reconcile.sandbox.listing import SearchConfig
from wazo_reconcile.sandbox.mallow import StrictBoolean, schema
from wazo_reconcile.sandbox.resources.common import (
    Kind,
    crud_routes,
    ref,
    same_tenant,
)
from wazo_reconcile.sandbox.resources.endpoints_custom import CUSTOM
from wazo_reconcile.sandbox.resources.endpoints_iax import IAX
from wazo_reconcile.sandbox.resources.endpoints_sip import ENDPOINTS, delete_sip
from wazo_reconcile.sandbox.routing import Route
from wazo_reconcile.sandbox.store import TRUNK_LINKS, Key, Record, Store

SCHEMA = schema(
    {
        "context": fields.String(load_default=None),
        "twilio_incoming": StrictBoolean(allow_none=True, load_default=False),
        "outgoing_caller_id_format": fields.String(
            validate=OneOf(["+E164", "E164", "national"]), load_default="+E164"
        ),
    }
)


def endpoint_sip_summary(call: Call, trunk: Record) -> dict[str, object] | None:
    sip = call.store.table("sip").get(trunk["endpoint_sip_uuid"])
    if sip is None:
        return None
    sections = sip["sections"]
    return {
        "uuid": sip["uuid"],
        "label": sip["label"],
        "name": sip["name"],
        "auth_section_options": [[k, v] for k, v in sections["auth"] if k == "username"],
        "registration_section_options": [
            [k, v] for k, v in sections["registration"] if k == "client_uri"
        ],
        "links": [call.link("endpoint_sip", "endpoints/sip", sip["uuid"])],
    }


def endpoint_custom_summary(call: Call, trunk: Record) -> dict[str, object] | None:
    custom = call.store.table("custom").get(trunk["endpoint_custom_id"])
    if custom is None:
        return None
    return ref(call, "endpoint_custom", "endpoints/custom", custom, "interface")


def _endpoint_iax_summary(call: Call, trunk: Record) -> dict[str, object] | None:
    iax = call.store.table("iax").get(trunk["endpoint_iax_id"])
    return None if iax is None else ref(call, "endpoint_iax", "endpoints/iax", iax, "name")


def _register_iax_summary(call: Call, trunk: Record) -> dict[str, object] | None:
    register_id = trunk.get("register_iax_id")
    if register_id is None:
        return None
    return {"id": register_id, "links": [call.link("register_iax", "registers/iax", register_id)]}


def _outcalls_of(call: Call, trunk_id: int) -> list[Record]:
    """The outcalls using a trunk, in table order (indexed once per read-only call)."""
    if not call.read_only:
        return [o for o in call.store.rows("outcalls") if trunk_id in o["trunk_ids"]]
    return call.memo("outcalls_by_trunk", lambda: _outcalls_by_trunk(call.store)).get(trunk_id, [])


def _outcalls_by_trunk(store: Store) -> dict[int, list[Record]]:
    found: dict[int, list[Record]] = {}
    for outcall in store.rows("outcalls"):
        for trunk_id in dict.fromkeys(outcall["trunk_ids"]):
            found.setdefault(trunk_id, []).append(outcall)
    return found


def _dump(call: Call, row: Record) -> dict[str, object]:
    outcalls = _outcalls_of(call, row["id"])
    return {
        "id": row["id"],
        "tenant_uuid": row["tenant_uuid"],
        "context": row["context"],
        "twilio_incoming": row["twilio_incoming"],
        "outgoing_caller_id_format": row["outgoing_caller_id_format"],
        "links": [call.link("trunks", "trunks", row["id"])],
        "endpoint_sip": endpoint_sip_summary(call, row),
        "endpoint_custom": endpoint_custom_summary(call, row),
        "endpoint_iax": _endpoint_iax_summary(call, row),
        "outcalls": [ref(call, "outcalls", "outcalls", o, "name") for o in outcalls],
        "register_iax": _register_iax_summary(call, row),
    }


def _derived(store: Store, trunk: Record) -> dict[str, object]:
    """The trunk's name and label: those of its endpoint (search/filter/order columns)."""
    table, endpoint = store.trunk_endpoint(trunk) or ("", {})
    name = endpoint.get("interface" if table == "custom" else "name")
    return {"name": name, "label": endpoint.get("label")}  # only SIP endpoints have a label


TRUNKS = Kind(
    table="trunks",
    resource="Trunk",
    path="trunks",
    dump=_dump,
    search=SearchConfig.of(
        "id",
        "context",
        "description",
        "name",
        "label",
        "outgoing_caller_id_format",
        default_sort="id",
    ),
    derive=_derived,
)


def _check_context(call: Call, tenant_uuid: str, context_name: str | None) -> None:
    if context_name is None:
        return
    context = call.store.find("contexts", lambda c: c["name"] == context_name)
    if context is None:
        raise problems.param_not_found("context", "Context", context=context_name)
    same_tenant(trunk=tenant_uuid, context=context["tenant_uuid"])


def _twilio(value: object) -> bool:
    if value is None:  # the column is NOT NULL: PostgreSQL refuses, confd answers 500
        raise problems.unexpected(
            '(psycopg2.errors.NotNullViolation) null value in column "twilio_incoming" of '
            'relation "trunkfeatures" violates not-null constraint'
        )
    return bool(value)


def create(call: Call) -> Response:
    form = call.load(SCHEMA)
    _check_context(call, call.tenant_uuid, form["context"])
    row: Record = {
        "id": call.store.next_id("trunks"),
        "tenant_uuid": call.tenant_uuid,
        **form,
        "twilio_incoming": _twilio(form["twilio_incoming"]),
        "description": None,
        **dict.fromkeys(TRUNK_LINKS),
        "register_iax_id": None,
    }
    return TRUNKS.insert(call, row)


def update(call: Call) -> Response:
    row = TRUNKS.get(call, call.params["id"])
    form = call.load(SCHEMA, partial=True)
    _check_context(call, row["tenant_uuid"], form.get("context", row["context"]))
    if "twilio_incoming" in form:
        form["twilio_incoming"] = _twilio(form["twilio_incoming"])
    row.update(form)
    for table, link in (("iax", "endpoint_iax_id"), ("custom", "endpoint_custom_id")):
        endpoint = call.store.table(table).get(row[link])
        if endpoint is not None:
            endpoint["context"] = row["context"]
    return Response.empty(204)


def delete(call: Call) -> Response:
    row = TRUNKS.get(call, call.params["id"])
    store = call.store
    if row["endpoint_sip_uuid"] in store.table("sip"):
        delete_sip(store, row["endpoint_sip_uuid"])
    store.table("iax").pop(row["endpoint_iax_id"], None)
    store.table("custom").pop(row["endpoint_custom_id"], None)
    store.table("registers_iax").pop(row["register_iax_id"], None)  # deleted with it
    for outcall in store.rows("outcalls"):
        outcall["trunk_ids"] = [i for i in outcall["trunk_ids"] if i != row["id"]]
    store.delete_trunk(row["id"])
    return Response.empty(204)


@dataclass(frozen=True)
class Link:
    """One kind of trunk-endpoint association."""

    protocol: str
    kind: Kind
    column: str  # the trunk column holding the endpoint key
    converter: str  # path converter of the endpoint key

    def fetch(self, call: Call) -> tuple[Record, Record]:
        trunk = TRUNKS.get(call, call.params["trunk_id"])
        endpoint = self.kind.get(call, call.params["endpoint_id"])
        return trunk, endpoint

    def associate(self, call: Call) -> Response:
        trunk, endpoint = self.fetch(call)
        key = endpoint[self.kind.key]
        if trunk[self.column] == key:
            return Response.empty(204)
        same_tenant(trunk=trunk["tenant_uuid"], endpoint=endpoint["tenant_uuid"])
        for link in LINKS:
            if trunk[link.column] is not None:
                raise _associated(trunk["id"], link, trunk[link.column])
        other = call.first_by("trunks", self.column, key)
        if other is not None:
            raise _associated(other["id"], self, key)
        if self.protocol != "iax" and trunk.get("register_iax_id") is not None:
            # confd's SIP validator names the register `register_sip_id` (sic)
            name = "register_sip_id" if self.protocol == "sip" else "register_iax_id"
            raise problems.resource_associated(
                "Trunk", "IAXRegister", trunk_id=trunk["id"], **{name: trunk["register_iax_id"]}
            )
        call.store.link_trunk(trunk, self.column, key)
        return Response.empty(204)

    def dissociate(self, call: Call) -> Response:
        trunk, endpoint = self.fetch(call)
        if trunk[self.column] == endpoint[self.kind.key]:
            call.store.link_trunk(trunk, self.column, None)
        return Response.empty(204)

    def routes(self) -> tuple[Route, ...]:
        path = (
            f"/trunks/{{trunk_id:int}}/endpoints/{self.protocol}/{{endpoint_id:{self.converter}}}"
        )
        acl = f"confd.trunks.{{trunk_id}}.endpoints.{self.protocol}.{{endpoint_id}}"
        return (
            Route("PUT", path, f"{acl}.update", self.associate),
            Route("DELETE", path, f"{acl}.delete", self.dissociate),
        )


def _associated(trunk_id: int, link: Link, key: Key) -> problems.ApiProblem:
    shown = link.kind.shown(key)
    return problems.resource_associated(
        "Trunk", "Endpoint", trunk_id=trunk_id, endpoint=link.protocol, endpoint_id=shown
    )


LINKS = (
    Link("sip", ENDPOINTS, "endpoint_sip_uuid", "uuid"),
    Link("iax", IAX, "endpoint_iax_id", "int"),
    Link("custom", CUSTOM, "endpoint_custom_id", "int"),
)


ROUTES = (
    *crud_routes(TRUNKS, create=create, update=update, delete=delete),
    *(route for link in LINKS for route in link.routes()),
)

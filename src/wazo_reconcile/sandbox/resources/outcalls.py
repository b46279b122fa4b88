"""Outcalls (``/outcalls``), their ordered trunks and their dial patterns (extensions).

``PUT /outcalls/{id}/trunks`` replaces the whole ordered list. ``PUT
/outcalls/{id}/extensions/{eid}`` binds an extension of an outcall context with dial-pattern
parameters; on an already bound extension it merges the keys sent. Deleting an outcall
releases its extensions (they stay in their context).
"""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import Length, Range, Regexp

from wazo_reconcile.sandbox import problems
from wazo_reconcile.sandbox.call import Call
from wazo_reconcile.sandbox.http import Response
from wazo_reconcile.sandbox.listing import SearchConfig
from wazo_reconcile.sandbox.mallow import Nested, StrictBoolean, schema
from wazo_reconcile.sandbox.resources.common import (
    ID_REF,
    Kind,
    crud_routes,
    same_tenant,
)
from wazo_reconcile.sandbox.resources.contexts import EXTENSIONS, bound_elsewhere
from wazo_reconcile.sandbox.resources.trunks import (
    TRUNKS,
    endpoint_custom_summary,
    endpoint_sip_summary,
)
from wazo_reconcile.sandbox.routing import Route
from wazo_reconcile.sandbox.store import Record

SCHEMA = schema(
    {
        "name": fields.String(validate=Length(max=128), required=True),
        "internal_caller_id": StrictBoolean(load_default=False),
        "preprocess_subroutine": fields.String(validate=Length(max=79), load_default=None),
        "ring_time": fields.Integer(validate=Range(min=0), load_default=None),
        "description": fields.String(load_default=None),
        "enabled": StrictBoolean(load_default=True),
    }
)
TRUNKS_SCHEMA = schema({"trunks": Nested(ID_REF, many=True, required=True)})
_PREFIX = Regexp(r"^\+|\+?[0-9#*]+$")
PATTERN_SCHEMA = schema(
    {
        "caller_id": fields.String(validate=Length(max=80), allow_none=True),
        "external_prefix": fields.String(validate=[Length(max=64), _PREFIX], allow_none=True),
        "prefix": fields.String(validate=[Length(max=32), _PREFIX], allow_none=True),
        "strip_digits": fields.Integer(validate=Range(min=0)),
    }
)
PATTERN_KEYS = ("external_prefix", "prefix", "strip_digits", "caller_id")


def _dump(call: Call, row: Record) -> dict[str, object]:
    trunks = call.store.table("trunks")
    extensions = call.store.table("extensions")
    return {
        "id": row["id"],
        "tenant_uuid": row["tenant_uuid"],
        "name": row["name"],
        "internal_caller_id": row["internal_caller_id"],
        "preprocess_subroutine": row["preprocess_subroutine"],
        "ring_time": row["ring_time"] or None,  # stored 0 reads back null
        "description": row["description"],
        "enabled": row["enabled"],
        "links": [call.link("outcalls", "outcalls", row["id"])],
        "trunks": [_trunk(call, trunks[i]) for i in row["trunk_ids"] if i in trunks],
        "extensions": [
            _pattern(call, p, extensions[p["extension_id"]])
            for p in row["patterns"]
            if p["extension_id"] in extensions
        ],
        "schedules": [],
        "call_permissions": [],
    }


def _trunk(call: Call, trunk: Record) -> dict[str, object]:
    return {
        "tenant_uuid": trunk["tenant_uuid"],
        "id": trunk["id"],
        "endpoint_sip": endpoint_sip_summary(call, trunk),
        "endpoint_custom": endpoint_custom_summary(call, trunk),
        "links": [call.link("trunks", "trunks", trunk["id"])],
    }


def _pattern(call: Call, pattern: Record, extension: Record) -> dict[str, object]:
    return {
        **{key: pattern[key] for key in PATTERN_KEYS},
        "id": extension["id"],
        "exten": extension["exten"],
        "context": extension["context"],
        "links": [call.link("extensions", "extensions", extension["id"])],
    }


OUTCALLS = Kind(
    table="outcalls",
    resource="Outcall",
    path="outcalls",
    dump=_dump,
    search=SearchConfig.of(
        "id",
        "description",
        "name",
        "preprocess_subroutine",
        default_sort="id",
    ),
    unique=("name",),
)


def create(call: Call) -> Response:
    form = OUTCALLS.load(call, SCHEMA)
    row: Record = {
        "id": call.store.next_id("outcalls"),
        "tenant_uuid": call.tenant_uuid,
        **form,
        "ring_time": form["ring_time"] or 0,
        "trunk_ids": [],
        "patterns": [],
    }
    return OUTCALLS.insert(call, row)


def update(call: Call) -> Response:
    row = OUTCALLS.get(call, call.params["id"])
    form = OUTCALLS.load(call, SCHEMA, row)
    if "ring_time" in form:
        form["ring_time"] = form["ring_time"] or 0
    row.update(form)
    return Response.empty(204)


def delete(call: Call) -> Response:
    row = OUTCALLS.get(call, call.params["id"])
    for pattern in row["patterns"]:
        _release(call, pattern["extension_id"])
    del call.store.table("outcalls")[row["id"]]
    return Response.empty(204)


def _release(call: Call, extension_id: int) -> None:
    extension = call.store.table("extensions").get(extension_id)
    if extension is not None:
        extension.update(type="user", typeval="0")


def set_trunks(call: Call) -> Response:
    row = OUTCALLS.get(call, call.params["outcall_id"])
    ids = [item["id"] for item in call.load(TRUNKS_SCHEMA)["trunks"]]
    trunks = []
    for trunk_id in ids:
        trunk = TRUNKS.find(call, trunk_id)
        if trunk is None:
            raise problems.param_not_found("trunks", "Trunk", id=trunk_id)
        trunks.append(trunk)
    for trunk in trunks:
        same_tenant(outcall=row["tenant_uuid"], trunk=trunk["tenant_uuid"])
    if len(ids) != len(set(ids)):
        raise problems.not_permitted("Cannot associate same trunk more than once")
    row["trunk_ids"] = ids
    return Response.empty(204)


def associate_extension(call: Call) -> Response:
    row = OUTCALLS.get(call, call.params["outcall_id"])
    extension = EXTENSIONS.get(call, call.params["extension_id"])
    form = call.load(PATTERN_SCHEMA)
    current = next((p for p in row["patterns"] if p["extension_id"] == extension["id"]), None)
    if current is not None:  # already bound: merge the keys sent, nothing else
        current.update(form)
        return Response.empty(204)
    _check_bindable(call, row, extension)
    pattern = {key: form.get(key) for key in PATTERN_KEYS}
    row["patterns"].append({"extension_id": extension["id"], **pattern})
    extension.update(type="outcall", typeval=str(row["id"]))
    return Response.empty(204)


def _check_bindable(call: Call, outcall: Record, extension: Record) -> None:
    same_tenant(extension=extension["tenant_uuid"], outcall=outcall["tenant_uuid"])
    if not (extension["type"] == "user" and extension["typeval"] == "0"):
        raise bound_elsewhere(extension)
    context = call.store.find("contexts", lambda c: c["name"] == extension["context"])
    context_type = context["type"] if context else None
    if context_type != "outcall":
        raise problems.unhandled_context_type(
            str(context_type), id=extension["id"], context=extension["context"]
        )


def dissociate_extension(call: Call) -> Response:
    row = OUTCALLS.get(call, call.params["outcall_id"])
    extension = EXTENSIONS.get(call, call.params["extension_id"])
    if any(p["extension_id"] == extension["id"] for p in row["patterns"]):
        row["patterns"] = [p for p in row["patterns"] if p["extension_id"] != extension["id"]]
        _release(call, extension["id"])
    return Response.empty(204)


_O = "/outcalls/{outcall_id:int}"
_X = f"{_O}/extensions/{{extension_id:int}}"
_XACL = "confd.outcalls.{outcall_id}.extensions.{extension_id}"

ROUTES = (
    *crud_routes(OUTCALLS, create=create, update=update, delete=delete),
    Route("PUT", f"{_O}/trunks", "confd.outcalls.{outcall_id}.trunks.update", set_trunks),
    Route("PUT", _X, f"{_XACL}.update", associate_extension),
    Route("DELETE", _X, f"{_XACL}.delete", dissociate_extension),
)

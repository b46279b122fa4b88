"""IAX registers (``/registers/iax``) and their trunk link (``/trunks/{id}/registers/iax/{id}``).

A register is one ``register => …`` line of iax.conf's ``[general]`` section: confd keeps it as
a row of the shared ``staticiax`` table, whose low ids hold the seeded ``general`` options, so
the first register gets id 52. The row stores the line itself (``var_val``:
``user:secret@host:port/extension?context``) and ``enabled``; reading a register parses the
line back, which is why ``remote_port: 0`` reads as null and a password without a username
reads the username as ``""`` (recordings ``extra/registers_iax.json``).

Registers are instance-wide: no tenant, listed and read from any tenant. A trunk holds at most
one register and a register belongs to at most one trunk; a SIP or custom trunk cannot take
one. Deleting a register unlinks its trunk; deleting a trunk deletes its register
(``trunks.py``).
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validates_schema
from marshmallow.validate import Range, Regexp

from wazo_reconcile.sandbox import problems
from wazo_reconcile.sandbox.call import Call
from wazo_reconcile.sandbox.http import Response
from wazo_reconcile.sandbox.listing import SearchConfig
from wazo_reconcile.sandbox.mallow import BaseSchema, StrictBoolean, load, schema
from wazo_reconcile.sandbox.resources.common import Kind, crud_routes, trunk_ref
from wazo_reconcile.sandbox.resources.trunks import TRUNKS
from wazo_reconcile.sandbox.routing import Route
from wazo_reconcile.sandbox.store import Record

TABLE = "registers_iax"
# The shared staticiax sequence: its first 51 ids are iax.conf's seeded [general] options.
SEQUENCE = "staticiax"
SEEDED_GENERAL_ROWS = 51
TRUNK_COLUMN = "register_iax_id"  # the trunk's link to its register
MAX_LINE = 255


# The line's grammar, as confd parses it back: every part but the host is optional.
_LINE = re.compile(
    r"^(?:(?P<auth_username>[^:/]*)(?::(?P<auth_password>[^:/]*))?@)?"
    r"(?P<remote_host>[^:?/]*)(?::(?P<remote_port>\d*))?"
    r"(?:/(?P<callback_extension>[^?]*))?(?:\?(?P<callback_context>.*))?$"
)


def register_line(form: dict[str, Any]) -> str:
    """The iax.conf line of a register; empty or missing parts are left out."""
    user, secret = form.get("auth_username") or "", form.get("auth_password") or ""
    line = user + (f":{secret}" if secret else "") + ("@" if user or secret else "")
    line += form.get("remote_host") or ""
    for key, mark in (("remote_port", ":"), ("callback_extension", "/"), ("callback_context", "?")):
        if form.get(key):
            line += f"{mark}{form[key]}"
    return line


def parse_line(line: str) -> dict[str, Any]:
    found = _LINE.match(line)
    parts: dict[str, Any] = dict(found.groupdict()) if found else dict.fromkeys(_LINE.groupindex)
    port = parts["remote_port"]
    parts["remote_port"] = int(port) if port else None
    return parts


class _RegisterSchema(BaseSchema):
    @validates_schema
    def cross_checks(self, form: dict[str, Any], **kwargs: object) -> None:
        """confd's schema-level rules, each reported under its field (the length under
        ``_schema``); they apply to the body as sent, and only once its fields are valid."""
        errors: dict[str, list[str]] = {}
        for field, needed in (
            ("auth_username", "auth_password"),
            ("callback_context", "callback_extension"),
        ):
            if form.get(field) and not form.get(needed):
                errors[field] = [f'Cannot set field "{field}" if the field "{needed}" is not set']
        if len(register_line(form)) > MAX_LINE:
            errors["_schema"] = [f"The sum of all fields is longer than maximum length {MAX_LINE}"]
        if errors:
            raise ValidationError(errors)


SCHEMA = schema(
    {
        "auth_username": fields.String(validate=Regexp(r"^[^:/ ]*$"), allow_none=True),
        "auth_password": fields.String(validate=Regexp(r"^[^:/ ]*$"), allow_none=True),
        "remote_host": fields.String(validate=Regexp(r"^[^:/? ]*$"), required=True),
        "remote_port": fields.Integer(validate=Range(min=0, max=65535), allow_none=True),
        "callback_extension": fields.String(validate=Regexp(r"^[^? ]*$"), allow_none=True),
        "callback_context": fields.String(allow_none=True),
        "enabled": StrictBoolean(load_default=True),
    },
    base=_RegisterSchema,
)


def _dump(call: Call, row: Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        **parse_line(row["var_val"]),
        "enabled": row["enabled"],
        "links": [call.link("register_iax", "registers/iax", row["id"])],
        "trunk": trunk_ref(call, TRUNK_COLUMN, row["id"]),
    }


REGISTERS = Kind(
    table=TABLE,
    resource="IAXRegister",
    path="registers/iax",
    dump=_dump,
    search=SearchConfig.of("id", default_sort="id"),
    tenant_scoped=False,
)


def create(call: Call) -> Response:
    form = call.load(SCHEMA)
    store = call.store
    store.bump_sequence(SEQUENCE, SEEDED_GENERAL_ROWS)
    row: Record = {
        "id": store.next_id(SEQUENCE),
        "var_val": register_line(form),
        "enabled": form["enabled"],
    }
    return REGISTERS.insert(call, row)


def update(call: Call) -> Response:
    row = REGISTERS.get(call, call.params["id"])
    form = call.load(SCHEMA, partial=True)
    merged = {**parse_line(row["var_val"]), "enabled": row["enabled"], **form}
    merged = load(SCHEMA, merged)  # confd loads the merged register again
    row["var_val"], row["enabled"] = register_line(merged), merged["enabled"]
    return Response.empty(204)


def delete(call: Call) -> Response:
    row = REGISTERS.get(call, call.params["id"])
    trunk = call.first_by("trunks", TRUNK_COLUMN, row["id"])
    if trunk is not None:
        trunk[TRUNK_COLUMN] = None
    del call.store.table(TABLE)[row["id"]]
    return Response.empty(204)


# ------------------------------------------------------------------------- trunk link


def _fetch(call: Call) -> tuple[Record, Record]:
    trunk = TRUNKS.get(call, call.params["trunk_id"])
    register = REGISTERS.get(call, call.params["iax_id"])
    return trunk, register


def _associated(trunk_id: int, register_id: int) -> problems.ApiProblem:
    return problems.resource_associated(
        "Trunk", "IAXRegister", trunk_id=trunk_id, register_iax_id=register_id
    )


def associate(call: Call) -> Response:
    trunk, register = _fetch(call)
    if trunk.get(TRUNK_COLUMN) == register["id"]:
        return Response.empty(204)
    if trunk.get(TRUNK_COLUMN) is not None:
        raise _associated(trunk["id"], trunk[TRUNK_COLUMN])
    other = call.first_by("trunks", TRUNK_COLUMN, register["id"])
    if other is not None:
        raise _associated(other["id"], register["id"])
    for protocol, column in (("sip", "endpoint_sip_uuid"), ("custom", "endpoint_custom_id")):
        if trunk.get(column) is not None:
            raise problems.resource_associated(
                "Trunk", "Endpoint", trunk_id=trunk["id"], protocol=protocol
            )
    trunk[TRUNK_COLUMN] = register["id"]
    return Response.empty(204)


def dissociate(call: Call) -> Response:
    trunk, register = _fetch(call)
    if trunk.get(TRUNK_COLUMN) == register["id"]:
        trunk[TRUNK_COLUMN] = None
    return Response.empty(204)


_LINK = "/trunks/{trunk_id:int}/registers/iax/{iax_id:int}"
_LINK_ACL = "confd.trunks.{trunk_id}.registers.iax.{iax_id}"

ROUTES: tuple[Route, ...] = (
    *crud_routes(REGISTERS, create=create, update=update, delete=delete),
    Route("PUT", _LINK, f"{_LINK_ACL}.update", associate),
    Route("DELETE", _LINK, f"{_LINK_ACL}.delete", dissociate),
)

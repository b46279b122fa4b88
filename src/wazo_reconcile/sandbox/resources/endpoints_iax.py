"""IAX endpoints (``/endpoints/iax``): confd's ``useriax`` row behind an ``options`` list.

Known option keys are typed columns with server defaults; reading ``options`` lists every
column that has a value (defaults included, integer booleans as ``yes``/``no``) then the extra
pairs. Sending ``options`` resets every column to its default and drops the extras first.
"""

from __future__ import annotations

from functools import partial

from marshmallow import fields
from marshmallow.validate import Length, OneOf, Regexp

from wazo_reconcile.sandbox import problems
from wazo_reconcile.sandbox.call import Call
from wazo_reconcile.sandbox.http import Response
from wazo_reconcile.sandbox.listing import SearchConfig
from wazo_reconcile.sandbox.mallow import schema
from wazo_reconcile.sandbox.resources.common import (
    Kind,
    crud_routes,
    delete_endpoint,
    trunk_ref,
)
from wazo_reconcile.sandbox.store import Record

# Option columns, in the order confd happened to list them in the recordings, then the rest.
COLUMNS = (
    "amaflags",
    "qualify",
    "sendani",
    "auth",
    "qualifyfreqok",
    "username",
    "trunk",
    "requirecalltoken",
    "secret",
    "qualifyfreqnotok",
    "qualifysmoothing",
    "dbsecret",
    "language",
    "accountcode",
    "mailbox",
    "callerid",
    "fullname",
    "cid_number",
    "encryption",
    "forceencryption",
    "maxauthreq",
    "inkeys",
    "outkey",
    "adsi",
    "transfer",
    "codecpriority",
    "jitterbuffer",
    "forcejitterbuffer",
    "timezone",
    "disallow",
    "allow",
    "mohinterpret",
    "mohsuggest",
    "deny",
    "permit",
    "defaultip",
    "sourceaddress",
    "setvar",
    "port",
    "mask",
    "regexten",
    "peercontext",
    "immediate",
    "keyrotate",
    "parkinglot",
)
DEFAULTS: dict[str, int | str] = {
    "amaflags": "default",
    "trunk": 0,
    "auth": "plaintext,md5",
    "sendani": 0,
    "qualify": "no",
    "qualifysmoothing": 0,
    "qualifyfreqok": 60000,
    "qualifyfreqnotok": 10000,
    "requirecalltoken": "no",
    "secret": "",
    "dbsecret": "",
    "setvar": "",
}
# stored as 0/1, read as no/yes (Asterisk's ast_true)
YES_NO = {
    "trunk",
    "adsi",
    "jitterbuffer",
    "forcejitterbuffer",
    "sendani",
    "qualifysmoothing",
    "immediate",
    "keyrotate",
}
INTEGERS = {"maxauthreq", "qualifyfreqok", "qualifyfreqnotok", "port", "parkinglot"}
ENUMS = {
    "amaflags": ("default", "omit", "billing", "documentation"),
    "auth": (
        "plaintext",
        "md5",
        "rsa",
        "plaintext,md5",
        "plaintext,rsa",
        "md5,rsa",
        "plaintext,md5,rsa",
    ),
    "encryption": ("no", "yes", "aes128"),
    "forceencryption": ("no", "yes", "aes128"),
    "transfer": ("no", "yes", "mediaonly"),
    "codecpriority": ("disabled", "host", "caller", "reqonly"),
}
_TRUE = {"yes", "true", "y", "t", "1", "on"}

SCHEMA = schema(
    {
        "name": fields.String(validate=Regexp(r"^[a-zA-Z0-9_-]{1,40}$")),
        "type": fields.String(validate=OneOf(["friend", "peer", "user"])),
        "host": fields.String(validate=Length(max=255)),
        "options": fields.List(fields.List(fields.String(), validate=Length(equal=2))),
    }
)


def _dump(call: Call, row: Record) -> dict[str, object]:
    return {
        "id": row["id"],
        "tenant_uuid": row["tenant_uuid"],
        "name": row["name"],
        "type": row["type"],
        "host": row["host"],
        "options": _options(row),
        "links": [call.link("endpoint_iax", "endpoints/iax", row["id"])],
        "trunk": trunk_ref(call, "endpoint_iax_id", row["id"]),
    }


def _options(row: Record) -> list[list[str]]:
    shown = []
    for column in COLUMNS:
        value = row["columns"].get(column)
        if value is None or value == "":
            continue
        text = ("yes" if value else "no") if column in YES_NO else str(value)
        shown.append([column, text])
    return shown + [list(pair) for pair in row["extras"]]


def _set_options(row: Record, options: list[list[str]]) -> None:
    columns = dict(DEFAULTS)
    extras = []
    for key, value in options:
        if key not in COLUMNS:
            extras.append([key, value])
        elif key in YES_NO:
            columns[key] = int(value in _TRUE)
        else:
            columns[key] = _column_value(key, value)
    row["columns"], row["extras"] = columns, extras


def _column_value(column: str, value: str) -> int | str:
    """What PostgreSQL accepts for a typed column (anything else is a 500 in confd)."""
    if column in INTEGERS:
        try:
            return int(value)
        except ValueError:
            raise problems.unexpected(
                f"(psycopg2.errors.InvalidTextRepresentation) invalid input syntax for type "
                f'integer: "{value}"'
            ) from None
    if column in ENUMS and value not in ENUMS[column]:
        raise problems.unexpected(
            f"(psycopg2.errors.InvalidTextRepresentation) invalid input value for enum "
            f'useriax_{column}: "{value}"'
        )
    return value


IAX = Kind(
    table="iax",
    resource="IAXEndpoint",
    path="endpoints/iax",
    dump=_dump,
    search=SearchConfig.of("name", "type", "host", default_sort="name"),
    unique=("name",),
)


def create(call: Call) -> Response:
    form = IAX.load(call, SCHEMA)
    row: Record = {
        "id": 0,
        "tenant_uuid": call.tenant_uuid,
        "name": form.get("name") or call.store.unused_name("iax"),
        "type": form.get("type", "friend"),
        "host": form.get("host", "dynamic"),
        "context": None,
        "category": "trunk",
    }
    _set_options(row, form.get("options", []))
    row["id"] = call.store.next_id("iax")
    return IAX.insert(call, row)


def update(call: Call) -> Response:
    row = IAX.get(call, call.params["id"])
    form = IAX.load(call, SCHEMA, row)
    if "options" in form:
        _set_options(row, form.pop("options"))
    row.update(form)
    sync_trunk_context(call, row, "endpoint_iax_id")
    return Response.empty(204)


def sync_trunk_context(call: Call, endpoint: Record, link: str) -> None:
    """confd's ``TrunkFixes``: an IAX/custom endpoint gets its trunk's context."""
    trunk = call.first_by("trunks", link, endpoint["id"])
    if trunk is not None:
        endpoint["context"] = trunk["context"]


ROUTES = crud_routes(
    IAX, create=create, update=update, delete=partial(delete_endpoint, IAX, "endpoint_iax_id")
)

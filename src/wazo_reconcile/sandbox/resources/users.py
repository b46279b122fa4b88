"""Users (``/users``, by uuid or id) and tenants (``/tenants``).

Users carry confd's full user body; only ``outgoing_caller_id`` matters to the reconciler, but
every plain field is stored, validated and partially updated as confd does. Relations (lines,
groups, ...) are always empty in the sandbox.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import fields
from marshmallow.validate import Length, Range, Regexp

from wazo_reconcile.sandbox import problems
from wazo_reconcile.sandbox.call import Call
from wazo_reconcile.sandbox.http import Response
from wazo_reconcile.sandbox.listing import SearchConfig
from wazo_reconcile.sandbox.mallow import StrictBoolean, schema
from wazo_reconcile.sandbox.resources.common import Kind
from wazo_reconcile.sandbox.resources.endpoints_sip import TEMPLATE_POINTERS
from wazo_reconcile.sandbox.routing import Route
from wazo_reconcile.sandbox.store import Key, Record, Store

_FLAGS = (
    "call_transfer_enabled",
    "dtmf_hangup_enabled",
    "call_record_enabled",
    "call_record_outgoing_external_enabled",
    "call_record_outgoing_internal_enabled",
    "call_record_incoming_internal_enabled",
    "call_record_incoming_external_enabled",
    "online_call_record_enabled",
    "supervision_enabled",
)
_STORED_FLAGS = tuple(flag for flag in _FLAGS if flag != "call_record_enabled")  # a view of 4
_RECORD_FLAGS = _FLAGS[3:7]
_USERNAME = r"^[a-zA-Z0-9-\._~\!\$&\'\(\)\*\+,;=%@]{2,254}$"
_PASSWORD = r"^[a-zA-Z0-9-\._~\!\$&\'\(\)\*\+,;=%]{4,64}$"

SCHEMA = schema(
    {
        "firstname": fields.String(validate=Length(max=128), required=True),
        "lastname": fields.String(validate=Length(max=128), allow_none=True),
        "email": fields.Email(validate=Length(max=254), allow_none=True),
        "timezone": fields.String(validate=Length(max=128), allow_none=True),
        "language": fields.String(validate=Regexp(r"^[a-z]{2}_[A-Z]{2}$"), allow_none=True),
        "description": fields.String(allow_none=True),
        "caller_id": fields.String(validate=[Regexp(r'^"(.*)"( <\+?\d+>)?$'), Length(max=160)]),
        "outgoing_caller_id": fields.String(validate=Length(max=80), allow_none=True),
        "mobile_phone_number": fields.String(
            validate=[Regexp(r"^\+?[0-9\*#]+$"), Length(max=80)], allow_none=True
        ),
        "username": fields.String(validate=Regexp(_USERNAME), allow_none=True),
        "password": fields.String(validate=Regexp(_PASSWORD), allow_none=True),
        "music_on_hold": fields.String(validate=Length(max=128), allow_none=True),
        "preprocess_subroutine": fields.String(validate=Length(max=79), allow_none=True),
        "userfield": fields.String(validate=Length(max=128), allow_none=True),
        **{flag: StrictBoolean() for flag in _FLAGS},
        "ring_seconds": fields.Integer(validate=Range(min=0, max=10800)),
        "simultaneous_calls": fields.Integer(validate=Range(min=1, max=20)),
        "call_permission_password": fields.String(
            validate=Regexp(r"^[0-9#\*]{1,16}$"), allow_none=True
        ),
        "subscription_type": fields.Integer(validate=Range(min=0, max=10)),
        "enabled": StrictBoolean(),
        "func_key_template_id": fields.Integer(allow_none=True),
    }
)

_DEFAULTS: dict[str, object] = {
    "lastname": "",
    "email": None,
    "timezone": None,
    "country": None,
    "language": None,
    "description": None,
    "outgoing_caller_id": None,
    "mobile_phone_number": None,
    "mobile_fallback_enabled": False,
    "username": None,
    "password": None,
    "music_on_hold": None,
    "preprocess_subroutine": None,
    "userfield": None,
    **dict.fromkeys(_STORED_FLAGS, False),
    "supervision_enabled": True,
    "ring_seconds": 30,
    "simultaneous_calls": 5,
    "call_permission_password": None,
    "subscription_type": 0,
    "enabled": True,
    "func_key_template_id": None,
}
_PLAIN = (
    "firstname",
    "lastname",
    "email",
    "timezone",
    "country",
    "language",
    "description",
    "caller_id",
    "outgoing_caller_id",
    "mobile_phone_number",
    "mobile_fallback_enabled",
    "username",
    "password",
    "music_on_hold",
    "preprocess_subroutine",
    "userfield",
    *_STORED_FLAGS,
    "ring_seconds",
    "simultaneous_calls",
    "call_permission_password",
    "subscription_type",
    "created_at",
    "enabled",
    "tenant_uuid",
)


def new_user(store: Store, tenant_uuid: str, now: float, **values: Any) -> Record:
    row: Record = {**_DEFAULTS, **values}
    _deprecated_record_flag(row)
    row.update(
        id=store.next_id("users"),
        uuid=store.new_uuid(),
        tenant_uuid=tenant_uuid,
        lastname=row["lastname"] or "",
        caller_id=row.get("caller_id") or f'"{_fullname(row)}"',
        created_at=datetime.fromtimestamp(now, tz=UTC).replace(tzinfo=None).isoformat(),
    )
    store.table("users")[row["id"]] = row
    return row


def _deprecated_record_flag(values: dict[str, object]) -> None:
    """``call_record_enabled`` (deprecated) sets the four ``call_record_*_enabled`` flags."""
    flag = values.pop("call_record_enabled", None)
    if flag is not None:
        values.update({name: flag for name in _RECORD_FLAGS})


def _dump(call: Call, row: Record) -> dict[str, object]:
    out = {"id": row["id"], "uuid": row["uuid"]}
    out.update({key: row[key] for key in _PLAIN})
    out["outgoing_caller_id"] = row["outgoing_caller_id"] or None
    out["links"] = [call.link("users", "users", row["id"])]
    out.update(
        agent=None,
        call_permissions=[],
        fallbacks={f"{k}_destination": None for k in ("noanswer", "busy", "congestion", "fail")},
        groups=[],
        incalls=[],
        lines=[],
        forwards={
            k: {"enabled": False, "destination": None}
            for k in ("busy", "noanswer", "unconditional")
        },
        schedules=[],
        services={"dnd": {"enabled": False}, "incallfilter": {"enabled": False}},
        switchboards=[],
        voicemail=None,
        queues=[],
        func_key_template_id=row["func_key_template_id"],
        call_record_enabled=all(row[name] for name in _RECORD_FLAGS),
        call_pickup_target_users=[],
    )
    return out


def _fullname(row: Record) -> str:
    return f"{row['firstname']} {row['lastname'] or ''}".strip()


def _derived(store: Store, row: Record) -> dict[str, object]:
    return {"fullname": _fullname(row)}


_COLUMNS = (
    "id", "uuid", "firstname", "lastname", "fullname", "caller_id", "description", "userfield",
    "email", "mobile_phone_number", "music_on_hold", "outgoing_caller_id",
    "preprocess_subroutine", "username", "enabled", "subscription_type",
    # columns of lines, extensions and voicemails: users have none in the sandbox (null)
    "exten", "extension", "context", "voicemail_number", "provisioning_code",
)  # fmt: skip

USERS = Kind(
    table="users",
    resource="User",
    path="users",
    dump=_dump,
    search=SearchConfig.of(
        *_COLUMNS,
        default_sort="lastname",
        search=(
            "fullname",
            "caller_id",
            "description",
            "userfield",
            "email",
            "mobile_phone_number",
            "music_on_hold",
            "preprocess_subroutine",
            "outgoing_caller_id",
            "exten",
            "username",
            "provisioning_code",
            "enabled",
        ),
        integers=frozenset({"id", "subscription_type"}),
    ),
    derive=_derived,
    unique=("email", "username"),
)


def get_user(call: Call, key: Key) -> Record:
    """By uuid or integer id; the 404 says ``'id': <value>`` either way, like confd."""
    if isinstance(key, int):
        row = call.store.table("users").get(key)
    else:
        row = call.store.find("users", lambda u: u["uuid"] == key)
    if row is None or row["tenant_uuid"] not in call.visible_tenants():
        shown = key if isinstance(key, int) else problems.as_uuid(key)
        raise problems.not_found("User", id=shown)
    return row


def create_user(call: Call) -> Response:
    form = USERS.load(call, SCHEMA)
    row = new_user(call.store, call.tenant_uuid, call.now, **form)
    return USERS.created(call, row)


def read_user(call: Call) -> Response:
    return Response.json(200, _dump(call, get_user(call, call.params["user_id"])))


def update_user(call: Call) -> Response:
    row = get_user(call, call.params["user_id"])
    form = USERS.load(call, SCHEMA, row)
    _deprecated_record_flag(form)
    row.update(form)
    return Response.empty(204)


def delete_user(call: Call) -> Response:
    row = get_user(call, call.params["user_id"])
    del call.store.table("users")[row["id"]]
    return Response.empty(204)


def outgoing_callerids(call: Call) -> Response:
    get_user(call, call.params["user_id"])
    return Response.json(200, {"total": 1, "items": [{"type": "anonymous"}]})


def _dump_tenant(call: Call, row: Record) -> dict[str, object]:
    keys = ("uuid", "sip_templates_generated", *TEMPLATE_POINTERS.values())
    return {key: row.get(key) for key in keys}


TENANTS = Kind(
    table="tenants",
    resource="Tenant",
    key="uuid",
    path="tenants",
    dump=_dump_tenant,
    search=SearchConfig.of("uuid", default_sort="uuid"),
)


def read_tenant(call: Call) -> Response:
    uuid = call.params["tenant_uuid"]
    row = call.store.table("tenants").get(uuid)
    if row is None or uuid not in call.visible_tenants():
        raise problems.not_found("Tenant", uuid=uuid)
    return Response.json(200, _dump_tenant(call, row))


_USER_PATHS = ("/users/{user_id:uuid}", "/users/{user_id:int}")

ROUTES = (
    Route("GET", "/users", "confd.users.read", lambda call: USERS.list(call, uuid_list=True)),
    Route("POST", "/users", "confd.users.create", create_user),
    *(
        route
        for path in _USER_PATHS
        for route in (
            Route("GET", path, "confd.users.{user_id}.read", read_user),
            Route("PUT", path, "confd.users.{user_id}.update", update_user),
            Route("DELETE", path, "confd.users.{user_id}.delete", delete_user),
            Route(
                "GET",
                f"{path}/callerids/outgoing",
                "confd.users.{user_id}.callerids.outgoing.read",
                outgoing_callerids,
            ),
        )
    ),
    Route("GET", "/tenants", "confd.tenants.read", TENANTS.list),
    Route("GET", "/tenants/{tenant_uuid:uuid}", "confd.tenants.{tenant_uuid}.read", read_tenant),
)

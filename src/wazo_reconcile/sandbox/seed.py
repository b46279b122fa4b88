"""Seed profiles: the state a sandbox starts from.

``fresh``: a new Wazo as described in docs/architecture.md (master tenant + one sub-tenant,
transport-udp/wss, confd's five default templates per tenant, incall/outcall/internal contexts,
four users, PJSIP global/system). ``recordings``: exactly the state the real confd was in when
confd-recordings were made (``data/recordings_seed.json``, from its seed.json).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, TypedDict

from wazo_reconcile.sandbox.resources.contexts import new_context
from wazo_reconcile.sandbox.resources.endpoints_sip import TEMPLATE_POINTERS, new_sip_record
from wazo_reconcile.sandbox.resources.users import new_user
from wazo_reconcile.sandbox.store import Store

PROFILES = ("fresh", "recordings")

FRESH_MASTER = "11111111-1111-4111-8111-111111111111"
FRESH_SUB = "22222222-2222-4222-8222-222222222222"
# wazo-auth's names of the fresh tenants (their slugs are "master" and "sub")
FRESH_NAMES = {"master": "master", "sub": "Sub tenant"}
PJSIP_GLOBAL = {"user_agent": "Wazo PBX", "endpoint_identifier_order": "auth_username,username,ip"}

_INTERNAL_RANGES = {
    "user_ranges": [{"start": "1000", "end": "1999"}],
    "group_ranges": [{"start": "2000", "end": "2999"}],
    "queue_ranges": [{"start": "3000", "end": "3999"}],
    "conference_room_ranges": [{"start": "4000", "end": "4999"}],
}
_INCALL_RANGES = {"incall_ranges": [{"start": "1000", "end": "9999", "did_length": 0}]}
# the users of the master and of the sub-tenant, by their e-mail domain
_FRESH_USERS = {
    "example.com": [
        ("Alice", "Anderson", "alice"),
        ("Bob", "Brown", "bob"),
        ("Carol", "Clark", "carol"),
    ],
    "sub.example.com": [("Dave", "Davis", "dave")],
}


def _data(name: str) -> Any:
    text = resources.files("wazo_reconcile.sandbox").joinpath(f"data/{name}").read_text("utf-8")
    return json.loads(text)


class TemplateSpec(TypedDict):
    """A default SIP template: parents named by label, its transport by name."""

    label: str
    templates: list[str]
    transport: str | None
    sections: dict[str, list[list[str]]]


@cache
def default_templates() -> list[TemplateSpec]:
    templates: list[TemplateSpec] = _data("default_templates.json")["templates"]
    return templates


def seed(store: Store, profile: str, now: float, *, new_tenant_uuids: bool = False) -> str:
    """Fill ``store``; returns the master tenant's uuid. ``new_tenant_uuids``: the ``fresh``
    tenants get UUIDs from the store's random source (a fleet of sandboxes, each with its own
    tenant UUIDs, as real PBXs have)."""
    if profile == "fresh":
        if new_tenant_uuids:
            return _fresh(store, now, master=store.new_uuid(), sub=store.new_uuid())
        return _fresh(store, now)
    if profile == "recordings":
        return _recordings(store)
    raise ValueError(f"unknown seed profile {profile!r} (one of {', '.join(PROFILES)})")


def add_tenant(
    store: Store, uuid: str, slug: str, parent: str | None, name: str | None = None
) -> None:
    """A tenant, as wazo-auth announces it to confd (``name``: wazo-auth's, default the slug)."""
    store.table("tenants")[uuid] = {
        "uuid": uuid,
        "tenant_uuid": uuid,  # a tenant is visible to itself (tenant-scoped listing)
        "slug": slug,
        "name": name or slug,
        "parent_uuid": parent,
        "sip_templates_generated": True,
        **{pointer: None for pointer in TEMPLATE_POINTERS.values()},
    }


def add_default_templates(store: Store, tenant_uuid: str) -> None:
    """What confd does when wazo-auth announces a new tenant."""
    transports = {t["name"]: t["uuid"] for t in store.rows("transports")}
    by_label: dict[str, str] = {}
    for spec in default_templates():
        row = new_sip_record(
            store,
            tenant_uuid,
            template=True,
            label=spec["label"],
            templates=[by_label[label] for label in spec["templates"]],
            transport_uuid=transports.get(spec["transport"] or ""),
            **{f"{k}_section_options": v for k, v in spec["sections"].items()},
        )
        by_label[spec["label"]] = row["uuid"]
    tenant = store.table("tenants")[tenant_uuid]
    for label, pointer in TEMPLATE_POINTERS.items():
        tenant[pointer] = by_label[label]


def _fresh(store: Store, now: float, master: str = FRESH_MASTER, sub: str = FRESH_SUB) -> str:
    add_tenant(store, master, "master", None, FRESH_NAMES["master"])
    add_tenant(store, sub, "sub", master, FRESH_NAMES["sub"])
    for name, protocol in (("transport-udp", "udp"), ("transport-wss", "wss")):
        uuid = store.new_uuid()
        options = [["protocol", protocol], ["bind", "0.0.0.0:5060"]]
        store.put_named("transports", {"uuid": uuid, "name": name, "options": options})
    for tenant in (master, sub):
        add_default_templates(store, tenant)
    _fresh_contexts(store, master, names=("default", "from-extern", "to-extern"))
    _fresh_contexts(store, sub, names=(None, None, None))
    for tenant, (domain, people) in zip((master, sub), _FRESH_USERS.items(), strict=True):
        for first, last, username in people:
            email = f"{username}@{domain}"
            new_user(
                store, tenant, now, firstname=first, lastname=last, username=username, email=email
            )
    store.pjsip = {"global": dict(PJSIP_GLOBAL), "system": {}}
    return master


def _fresh_contexts(store: Store, tenant: str, names: tuple[str | None, ...]) -> None:
    """Internal, incall and outcall contexts (the internal one includes the outcall one)."""
    kinds: tuple[tuple[str, str, Mapping[str, object]], ...] = (
        ("internal", "Default", _INTERNAL_RANGES),
        ("incall", "Incalls", _INCALL_RANGES),
        ("outcall", "Outcalls", {}),
    )
    internal, _, outcall = (
        new_context(store, tenant, name=name, label=label, type=kind, description="", **ranges)
        for name, (kind, label, ranges) in zip(names, kinds, strict=True)
    )
    internal["includes"] = [outcall["id"]]


def _recordings(store: Store) -> str:
    state = _data("recordings_seed.json")
    tenants = state["tenants"]
    master: str = tenants[0]["uuid"]
    for number, tenant in enumerate(tenants):
        add_tenant(
            store,
            tenant["uuid"],
            "master" if number == 0 else f"tenant{number}",
            None if number == 0 else master,
        )
        store.table("tenants")[tenant["uuid"]].update(
            {k: v for k, v in tenant.items() if k.endswith("_template_uuid")}
        )
    for transport in state["transports"]:
        store.put_named("transports", dict(transport))
    for context in state["contexts"]:
        values = {k: v for k, v in context.items() if k != "tenant_uuid"}
        new_context(store, context["tenant_uuid"], **values, includes=context["contexts"])
    for template in state["templates"]:
        values = {k: v for k, v in template.items() if k not in ("tenant_uuid", "transport")}
        new_sip_record(
            store,
            template["tenant_uuid"],
            template=True,
            **values,
            transport_uuid=template["transport"],
        )
    store.pjsip = {k: dict(v) for k, v in state["pjsip"].items()}
    store.live_reload = state["live_reload"]
    return master

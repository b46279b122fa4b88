"""The sandbox's seed profiles: ``fresh`` as docs/architecture.md specifies it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from support import sandbox_api
from wazo_reconcile.sandbox import FRESH_MASTER, FRESH_SUB, Sandbox


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    with sandbox_api(Sandbox("fresh")) as client:
        yield client


def test_fresh_tenants_and_transports(api: httpx.Client) -> None:
    tenants = api.get("/tenants", params={"recurse": "true"}).json()["items"]
    assert [t["uuid"] for t in tenants] == [FRESH_MASTER, FRESH_SUB]
    assert all(t["sip_templates_generated"] for t in tenants)
    transports = api.get("/sip/transports").json()["items"]
    assert [(t["name"], t["options"]) for t in transports] == [
        ("transport-udp", [["protocol", "udp"], ["bind", "0.0.0.0:5060"]]),
        ("transport-wss", [["protocol", "wss"], ["bind", "0.0.0.0:5060"]]),
    ]


def test_fresh_contexts(api: httpx.Client) -> None:
    master = api.get("/contexts").json()["items"]
    assert [(c["name"], c["type"], c["label"]) for c in master] == [
        ("default", "internal", "Default"),
        ("from-extern", "incall", "Incalls"),
        ("to-extern", "outcall", "Outcalls"),
    ]
    assert [c["name"] for c in master[0]["contexts"]] == ["to-extern"]
    sub = api.get("/contexts", headers={"Wazo-Tenant": FRESH_SUB}).json()["items"]
    assert [(c["type"], c["label"]) for c in sub] == [
        ("internal", "Default"),
        ("incall", "Incalls"),
        ("outcall", "Outcalls"),
    ]
    for context in sub:
        assert context["name"] == f"ctx-sub-{context['type']}-{context['uuid']}"


def test_fresh_users_and_pjsip(api: httpx.Client) -> None:
    users = api.get("/users", params={"recurse": "true"}).json()["items"]
    assert {(u["username"], u["email"], u["tenant_uuid"]) for u in users} == {
        ("alice", "alice@example.com", FRESH_MASTER),
        ("bob", "bob@example.com", FRESH_MASTER),
        ("carol", "carol@example.com", FRESH_MASTER),
        ("dave", "dave@sub.example.com", FRESH_SUB),
    }
    assert api.get("/asterisk/pjsip/global").json() == {
        "options": {
            "user_agent": "Wazo PBX",
            "endpoint_identifier_order": "auth_username,username,ip",
        }
    }
    assert api.get("/asterisk/pjsip/system").json() == {"options": {}}


def test_fresh_default_templates_chain(api: httpx.Client) -> None:
    templates = {t["label"]: t for t in api.get("/endpoints/sip/templates").json()["items"]}
    assert templates["registration_trunk"]["templates"] == [
        {"uuid": templates["global"]["uuid"], "label": "global"}
    ]
    assert templates["twilio_trunk"]["templates"][0]["label"] == "registration_trunk"
    assert len(templates["twilio_trunk"]["identify_section_options"]) == 32
    assert templates["meeting_guest"]["templates"][0]["label"] == "webrtc"
    names = [t["name"] for t in templates.values()]
    assert len(set(names)) == 5


def test_seeded_generation_is_reproducible() -> None:
    first, second = Sandbox(seed=3).state(), Sandbox(seed=3).state()
    first["users"] = second["users"] = []  # created_at follows the clock
    assert first == second


def test_unknown_profile_refused() -> None:
    with pytest.raises(ValueError, match="unknown seed profile"):
        Sandbox("empty")

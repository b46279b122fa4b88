"""The sandbox's IAX registers beyond the recordings (confd-recordings/extra/README.md: what was
seen on the same server but not recorded), and the trunk links they change."""

from __future__ import annotations

from typing import Any

import httpx

from support import error, ok
from wazo_reconcile.sandbox import FRESH_SUB, Sandbox


def register(api: httpx.Client, **body: Any) -> int:
    return int(ok(api.post("/registers/iax", json={"remote_host": "h.example", **body}), 201)["id"])


def trunk(api: httpx.Client, endpoint: str | None = None, **headers: str) -> int:
    trunk_id = int(ok(api.post("/trunks", json={}, headers=headers), 201)["id"])
    if endpoint == "iax":
        iax = ok(api.post("/endpoints/iax", json={}, headers=headers), 201)["id"]
        ok(api.put(f"/trunks/{trunk_id}/endpoints/iax/{iax}", headers=headers), 204)
    elif endpoint == "sip":
        sip = ok(api.post("/endpoints/sip", json={}, headers=headers), 201)["uuid"]
        ok(api.put(f"/trunks/{trunk_id}/endpoints/sip/{sip}", headers=headers), 204)
    elif endpoint == "custom":
        body = {"interface": f"Local/t{trunk_id}"}
        custom = ok(api.post("/endpoints/custom", json=body, headers=headers), 201)["id"]
        ok(api.put(f"/trunks/{trunk_id}/endpoints/custom/{custom}", headers=headers), 204)
    return trunk_id


def test_ids_follow_the_seeded_general_rows_and_an_empty_host_is_accepted(
    api: httpx.Client,
) -> None:
    assert register(api) == 52
    assert register(api, remote_host="") == 53
    assert ok(api.get("/registers/iax/53"))["remote_host"] == ""


def test_search_matches_the_id_only_and_order_only_takes_id(api: httpx.Client) -> None:
    first = register(api, remote_host="iax2.example.net")
    assert ok(api.get("/registers/iax", params={"search": "iax2"}))["total"] == 0
    assert ok(api.get("/registers/iax", params={"search": str(first)}))["total"] == 1
    message = error(api.get("/registers/iax", params={"order": "remote_host"}))
    assert message == "Input Error - order: column 'remote_host' was not found"


def test_unknown_register_is_confds_404(api: httpx.Client) -> None:
    message = error(api.get("/registers/iax/99"), 404)
    assert message == "Resource Not Found - IAXRegister was not found ('id': 99)"
    trunk_id = trunk(api, "iax")
    assert error(api.put(f"/trunks/{trunk_id}/registers/iax/99"), 404) == message
    assert "Trunk was not found" in error(api.put("/trunks/99/registers/iax/52"), 404)


def test_a_put_is_checked_on_the_merged_register(api: httpx.Client) -> None:
    register_id = register(api, auth_username="acct", auth_password="pw")
    message = error(api.put(f"/registers/iax/{register_id}", json={"auth_password": None}))
    assert message.startswith('Input Error - auth_username: [\'Cannot set field "auth_username"')
    ok(api.put(f"/registers/iax/{register_id}", json={"auth_username": None}), 204)
    stored = ok(api.get(f"/registers/iax/{register_id}"))
    assert (stored["auth_username"], stored["auth_password"]) == ("", "pw")
    ok(api.put(f"/registers/iax/{register_id}", json={"remote_port": 0, "enabled": False}), 204)
    stored = ok(api.get(f"/registers/iax/{register_id}"))
    assert (stored["remote_port"], stored["enabled"]) == (None, False)


def test_a_trunk_with_a_register_refuses_a_sip_or_custom_endpoint(api: httpx.Client) -> None:
    register_id, bare = register(api), trunk(api)
    ok(api.put(f"/trunks/{bare}/registers/iax/{register_id}"), 204)  # no endpoint yet: accepted
    sip = ok(api.post("/endpoints/sip", json={}), 201)["uuid"]
    assert error(api.put(f"/trunks/{bare}/endpoints/sip/{sip}")) == (
        f"Resource Error - Trunk is associated with a IAXRegister ('trunk_id': {bare}, "
        f"'register_sip_id': {register_id})"
    )
    custom = ok(api.post("/endpoints/custom", json={"interface": "Local/x"}), 201)["id"]
    assert error(api.put(f"/trunks/{bare}/endpoints/custom/{custom}")) == (
        f"Resource Error - Trunk is associated with a IAXRegister ('trunk_id': {bare}, "
        f"'register_iax_id': {register_id})"
    )
    iax = ok(api.post("/endpoints/iax", json={}), 201)["id"]
    ok(api.put(f"/trunks/{bare}/endpoints/iax/{iax}"), 204)
    assert ok(api.get(f"/trunks/{bare}"))["register_iax"]["id"] == register_id


def test_a_custom_trunk_cannot_take_a_register(api: httpx.Client) -> None:
    register_id, custom = register(api), trunk(api, "custom")
    assert error(api.put(f"/trunks/{custom}/registers/iax/{register_id}")) == (
        f"Resource Error - Trunk is associated with a Endpoint ('trunk_id': {custom}, "
        "'protocol': 'custom')"
    )


def test_repeated_association_and_absent_dissociation_change_nothing(api: httpx.Client) -> None:
    register_id, other, trunk_id = register(api), register(api), trunk(api, "iax")
    ok(api.put(f"/trunks/{trunk_id}/registers/iax/{register_id}"), 204)
    ok(api.put(f"/trunks/{trunk_id}/registers/iax/{register_id}"), 204)
    ok(api.delete(f"/trunks/{trunk_id}/registers/iax/{other}"), 204)
    assert ok(api.get(f"/trunks/{trunk_id}"))["register_iax"]["id"] == register_id


def test_registers_are_instance_wide_and_go_with_their_trunk(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    sub = {"Wazo-Tenant": FRESH_SUB}
    register_id, trunk_id = register(api), trunk(api, "iax", **sub)
    ok(api.put(f"/trunks/{trunk_id}/registers/iax/{register_id}", headers=sub), 204)
    seen = ok(api.get("/registers/iax", headers=sub))["items"]
    assert [(r["id"], r["trunk"]["id"]) for r in seen] == [(register_id, trunk_id)]
    assert "tenant_uuid" not in seen[0]
    assert sandbox.state()["registers_iax"][0]["var_val"] == "h.example"
    ok(api.delete(f"/trunks/{trunk_id}", headers=sub), 204)
    assert ok(api.get("/registers/iax"))["total"] == 0


def test_routes_have_confds_acls(sandbox: Sandbox) -> None:
    with httpx.Client(transport=sandbox.transport(), base_url="http://sandbox") as http:
        answer = http.put("/api/confd/1.1/trunks/3/registers/iax/52")
    assert answer.status_code == 401
    assert answer.json() == ["('', 'confd.trunks.3.registers.iax.52.update')"]

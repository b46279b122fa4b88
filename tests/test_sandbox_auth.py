"""Sandbox authentication and tenancy: tokens, expiry, Wazo-Tenant, master-tenant-only writes."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from wazo_reconcile.sandbox import FRESH_MASTER, FRESH_SUB, Sandbox


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def strict(clock: Clock) -> Sandbox:
    return Sandbox("fresh", require_auth=("admin", "secret"), token_lifetime=60, clock=clock)


@pytest.fixture
def http(strict: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=strict.transport(), base_url="http://sandbox") as client:
        yield client


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def test_token_endpoint_issues_expiring_tokens(http: httpx.Client, clock: Clock) -> None:
    response = http.post("/api/auth/0.1/token", json={}, headers=basic("admin", "secret"))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["metadata"]["tenant_uuid"] == FRESH_MASTER
    assert {"token", "expires_at", "utc_expires_at", "issued_at", "acl"} <= set(data)
    token = {"X-Auth-Token": data["token"]}
    assert http.get("/api/confd/1.1/trunks", headers=token).status_code == 200
    clock.now += 61
    expired = http.get("/api/confd/1.1/trunks", headers=token)
    assert expired.status_code == 401
    assert expired.json() == [f"('{data['token']}', 'confd.trunks.read')"]


def test_token_endpoint_expiration_and_bad_credentials(http: httpx.Client, clock: Clock) -> None:
    wrong = http.post("/api/auth/0.1/token", json={}, headers=basic("admin", "nope"))
    assert wrong.status_code == 401
    assert wrong.json()["reason"] == ["Authentication Failed"]
    no_body = http.post("/api/auth/0.1/token", headers=basic("admin", "secret"))
    assert no_body.status_code == 400
    short = http.post(
        "/api/auth/0.1/token", json={"expiration": 5}, headers=basic("admin", "secret")
    )
    token = {"X-Auth-Token": short.json()["data"]["token"]}
    clock.now += 6
    assert http.get("/api/confd/1.1/trunks", headers=token).status_code == 401
    bad = http.post("/api/auth/0.1/token", json={"expiration": 0}, headers=basic("admin", "secret"))
    assert bad.status_code == 400


def test_token_check_and_revocation(strict: Sandbox, http: httpx.Client) -> None:
    token = strict.issue_token()
    checked = http.get(f"/api/auth/0.1/token/{token}")
    assert checked.status_code == 200
    assert checked.json()["data"]["metadata"]["tenant_uuid"] == FRESH_MASTER
    assert http.head(f"/api/auth/0.1/token/{token}").status_code == 204
    assert http.delete(f"/api/auth/0.1/token/{token}").status_code == 200
    assert http.get(f"/api/auth/0.1/token/{token}").status_code == 404
    assert http.get("/api/confd/1.1/trunks", headers={"X-Auth-Token": token}).status_code == 401


def test_token_body_is_checked_before_credentials(http: httpx.Client) -> None:
    response = http.post("/api/auth/0.1/token", content=b"{", headers=basic("admin", "nope"))
    assert response.status_code == 400


def test_strict_mode_rejects_unknown_and_missing_tokens(http: httpx.Client) -> None:
    missing = http.get("/api/confd/1.1/sip/transports")
    assert (missing.status_code, missing.json()) == (401, ["('', 'confd.sip.transports.read')"])
    unknown = http.get("/api/confd/1.1/trunks/3", headers={"X-Auth-Token": "guess"})
    assert unknown.json() == ["('guess', 'confd.trunks.3.read')"]


def test_permissive_mode_accepts_any_non_empty_token() -> None:
    sandbox = Sandbox()
    with httpx.Client(transport=sandbox.transport(), base_url="http://sandbox") as client:
        assert client.get("/api/confd/1.1/trunks", headers={"X-Auth-Token": "x"}).status_code == 200
        assert client.get("/api/confd/1.1/trunks", headers={"X-Auth-Token": ""}).status_code == 401
        response = client.post("/api/auth/0.1/token", json={}, headers=basic("anyone", "any"))
        assert response.status_code == 200


def test_issue_token_lifetime_and_sub_tenant(
    strict: Sandbox, http: httpx.Client, clock: Clock
) -> None:
    token = strict.issue_token(lifetime=10)
    assert http.get("/api/confd/1.1/trunks", headers={"X-Auth-Token": token}).status_code == 200
    clock.now += 10
    assert http.get("/api/confd/1.1/trunks", headers={"X-Auth-Token": token}).status_code == 401
    sub = strict.issue_token(FRESH_SUB)
    tenants = http.get("/api/confd/1.1/tenants", headers={"X-Auth-Token": sub}).json()
    assert [t["uuid"] for t in tenants["items"]] == [FRESH_SUB]


def test_tenant_scoping(strict: Sandbox, http: httpx.Client) -> None:
    master = {"X-Auth-Token": strict.issue_token()}
    sub = {"X-Auth-Token": strict.issue_token(FRESH_SUB)}
    api = "/api/confd/1.1"
    created = http.post(f"{api}/trunks", json={}, headers={**master, "Wazo-Tenant": FRESH_SUB})
    trunk = created.json()
    assert trunk["tenant_uuid"] == FRESH_SUB
    assert http.get(f"{api}/trunks", headers=master).json()["total"] == 0
    assert (
        http.get(f"{api}/trunks", params={"recurse": "true"}, headers=master).json()["total"] == 1
    )
    # item GETs see sub-tenants; a sub-tenant token does not see its parent's objects
    assert http.get(f"{api}/trunks/{trunk['id']}", headers=master).status_code == 200
    mine = http.post(f"{api}/trunks", json={}, headers=master).json()
    assert http.get(f"{api}/trunks/{mine['id']}", headers=sub).status_code == 404
    refused = http.get(f"{api}/trunks", headers={**sub, "Wazo-Tenant": FRESH_MASTER})
    assert refused.status_code == 401
    assert refused.json() == [f"('{sub['X-Auth-Token']}', 'confd.trunks.read', '{FRESH_MASTER}')"]
    malformed = http.get(f"{api}/trunks", headers={**master, "Wazo-Tenant": "nope"})
    assert malformed.status_code == 401


def test_master_tenant_only_checks_the_token_tenant(strict: Sandbox, http: httpx.Client) -> None:
    master = {"X-Auth-Token": strict.issue_token()}
    sub_token = strict.issue_token(FRESH_SUB)
    api = "/api/confd/1.1"
    with_header = http.get(
        f"{api}/asterisk/pjsip/global", headers={**master, "Wazo-Tenant": FRESH_SUB}
    )
    assert with_header.status_code == 200
    for method, path in [
        ("GET", "/asterisk/pjsip/global"),
        ("PUT", "/asterisk/pjsip/system"),
        ("POST", "/sip/transports"),
        ("GET", "/configuration/live_reload"),
    ]:
        response = http.request(method, api + path, json={}, headers={"X-Auth-Token": sub_token})
        assert (response.status_code, response.json()) == (401, [sub_token]), path
    readable = http.get(f"{api}/sip/transports", headers={"X-Auth-Token": sub_token})
    assert readable.status_code == 200


def test_unknown_route_is_404_before_authentication(http: httpx.Client) -> None:
    response = http.get("/api/confd/1.1/nothing-here")
    assert response.status_code == 404
    assert "text/html" in response.headers["Content-Type"]


# ------------------------------------------------------------------- wazo-auth tenants


def test_auth_tenants_lists_names_and_slugs() -> None:
    sandbox = Sandbox("fresh")
    with httpx.Client(transport=sandbox.transport(), base_url="http://sandbox") as http:
        answer = http.get("/api/auth/0.1/tenants", headers={"X-Auth-Token": "any"})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["total"], body["filtered"]) == (2, 2)
    by_slug = {item["slug"]: item for item in body["items"]}
    assert by_slug["master"]["uuid"] == FRESH_MASTER
    assert by_slug["master"]["parent_uuid"] == FRESH_MASTER  # the top tenant is its own parent
    assert by_slug["sub"] | {"address": None} == {
        "uuid": FRESH_SUB,
        "parent_uuid": FRESH_MASTER,
        "name": "Sub tenant",
        "slug": "sub",
        "contact": None,
        "phone": None,
        "default_authentication_method": "native",
        "domain_names": [],
        "address": None,
    }
    assert [item["name"] for item in body["items"]] == ["master", "Sub tenant"]  # order=name


def test_auth_tenants_filters_search_order_and_pages() -> None:
    sandbox = Sandbox("fresh")
    headers = {"X-Auth-Token": "any"}
    with httpx.Client(transport=sandbox.transport(), base_url="http://sandbox") as http:

        def items(query: str) -> list[str]:
            answer = http.get(f"/api/auth/0.1/tenants?{query}", headers=headers)
            assert answer.status_code == 200, answer.text
            return [item["slug"] for item in answer.json()["items"]]

        assert items("slug=sub") == ["sub"]
        assert items("name=sub") == []  # exact: the name is "Sub tenant"
        assert items("search=SUB ten") == ["sub"]  # case-insensitive words, in order
        assert items("search=tenant sub") == []
        assert items("order=slug&direction=desc") == ["sub", "master"]
        assert items("limit=1&offset=1&order=slug") == ["sub"]
        assert items(f"uuids={FRESH_SUB}&uuids={FRESH_MASTER}&order=slug") == ["master", "sub"]
        assert items("recurse=false&unknown=1") == ["master", "sub"]  # both ignored
        bad = http.get("/api/auth/0.1/tenants?direction=up", headers=headers)
        assert bad.status_code == 400
        assert bad.json()["error_id"] == "invalid-list-param"
        assert set(bad.json()["details"]) == {"direction"}


def test_auth_tenants_scope_token_header_and_item(strict: Sandbox, http: httpx.Client) -> None:
    sub = {"X-Auth-Token": strict.issue_token(FRESH_SUB)}
    answer = http.get("/api/auth/0.1/tenants", headers=sub).json()
    assert [item["uuid"] for item in answer["items"]] == [FRESH_SUB]
    assert answer["total"] == 1
    master = {"X-Auth-Token": strict.issue_token()}
    scoped = http.get("/api/auth/0.1/tenants", headers={**master, "Wazo-Tenant": FRESH_SUB})
    assert [item["uuid"] for item in scoped.json()["items"]] == [FRESH_SUB]
    refused = http.get("/api/auth/0.1/tenants", headers={**sub, "Wazo-Tenant": FRESH_MASTER})
    assert refused.status_code == 401
    assert refused.json()["error_id"] == "unauthorized-tenant"
    unknown = http.get("/api/auth/0.1/tenants", headers={"X-Auth-Token": "not-issued"})
    assert unknown.status_code == 401
    assert unknown.json()["details"]["reason"] == "not_found_or_expired"
    one = http.get(f"/api/auth/0.1/tenants/{FRESH_SUB}", headers=master)
    assert one.json()["slug"] == "sub"
    hidden = http.get(f"/api/auth/0.1/tenants/{FRESH_MASTER}", headers=sub)
    assert hidden.status_code == 404 and hidden.json()["error_id"] == "unknown-tenant"
    assert http.get("/api/auth/0.1/tenants/sub", headers=master).status_code == 404  # HTML
    assert http.post("/api/auth/0.1/tenants", headers=master).status_code == 405


def test_new_tenant_uuids_give_each_sandbox_its_own() -> None:
    first, second = Sandbox("fresh", new_tenant_uuids=True), Sandbox("fresh", new_tenant_uuids=True)
    assert len({first.master_tenant, second.master_tenant, FRESH_MASTER}) == 3
    tenants = first.state()["tenants"]
    assert sorted(t["slug"] for t in tenants) == ["master", "sub"]
    assert FRESH_SUB not in {t["uuid"] for t in tenants}

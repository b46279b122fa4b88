"""The sandbox's wazo-calld (`GET /api/calld/1.0/trunks`): the documented model, overrides,
token checks, and its admin endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from wazo_reconcile.sandbox import FRESH_MASTER, FRESH_SUB, FaultConfig, FaultRule, Sandbox
from wazo_reconcile.sandbox.calld import acl_allows

CALLD = "/api/calld/1.0/trunks"


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=sandbox.transport(), base_url="http://sandbox", headers={"X-Auth-Token": "t"}
    ) as client:
        yield client


def post(http: httpx.Client, path: str, body: Any, **headers: str) -> Any:
    answer = http.post(f"/api/confd/1.1{path}", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def put(http: httpx.Client, path: str, **headers: str) -> None:
    answer = http.put(f"/api/confd/1.1{path}", headers=headers)
    assert answer.status_code == 204, answer.text


def trunks(http: httpx.Client, **headers: str) -> dict[str, dict[str, Any]]:
    answer = http.get(CALLD, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == body["filtered"] == len(body["items"])
    return {item["name"]: item for item in body["items"]}


def seed(http: httpx.Client) -> None:
    """A registering SIP trunk, a plain one, an IAX trunk with and without a register, a
    custom one, a bare trunk, a trunk with only a register, and a sub-tenant trunk."""
    registration = [["client_uri", "sip:u1@sip.acme.example"], ["expiration", "120"]]
    for name, body in (
        ("acme", {"registration_section_options": registration}),
        ("peer", {"registration_section_options": [["expiration", "120"]]}),
    ):
        endpoint = post(http, "/endpoints/sip", {"name": name, **body})["uuid"]
        trunk = post(http, "/trunks", {})["id"]
        put(http, f"/trunks/{trunk}/endpoints/sip/{endpoint}")
    for name, registers in (("hq", True), ("branch", False)):
        endpoint = post(http, "/endpoints/iax", {"name": name})["id"]
        trunk = post(http, "/trunks", {})["id"]
        put(http, f"/trunks/{trunk}/endpoints/iax/{endpoint}")
        if registers:
            register = post(http, "/registers/iax", {"remote_host": "hq.example"})["id"]
            put(http, f"/trunks/{trunk}/registers/iax/{register}")
    custom = post(http, "/endpoints/custom", {"interface": "Local/bridge"})["id"]
    trunk = post(http, "/trunks", {})["id"]
    put(http, f"/trunks/{trunk}/endpoints/custom/{custom}")
    post(http, "/trunks", {})  # bare
    lonely = post(http, "/trunks", {})["id"]
    register = post(http, "/registers/iax", {"remote_host": "x.example"})["id"]
    put(http, f"/trunks/{lonely}/registers/iax/{register}")
    sub = {"Wazo-Tenant": FRESH_SUB}
    endpoint = post(http, "/endpoints/sip", {"name": "sub-trunk"}, **sub)["uuid"]
    trunk = post(http, "/trunks", {}, **sub)["id"]
    put(http, f"/trunks/{trunk}/endpoints/sip/{endpoint}", **sub)


def test_the_model(http: httpx.Client) -> None:
    seed(http)
    found = trunks(http)
    assert {
        name: (t["technology"], t["registered"], t["current_call_count"])
        for name, t in found.items()
    } == {  # fmt: skip
        "acme": ("sip", True, 0),  # registers: registered
        "peer": ("sip", None, 0),  # no client_uri: no endpoint state without Asterisk
        "hq": ("iax", True, 0),
        "branch": ("iax", None, 0),
        "Local/bridge": ("custom", None, None),
    }  # neither the bare trunk nor the register-only one, nor the sub-tenant's
    assert sorted(found["acme"]) == ["current_call_count", "id", "name", "registered", "technology"]
    assert list(trunks(http, **{"Wazo-Tenant": FRESH_SUB})) == ["sub-trunk"]


def test_overrides_and_reads(http: httpx.Client, sandbox: Sandbox) -> None:
    seed(http)
    sandbox.configure_calld(
        {
            "trunks": {
                "acme": {"registered": False},
                "hq": {"current_call_count": 2, "for_reads": 2},
                "Local/bridge": {"current_call_count": 1},
            }
        }
    )
    first = trunks(http)
    assert first["acme"]["registered"] is False and first["hq"]["current_call_count"] == 2
    assert first["Local/bridge"]["current_call_count"] == 1
    assert trunks(http)["hq"]["current_call_count"] == 2
    assert trunks(http)["hq"]["current_call_count"] == 0  # the calls ended after 2 reads
    assert sandbox.calld.config()["trunks"] == {
        "acme": {"registered": False},
        "Local/bridge": {"current_call_count": 1},
    }
    sandbox.calld.set_trunk("acme", registered=True)
    assert trunks(http)["acme"]["registered"] is True
    sandbox.reset_state()  # a reset forgets the overrides with the trunks
    assert sandbox.calld.config() == {"available": True, "trunks": {}}


@pytest.mark.parametrize(
    "config",
    [
        {"trunks": {"acme": {"registerd": False}}},
        {"trunks": {"acme": {"registered": "no"}}},
        {"trunks": {"acme": {"current_call_count": -1}}},
        {"trunks": {"acme": {"for_reads": 0}}},
        {"trunks": ["acme"]},
        {"available": "yes"},
        {"down": True},
    ],
)
def test_bad_configurations_are_refused(sandbox: Sandbox, config: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        sandbox.configure_calld(config)


def test_token_checks(sandbox: Sandbox) -> None:
    strict = Sandbox("fresh", require_auth=("admin", "pw"))
    with httpx.Client(transport=strict.transport(), base_url="http://sandbox") as http:
        for headers in ({}, {"X-Auth-Token": "not-issued"}):
            answer = http.get(CALLD, headers=headers)
            assert answer.status_code == 401
            assert answer.json()["details"]["reason"] == "not_found_or_expired"
        token = strict.issue_token(FRESH_SUB)
        answer = http.get(CALLD, headers={"X-Auth-Token": token, "Wazo-Tenant": FRESH_MASTER})
        assert answer.status_code == 401  # a tenant the token may not use
        assert answer.json()["details"]["reason"] == "missing_permission_or_invalid_tenant"
        narrow = strict.issue_token(acl=("confd.#",))
        answer = http.get(CALLD, headers={"X-Auth-Token": narrow})
        assert answer.status_code == 401
        assert answer.json()["details"]["required_access"] == "calld.trunks.read"
        assert answer.json()["message"] == "Unauthorized"
        enough = strict.issue_token(acl=("confd.#", "calld.trunks.*"))
        assert http.get(CALLD, headers={"X-Auth-Token": enough}).status_code == 200


def test_acl_patterns() -> None:
    assert acl_allows(None, "calld.trunks.read")
    assert acl_allows(("calld.#",), "calld.trunks.read")
    assert acl_allows(("calld.*.read",), "calld.trunks.read")
    assert not acl_allows(("calld.*",), "calld.trunks.read")
    assert not acl_allows(("confd.#",), "calld.trunks.read")


def test_calld_down_and_faults(http: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure_calld({"available": False})
    answer = http.get(CALLD)
    assert answer.status_code == 502 and "502 Bad Gateway" in answer.text
    sandbox.configure_calld({})
    sandbox.configure_faults(FaultConfig(rules=(FaultRule("error", nth=(1,), path="/api/calld"),)))
    assert http.get(CALLD).status_code == 503
    assert http.get(CALLD).status_code == 200
    assert sandbox.stats()["requests"]["GET /api/calld/1.0/trunks"] == 3  # 502 included
    assert http.get("/api/calld/1.0/nope").status_code == 404
    assert http.post(CALLD).status_code == 405


def test_admin_endpoint_on_a_served_sandbox(sandbox: Sandbox) -> None:
    with sandbox.serve() as url, httpx.Client(base_url=url) as http:
        body = {"trunks": {"acme": {"registered": False, "current_call_count": 1}}}
        answer = http.post("/_sandbox/calld", json=body)
        assert answer.status_code == 200 and answer.json() == {"available": True, **body}
        assert http.get("/_sandbox/calld").json()["trunks"] == body["trunks"]
        refused = http.post("/_sandbox/calld", json={"trunks": {"acme": {"calls": 1}}})
        assert refused.status_code == 400 and "acme" in refused.json()["error"]
        token = http.post("/_sandbox/tokens", json={"acl": ["confd.#"]}).json()["token"]
        assert http.get(CALLD, headers={"X-Auth-Token": token}).status_code == 401
        assert http.post("/_sandbox/calld", json={}).json() == {"available": True, "trunks": {}}

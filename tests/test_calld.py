"""The wazo-calld client: the confd client's connection and token, calld's answers, its errors."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from support import client_for
from wazo_reconcile.auth import PasswordAuth, TokenAuth
from wazo_reconcile.calld import CalldClient, TrunkStatus
from wazo_reconcile.confd import ConfdClient, RetryPolicy, connect
from wazo_reconcile.errors import ApiError, AuthError
from wazo_reconcile.sandbox import FRESH_SUB, Sandbox
from wazo_reconcile.settings import ConnectionSettings

BASE = "https://wazo.example.com"
ITEMS = [
    {"id": 3, "name": "acme", "technology": "sip", "registered": True, "current_call_count": 2},
    {"id": 4, "name": "Local/x", "technology": "custom", "registered": None},
    {"name": "no id"},
]

Handler = Callable[[httpx.Request], httpx.Response]


def calld(handler: Handler, *, attempts: int = 1) -> tuple[CalldClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(record))
    client = CalldClient(http, auth=TokenAuth("tok-1"), retry=RetryPolicy.no_wait(attempts))
    return client, seen


def test_reads_one_tenants_trunks_with_the_token() -> None:
    client, seen = calld(lambda r: httpx.Response(200, json={"items": ITEMS, "total": 3}))
    found = client.trunks("tenant-2")
    assert found == [
        TrunkStatus(3, "acme", "sip", True, 2),
        TrunkStatus(4, "Local/x", "custom", None, None),
    ]
    (request,) = seen
    assert str(request.url) == f"{BASE}/api/calld/1.0/trunks"
    assert request.headers["X-Auth-Token"] == "tok-1"
    assert request.headers["Wazo-Tenant"] == "tenant-2"
    client.trunks()
    assert "Wazo-Tenant" not in seen[1].headers


def test_beside_a_confd_client_shares_its_connection_and_token() -> None:
    sandbox = Sandbox()
    confd = client_for(sandbox)
    beside = CalldClient.beside(confd)
    assert beside.trunks() == [] and beside.trunks(FRESH_SUB) == []
    assert sandbox.stats()["requests"] == {"GET /api/calld/1.0/trunks": 2}
    settings = ConnectionSettings(url=BASE, token="tok")
    with connect(settings) as real:
        assert CalldClient.beside(real)._http is real.http
        assert real.auth.token() == "tok" and real.retry.attempts == settings.retries + 1


def refusal(reason: str) -> dict[str, object]:
    details = {"invalid_token": "tok-1", "reason": reason}
    return {"message": "Unauthorized", "error_id": "unauthorized", "details": details}


def test_a_missing_acl_is_named() -> None:
    body = refusal("missing_permission_or_invalid_tenant")
    client, _ = calld(lambda r: httpx.Response(401, json=body))
    with pytest.raises(AuthError) as caught:
        client.trunks()
    assert "calld.trunks.read" in str(caught.value) and "tok-1" not in str(caught.value)
    expired = refusal("not_found_or_expired")
    client, _ = calld(lambda r: httpx.Response(401, json=expired))
    with pytest.raises(AuthError, match="unknown or expired"):
        client.trunks()


def test_a_401_renews_a_password_token_once() -> None:
    tokens = iter(["first", "second"])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/auth"):
            return httpx.Response(200, json={"data": {"token": next(tokens)}})
        seen.append(request.headers["X-Auth-Token"])
        if request.headers["X-Auth-Token"] == "first":
            return httpx.Response(401, json={"message": "Unauthorized"})
        return httpx.Response(200, json={"items": []})

    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler))
    auth = PasswordAuth(http, "admin", "pw", retry=RetryPolicy.no_wait())
    assert CalldClient(http, auth=auth, retry=RetryPolicy.no_wait()).trunks() == []
    assert seen == ["first", "second"]


def test_no_calld_on_the_pbx() -> None:
    page = "<html><title>404 Not Found</title></html>"
    client, _ = calld(lambda r: httpx.Response(404, text=page))
    with pytest.raises(ApiError, match="does the PBX run it"):
        client.trunks()


def test_calld_down_is_retried_then_said() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head></html>"
    client, seen = calld(lambda r: httpx.Response(502, text=page), attempts=3)
    with pytest.raises(ApiError) as caught:
        client.trunks()
    assert len(seen) == 3 and caught.value.status == 502
    assert "502 Bad Gateway" in str(caught.value) and "not running" in str(caught.value)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(200, json={"total": 0}),
    ],
)
def test_an_unexpected_answer_is_an_error(answer: httpx.Response) -> None:
    client, _ = calld(lambda r: answer)
    with pytest.raises(ApiError, match="wazo-calld"):
        client.trunks()


def test_an_unreachable_stack_is_said_without_retrying() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client, seen = calld(refuse, attempts=5)
    with pytest.raises(ApiError, match="cannot connect to wazo.example.com:443"):
        client.trunks()
    assert len(seen) == 1


def test_the_confd_client_shows_what_calld_shares() -> None:
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    with ConfdClient(http, auth=TokenAuth("t")) as confd:
        assert confd.http is http and isinstance(confd.auth, TokenAuth)
        assert confd.retry == RetryPolicy()

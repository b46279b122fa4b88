from __future__ import annotations

import ast
import base64
import io
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import trustme

import wazo_reconcile
from wazo_reconcile.auth import PasswordAuth, TokenAuth, token_lifetime
from wazo_reconcile.confd import CLIENT_TENANT, ConfdClient, RetryPolicy, connect, tls_verify
from wazo_reconcile.errors import ApiError, AuthError, OutcomeUnknownError, UsageError
from wazo_reconcile.retries import error_messages, retry_after_seconds
from wazo_reconcile.sandbox import FRESH_SUB, FaultConfig, FaultRule, Sandbox
from wazo_reconcile.sandbox.client import SANDBOX_URL, connect_sandbox, sandbox_client
from wazo_reconcile.sandbox.server import serving
from wazo_reconcile.settings import ConnectionSettings

BASE = "https://wazo.test"
API = f"{BASE}/api/confd/1.1"
TOKEN = "tok-7f3a9c1e5b"
PASSWORD = "pw-Zq81xXk2"
TENANT = "11111111-1111-4111-8111-111111111111"
SUB = "22222222-2222-4222-8222-222222222222"

Step = Any  # int | (status, body[, headers]) | exception class/instance | callable


class Script:
    """A MockTransport handler answering with ``steps`` in order (the last one repeats)."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, type) and issubclass(step, Exception):
            raise step("scripted failure", request=request)  # type: ignore[call-arg]
        if isinstance(step, Exception):
            raise step
        if callable(step):
            result: httpx.Response = step(request)
            return result
        if isinstance(step, int):
            return httpx.Response(step)
        status, body, *rest = step
        headers = rest[0] if rest else {}
        if isinstance(body, (str, bytes)):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    @property
    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.raw_path.decode()}" for r in self.requests]


def client_for(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    auth: Any = None,
    tenant: str | None = None,
    retry: RetryPolicy | None = None,
    page_size: int = 10_000,
) -> ConfdClient:
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler))
    return ConfdClient(
        http,
        auth=auth or TokenAuth(TOKEN),
        tenant=tenant,
        retry=retry or RetryPolicy.no_wait(),
        page_size=page_size,
    )


def page(items: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {"total": len(items) if total is None else total, "items": items}


def auth_answer(token: str, lifetime: int = 3600) -> dict[str, Any]:
    return {
        "data": {
            "token": token,
            "issued_at": "2026-01-01T01:00:00",
            "expires_at": f"2026-01-01T{1 + lifetime // 3600:02d}:00:00",
            "utc_issued_at": "2026-01-01T00:00:00",
            "utc_expires_at": datetime.fromtimestamp(
                datetime(2026, 1, 1, tzinfo=UTC).timestamp() + lifetime, UTC
            )
            .replace(tzinfo=None)
            .isoformat(),
            "acl": ["confd.#"],
            "metadata": {"tenant_uuid": TENANT},
        }
    }


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Everything logged at DEBUG by wazo_reconcile and third parties (httpx, httpcore)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(n) for n in ("", "wazo_reconcile", "httpx", "httpcore")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers[:2]:
        lg.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        for lg in loggers[:2]:
            lg.removeHandler(handler)
        for lg, level in saved:
            lg.setLevel(level)


# --------------------------------------------------------------------------- headers, tenant


def test_client_get_sends_token_and_no_tenant_by_default() -> None:
    with respx.mock(base_url=API, using="httpx") as router:
        route = router.get("/trunks/3").mock(return_value=httpx.Response(200, json={"id": 3}))
        client = ConfdClient(httpx.Client(base_url=BASE), auth=TokenAuth(TOKEN))
        assert client.get("/trunks/3") == {"id": 3}
        client.close()
    request = route.calls.last.request
    assert request.headers["X-Auth-Token"] == TOKEN
    assert "Wazo-Tenant" not in request.headers
    assert "Authorization" not in request.headers


def test_client_tenant_header_default_override_and_none() -> None:
    script = Script((200, {}))
    client = client_for(script, tenant=TENANT)
    client.get("/a")
    client.get("/b", tenant=SUB)
    client.get("/c", tenant=None)
    client.get("/d", tenant=CLIENT_TENANT)
    tenants = [r.headers.get("Wazo-Tenant") for r in script.requests]
    assert tenants == [TENANT, SUB, None, TENANT]


def test_connect_sets_user_agent_timeouts_and_tenant() -> None:
    script = Script((200, {"ok": True}))
    settings = ConnectionSettings(
        url=BASE, token=TOKEN, tenant=SUB, timeout=7.0, connect_timeout=2.0
    )
    with connect(settings, transport=httpx.MockTransport(script)) as client:
        assert client.get("/x") == {"ok": True}
    request = script.requests[0]
    assert str(request.url) == f"{API}/x"
    assert request.headers["User-Agent"].startswith("wazo-reconcile/")
    assert request.headers["X-Auth-Token"] == TOKEN
    assert request.headers["Wazo-Tenant"] == SUB
    assert request.extensions["timeout"] == {"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 7.0}


def test_client_rejects_relative_paths() -> None:
    client = client_for(Script((200, {})))
    with pytest.raises(ValueError):
        client.get("trunks")


# --------------------------------------------------------------------------- list / pagination


def test_list_one_request_when_everything_fits() -> None:
    script = Script((200, page([{"id": i} for i in range(5)])))
    client = client_for(script)
    items = client.list("/trunks", params={"recurse": "true"})
    assert [i["id"] for i in items] == list(range(5))
    assert script.paths == ["GET /api/confd/1.1/trunks?recurse=true&limit=10000&offset=0"]


def test_list_reads_pages_until_total() -> None:
    data = [{"uuid": f"u{i}"} for i in range(5)]

    def handler(request: httpx.Request) -> httpx.Response:
        limit, offset = int(request.url.params["limit"]), int(request.url.params["offset"])
        return httpx.Response(200, json=page(data[offset : offset + limit], total=len(data)))

    script = Script(handler)
    client = client_for(script, page_size=2)
    assert client.list("/endpoints/sip") == data
    assert [r.url.params["offset"] for r in script.requests] == ["0", "2", "4"]
    assert client.stats["GET"] == 3


def test_list_reads_again_when_an_item_vanishes_between_pages() -> None:
    # ids 1..3; id 1 is deleted after the first page: page 2 (offset 2) is empty, total 2
    script = Script(
        (200, page([{"id": 1}, {"id": 2}], 3)),
        (200, page([], 2)),
        (200, page([{"id": 2}, {"id": 3}], 2)),
    )
    client = client_for(script, page_size=2)
    assert client.list("/trunks") == [{"id": 2}, {"id": 3}]
    assert [r.url.params["offset"] for r in script.requests] == ["0", "2", "0"]


def test_list_drops_an_item_seen_twice_when_one_is_added_between_pages() -> None:
    # ids 2..4; id 1 is added after the first page: id 3 shifts into page 2 again
    script = Script(
        (200, page([{"id": 2}, {"id": 3}], 3)),
        (200, page([{"id": 3}, {"id": 4}], 4)),
        (200, page([{"id": 1}, {"id": 2}], 4)),
        (200, page([{"id": 3}, {"id": 4}], 4)),
    )
    client = client_for(script, page_size=2)
    assert [i["id"] for i in client.list("/trunks")] == [1, 2, 3, 4]
    assert len(script.requests) == 4


def test_list_inconsistent_twice_is_an_error() -> None:
    script = Script((200, page([{"id": 1}], total=2)), (200, page([{"id": 1}], total=2)))
    client = client_for(script, page_size=1)
    with pytest.raises(ApiError, match="changed while it was read"):
        client.list("/trunks")


def test_list_rejects_a_non_list_answer() -> None:
    client = client_for(Script((200, {"options": {}})))
    with pytest.raises(ApiError, match="expected a list answer"):
        client.list("/asterisk/pjsip/global")


# --------------------------------------------------------------------------- writes


def test_post_returns_location_and_body_and_sends_json() -> None:
    location = f"{API}/trunks/7"
    script = Script((201, {"id": 7}, {"Location": location}))
    client = client_for(script, tenant=SUB)
    assert client.post("/trunks", {"context": "from-extern"}) == (location, {"id": 7})
    request = script.requests[0]
    assert json.loads(request.content) == {"context": "from-extern"}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Wazo-Tenant"] == SUB


def test_put_and_delete_answer_none() -> None:
    script = Script(204)
    client = client_for(script)
    assert client.put("/trunks/7", {"context": None}) is None  # type: ignore[func-returns-value]
    assert client.put("/trunks/7/endpoints/sip/abc") is None  # type: ignore[func-returns-value]
    assert client.delete("/sip/transports/u1", params={"fallback": "u2"}) is None  # type: ignore[func-returns-value]
    assert json.loads(script.requests[0].content) == {"context": None}
    assert script.requests[1].content == b""  # association PUTs have no body
    assert script.paths[2] == "DELETE /api/confd/1.1/sip/transports/u1?fallback=u2"
    assert client.stats.snapshot() == {"PUT": 2, "DELETE": 1}


# --------------------------------------------------------------------------- retries


def test_get_retried_on_503_503_then_200() -> None:
    with respx.mock(base_url=API, using="httpx") as router:
        route = router.get("/trunks").mock(
            side_effect=[
                httpx.Response(503),
                httpx.Response(503),
                httpx.Response(200, json=page([])),
            ]
        )
        client = ConfdClient(
            httpx.Client(base_url=BASE), auth=TokenAuth(TOKEN), retry=RetryPolicy.no_wait()
        )
        assert client.list("/trunks") == []
        client.close()
    assert route.call_count == 3
    assert client.stats.snapshot() == {"GET": 3, "retries": 2}


@pytest.mark.parametrize("status", [502, 503, 504])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_idempotent_methods_retried_on_gateway_errors(method: str, status: int) -> None:
    script = Script(status, 204 if method != "GET" else (200, {"ok": 1}))
    client = client_for(script)
    getattr(client, method.lower())("/x")
    assert len(script.requests) == 2


def test_get_retries_run_out_with_the_last_status_and_message() -> None:
    sleeps: list[float] = []
    script = Script((503, ["wazo-confd is not initialized"]))
    client = client_for(script, retry=RetryPolicy.no_wait(attempts=4, sleep=sleeps.append))
    with pytest.raises(ApiError) as info:
        client.get("/trunks")
    assert len(script.requests) == 4
    assert len(sleeps) == 3
    error = info.value
    assert (error.method, error.path, error.status) == ("GET", "/trunks", 503)
    assert error.messages == ("wazo-confd is not initialized",)
    assert str(error) == "GET /trunks: HTTP 503: wazo-confd is not initialized"


def test_backoff_grows_exponentially_and_is_capped() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=6, initial=1.0, maximum=5.0, jitter=0.0, sleep=sleeps.append)
    client = client_for(Script(503), retry=policy)
    with pytest.raises(ApiError):
        client.get("/x")
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_backoff_jitter_stays_within_bounds() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=4, initial=0.1, maximum=10.0, jitter=0.5, sleep=sleeps.append)
    client = client_for(Script(502), retry=policy)
    with pytest.raises(ApiError):
        client.get("/x")
    for n, slept in enumerate(sleeps):
        assert 0.1 * 2**n <= slept <= 0.1 * 2**n + 0.5


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_429_retried_for_every_method_honouring_retry_after(method: str) -> None:
    sleeps: list[float] = []
    ok = (201, {"id": 1}) if method == "POST" else (200, {}) if method == "GET" else 204
    script = Script((429, ["slow down"], {"Retry-After": "3"}), ok)
    client = client_for(script, retry=RetryPolicy.no_wait(sleep=sleeps.append))
    if method in ("POST", "PUT"):
        getattr(client, method.lower())("/x", {})
    else:
        getattr(client, method.lower())("/x")
    assert len(script.requests) == 2
    assert sleeps == [3.0]


def test_retry_after_is_capped_and_accepts_http_dates() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(
        attempts=3, initial=0, maximum=0, jitter=0, retry_after_cap=5.0, sleep=sleeps.append
    )
    later = format_datetime(datetime.fromtimestamp(time.time() + 600, UTC), usegmt=True)
    script = Script(
        (429, [], {"Retry-After": "3600"}), (429, [], {"Retry-After": later}), (200, {})
    )
    client_for(script, retry=policy).get("/x")
    assert sleeps == [5.0, 5.0]


def test_retry_after_parsing() -> None:
    def response(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    now = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert retry_after_seconds(response("2")) == 2.0
    assert retry_after_seconds(response("-4")) == 0.0
    assert retry_after_seconds(response("Thu, 01 Jan 2026 00:00:30 GMT"), now) == 30.0
    assert retry_after_seconds(response("Wed, 31 Dec 2025 00:00:30 GMT"), now) == 0.0
    assert retry_after_seconds(response("soon")) is None
    assert retry_after_seconds(httpx.Response(429)) is None


def test_post_not_retried_on_read_timeout() -> None:
    script = Script(httpx.ReadTimeout, (201, {"id": 2}))
    client = client_for(script)
    with pytest.raises(OutcomeUnknownError) as info:
        client.post("/trunks", {"context": "from-extern"})
    assert len(script.requests) == 1
    error = info.value
    assert (error.method, error.path, error.status) == ("POST", "/trunks", None)
    assert "may or may not have been applied" in str(error)
    assert isinstance(error.__cause__, httpx.ReadTimeout)


@pytest.mark.parametrize("exc", [httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteTimeout])
def test_post_not_retried_when_the_request_may_have_arrived(exc: type[Exception]) -> None:
    script = Script(exc, (201, {}))
    with pytest.raises(OutcomeUnknownError):
        client_for(script).post("/trunks", {})
    assert len(script.requests) == 1


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_post_retried_when_it_surely_never_arrived(exc: type[Exception]) -> None:
    script = Script((200, {"uuid": "t"}), exc, (201, {"id": 9}, {"Location": "/x/9"}))
    client = client_for(script)
    client.get("/tenants/t")  # the server was reached: a refused connection is a blip
    assert client.post("/trunks", {}) == ("/x/9", {"id": 9})
    assert len(script.requests) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_post_5xx_is_outcome_unknown_and_not_retried(status: int) -> None:
    script = Script((status, ["Unexpected error: sysconfd"]), (201, {}))
    with pytest.raises(OutcomeUnknownError) as info:
        client_for(script).post("/endpoints/sip", {"name": "x"})
    assert len(script.requests) == 1
    assert info.value.status == status
    assert info.value.messages == ("Unexpected error: sysconfd",)


def test_put_500_is_outcome_unknown_and_not_retried() -> None:
    script = Script((500, ["Unexpected error: boom"]), 204)
    with pytest.raises(OutcomeUnknownError):
        client_for(script).put("/trunks/1", {"context": "x"})
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_get_5xx_is_retried_a_read_changes_nothing(status: int) -> None:
    script = Script((status, ["Unexpected error: boom"]), (200, {"uuid": "u"}))
    assert client_for(script).get("/trunks/1") == {"uuid": "u"}
    assert len(script.requests) == 2


def test_get_500_until_retries_run_out_is_an_error_with_confd_message() -> None:
    script = Script(*[(500, ["Unexpected error: boom"])] * 5)
    with pytest.raises(ApiError) as info:
        client_for(script).get("/trunks/1")
    assert len(script.requests) == 5
    assert info.value.status == 500 and not isinstance(info.value, OutcomeUnknownError)
    assert info.value.messages == ("Unexpected error: boom",)


def test_put_retried_after_read_timeout() -> None:
    script = Script(httpx.ReadTimeout, 204)
    client_for(script).put("/trunks/1", {})
    assert len(script.requests) == 2


def test_put_retries_run_out_after_ambiguous_failures_is_outcome_unknown() -> None:
    script = Script(httpx.ReadTimeout)
    with pytest.raises(OutcomeUnknownError) as info:
        client_for(script, retry=RetryPolicy.no_wait(attempts=3)).put("/trunks/1", {})
    assert len(script.requests) == 3
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


def test_get_connect_error_after_retries_is_api_error_without_status() -> None:
    script = Script((200, {"uuid": "t"}), httpx.ConnectError)
    client = client_for(script, retry=RetryPolicy.no_wait(attempts=3))
    client.get("/tenants/t")
    with pytest.raises(ApiError) as info:
        client.get("/trunks")
    assert type(info.value) is ApiError
    assert info.value.status is None
    assert "ConnectError" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(script.requests) == 1 + 3


def test_a_server_never_reached_fails_at_once_naming_its_host_and_port() -> None:
    script = Script(httpx.ConnectError)
    with pytest.raises(ApiError) as info:
        client_for(script, retry=RetryPolicy.no_wait(attempts=5)).get("/trunks")
    assert len(script.requests) == 1  # no retry: a wrong --url or a PBX that is down
    assert info.value.status is None and isinstance(info.value.__cause__, httpx.ConnectError)
    assert "cannot connect to wazo.test:443" in str(info.value)


def test_get_timeout_error_names_the_timeout_flags() -> None:
    with pytest.raises(ApiError, match="--timeout"):
        client_for(Script(httpx.ReadTimeout), retry=RetryPolicy.no_wait(attempts=2)).get("/x")


def test_delete_404_after_an_ambiguous_failure_counts_as_success() -> None:
    script = Script(httpx.ReadTimeout, (404, ["Resource Not Found - Trunk was not found"]))
    client_for(script).delete("/trunks/4")
    assert len(script.requests) == 2


def test_delete_404_after_a_502_counts_as_success() -> None:
    script = Script((502, "<html><title>502 Bad Gateway</title></html>"), 404)
    client_for(script).delete("/trunks/4")
    assert len(script.requests) == 2


def test_delete_404_is_an_error_unless_missing_ok() -> None:
    client = client_for(Script((404, ["Resource Not Found - Trunk was not found"])))
    with pytest.raises(ApiError) as info:
        client.delete("/trunks/4")
    assert info.value.status == 404
    client.delete("/trunks/4", missing_ok=True)


def test_4xx_is_never_retried_and_carries_confd_messages() -> None:
    body = [
        "Input Error - name: ['Missing data for required field.']",
        {"options": {"0": ["Not a valid list."]}},
    ]
    script = Script((400, body))
    with pytest.raises(ApiError) as info:
        client_for(script).post("/sip/transports", {})
    assert len(script.requests) == 1
    assert type(info.value) is ApiError
    assert info.value.messages == (
        "Input Error - name: ['Missing data for required field.']",
        '{"options": {"0": ["Not a valid list."]}}',
    )
    assert str(info.value).startswith("POST /sip/transports: HTTP 400: Input Error - name")


def test_tls_and_protocol_mistakes_are_not_retried() -> None:
    script = Script(httpx.UnsupportedProtocol)
    with pytest.raises(ApiError):
        client_for(script).get("/x")
    assert len(script.requests) == 1


# --------------------------------------------------------------------------- bodies and errors


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            httpx.Response(
                404,
                html="<html><head><title>404 Not Found</title></head>"
                "<body><h1>Not Found</h1></body></html>",
            ),
            ["non-JSON answer: 404 Not Found"],
        ),
        (
            httpx.Response(
                502,
                text="<html><body><center><h1>502 Bad Gateway</h1></center>"
                "<hr><center>nginx</center></body></html>",
            ),
            # whole and unspaced: the CLI masks secrets, then re-spaces and cuts (Output.shown)
            ["non-JSON answer: 502 Bad Gateway    nginx"],
        ),
        (httpx.Response(500, text="x" * 500), ["non-JSON answer: " + "x" * 500]),
        (httpx.Response(500), []),
        (
            httpx.Response(401, json={"message": "Authentication Failed", "error_id": "x"}),
            ["Authentication Failed"],
        ),
        (
            httpx.Response(401, json={"reason": ["Authentication Failed"], "status_code": 401}),
            ["Authentication Failed"],
        ),
        (httpx.Response(400, json={"weird": 1}), ['{"weird": 1}']),
        (httpx.Response(400, json="plain"), ['"plain"']),
    ],
)
def test_error_messages_from_any_body(response: httpx.Response, expected: list[str]) -> None:
    assert error_messages(response) == expected


def test_html_404_becomes_a_readable_api_error() -> None:
    script = Script((404, "<html><title>404 Not Found</title><body>nope</body></html>"))
    with pytest.raises(ApiError) as info:
        client_for(script).get("/nope")
    assert str(info.value) == (
        "GET /nope: HTTP 404 (https://wazo.test answers, but not as a wazo-confd: is --url "
        "the base address of a Wazo stack (https://wazo.example.com)?)"
    )


def test_non_json_success_is_a_clear_error() -> None:
    script = Script((200, "<html><title>Wazo</title></html>"))
    with pytest.raises(ApiError, match="base address of a Wazo stack"):
        client_for(script).get("/trunks")


def test_redirect_is_reported_not_followed() -> None:
    script = Script((301, "", {"Location": "https://other.example/api/confd/1.1/x"}))
    with pytest.raises(ApiError, match="redirected to https://other.example"):
        client_for(script).get("/x")
    assert len(script.requests) == 1


# --------------------------------------------------------------------------- auth errors


def test_401_with_static_token_is_an_auth_error_without_echoing_the_token() -> None:
    # confd's 401 body echoes the token (recordings/tenant_header.json)
    script = Script((401, [f"('{TOKEN}', 'confd.endpoints.sip.read', '{SUB}')"]))
    with pytest.raises(AuthError) as info:
        client_for(script).get("/endpoints/sip", tenant=SUB)
    assert len(script.requests) == 1
    text = str(info.value)
    assert TOKEN not in text
    assert info.value.status == 401
    assert "--token" in text and "WAZO_TOKEN" in text and "--tenant" in text and "ACL" in text


def test_401_on_a_master_tenant_endpoint_says_so() -> None:
    with pytest.raises(AuthError, match="master tenant"):
        client_for(Script((401, [TOKEN]))).get("/asterisk/pjsip/global")


def test_403_is_an_auth_error() -> None:
    with pytest.raises(AuthError) as info:
        client_for(Script((403, ["no"]))).put("/trunks/1", {})
    assert info.value.status == 403
    assert "forbidden" in str(info.value)


# --------------------------------------------------------------------------- password auth


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class AuthServer:
    """wazo-auth + confd: issues tok-1, tok-2, ... and accepts only the newest token."""

    def __init__(self, lifetime: int = 100, confd: Step = (200, {"ok": True})) -> None:
        self.lifetime = lifetime
        self.issued: list[str] = []
        self.token_requests: list[httpx.Request] = []
        self.confd = Script(confd)
        self.refuse_all = False
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/auth/0.1/token":
            with self.lock:
                self.token_requests.append(request)
                self.issued.append(f"tok-{len(self.issued) + 1}")
                return httpx.Response(200, json=auth_answer(self.issued[-1], self.lifetime))
        if self.refuse_all or request.headers.get("X-Auth-Token") != self.issued[-1]:
            return httpx.Response(401, json=[request.headers.get("X-Auth-Token", "")])
        return self.confd(request)


def password_client(server: AuthServer, clock: FakeClock, margin: float = 10.0) -> ConfdClient:
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(server))
    auth = PasswordAuth(
        http,
        "admin",
        PASSWORD,
        retry=RetryPolicy.no_wait(),
        margin=margin,
        clock=clock,
        expiration=100,
    )
    return ConfdClient(http, auth=auth, retry=RetryPolicy.no_wait())


def test_password_auth_posts_basic_auth_and_json_body() -> None:
    with respx.mock(base_url=BASE, using="httpx") as router:
        token_route = router.post("/api/auth/0.1/token").mock(
            return_value=httpx.Response(200, json=auth_answer("tok-1"))
        )
        confd_route = router.get("/api/confd/1.1/x").mock(return_value=httpx.Response(200, json=1))
        settings = ConnectionSettings(url=BASE, username="admin", password=PASSWORD)
        with connect(settings, retry=RetryPolicy.no_wait()) as client:
            assert client.get("/x") == 1
    request = token_route.calls.last.request
    expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert request.headers["Authorization"] == expected
    assert json.loads(request.content) == {"expiration": 3600}
    assert "X-Auth-Token" not in request.headers
    assert confd_route.calls.last.request.headers["X-Auth-Token"] == "tok-1"
    assert "Authorization" not in confd_route.calls.last.request.headers
    assert client.stats.snapshot() == {"auth": 1, "GET": 1}


def test_password_auth_renews_before_expiry() -> None:
    server, clock = AuthServer(lifetime=100), FakeClock()
    client = password_client(server, clock, margin=10.0)
    client.get("/x")
    clock.now += 89  # 11 s before expiry: keep it
    client.get("/x")
    assert server.issued == ["tok-1"]
    clock.now += 2  # 9 s before expiry: renew first, no 401 seen
    client.get("/x")
    assert server.issued == ["tok-1", "tok-2"]
    assert [r.headers["X-Auth-Token"] for r in server.confd.requests] == ["tok-1"] * 2 + ["tok-2"]
    assert client.stats["GET"] == 3


def test_password_auth_margin_adapts_to_short_tokens() -> None:
    server, clock = AuthServer(lifetime=10), FakeClock()
    client = password_client(server, clock, margin=60.0)  # margin > lifetime: use half
    client.get("/x")
    clock.now += 4
    client.get("/x")
    clock.now += 2
    client.get("/x")
    assert server.issued == ["tok-1", "tok-2"]


def test_password_auth_renews_once_on_401_even_for_post() -> None:
    server, clock = AuthServer(confd=(201, {"id": 1})), FakeClock()
    client = password_client(server, clock)
    client.get("/x")
    server.issued.append("tok-revoked-behind-our-back")  # the server now wants another token
    assert client.post("/trunks", {})[1] == {"id": 1}
    assert server.issued[-1] == "tok-3"
    posts = [r for r in server.confd.requests if r.method == "POST"]
    assert [r.headers["X-Auth-Token"] for r in posts] == ["tok-3"]
    assert len(server.token_requests) == 2


def test_password_auth_gives_up_after_one_renewal() -> None:
    server, clock = AuthServer(), FakeClock()
    server.refuse_all = True
    client = password_client(server, clock)
    with pytest.raises(AuthError) as info:
        client.get("/x")
    assert len(server.token_requests) == 2
    assert "--username/--password" in str(info.value)
    assert PASSWORD not in str(info.value)


def test_password_auth_bad_credentials() -> None:
    script = Script((401, {"message": "Authentication Failed", "error_id": "auth_failed"}))
    client = password_client_with(script)
    with pytest.raises(AuthError) as info:
        client.get("/x")
    assert info.value.path == "/api/auth/0.1/token"
    assert "wazo-auth refused the username/password" in str(info.value)
    assert "WAZO_PASSWORD" in str(info.value)
    assert len(script.requests) == 1


def test_password_auth_unexpected_answer() -> None:
    client = password_client_with(Script((200, {"data": {"no": "token"}})))
    with pytest.raises(ApiError, match="unexpected answer from wazo-auth"):
        client.get("/x")


def test_password_auth_retries_the_token_request_on_503() -> None:
    script = Script(503, (200, auth_answer("tok-1")), (200, {"ok": 1}))
    assert password_client_with(script).get("/x") == {"ok": 1}
    assert [r.url.path for r in script.requests] == ["/api/auth/0.1/token"] * 2 + [
        "/api/confd/1.1/x"
    ]


def password_client_with(script: Script) -> ConfdClient:
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(script))
    auth = PasswordAuth(http, "admin", PASSWORD, retry=RetryPolicy.no_wait())
    return ConfdClient(http, auth=auth, retry=RetryPolicy.no_wait())


def test_password_auth_renews_once_under_concurrency() -> None:
    server, clock = AuthServer(), FakeClock()
    client = password_client(server, clock)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda _: client.get("/x"), range(64)))
    assert server.issued == ["tok-1"]
    clock.now += 1000
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda _: client.get("/x"), range(64)))
    assert server.issued == ["tok-1", "tok-2"]
    assert client.stats["GET"] == 128


def test_token_lifetime_uses_server_times() -> None:
    assert token_lifetime(auth_answer("t", 7200)["data"]) == 7200
    assert (
        token_lifetime(
            {"issued_at": "2026-01-01T10:00:00+01:00", "expires_at": "2026-01-01T10:30:00+01:00"}
        )
        == 1800
    )
    assert token_lifetime({"expires_at": "garbage"}) is None


def test_auth_reprs_hide_secrets() -> None:
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(Script(200)))
    text = repr(TokenAuth(TOKEN)) + repr(PasswordAuth(http, "admin", PASSWORD))
    assert TOKEN not in text and PASSWORD not in text
    http.close()


# --------------------------------------------------------------------------- secrets in logs


def test_no_secret_in_debug_logs_or_errors(log_text: io.StringIO) -> None:
    server = AuthServer(
        confd=(400, ["Input Error - auth_section_options: bad value 'sip-Secret-77'"])
    )
    clock = FakeClock()
    client = password_client(server, clock)
    body = {
        "name": "acme",
        "auth_section_options": [["username", "u1"], ["password", "sip-Secret-77"]],
        "outbound_auth_section_options": [["md5_cred", "md5-Secret-88"]],
        "options": [["secret", "iax-Secret-99"]],
        "password": "top-Secret-66",
    }
    with pytest.raises(ApiError) as info:
        client.post("/endpoints/sip", body)
    text = log_text.getvalue()
    assert "POST /endpoints/sip body:" in text  # bodies are logged at DEBUG ...
    assert "acme" in text and "u1" in text
    secrets = [
        PASSWORD,
        "tok-1",
        "sip-Secret-77",
        "md5-Secret-88",
        "iax-Secret-99",
        "top-Secret-66",
        base64.b64encode(f"admin:{PASSWORD}".encode()).decode(),
    ]
    for secret in secrets:  # ... but never a secret, nor in the error message
        assert secret not in text
        assert secret not in str(info.value)
    assert "POST /api/auth/0.1/token -> 200" in text
    assert "POST /endpoints/sip -> 400" in text


def test_requests_and_retries_are_logged_with_status_and_attempt(log_text: io.StringIO) -> None:
    client_for(Script(503, (200, {}))).get("/trunks", params={"recurse": "true"})
    text = log_text.getvalue()
    assert "GET /trunks?recurse=true -> 503" in text
    assert "retrying in 0.0 s (attempt 2 of 5)" in text
    assert "GET /trunks?recurse=true -> 200" in text
    assert "attempt 2)" in text


# --------------------------------------------------------------------------- thread safety


def test_client_is_thread_safe_and_counts_every_request() -> None:
    script = Script(lambda r: httpx.Response(200, json={"path": r.url.path}))
    client = client_for(script)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: client.get(f"/trunks/{i}"), range(200)))
    assert [r["path"] for r in results] == [f"/api/confd/1.1/trunks/{i}" for i in range(200)]
    assert client.stats["GET"] == 200
    assert client.stats.requests == 200
    client.stats.reset()
    assert client.stats.snapshot() == {}


# --------------------------------------------------------------------------- TLS, for real


class _Handler(BaseHTTPRequestHandler):
    hits = 0
    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        type(self).hits += 1
        self.paths.append(self.path)
        body = json.dumps({"total": 1, "items": [{"uuid": TENANT}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    ca_path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    with serving(server):
        yield f"https://127.0.0.1:{server.server_address[1]}", ca_path


def test_tls_verification_is_on_by_default(https_server: tuple[str, Path]) -> None:
    url, _ = https_server
    sleeps: list[float] = []
    settings = ConnectionSettings(url=url, token=TOKEN)
    hits = _Handler.hits
    with connect(settings, retry=RetryPolicy.no_wait(sleep=sleeps.append)) as client:
        with pytest.raises(ApiError) as info:
            client.get("/tenants")
    text = str(info.value)
    assert "TLS certificate verification failed (unable to get local issuer" in text
    assert "--ca-bundle" in text
    assert sleeps == []  # a certificate problem is not retried
    assert _Handler.hits == hits
    assert TOKEN not in text


def test_tls_with_ca_bundle(https_server: tuple[str, Path]) -> None:
    url, ca_path = https_server
    settings = ConnectionSettings(url=url, token=TOKEN, ca_bundle=str(ca_path))
    with connect(settings) as client:
        assert client.list("/tenants") == [{"uuid": TENANT}]


def test_tls_insecure_works_and_warns(
    https_server: tuple[str, Path], caplog: pytest.LogCaptureFixture, log_text: io.StringIO
) -> None:
    url, _ = https_server
    settings = ConnectionSettings(url=url, token=TOKEN, insecure=True)
    with connect(settings) as client:
        assert client.get("/tenants")["total"] == 1
    assert "WARNING wazo_reconcile.confd: TLS certificate verification is DISABLED" in (
        log_text.getvalue()
    )


def test_tls_unreadable_ca_bundle_is_a_usage_error(tmp_path: Path) -> None:
    settings = ConnectionSettings(url=BASE, token=TOKEN, ca_bundle=str(tmp_path / "nope.pem"))
    with pytest.raises(UsageError, match="cannot use --ca-bundle"):
        connect(settings)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(UsageError, match="cannot use --ca-bundle"):
        connect(ConnectionSettings(url=BASE, token=TOKEN, ca_bundle=str(garbage)))


def test_plain_http_loads_no_ca_bundle_and_would_trust_no_certificate() -> None:
    """A plain-http URL never uses TLS: no CA bundle is loaded for it (0.1 s of every
    command); https verifies with the system's bundle."""
    context = tls_verify(ConnectionSettings(url="http://127.0.0.1:9", token=TOKEN))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
    assert tls_verify(ConnectionSettings(url=BASE, token=TOKEN)) is True


def test_plain_http_to_a_remote_host_warns(log_text: io.StringIO) -> None:
    settings = ConnectionSettings(url="http://wazo.example.com", token=TOKEN)
    connect(settings, transport=httpx.MockTransport(Script(200))).close()
    connect(ConnectionSettings(url="http://127.0.0.1:9", token=TOKEN)).close()
    text = log_text.getvalue()
    assert "http://wazo.example.com is plain http" in text
    assert "127.0.0.1" not in text


def test_connect_without_url_or_credentials_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        connect(ConnectionSettings(token=TOKEN))
    with pytest.raises(UsageError):
        connect(ConnectionSettings(url=BASE))


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Handler)) as server:
        yield f"127.0.0.1:{server.server_address[1]}"


def test_plain_http_loopback_server_works(http_server: str) -> None:
    with connect(ConnectionSettings(url=f"http://{http_server}", token=TOKEN)) as client:
        assert client.list("/tenants") == [{"uuid": TENANT}]


def test_https_to_a_plain_http_port_is_a_clear_unretried_error(http_server: str) -> None:
    sleeps: list[float] = []
    settings = ConnectionSettings(url=f"https://{http_server}", token=TOKEN)
    with connect(settings, retry=RetryPolicy.no_wait(sleep=sleeps.append)) as client:
        with pytest.raises(ApiError, match="TLS handshake failed") as info:
            client.get("/tenants")
    assert "is --url right" in str(info.value)
    assert sleeps == []


def _closed_port_url() -> str:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_a_refused_connection_fails_at_once_and_names_host_and_port() -> None:
    sleeps: list[float] = []
    url = _closed_port_url()
    settings = ConnectionSettings(url=url, token=TOKEN)
    with connect(settings, retry=RetryPolicy.no_wait(attempts=3, sleep=sleeps.append)) as client:
        started = time.monotonic()
        with pytest.raises(ApiError) as info:
            client.post("/trunks", {})
    assert not isinstance(info.value, OutcomeUnknownError)  # it surely never arrived
    assert sleeps == [] and time.monotonic() - started < 1.0
    assert f"cannot connect to {url.removeprefix('http://')}" in str(info.value)


def test_connect_goes_through_the_proxy_the_environment_names(
    http_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://{http_server}")  # the test server plays the proxy
    url = _closed_port_url()
    with connect(ConnectionSettings(url=url, token=TOKEN)) as client:
        assert client.list("/tenants") == [{"uuid": TENANT}]
    assert _Handler.paths[-1] == f"{url}/api/confd/1.1/tenants?limit=10000&offset=0"


# --------------------------------------------------------------------------- against the sandbox


def test_the_client_never_imports_the_sandbox() -> None:
    """The sandbox builds on the client (`sandbox/client.py`), never the reverse."""
    package = Path(str(wazo_reconcile.__file__)).parent
    for name in ("auth.py", "confd.py", "retries.py"):
        tree = ast.parse((package / name).read_text())
        imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [name for name in imported if name.startswith("wazo_reconcile.sandbox")]


def test_connect_sandbox_talks_to_an_in_process_fresh_wazo() -> None:
    with connect_sandbox(ConnectionSettings(sandbox=True), retry=RetryPolicy.no_wait()) as client:
        assert {t["name"] for t in client.list("/sip/transports")} == {
            "transport-udp",
            "transport-wss",
        }
        location, created = client.post(
            "/sip/transports", {"name": "transport-tcp", "options": [["protocol", "tcp"]]}
        )
        assert location is not None and location.endswith(f"/sip/transports/{created['uuid']}")
        client.put(f"/sip/transports/{created['uuid']}", {"options": [["protocol", "tls"]]})
        assert client.get(f"/sip/transports/{created['uuid']}")["options"] == [["protocol", "tls"]]
        with pytest.raises(ApiError) as info:
            client.post("/sip/transports", {"name": "transport-tcp"})
        assert info.value.status == 400
        assert any("already exists" in m for m in info.value.messages)
        client.delete(f"/sip/transports/{created['uuid']}")
        with pytest.raises(ApiError) as missing:
            client.delete(f"/sip/transports/{created['uuid']}")
        assert missing.value.status == 404
        client.delete(f"/sip/transports/{created['uuid']}", missing_ok=True)


def faulty(*rules: FaultRule) -> tuple[Sandbox, ConfdClient, list[float]]:
    sandbox = Sandbox(faults=FaultConfig(rules=rules))
    sleeps: list[float] = []
    return sandbox, sandbox_client(sandbox, retry=RetryPolicy.no_wait(sleep=sleeps.append)), sleeps


def transports_named(client: ConfdClient, name: str) -> list[dict[str, Any]]:
    return client.list("/sip/transports", params={"name": name})


def test_sandbox_503_on_reads_is_retried() -> None:
    _, client, sleeps = faulty(FaultRule("error", status=503, nth=(1, 2), method="GET"))
    assert len(client.list("/sip/transports")) == 2
    assert client.stats.snapshot() == {"GET": 3, "retries": 2}
    assert len(sleeps) == 2


def test_sandbox_429_on_a_post_is_retried_once_and_creates_one_object() -> None:
    _, client, sleeps = faulty(FaultRule("rate_limit", nth=(1,), retry_after=2, method="POST"))
    client.post("/sip/transports", {"name": "t1"})
    assert sleeps == [2.0]
    assert len(transports_named(client, "t1")) == 1


@pytest.mark.parametrize(
    ("kind", "created"),
    [("saved_then_500", True), ("timeout", True), ("drop_after", True), ("drop_before", False)],
)
def test_sandbox_post_with_unknown_outcome_is_never_repeated(kind: str, created: bool) -> None:
    _, client, _ = faulty(FaultRule(kind, nth=(1,), method="POST"))
    with pytest.raises(OutcomeUnknownError) as info:
        client.post("/sip/transports", {"name": "t1"})
    assert (info.value.method, info.value.path) == ("POST", "/sip/transports")
    assert client.stats["POST"] == 1
    # what the apply engine does next: read back by identity
    assert len(transports_named(client, "t1")) == (1 if created else 0)


@pytest.mark.parametrize("kind", ["timeout", "drop_after", "drop_before"])
def test_sandbox_put_with_unknown_outcome_is_retried(kind: str) -> None:
    _, client, _ = faulty(FaultRule(kind, nth=(1,), method="PUT"))
    uuid = transports_named(client, "transport-wss")[0]["uuid"]
    client.put(f"/sip/transports/{uuid}", {"options": [["protocol", "wss"]]})
    assert client.stats["PUT"] == 2
    assert client.get(f"/sip/transports/{uuid}")["options"] == [["protocol", "wss"]]


@pytest.mark.parametrize("kind", ["timeout", "drop_after"])
def test_sandbox_delete_committed_then_lost_answer_counts_as_done(kind: str) -> None:
    _, client, _ = faulty(FaultRule(kind, nth=(1,), method="DELETE"))
    _, created = client.post("/sip/transports", {"name": "t1"})
    client.delete(f"/sip/transports/{created['uuid']}")  # 2nd attempt meets 404: done
    assert client.stats["DELETE"] == 2
    assert transports_named(client, "t1") == []


def test_sandbox_saved_then_500_on_a_put_is_outcome_unknown_but_applied() -> None:
    _, client, _ = faulty(FaultRule("saved_then_500", nth=(1,), method="PUT"))
    uuid = transports_named(client, "transport-wss")[0]["uuid"]
    with pytest.raises(OutcomeUnknownError) as info:
        client.put(f"/sip/transports/{uuid}", {"options": [["protocol", "wss"]]})
    assert info.value.status == 500
    assert client.get(f"/sip/transports/{uuid}")["options"] == [["protocol", "wss"]]


def test_sandbox_sub_tenant_token_on_master_only_endpoint() -> None:
    sandbox = Sandbox()
    http = httpx.Client(base_url=SANDBOX_URL, transport=sandbox.transport())
    client = ConfdClient(http, auth=TokenAuth(sandbox.issue_token(FRESH_SUB)))
    with pytest.raises(AuthError, match="needs a token of the master tenant") as info:
        client.get("/asterisk/pjsip/global")
    assert info.value.status == 401
    client.close()


class SharedClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def strict_sandbox_client(clock: SharedClock, client_clock: Any) -> tuple[Sandbox, ConfdClient]:
    sandbox = Sandbox(require_auth=("admin", PASSWORD), clock=clock)
    http = httpx.Client(base_url=SANDBOX_URL, transport=sandbox.transport())
    auth = PasswordAuth(
        http,
        "admin",
        PASSWORD,
        expiration=30,
        margin=5,
        clock=client_clock,
        retry=RetryPolicy.no_wait(),
    )
    return sandbox, ConfdClient(http, auth=auth, retry=RetryPolicy.no_wait())


def test_sandbox_token_expiring_mid_run_is_renewed_before_expiry() -> None:
    clock = SharedClock()
    _, client = strict_sandbox_client(clock, clock)
    for _ in range(10):  # 10 reads, 10 s apart, with 30 s tokens
        assert client.list("/sip/transports")
        clock.now += 10
    assert client.stats["GET"] == 10  # never refused: renewed ahead of time
    assert client.stats["auth"] == 4  # at 0, 30, 60, 90 s: 5 s before each expiry


def test_sandbox_token_expired_behind_our_back_is_renewed_after_one_401() -> None:
    clock = SharedClock()
    _, client = strict_sandbox_client(clock, lambda: 0.0)  # the client thinks no time passes
    client.list("/sip/transports")
    clock.now += 31
    client.list("/sip/transports")
    assert client.stats.snapshot() == {"auth": 2, "GET": 3}


def test_sandbox_wrong_password() -> None:
    sandbox = Sandbox(require_auth=("admin", PASSWORD))
    http = httpx.Client(base_url=SANDBOX_URL, transport=sandbox.transport())
    client = ConfdClient(http, auth=PasswordAuth(http, "admin", "wrong"))
    with pytest.raises(AuthError, match="wazo-auth refused the username/password"):
        client.get("/sip/transports")
    client.close()

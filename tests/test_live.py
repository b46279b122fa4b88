from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from wazo_reconcile.auth import TokenAuth
from wazo_reconcile.confd import ConfdClient, RetryPolicy, connect
from wazo_reconcile.errors import ApiError, UsageError
from wazo_reconcile.live import LIST_KINDS, LiveState, fetch_live
from wazo_reconcile.sandbox import FRESH_MASTER, FRESH_SUB, FaultConfig, FaultRule, Sandbox
from wazo_reconcile.sandbox.client import SANDBOX_URL, connect_sandbox, sandbox_client
from wazo_reconcile.settings import ConnectionSettings

MASTER = "11111111-1111-4111-8111-111111111111"
SUB = "22222222-2222-4222-8222-222222222222"
PREFIX = "/api/confd/1.1"


def tenant_item(uuid: str, n: int) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "sip_templates_generated": True,
        "global_sip_template_uuid": f"{n}0000000-0000-4000-8000-000000000000",
    }


def sip_trunk(n: int, tenant: str = MASTER) -> tuple[dict[str, Any], dict[str, Any]]:
    endpoint = {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "tenant_uuid": tenant,
        "name": f"trunk{n}",
        "label": None,
        "templates": [{"uuid": "t-global", "label": "global"}],
        "transport": {"uuid": "tr-udp"},
        "auth_section_options": [["username", f"u{n}"], ["password", f"secret-{n}"]],
        "endpoint_section_options": [["from_domain", "sip.example"], ["rtp_symmetric", "yes"]],
        "aor_section_options": [],
        "identify_section_options": [],
        "registration_section_options": [],
        "registration_outbound_auth_section_options": [],
        "outbound_auth_section_options": [],
        "links": [{"rel": "endpoint_sip", "href": f"http://127.0.0.1:9487{PREFIX}/x/{n}"}],
        "trunk": {"id": n},
        "line": None,
    }
    trunk = {
        "id": n,
        "tenant_uuid": tenant,
        "context": "from-extern",
        "twilio_incoming": False,
        "outgoing_caller_id_format": "+E164",
        "endpoint_sip": {"uuid": endpoint["uuid"], "name": endpoint["name"]},
        "endpoint_iax": None,
        "endpoint_custom": None,
        "outcalls": [],
        "register_iax": None,
        "links": [],
    }
    return endpoint, trunk


class FakeConfd:
    """Just enough of confd's list semantics to read a live state (MockTransport handler)."""

    def __init__(self, trunks: int = 2, *, master_token: bool = True, doc: bool = True) -> None:
        self.master_token = master_token
        self.doc = doc
        self.requests: list[httpx.Request] = []
        self.fail: dict[str, int] = {}  # path -> status
        self.delay = 0.0
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.tenants = [tenant_item(MASTER, 1), tenant_item(SUB, 2)]
        endpoints, trunk_items = (
            zip(*(sip_trunk(n) for n in range(1, trunks + 1)), strict=True) if trunks else ((), ())
        )
        self.collections: dict[str, list[dict[str, Any]]] = {
            "/sip/transports": [
                {
                    "uuid": "tr-udp",
                    "name": "transport-udp",
                    "options": [["protocol", "udp"], ["bind", "0.0.0.0:5060"]],
                }
            ],
            "/endpoints/sip/templates": [
                {
                    "uuid": "t-global",
                    "tenant_uuid": MASTER,
                    "name": "abcdefgh",
                    "label": "global",
                    "templates": [],
                    "endpoint_section_options": [
                        ["allow", "!all,ulaw"],
                        ["set_var", "A=1"],
                        ["set_var", "B=2"],
                    ],
                },
                {
                    "uuid": "t-sub",
                    "tenant_uuid": SUB,
                    "name": "ijklmnop",
                    "label": "global",
                    "templates": [],
                    "endpoint_section_options": [],
                },
            ],
            "/endpoints/sip": list(endpoints),
            "/endpoints/iax": [
                {
                    "id": 1,
                    "tenant_uuid": SUB,
                    "name": "hq",
                    "type": "peer",
                    "host": "hq.example",
                    "options": [["trunk", "yes"]],
                }
            ],
            "/endpoints/custom": [],
            "/registers/iax": [],
            "/trunks": list(trunk_items),
            "/outcalls": [
                {
                    "id": 1,
                    "tenant_uuid": MASTER,
                    "name": "national",
                    "trunks": [{"id": 2}, {"id": 1}],
                    "extensions": [],
                }
            ],
            "/contexts": [
                {
                    "id": 1,
                    "tenant_uuid": MASTER,
                    "name": "from-extern",
                    "type": "incall",
                    "label": "Incalls",
                },
                {
                    "id": 3,
                    "tenant_uuid": MASTER,
                    "name": "to-extern",
                    "type": "outcall",
                    "label": "Outcalls",
                },
                {
                    "id": 4,
                    "tenant_uuid": SUB,
                    "name": "to-extern-sub",
                    "type": "outcall",
                    "label": "Outcalls",
                },
            ],
            "/extensions": [
                {
                    "id": 1,
                    "tenant_uuid": MASTER,
                    "exten": "_0XXXXXXXXX",
                    "context": "to-extern",
                    "type": "outcall",
                },
                {
                    "id": 2,
                    "tenant_uuid": MASTER,
                    "exten": "1000",
                    "context": "default",
                    "type": "internal",
                },
            ],
            "/users": [
                {
                    "uuid": "user-alice",
                    "id": 1,
                    "tenant_uuid": MASTER,
                    "email": "alice@example.com",
                    "username": "alice",
                    "firstname": "Alice",
                    "outgoing_caller_id": None,
                    "lines": [],
                }
            ],
        }
        self.pjsip = {"global": {"user_agent": "Wazo PBX"}, "system": {}}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            return self._answer(request)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(PREFIX)
        if path in self.fail:
            return httpx.Response(self.fail[path], json=["Unexpected error: boom"])
        if path == "/tenants":
            recurse = request.url.params.get("recurse") == "true"
            own = [t for t in self.tenants if t["uuid"] == MASTER]
            return self._page(request, self.tenants if recurse else own)
        if path.startswith("/asterisk/pjsip/"):
            return self._pjsip(path.rsplit("/", 1)[1])
        if path.startswith("/endpoints/sip/") and path != "/endpoints/sip/templates":
            uuid = path.rsplit("/", 1)[1]
            found = [e for e in self.collections["/endpoints/sip"] if e["uuid"] == uuid]
            return httpx.Response(200, json=found[0]) if found else httpx.Response(404, json=[])
        items = self.collections[path]
        if "name" in request.url.params:
            items = [i for i in items if i.get("name") == request.url.params["name"]]
        if request.url.params.get("recurse") != "true" and path != "/sip/transports":
            items = [i for i in items if i.get("tenant_uuid") == MASTER]
        if "type" in request.url.params:
            items = [i for i in items if i.get("type") == request.url.params["type"]]
        return self._page(request, items)

    def _pjsip(self, section: str) -> httpx.Response:
        if section == "doc":
            if not self.doc:
                return httpx.Response(400, json=["failed to read PJSIP JSON documentation"])
            return httpx.Response(200, json={"global": {"user_agent": {"name": "user_agent"}}})
        if not self.master_token:
            return httpx.Response(401, json=["sub-tenant-token"])
        return httpx.Response(200, json={"options": self.pjsip[section]})

    @staticmethod
    def _page(request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        limit = request.url.params.get("limit")
        chunk = items[offset : offset + int(limit)] if limit else items[offset:]
        return httpx.Response(200, json={"total": len(items), "items": copy.deepcopy(chunk)})

    def paths(self) -> list[str]:
        return sorted(
            f"{r.url.path.removeprefix(PREFIX)}?{r.url.query.decode()}" for r in self.requests
        )


def client_for(fake: FakeConfd, *, tenant: str | None = None) -> ConfdClient:
    http = httpx.Client(base_url="https://wazo.test", transport=httpx.MockTransport(fake))
    return ConfdClient(http, auth=TokenAuth("tok"), tenant=tenant, retry=RetryPolicy.no_wait())


def fetch(fake: FakeConfd, **kwargs: Any) -> LiveState:
    with client_for(fake) as client:
        return fetch_live(client, **kwargs)


# --------------------------------------------------------------------------- requests


def test_fetch_live_lists_cheap_kinds_and_reads_sip_endpoints_one_by_one() -> None:
    fake = FakeConfd()
    with client_for(fake, tenant=SUB) as client:  # a client default tenant is not used
        live = fetch_live(client)
    assert fake.paths() == sorted(
        [
            "/tenants?limit=10000&offset=0",
            "/tenants?recurse=true&limit=10000&offset=0",
            "/sip/transports?limit=10000&offset=0",
            "/endpoints/sip/templates?recurse=true&limit=10000&offset=0",
            "/endpoints/iax?recurse=true&limit=10000&offset=0",
            "/endpoints/custom?recurse=true&limit=10000&offset=0",
            "/trunks?recurse=true&limit=10000&offset=0",
            "/outcalls?recurse=true&limit=10000&offset=0",
            "/contexts?recurse=true&limit=10000&offset=0",
            "/extensions?recurse=true&type=outcall&limit=10000&offset=0",
            "/users?recurse=true&limit=10000&offset=0",
            "/asterisk/pjsip/global?",
            "/asterisk/pjsip/system?",
            "/asterisk/pjsip/doc?",
            "/registers/iax?limit=10000&offset=0",
            # never the list of every SIP endpoint: each trunk's, one by one
            *(f"/endpoints/sip/{e['uuid']}?" for e in live.endpoints_sip),
        ]
    )
    assert len(live.endpoints_sip) == len(live.trunks)
    reads = {r for r in fake.requests if r.url.path.startswith(f"{PREFIX}/endpoints/sip/0")}
    assert all("Wazo-Tenant" not in r.headers for r in fake.requests if r not in reads)
    tenants = {e["uuid"]: e["tenant_uuid"] for e in live.endpoints_sip}
    for read in reads:  # in the trunk's own tenant
        assert read.headers["Wazo-Tenant"] == tenants[read.url.path.rsplit("/", 1)[1]]
    assert all(r.method == "GET" for r in fake.requests)


@pytest.mark.parametrize("trunks", [10, 1000])
def test_fetch_live_reads_the_sip_endpoints_it_is_asked_for(trunks: int) -> None:
    fake = FakeConfd(trunks=trunks)
    with client_for(fake) as client:
        live = fetch_live(client, sip_names=())
    assert len(live.trunks) == trunks and live.endpoints_sip == ()
    assert len(fake.requests) == client.stats.requests == 15  # flat: the lists only
    with client_for(fake) as client:
        wanted = {str((live.trunks[0].get("endpoint_sip") or {}).get("name")), "unknown-name"}
        some = fetch_live(client, sip_names=wanted)
    assert [e["name"] for e in some.endpoints_sip] == sorted(wanted - {"unknown-name"})
    assert len(some.unread_trunk_endpoints) == trunks - 1
    assert client.stats.requests == 15 + 2  # one read, one exact-name lookup
    with client_for(fake) as client:
        every = fetch_live(client)
    assert len(every.endpoints_sip) == trunks and every.unread_trunk_endpoints == ()
    assert client.stats.requests == 15 + trunks


def test_fetch_live_pages_a_huge_kind_without_one_get_per_object() -> None:
    fake = FakeConfd(trunks=25)
    with client_for(fake) as client:
        client.page_size = 10
        live = fetch_live(client)
    assert [t["id"] for t in live.trunks] == list(range(1, 26))
    trunk_requests = [r for r in fake.requests if r.url.path == f"{PREFIX}/trunks"]
    assert [r.url.params["offset"] for r in trunk_requests] == ["0", "10", "20"]


def test_fetch_live_reads_kinds_concurrently() -> None:
    fake = FakeConfd()
    fake.delay = 0.02
    fetch(fake, max_workers=8)
    assert fake.max_in_flight > 1
    sequential = FakeConfd()
    sequential.delay = 0.001
    fetch(sequential, max_workers=1)
    assert sequential.max_in_flight == 1


# --------------------------------------------------------------------------- content


def test_fetch_live_keeps_raw_items_and_tenants() -> None:
    fake = FakeConfd()
    live = fetch(fake)
    assert live.token_tenant == MASTER
    assert set(live.tenants) == {MASTER, SUB}
    assert str(live.tenants[SUB]["global_sip_template_uuid"]).startswith("2")
    assert live.trunks == tuple(fake.collections["/trunks"])
    assert live.endpoints_sip[0]["auth_section_options"][1] == ["password", "secret-1"]
    assert [e["exten"] for e in live.extensions] == ["_0XXXXXXXXX"]  # outcall contexts only
    assert live.pjsip_global == {"user_agent": "Wazo PBX"}
    assert live.pjsip_system == {}
    assert live.pjsip_doc == {"global": {"user_agent": {"name": "user_agent"}}}
    assert live.pjsip_readable
    assert live.counts()["trunks"] == 2
    assert set(live.counts()) == {kind.name for kind in LIST_KINDS} | {
        "endpoints_sip",
        "registers_iax",
    }


def test_live_state_items_of_unknown_kind() -> None:
    live = fetch(FakeConfd())
    with pytest.raises(KeyError):
        live.items("nonsense")


def test_default_tenant() -> None:
    live = fetch(FakeConfd())
    assert live.default_tenant(None) == MASTER
    assert live.default_tenant(SUB) == SUB
    with pytest.raises(UsageError, match="not visible to this token"):
        live.default_tenant("33333333-3333-4333-8333-333333333333")


def test_fetch_live_without_master_token_records_no_pjsip_and_carries_on() -> None:
    fake = FakeConfd(master_token=False)
    live = fetch(fake)
    assert live.pjsip_global is None and live.pjsip_system is None
    assert not live.pjsip_readable
    assert len(live.trunks) == 2


def test_fetch_live_without_pjsip_doc() -> None:
    assert fetch(FakeConfd(doc=False)).pjsip_doc is None


@pytest.mark.parametrize("path", ["/trunks", "/asterisk/pjsip/global", "/asterisk/pjsip/doc"])
def test_fetch_live_propagates_other_errors(path: str) -> None:
    fake = FakeConfd()
    fake.fail[path] = 500
    with pytest.raises(ApiError) as info:
        fetch(fake)
    assert info.value.status == 500
    assert info.value.path.startswith(path)


def test_fetch_live_auth_failure_on_a_list_is_not_swallowed() -> None:
    fake = FakeConfd()
    fake.fail["/users"] = 401
    with pytest.raises(ApiError, match="HTTP 401"):
        fetch(fake)


def test_fetch_live_token_tenant_must_be_one() -> None:
    fake = FakeConfd()
    fake.tenants = []
    with pytest.raises(ApiError, match="token's own tenant"):
        fetch(fake)


# --------------------------------------------------------------------------- fingerprint


def shuffled(fake: FakeConfd) -> FakeConfd:
    """The same configuration, every order confd does not guarantee reversed."""
    for items in fake.collections.values():
        items.reverse()
        for item in items:
            for key, value in item.items():
                if key.endswith("options") and isinstance(value, list):
                    value.reverse()
    fake.tenants.reverse()
    return fake


def test_fingerprint_is_stable_and_order_independent() -> None:
    first = fetch(FakeConfd()).fingerprint()
    assert first == fetch(FakeConfd()).fingerprint()
    assert first == fetch(shuffled(FakeConfd())).fingerprint()
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64


def mutate(change: Any) -> str:
    fake = FakeConfd()
    change(fake)
    return fetch(fake).fingerprint()


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.collections["/endpoints/sip"][0]["auth_section_options"].__setitem__(
            1, ["password", "new-secret"]
        ),
        lambda f: f.collections["/endpoints/sip"][0]["endpoint_section_options"].append(
            ["from_user", "x"]
        ),
        lambda f: f.collections["/endpoints/sip"][0]["endpoint_section_options"].__setitem__(
            0, ["sip.example", "from_domain"]
        ),  # a pair's own order matters
        lambda f: f.collections["/endpoints/sip"][0]["templates"].append(
            {"uuid": "t-other", "label": "x"}
        ),
        lambda f: f.collections["/outcalls"][0]["trunks"].reverse(),  # priority order
        lambda f: f.collections["/trunks"].pop(),
        lambda f: f.collections["/users"][0].__setitem__("outgoing_caller_id", "anonymous"),
        lambda f: f.collections["/sip/transports"][0]["options"].append(["local_net", "10/8"]),
        lambda f: f.pjsip["global"].__setitem__("user_agent", "Other"),
        lambda f: f.tenants[1].__setitem__("global_sip_template_uuid", None),
    ],
)
def test_fingerprint_changes_with_any_relevant_change(change: Any) -> None:
    assert mutate(change) != fetch(FakeConfd()).fingerprint()


@pytest.mark.parametrize(
    "change",
    [
        lambda f: [
            ep["links"][0].__setitem__("href", "https://other/x")
            for ep in f.collections["/endpoints/sip"]
        ],
        lambda f: f.collections["/users"][0].__setitem__("firstname", "Alicia"),
        lambda f: f.collections["/endpoints/sip/templates"][0][
            "endpoint_section_options"
        ].reverse(),
    ],
)
def test_fingerprint_ignores_irrelevant_differences(change: Any) -> None:
    assert mutate(change) == fetch(FakeConfd()).fingerprint()


def reference_fingerprint(live: LiveState) -> str:
    """The fingerprint as first written (canonical copies, each list item dumped to sort it):
    the faster one must give the same value, or saved plans would all turn stale."""
    import hashlib

    def dump(value: Any) -> str:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )

    def canonical(value: Any, field: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: canonical(v, k) for k, v in value.items() if k != "links"}
        if isinstance(value, list | tuple):
            items = [canonical(v) for v in value]
            return items if field in (None, "templates", "trunks") else sorted(items, key=dump)
        return value

    document: dict[str, Any] = {
        "format": 2,
        "token_tenant": live.token_tenant,
        "tenants": canonical(dict(live.tenants)),
        "pjsip_global": live.pjsip_global,
        "pjsip_system": live.pjsip_system,
    }
    for kind in [*(k.name for k in LIST_KINDS), "endpoints_sip", "registers_iax"]:
        items = live.items(kind)
        if kind == "users":
            fields = ("uuid", "id", "tenant_uuid", "email", "username", "outgoing_caller_id")
            items = tuple({k: u.get(k) for k in fields} for u in items)
        document[kind] = sorted((canonical(i) for i in items), key=dump)
    return "sha256:" + hashlib.sha256(dump(document).encode()).hexdigest()


def odd_values(fake: FakeConfd) -> None:
    endpoint = fake.collections["/endpoints/sip"][0]
    endpoint["label"] = 'Ünïcode "quoted" \\ back\tslash \u2028 é'
    endpoint["endpoint_section_options"] += [["set_var", "A=é"], ["set_var", 'A="1"'], ["x", "!"]]
    endpoint["numbers"] = [3, 1.5, -2, True, None, {"b": [2, 1], "a": "z"}]
    endpoint[" sp ace"] = {"nested": [["b", "a"], ["a", "b"]], "links": ["dropped"]}


@pytest.mark.parametrize("change", [lambda f: None, shuffled, odd_values])
def test_fingerprint_equals_the_reference_computation(change: Any) -> None:
    fake = FakeConfd()
    change(fake)
    live = fetch(fake)
    assert live.fingerprint() == reference_fingerprint(live)


def test_fingerprint_never_shows_secrets() -> None:
    live = fetch(FakeConfd())
    assert "secret-1" not in live.fingerprint()
    assert "secret-1" not in repr(live.fingerprint())
    assert json.dumps(live.fingerprint()).count(":") == 1


# --------------------------------------------------------------------------- against the sandbox


def seed_trunks(client: ConfdClient, count: int, tenant: str | None = None) -> None:
    for n in range(count):
        _, endpoint = client.post(
            "/endpoints/sip",
            {
                "name": f"carrier-{tenant or 'm'}-{n}",
                "auth_section_options": [["password", f"pw-{n}"]],
            },
            tenant=tenant,
        )
        _, trunk = client.post("/trunks", {"context": None}, tenant=tenant)
        client.put(f"/trunks/{trunk['id']}/endpoints/sip/{endpoint['uuid']}", tenant=tenant)


def test_fetch_live_of_a_fresh_sandbox_through_connect() -> None:
    with connect_sandbox(ConnectionSettings(sandbox=True)) as client:
        live = fetch_live(client)
    assert live.token_tenant == FRESH_MASTER
    assert set(live.tenants) == {FRESH_MASTER, FRESH_SUB}
    assert {t["name"] for t in live.transports} == {"transport-udp", "transport-wss"}
    templates = Counter(t["tenant_uuid"] for t in live.sip_templates)
    assert templates == {FRESH_MASTER: 5, FRESH_SUB: 5}
    global_uuid = live.tenants[FRESH_MASTER]["global_sip_template_uuid"]
    assert global_uuid in {t["uuid"] for t in live.sip_templates}
    assert {c["name"] for c in live.contexts if c["tenant_uuid"] == FRESH_MASTER} >= {
        "default",
        "from-extern",
        "to-extern",
    }
    assert {u["username"] for u in live.users} == {"alice", "bob", "carol", "dave"}
    assert live.pjsip_global == {
        "user_agent": "Wazo PBX",
        "endpoint_identifier_order": "auth_username,username,ip",
    }
    assert live.pjsip_system == {}
    assert live.pjsip_doc is not None and "endpoint" in live.pjsip_doc
    assert live.trunks == live.endpoints_sip == live.outcalls == ()


@pytest.mark.parametrize("trunks", [10, 1000])
def test_sandbox_request_count_grows_only_with_the_endpoints_read(trunks: int) -> None:
    sandbox = Sandbox()
    with sandbox_client(sandbox) as client:
        seed_trunks(client, trunks)
        seed_trunks(client, 2, tenant=FRESH_SUB)
        sandbox.reset_stats()
        client.stats.reset()
        none = fetch_live(client, sip_names=())
        # the same 15 requests (one list per kind + tenants + pjsip) for 10 or 1,000 trunks
        assert client.stats.snapshot() == {"GET": 15}
        every = fetch_live(client)  # and one read per trunk endpoint, in its tenant
    assert len(none.trunks) == len(every.endpoints_sip) == trunks + 2
    assert len([t for t in every.trunks if t["tenant_uuid"] == FRESH_SUB]) == 2
    assert {e["tenant_uuid"] for e in every.endpoints_sip} == {FRESH_MASTER, FRESH_SUB}
    assert client.stats.snapshot() == {"GET": 15 + 15 + trunks + 2}
    assert sandbox.stats()["total"] == 15 + 15 + trunks + 2


def test_sandbox_sub_tenant_token_sees_its_tenant_and_no_pjsip() -> None:
    sandbox = Sandbox()
    with sandbox_client(sandbox) as master:
        seed_trunks(master, 1)
        seed_trunks(master, 1, tenant=FRESH_SUB)
    http = httpx.Client(base_url=SANDBOX_URL, transport=sandbox.transport())
    with ConfdClient(http, auth=TokenAuth(sandbox.issue_token(FRESH_SUB))) as client:
        live = fetch_live(client)
    assert live.token_tenant == FRESH_SUB
    assert set(live.tenants) == {FRESH_SUB}
    assert {t["tenant_uuid"] for t in live.trunks} == {FRESH_SUB}
    assert live.pjsip_global is None and live.pjsip_system is None
    assert live.default_tenant(None) == FRESH_SUB
    with pytest.raises(UsageError):
        live.default_tenant(FRESH_MASTER)


def test_sandbox_fingerprint_follows_changes_made_through_the_api() -> None:
    sandbox = Sandbox()
    with sandbox_client(sandbox) as client:
        seed_trunks(client, 3)
        first = fetch_live(client)
        assert fetch_live(client).fingerprint() == first.fingerprint()
        endpoint = first.endpoints_sip[0]
        path = f"/endpoints/sip/{endpoint['uuid']}"
        client.put(path, {"auth_section_options": [["password", "rotated"]]})
        rotated = fetch_live(client).fingerprint()
        assert rotated != first.fingerprint()
        assert "rotated" not in rotated
        client.put(path, {"auth_section_options": endpoint["auth_section_options"]})
        assert fetch_live(client).fingerprint() == first.fingerprint()


def test_sandbox_fetch_live_rides_out_transient_faults() -> None:
    # sequential reads: each faulted request is followed by a clean retry
    rules = (
        FaultRule("error", status=503, nth=(1,), method="GET"),
        FaultRule("rate_limit", nth=(3,), retry_after=1, method="GET"),
        FaultRule("drop_before", nth=(6,), method="GET"),
        FaultRule("timeout", nth=(9,), method="GET"),
        FaultRule("error", status=502, nth=(12,), method="GET"),
    )
    sandbox = Sandbox(faults=FaultConfig(seed=7, rules=rules))
    sleeps: list[float] = []
    with sandbox_client(sandbox, retry=RetryPolicy.no_wait(sleep=sleeps.append)) as client:
        live = fetch_live(client, max_workers=1, sip_names=())
    assert len(live.transports) == 2 and len(live.users) == 4
    assert sorted(f["fault"] for f in sandbox.stats()["faulted"]) == [
        "drop_before",
        "error",
        "error",
        "rate_limit",
        "timeout",
    ]
    assert client.stats.snapshot() == {"GET": 20, "retries": 5}  # 15 reads, 5 retries
    assert 1.0 in sleeps  # Retry-After honoured


def test_fetch_live_over_loopback_sockets_with_password_auth() -> None:
    sandbox = Sandbox(require_auth=("admin", "s3cret-pw"))
    with sandbox.serve() as url:
        settings = ConnectionSettings(url=url, username="admin", password="s3cret-pw")
        with connect(settings, retry=RetryPolicy.no_wait()) as client:
            seed_trunks(client, 3)
            client.stats.reset()
            live = fetch_live(client)
    assert live.token_tenant == FRESH_MASTER
    assert len(live.trunks) == len(live.endpoints_sip) == 3
    assert client.stats.snapshot() == {"GET": 15 + 3}

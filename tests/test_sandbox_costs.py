"""The sandbox's cost profile (``costs="confd"``): prices, the one FIFO worker, counters, and
that it reproduces the real server's measured times (shared/confd-api/COSTS.md).

No test here measures wall-clock time: they check modelled time, and the worker through an
injected clock and sleep.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import run_cli, served_sandbox
from wazo_reconcile.sandbox import FaultConfig, FaultRule, Sandbox
from wazo_reconcile.sandbox.app import Outcome
from wazo_reconcile.sandbox.costs import CONFD, Meter, joined_rows
from wazo_reconcile.sandbox.http import Request

API = "/api/confd/1.1"
TOKEN = {"X-Auth-Token": "t"}

# The provider-like SIP endpoint of COSTS.md: aor 4, auth 3, endpoint 8, identify 1,
# registration 4, registration_outbound_auth 2, outbound_auth 2; R = 4·3·8·1·4·2·2 = 1536
PROVIDER_SECTIONS = {
    "aor": ["contact", "qualify_frequency", "max_contacts", "remove_existing"],
    "auth": ["username", "password", "realm"],
    "endpoint": [
        "from_domain",
        "from_user",
        "dtmf_mode",
        "language",
        "direct_media",
        "rtp_symmetric",
        "rewrite_contact",
        "allow",
    ],
    "identify": ["match"],
    "registration": ["client_uri", "server_uri", "expiration", "retry_interval"],
    "registration_outbound_auth": ["username", "password"],
    "outbound_auth": ["username", "password"],
}


def client(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(transport=sandbox.transport(), base_url="http://sandbox", headers=TOKEN)


def sip_body(name: str, sections: dict[str, list[str]]) -> dict[str, Any]:
    body: dict[str, Any] = {
        f"{section}_section_options": [[key, "1"] for key in keys]
        for section, keys in sections.items()
    }
    return {"name": name, **body}


def costs(sandbox: Sandbox) -> dict[str, Any]:
    found = sandbox.stats()["costs"]
    assert isinstance(found, dict)
    return found


def ms(sandbox: Sandbox, key: str) -> float:
    return float(costs(sandbox)["requests"][key]["ms"])


# ------------------------------------------------------------------------------ prices


def test_without_a_profile_there_are_no_cost_counters() -> None:
    sandbox = Sandbox()
    with client(sandbox) as http:
        http.get(f"{API}/trunks")
    assert sandbox.meter is None and sandbox.stats()["costs"] is None


def test_writes_cost_their_kinds_constant_and_a_sip_create_its_options() -> None:
    sandbox = Sandbox(costs="confd", cost_scale=0)
    with client(sandbox) as http:
        created = http.post(f"{API}/endpoints/sip", json=sip_body("p1", PROVIDER_SECTIONS))
        trunk = http.post(f"{API}/trunks", json={}).json()["id"]
        uuid = created.json()["uuid"]
        http.put(f"{API}/trunks/{trunk}/endpoints/sip/{uuid}")
        http.post(f"{API}/trunks", json={"outgoing_caller_id_format": "bogus"})  # 400
        bare = http.post(f"{API}/trunks", json={}).json()["id"]
        http.delete(f"{API}/trunks/{trunk}")  # with its endpoint
        http.delete(f"{API}/trunks/{bare}")
        http.put(f"{API}/trunks/{bare}", json={})  # 404 now
    assert ms(sandbox, "POST /endpoints/sip") == pytest.approx(24 + 0.3 * 24)
    assert ms(sandbox, "POST /trunks") == pytest.approx(10 + 10 + 10)  # the 400 costs 10 too
    assert ms(sandbox, "PUT /trunks/{trunk_id}/endpoints/sip/{endpoint_id}") == 22
    assert ms(sandbox, "DELETE /trunks/{id}") == 12 + 7
    assert ms(sandbox, "PUT /trunks/{id}") == 10  # a rejected write
    total = sum(kind["ms"] for kind in costs(sandbox)["requests"].values())
    assert costs(sandbox)["modelled_ms"] == pytest.approx(total)


def test_joined_rows_count_own_options_per_section_and_templates() -> None:
    row = {"sections": {s: [[k, "1"] for k in keys] for s, keys in PROVIDER_SECTIONS.items()}}
    assert joined_rows({**row, "templates": []}) == 1536
    assert joined_rows({**row, "templates": ["a", "b"]}) == 3072
    one_section = {"endpoint": [[f"k{i}", "v"] for i in range(25)], "aor": []}
    assert joined_rows({"sections": one_section, "templates": []}) == 25
    assert CONFD.sip_row_ms(1) == CONFD.sip_row_ms(25) == 1.0
    assert CONFD.sip_row_ms(128) == pytest.approx(19.2)
    assert CONFD.sip_row_ms(1536) == pytest.approx(230.4)
    assert 1.0 < CONFD.sip_row_ms(60) < 15.0


def test_sip_endpoint_lists_cost_per_joined_row_and_only_what_they_return() -> None:
    sandbox = Sandbox(costs="confd", cost_scale=0)
    with client(sandbox) as http:
        for i in range(3):
            http.post(f"{API}/endpoints/sip", json=sip_body(f"p{i}", PROVIDER_SECTIONS))
        flat = [["set_var", f"V{i}=1"] for i in range(25)]  # R = 25: ~1 ms
        body = {"name": "aflat", "endpoint_section_options": flat}
        created = http.post(f"{API}/endpoints/sip", json=body)
        assert created.status_code == 201, created.text
        sandbox.reset_stats()
        http.get(f"{API}/endpoints/sip", params={"recurse": "true"})
        full = ms(sandbox, "GET /endpoints/sip")
        assert full == pytest.approx(30 + 3 * 230.4 + 1.0)
        assert costs(sandbox)["sip_endpoints_listed_over_r100"] == 3
        sandbox.reset_stats()
        http.get(f"{API}/endpoints/sip", params={"limit": "1", "order": "name"})  # flat
        http.get(f"{API}/endpoints/sip", params={"name": "p2"})
        assert ms(sandbox, "GET /endpoints/sip") == pytest.approx(30 + 1.0 + 30 + 230.4)
        found = costs(sandbox)
        assert found["requests"]["GET /endpoints/sip"]["listed"] == 2
        assert found["sip_endpoints_listed_over_r100"] == 1
        assert found["sip_endpoints_listed_over_r100_max"] == 1
        http.get(
            f"{API}/endpoints/sip/{http.get(f'{API}/endpoints/sip').json()['items'][0]['uuid']}"
        )
    assert ms(sandbox, "GET /endpoints/sip/{uuid}") == 30  # whatever its options


def test_other_lists_cost_a_base_and_their_kinds_cost_per_item() -> None:
    sandbox = Sandbox(costs="confd", cost_scale=0)
    with client(sandbox) as http:
        for _ in range(4):
            http.post(f"{API}/trunks", json={})
        sandbox.reset_stats()
        http.get(f"{API}/trunks")
        http.get(f"{API}/users", params={"recurse": "true"})  # the 4 users of the seed
        http.get(f"{API}/endpoints/sip/templates", params={"recurse": "true"})  # 10 defaults
        http.get(f"{API}/trunks/1")
    assert ms(sandbox, "GET /trunks") == pytest.approx(10 + 4 * 3.1)
    assert ms(sandbox, "GET /users") == pytest.approx(30 + 4 * 1.2)
    assert ms(sandbox, "GET /endpoints/sip/templates") == pytest.approx(30 + 10 * 1.3)
    assert ms(sandbox, "GET /trunks/{id}") == 5.5


def test_unknown_profile_and_bad_scale_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown cost profile"):
        Sandbox(costs="postgres")
    with pytest.raises(ValueError, match="scale"):
        Sandbox(costs="confd", cost_scale=-1)


# ----------------------------------------------------------------------- the one worker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_worker_serves_one_request_at_a_time_in_order() -> None:
    clock = FakeClock()
    meter = Meter(CONFD, scale=0.5, clock=clock)
    # three writes arriving together: each waits for the ones before it
    dues = [meter.charge("POST /trunks", 10.0, 201, None, arrived=100.0) for _ in range(3)]
    assert dues == pytest.approx([100.005, 100.010, 100.015])
    # one arriving after the worker went idle starts at its arrival
    assert meter.charge("POST /trunks", 10.0, 201, None, arrived=200.0) == pytest.approx(200.005)
    assert meter.stats()["modelled_ms"] == 40.0  # unscaled


def test_parallel_clients_get_no_more_throughput() -> None:
    """Eight requests sent at once: the answers are due one service time apart."""
    waits: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    sandbox = Sandbox(costs="confd", cost_scale=1.0, sleep=sleep)
    clock = FakeClock()
    assert sandbox.meter is not None
    sandbox.meter.clock = clock  # frozen: every request arrives at the same instant
    with client(sandbox) as http:
        run_together(8, lambda: http.post(f"{API}/trunks", json={}))
    assert sorted(waits) == pytest.approx([0.010 * k for k in range(1, 9)])


def test_the_store_lock_is_free_while_an_answer_waits_for_the_worker() -> None:
    """A request held by the worker (its sleep blocked here) does not stop another from being
    handled: the sleep happens outside the store lock."""
    release, waiting = threading.Event(), threading.Event()
    calls = 0

    def sleep(seconds: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            waiting.set()
            assert release.wait(10)

    sandbox = Sandbox(costs="confd", cost_scale=1.0, sleep=sleep)
    with client(sandbox) as http:
        first = threading.Thread(target=lambda: http.post(f"{API}/trunks", json={}))
        first.start()
        assert waiting.wait(10)
        assert http.get(f"{API}/trunks").json()["total"] == 1  # handled while the first waits
        release.set()
        first.join(10)


def test_faults_and_latency_still_work_with_a_profile() -> None:
    slept: list[float] = []
    rules = (
        FaultRule("error", nth=(1,)),
        FaultRule("saved_then_500", nth=(2,)),
        FaultRule("drop_after", nth=(3,)),
    )
    sandbox = Sandbox(
        costs="confd",
        cost_scale=0,
        faults=FaultConfig(latency=0.02, rules=rules),
        sleep=slept.append,
    )
    with client(sandbox) as http:
        assert http.post(f"{API}/trunks", json={}).status_code == 503  # not processed
        assert http.post(f"{API}/trunks", json={}).status_code == 500  # saved, then 500
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(f"{API}/trunks", json={})  # saved, then dropped
        assert http.get(f"{API}/trunks").json()["total"] == 2
    assert slept == [0.02] * 4  # the injected latency; scale 0 adds no wait
    found = costs(sandbox)
    assert found["requests"]["POST /trunks"] == {"count": 2, "ms": 20.0}  # the 503 is free
    assert sandbox.stats()["total"] == 4


def test_served_sandbox_exposes_the_costs_through_its_stats_endpoint() -> None:
    with served_sandbox("--costs", "confd", "--cost-scale", "0") as url:
        httpx.get(f"{url}{API}/trunks", headers=TOKEN).raise_for_status()
        found = httpx.get(f"{url}/_sandbox/stats").json()["costs"]
        assert found["profile"] == "confd" and found["scale"] == 0
        assert found["requests"] == {"GET /trunks": {"count": 1, "ms": 10.0, "listed": 0}}
        httpx.post(f"{url}/_sandbox/reset", json={}).raise_for_status()
        assert httpx.get(f"{url}/_sandbox/stats").json()["costs"]["modelled_ms"] == 0


def test_cli_refuses_a_negative_cost_scale(capsys: pytest.CaptureFixture[str]) -> None:
    from wazo_reconcile.cli import main

    assert main(["sandbox", "--costs", "confd", "--cost-scale", "-1"]) == 1
    assert "--cost-scale" in capsys.readouterr().err


def run_together(count: int, job: Any) -> None:
    threads = [threading.Thread(target=job) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


# --------------------------------------------- the profile against the real server's tables

# The reference is COSTS.md's measured tables, transcribed here, never the profile's constants.
# Table (a), column "p=1 lat": the median ms of one write of each kind.
MEASURED_WRITES = {
    "POST /endpoints/sip": 31.0,
    "POST /trunks": 9.5,
    "PUT /trunks/{}/endpoints/sip/{}": 22.0,
    "PUT /endpoints/sip/{}": 56.0,
    "DELETE /trunks/{}": 12.0,
    "POST /outcalls": 13.0,
    "PUT /outcalls/{}/trunks": 10.0,
    "POST /extensions": 17.0,
    "PUT /outcalls/{}/extensions/{}": 14.0,
    "POST /users": 19.0,
    "PUT /users/{}": 14.0,
}
# Table (b): median ms of one list against n listed items, (n, ms) points (a range's midpoint).
# /trunks was measured with an outcall on every trunk; here one trunk in ten has one.
MEASURED_LISTS = {
    "/endpoints/sip": ((0, 27.5), (100, 23226.0), (300, 65571.0)),  # provider-like endpoints
    "/trunks": ((0, 14.0), (100, 301.5), (300, 938.5)),
    "/outcalls": ((0, 13.0), (100, 490.5), (300, 1679.5)),
    "/endpoints/sip/templates": ((10, 41.0), (110, 174.0)),  # without the plan flip
    "/users": ((0, 52.0), (100, 65.0)),  # after ANALYZE
}
TRIVIAL_GET_MS = 6.5  # the measurement note: "A trivial GET took 6.5 ms direct"
SIP_ENDPOINT_GET_MS = 30.0  # under table (b): "GET /endpoints/sip/{uuid} ... takes 20–40 ms"
SMALL_LIST = 50  # a list of an unmeasured kind is taken as a trivial GET up to this many items


def interpolate(points: tuple[tuple[int, float], ...], n: int) -> float:
    """Piecewise-linear through the measured points, extended along the last segment."""
    if len(points) == 1 or n <= points[0][0]:
        return points[0][1]
    segment = next((k for k in range(1, len(points)) if n <= points[k][0]), len(points) - 1)
    (n0, ms0), (n1, ms1) = points[segment - 1], points[segment]
    return ms0 + (ms1 - ms0) * (n - n0) / (n1 - n0)


@dataclass(frozen=True)
class Seen:
    """One confd request as the client saw it: the route with its ids as ``{}``."""

    method: str
    route: str
    status: int
    listed: int | None  # the items of a list answer


_ID = re.compile(r"/(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27})(?=/|$)")


class Observed(Sandbox):
    """A sandbox recording every confd request it answers."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.seen: list[Seen] = []
        self._seen_lock = threading.Lock()

    def handle(self, request: Request) -> Outcome:
        outcome = super().handle(request)
        response = outcome.response
        if request.path.startswith(API + "/") and response is not None:
            body = json.loads(response.body) if response.body else None
            listed = len(body["items"]) if isinstance(body, dict) and "items" in body else None
            route = _ID.sub("/{}", request.path.removeprefix(API))
            with self._seen_lock:
                self.seen.append(Seen(request.method, route, response.status, listed))
        return outcome


def reference_ms(seen: Seen) -> float:
    """What the real server took for such a request, from COSTS.md's tables."""
    key = f"{seen.method} {seen.route}"
    assert seen.status < 400, key
    if seen.method != "GET":
        assert key in MEASURED_WRITES, f"COSTS.md has no measured time for {key}"
        return MEASURED_WRITES[key]
    if seen.listed is not None and seen.route in MEASURED_LISTS:
        return interpolate(MEASURED_LISTS[seen.route], seen.listed)
    if seen.route == "/endpoints/sip/{}":
        return SIP_ENDPOINT_GET_MS
    assert (seen.listed or 0) <= SMALL_LIST, f"COSTS.md has no measured time for {key}"
    return TRIVIAL_GET_MS


def provider_stack(directory: Path, trunks: int, outcalls: int) -> Path:
    """COSTS.md's scenario: provider-like SIP trunks (PROVIDER_SECTIONS, template global, a
    transport), and outcalls of one trunk and one pattern (the shape table (b) measured)."""
    lines = ["version: 1", "trunks:"]
    for i in range(trunks):
        host = f"sip{i}.provider.example"
        lines += [
            f"  provider-{i:03d}:",
            "    context: from-extern",
            "    templates: [global]",
            "    transport: transport-udp",
            f"    aor: {{contact: 'sip:{host}', qualify_frequency: 60, max_contacts: 1,"
            " remove_existing: yes}",
            f"    auth: {{username: in{i}, password: secret{i}, realm: {host}}}",
            f"    endpoint: {{from_domain: {host}, from_user: u{i}, dtmf_mode: rfc4733,"
            " language: fr_FR, direct_media: no, rtp_symmetric: yes, rewrite_contact: yes,"
            " allow: '!all,alaw'}",
            f"    identify: {{match: 198.51.{i // 250}.{i % 250}}}",
            f"    registration: {{client_uri: 'sip:u{i}@{host}', server_uri: 'sip:{host}',"
            " expiration: 120, retry_interval: 30}",
            f"    registration_outbound_auth: {{username: u{i}, password: secret{i}}}",
            f"    outbound_auth: {{username: u{i}, password: secret{i}}}",
        ]
    lines.append("outcalls:")
    step = trunks // outcalls
    for i in range(outcalls):
        lines.append(
            f"  route-{i:02d}: {{trunks: [provider-{i * step:03d}],"
            f" patterns: [{{exten: '_9{i:02d}XXXX'}}]}}"
        )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stack.yaml").write_text("\n".join(lines) + "\n")
    return directory


@pytest.mark.slow
def test_the_profile_reproduces_the_real_servers_measured_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An apply of 300 provider trunks and 30 outcalls, then a no-op plan, run by the CLI:
    the sandbox's modelled server time is within 25% of what COSTS.md's tables give for the
    very requests the CLI sent. The time scale keeps it fast; nothing here is wall-clock."""
    stack = provider_stack(tmp_path / "stack", trunks=300, outcalls=30)
    sandbox = Observed(costs="confd", cost_scale=0.01)
    figures: dict[str, tuple[float, float, int]] = {}
    with sandbox.serve() as url:
        steps = (("apply", "--auto-approve"), ("no-op plan", "--detailed-exitcode"))
        for step, option in steps:
            sandbox.reset_stats()
            sandbox.seen.clear()
            command = step.split()[-1]
            done = run_cli(command, option, "--url", url, "--token", "t", str(stack))
            assert done.returncode == 0, done.stderr[-3000:]
            found = costs(sandbox)
            assert sum(kind["count"] for kind in found["requests"].values()) == len(sandbox.seen)
            reference = sum(map(reference_ms, sandbox.seen))
            figures[step] = (found["modelled_ms"], reference, len(sandbox.seen))
    endpoints = [row for row in sandbox.state()["sip"] if not row["template"]]
    assert len(endpoints) == 300
    for row in endpoints:  # the shape the tables were measured with
        assert {s: len(options) for s, options in row["sections"].items()} == {
            s: len(keys) for s, keys in PROVIDER_SECTIONS.items()
        }
        assert len(row["templates"]) == 1 and row["transport_uuid"]
    with capsys.disabled():
        for step, (modelled, reference, requests) in figures.items():
            print(
                f"\n{step}: {requests} requests, modelled {modelled / 1000:.2f} s, "
                f"COSTS.md {reference / 1000:.2f} s ({modelled / reference - 1:+.1%})"
            )
    for step, (modelled, reference, _requests) in figures.items():
        assert abs(modelled / reference - 1) <= 0.25, (step, modelled, reference)

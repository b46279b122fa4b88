"""Sandbox faults and latency: deterministic decisions, every fault kind, counters, admin API."""

from __future__ import annotations

import httpx
import pytest

from wazo_reconcile.sandbox import FaultConfig, FaultRule, Sandbox

API = "/api/confd/1.1"
TOKEN = {"X-Auth-Token": "t"}


def client(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(transport=sandbox.transport(), base_url="http://sandbox", headers=TOKEN)


def failing_requests(seed: int) -> list[int]:
    rules = (FaultRule("error", rate=0.2, status=502), FaultRule("rate_limit", rate=0.1))
    sandbox = Sandbox(faults=FaultConfig(seed=seed, rules=rules))
    with client(sandbox) as http:
        statuses = [http.get(f"{API}/trunks").status_code for _ in range(100)]
        statuses += [http.post(f"{API}/trunks", json={}).status_code for _ in range(50)]
    return [index for index, status in enumerate(statuses) if status in (429, 502)]


def test_same_fault_seed_fails_the_same_requests() -> None:
    first, second = failing_requests(seed=42), failing_requests(seed=42)
    assert first == second
    assert 15 < len(first) < 75  # about 30% of 150
    assert failing_requests(seed=43) != first


def test_nth_rule_filtered_by_method_and_path() -> None:
    rule = FaultRule("error", nth=(2,), status=500, method="POST", path="/trunks")
    sandbox = Sandbox(faults=FaultConfig(rules=(rule,)))
    with client(sandbox) as http:
        assert http.get(f"{API}/trunks").status_code == 200
        assert http.post(f"{API}/outcalls", json={"name": "o"}).status_code == 201
        assert http.post(f"{API}/trunks", json={}).status_code == 201
        failed = http.post(f"{API}/trunks", json={})
        assert failed.status_code == 500
        assert http.post(f"{API}/trunks", json={}).status_code == 201
        assert http.get(f"{API}/trunks").json()["total"] == 2  # the failed POST did nothing
    assert sandbox.stats()["faulted"] == [
        {"index": 4, "method": "POST", "path": f"{API}/trunks", "fault": "error"}
    ]


def test_rate_limit_answers_429_with_retry_after() -> None:
    sandbox = Sandbox(faults=FaultConfig(rules=(FaultRule("rate_limit", nth=(1,), retry_after=7),)))
    with client(sandbox) as http:
        response = http.get(f"{API}/trunks")
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"


@pytest.mark.parametrize(
    ("kind", "error", "committed"),
    [
        ("drop_before", httpx.RemoteProtocolError, False),
        ("drop_after", httpx.RemoteProtocolError, True),
        ("timeout", httpx.ReadTimeout, True),
    ],
)
def test_lost_answers_in_process(kind: str, error: type[Exception], committed: bool) -> None:
    sandbox = Sandbox(faults=FaultConfig(rules=(FaultRule(kind, nth=(1,), method="POST"),)))
    with client(sandbox) as http:
        with pytest.raises(error):
            http.post(f"{API}/outcalls", json={"name": "o"})
        assert http.get(f"{API}/outcalls").json()["total"] == int(committed)


def test_saved_then_500_commits_the_write() -> None:
    sandbox = Sandbox(faults=FaultConfig(rules=(FaultRule("saved_then_500", nth=(1,)),)))
    with client(sandbox) as http:
        response = http.post(f"{API}/outcalls", json={"name": "o"})
        assert response.status_code == 500
        assert response.json()[0].startswith("Unexpected error: ")
        assert http.get(f"{API}/outcalls").json()["total"] == 1


def test_latency_fixed_and_random_use_the_injected_sleep() -> None:
    slept: list[float] = []
    fixed = Sandbox(faults=FaultConfig(latency=0.25), sleep=slept.append)
    with client(fixed) as http:
        http.get(f"{API}/trunks")
    assert slept == [0.25]
    drawn: list[float] = []
    ranged = Sandbox(faults=FaultConfig(seed=3, latency=(0.01, 0.05)), sleep=drawn.append)
    with client(ranged) as http:
        for _ in range(20):
            http.get(f"{API}/trunks")
    assert all(0.01 <= d <= 0.05 for d in drawn) and len(set(drawn)) > 1


def test_stats_count_per_method_and_path_template() -> None:
    sandbox = Sandbox()
    with client(sandbox) as http:
        trunk = http.post(f"{API}/trunks", json={}).json()["id"]
        http.get(f"{API}/trunks/{trunk}")
        http.get(f"{API}/trunks/{trunk}")
        http.get(f"{API}/endpoints/sip")
    stats = sandbox.stats()
    assert stats["total"] == 4
    assert stats["requests"] == {
        "GET /endpoints/sip": 1,
        "GET /trunks/{id}": 2,
        "POST /trunks": 1,
    }
    sandbox.reset_stats()
    assert sandbox.stats()["total"] == 0


def test_admin_endpoints_over_http() -> None:
    sandbox = Sandbox()
    with httpx.Client(transport=sandbox.transport(), base_url="http://sandbox") as http:
        config = {
            "seed": 5,
            "latency_ms": 0,
            "rules": [{"kind": "error", "nth": [1], "status": 503}],
        }
        assert http.post("/_sandbox/faults", json=config).json()["rules"][0]["kind"] == "error"
        assert http.get(f"{API}/trunks", headers=TOKEN).status_code == 503
        assert http.get("/_sandbox/stats").json()["faults"] == {"error": 1}
        assert http.post("/_sandbox/reset").status_code == 204
        assert http.get("/_sandbox/stats").json()["total"] == 0
        bad = http.post("/_sandbox/faults", json={"rules": [{"kind": "meteor"}]})
        assert bad.status_code == 400
        state = http.get("/_sandbox/state").json()
        assert {"transports", "sip", "trunks", "pjsip"} <= set(state)
        assert len(state["users"]) == 4
        token = http.post("/_sandbox/tokens", json={"lifetime": 60}).json()["token"]
        assert sandbox.tokens.resolve(token) is not None
        http.post("/_sandbox/faults", json={})  # no more faults
        assert http.post(f"{API}/trunks", json={}, headers=TOKEN).status_code == 201
        assert http.post("/_sandbox/reset", json={"state": True}).status_code == 204
        assert http.get("/_sandbox/state").json()["trunks"] == []


def test_loopback_drop_and_late_answer() -> None:
    rules = (
        FaultRule("drop_before", nth=(1,), path="/trunks"),
        FaultRule("timeout", nth=(1,), path="/outcalls", delay=0.5),
    )
    sandbox = Sandbox(faults=FaultConfig(rules=rules))
    with sandbox.serve() as base_url, httpx.Client(base_url=base_url, headers=TOKEN) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(f"{API}/trunks")
        with pytest.raises(httpx.ReadTimeout):
            http.post(f"{API}/outcalls", json={"name": "late"}, timeout=0.1)
        assert http.get(f"{API}/outcalls").json()["total"] == 1

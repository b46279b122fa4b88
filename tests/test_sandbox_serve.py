"""Serving the sandbox: ``reconcile sandbox`` as a process, ``Sandbox.serve()``, thread safety."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from wazo_reconcile.cli import main
from wazo_reconcile.sandbox import Sandbox

API = "/api/confd/1.1"
TOKEN = {"X-Auth-Token": "load-test"}


def command() -> list[str]:
    script = Path(sys.executable).with_name("reconcile")
    if script.exists():
        return [str(script), "sandbox", "--port", "0"]
    return [sys.executable, "-m", "wazo_reconcile", "sandbox", "--port", "0"]


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], str]]:
    with subprocess.Popen(
        command(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            yield process, process.stdout.readline().strip()
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def client_workload(base_url: str, worker: int, count: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=base_url + API, headers=TOKEN, timeout=10) as http:
        for step in range(count):
            if step % 10 == 0:
                response = http.post("/outcalls", json={"name": f"w{worker}-{step}"})
                statuses[response.status_code] += 1
                response = http.delete(f"/outcalls/{response.json()['id']}")
            elif step % 3 == 0:
                response = http.get("/endpoints/sip/templates", params={"recurse": "true"})
            else:
                response = http.get("/sip/transports")
            statuses[response.status_code] += 1
    return statuses


def test_command_serves_2000_requests_from_8_clients(
    served: tuple[subprocess.Popen[str], str],
) -> None:
    process, base_url = served
    assert base_url.startswith("http://127.0.0.1:")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda w: client_workload(base_url, w, 250), range(8)))
    statuses = sum(results, Counter())
    assert sum(statuses.values()) == 2200  # 2000 workload steps + 200 creations
    assert set(statuses) <= {200, 201, 204}, statuses
    stats = httpx.get(f"{base_url}/_sandbox/stats").json()
    assert stats["total"] == 2200 and stats["faults"] == {}
    assert httpx.get(f"{base_url}/_sandbox/state").json()["outcalls"] == []
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_command_stops_cleanly_on_sigint(served: tuple[subprocess.Popen[str], str]) -> None:
    process, base_url = served
    assert httpx.get(f"{base_url}{API}/trunks", headers=TOKEN).status_code == 200
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_serve_context_manager_and_in_process_threads() -> None:
    sandbox = Sandbox()
    with sandbox.serve(port=0) as base_url:
        assert httpx.get(f"{base_url}{API}/trunks", headers=TOKEN).json()["total"] == 0
    with httpx.Client(
        transport=sandbox.transport(), base_url="http://sandbox" + API, headers=TOKEN
    ) as http:
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(lambda i: http.post("/trunks", json={}).status_code, range(200)))
        assert codes == [201] * 200
        ids = [t["id"] for t in http.get("/trunks").json()["items"]]
    assert ids == list(range(1, 201))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sandbox", "--require-auth", "nocolon"], "--require-auth expects USER:PASSWORD"),
        (["sandbox", "--fault-rate", "2"], "--fault-rate must be between 0 and 1"),
    ],
)
def test_command_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_command_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sandbox", "--help"])
    out = capsys.readouterr().out
    assert "--seed-profile" in out and "examples:" in out and "reconcile sandbox --port 0" in out

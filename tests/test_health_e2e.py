"""Trunk health end to end: `reconcile` against `reconcile sandbox` on 127.0.0.1, whose
emulated wazo-calld is driven through `POST /_sandbox/calld`.

The subprocess runs wait for real (a second at most); the in-process runs replace the
commands' clock, so that a two-minute deadline passes without sleeping.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import EXAMPLES, SECRETS, run_cli, served_sandbox
from wazo_reconcile.cli import main
from wazo_reconcile.commands import health as command_health

IAX = """\
version: 1
trunks:
  hq-iax:
    type: iax
    host: hq.example.net
    context: from-extern
    options: {trunk: yes, auth: md5}
    register:
      remote_host: hq.example.net
      auth_username: branch-paris
      auth_password: ${env:HQ_IAX_SECRET}
"""
PRUNE = "version: 1\npolicy: {prune: [trunks, outcalls]}\n"


@pytest.fixture
def pbx() -> Iterator[str]:
    with served_sandbox() as url:
        yield url


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """nat-provider (acme registers over SIP) and an IAX trunk that registers."""
    directory = tmp_path / "paris"
    shutil.copytree(EXAMPLES / "nat-provider", directory)
    (directory / "40-hq.yaml").write_text(IAX)
    return directory


def env(url: str, **extra: str) -> dict[str, str]:
    return {"WAZO_URL": url, "WAZO_TOKEN": "e2e-token", **extra}


def calld(url: str, **trunks: dict[str, Any]) -> None:
    answer = httpx.post(f"{url}/_sandbox/calld", json={"trunks": trunks})
    assert answer.status_code == 200, answer.text


def apply_ok(url: str, path: Path) -> None:
    result = run_cli("apply", str(path), "--auto-approve", env=env(url))
    assert result.returncode == 0, result.stderr


def test_apply_wait_healthy_names_only_the_trunk_that_does_not_register(
    pbx: str, stack: Path, tmp_path: Path
) -> None:
    calld(pbx, **{"hq-iax": {"registered": False}})
    report = tmp_path / "report.json"
    result = run_cli(
        "apply", str(stack), "--auto-approve", "--wait-healthy", "1s", "--report", str(report),
        env=env(pbx),
    )  # fmt: skip
    assert result.returncode == 5, result.stderr
    assert "Trunk health after" in result.stdout
    assert "Not healthy: trunks/hq-iax (not registered)." in result.stdout
    assert "trunks/acme" not in result.stdout.split("Trunk health after")[1].split("Not healthy")[1]
    health = json.loads(report.read_text())["health"]
    assert health["unhealthy"] == ["hq-iax"] and health["timeout_seconds"] == 1
    states = {t["name"]: (t["state"], t["healthy"]) for t in health["trunks"]}
    assert states == {"acme": ("registered", True), "hq-iax": ("not registered", False)}
    assert SECRETS["HQ_IAX_SECRET"] not in result.stdout + result.stderr + report.read_text()
    # the next apply has nothing to do, so nothing to wait for: exit 0
    again = run_cli("apply", str(stack), "--auto-approve", "--wait-healthy", "1s", env=env(pbx))
    assert again.returncode == 0, again.stderr


def test_the_iax_register_plans_empty_after_apply(pbx: str, stack: Path) -> None:
    apply_ok(pbx, stack)
    result = run_cli("plan", str(stack), "--detailed-exitcode", env=env(pbx))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes: the PBX matches the stack" in result.stdout
    registers = httpx.get(f"{pbx}/_sandbox/state").json()["registers_iax"]
    assert [r["var_val"] for r in registers] == [
        f"branch-paris:{SECRETS['HQ_IAX_SECRET']}@hq.example.net"
    ]


def test_status_exit_codes(pbx: str, stack: Path) -> None:
    assert run_cli("status", env=env(pbx)).stdout.endswith("No trunk to check.\n")
    apply_ok(pbx, stack)
    result = run_cli("status", str(stack), env=env(pbx))
    assert result.returncode == 0, result.stderr
    assert "Healthy: 2 trunks, every one that should register is registered." in result.stdout
    calld(pbx, acme={"registered": False, "current_call_count": 3})
    result = run_cli("status", "--format", "json", env=env(pbx))
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["kind"] == "status" and document["unhealthy"] == ["acme"]
    acme = next(t for t in document["trunks"] if t["name"] == "acme")
    assert (acme["registered"], acme["current_call_count"]) == (False, 3)
    # unknown is never an alert by itself
    calld(pbx, acme={"registered": None})
    assert run_cli("status", str(stack), env=env(pbx)).returncode == 0


def test_status_errors_are_clear(pbx: str, stack: Path) -> None:
    apply_ok(pbx, stack)
    token = httpx.post(f"{pbx}/_sandbox/tokens", json={"acl": ["confd.#"]}).json()["token"]
    result = run_cli("status", env={"WAZO_URL": pbx, "WAZO_TOKEN": token})
    assert result.returncode == 1
    assert "calld.trunks.read" in result.stderr and "Traceback" not in result.stderr
    httpx.post(f"{pbx}/_sandbox/calld", json={"available": False})
    result = run_cli("status", "--retries", "0", env=env(pbx))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "HTTP 502" in result.stderr and "wazo-calld" in result.stderr


def test_a_delete_waits_for_the_call_to_end(pbx: str, stack: Path, tmp_path: Path) -> None:
    apply_ok(pbx, stack)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "stack.yaml").write_text(PRUNE)
    calld(pbx, acme={"current_call_count": 1})
    refused = run_cli("apply", str(empty), "--auto-approve", env=env(pbx))
    assert refused.returncode == 3
    assert "trunks/acme would be deleted with 1 call in progress" in refused.stderr
    assert len(httpx.get(f"{pbx}/_sandbox/state").json()["trunks"]) == 2  # nothing written
    # the call ends after two more reads of calld: the guard's, then the wait's first
    calld(pbx, acme={"current_call_count": 1, "for_reads": 2})
    result = run_cli("apply", str(empty), "--auto-approve", "--wait-idle", "30s", env=env(pbx))
    assert result.returncode == 0, result.stderr
    assert "Waiting up to 30s for the calls in progress to end: trunks/acme (1)" in result.stderr
    assert "- trunks/acme: deleted" in result.stdout
    assert httpx.get(f"{pbx}/_sandbox/state").json()["trunks"] == []


def test_the_guard_refuses_when_calld_cannot_tell(pbx: str, stack: Path, tmp_path: Path) -> None:
    apply_ok(pbx, stack)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "stack.yaml").write_text(PRUNE)
    httpx.post(f"{pbx}/_sandbox/calld", json={"available": False})
    plan = run_cli("plan", str(empty), "--retries", "0", env=env(pbx))
    assert plan.returncode == 3 and "wazo-calld could not be read" in plan.stdout
    assert "--skip-call-check" in plan.stdout
    assert run_cli("plan", str(stack), "--retries", "0", env=env(pbx)).returncode == 0  # no delete
    skipped = run_cli("apply", str(empty), "--auto-approve", "--skip-call-check", env=env(pbx))
    assert skipped.returncode == 0, skipped.stderr
    assert httpx.get(f"{pbx}/_sandbox/state").json()["trunks"] == []


def test_drift_health_is_reported_apart(pbx: str, stack: Path) -> None:
    apply_ok(pbx, stack)
    result = run_cli("drift", str(stack), "--health", env=env(pbx))
    assert result.returncode == 0 and "Trunk health (wazo-calld):" in result.stdout
    calld(pbx, **{"hq-iax": {"registered": False}})
    result = run_cli("drift", str(stack), "--health", "--format", "json", env=env(pbx))
    assert result.returncode == 5
    document = json.loads(result.stdout)
    assert document["summary"]["update"] == 0 and document["health"]["unhealthy"] == ["hq-iax"]
    with httpx.Client(base_url=f"{pbx}/api/confd/1.1", headers={"X-Auth-Token": "t"}) as api:
        endpoint = api.get("/endpoints/iax", params={"name": "hq-iax"}).json()["items"][0]
        api.put(f"/endpoints/iax/{endpoint['id']}", json={"host": "moved.example.net"})
    result = run_cli("drift", str(stack), "--health", "--format", "markdown", env=env(pbx))
    assert result.returncode == 2  # drift wins; the health is still there
    assert "#### Trunk health" in result.stdout and "**not registered**" in result.stdout


def test_readme_quick_start_shows_the_health() -> None:
    example = str(EXAMPLES / "nat-provider")
    result = run_cli(
        "apply", "--sandbox", "--auto-approve", "--wait-healthy", "1m", example,
        env={"ACME_PASSWORD": "demo"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Healthy: 1 trunk, every one that should register is registered." in result.stdout


class FakeClock:
    def __init__(self) -> None:
        self.time = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds


def test_in_process_waits_use_the_commands_clock(
    pbx: str,
    stack: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two minutes of --wait-healthy, and a --wait-idle that runs out, without sleeping."""
    for name, value in {**SECRETS, **env(pbx)}.items():
        monkeypatch.setenv(name, value)
    clock = FakeClock()
    monkeypatch.setattr(command_health, "CLOCK", command_health.Clock(clock.now, clock.sleep))
    calld(pbx, acme={"registered": False})
    assert main(["apply", str(stack), "--auto-approve", "--wait-healthy", "2m"]) == 5
    assert sum(clock.sleeps) == 120 and clock.sleeps[:4] == [0.5, 1.0, 2.0, 5.0]
    assert "Not healthy: trunks/acme (not registered)." in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "stack.yaml").write_text(PRUNE)
    calld(pbx, **{"hq-iax": {"current_call_count": 2}})
    clock.sleeps.clear()
    assert main(["apply", str(empty), "--auto-approve", "--wait-idle", "90s"]) == 3
    assert sum(clock.sleeps) == 90
    err = capsys.readouterr().err
    assert "still after waiting 90s" in err and "trunks/hq-iax would be deleted with 2 calls" in err

"""`reconcile` as a subprocess against `reconcile sandbox` on 127.0.0.1: the user's view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import SECRETS, STACKS, run_cli, served_sandbox, url_client

STACK = str(STACKS / "full.yaml")


def _conn(url: str) -> list[str]:
    return ["--url", url, "--token", "e2e-token"]


def test_apply_plan_drift_hand_edit_cycle(tmp_path: Path) -> None:
    with served_sandbox() as url:
        first = run_cli(
            "apply", STACK, *_conn(url), "--auto-approve", "--report", str(tmp_path / "r.json")
        )
        assert first.returncode == 0, first.stderr
        assert "Apply finished: 9 done, 0 failed, 0 not attempted" in first.stdout
        assert "Asterisk restart required: transports/transport-udp" in first.stdout
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["summary"] == {"done": 9, "failed": 0, "not attempted": 0}
        assert run_cli("plan", STACK, *_conn(url), "--detailed-exitcode").returncode == 0
        assert run_cli("drift", STACK, *_conn(url)).returncode == 0
        with url_client(url) as client:
            (outcall,) = client.list("/outcalls", params={"name": "national"})
            client.put(f"/outcalls/{outcall['id']}", {"ring_time": 42})  # undeclared: no drift
            extension = outcall["extensions"][0]["id"]
            client.put(f"/outcalls/{outcall['id']}/extensions/{extension}", {"caller_id": "42"})
        drift = run_cli("drift", STACK, *_conn(url), "--format", "json")
        assert drift.returncode == 2
        changes = json.loads(drift.stdout)["changes"]
        assert [(c["kind"], c["name"]) for c in changes] == [("outcalls", "national")]
        assert "outcalls/national" in run_cli("drift", STACK, *_conn(url)).stdout
        assert run_cli("apply", STACK, *_conn(url), "--auto-approve").returncode == 0
        assert run_cli("drift", STACK, *_conn(url)).returncode == 0
        outputs = [first.stdout, first.stderr, drift.stdout, (tmp_path / "r.json").read_text()]
        assert not any(secret in text for text in outputs for secret in SECRETS.values())


def test_stale_saved_plan_is_refused_fresh_one_applies(tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    with served_sandbox() as url:
        made = run_cli("plan", STACK, *_conn(url), "--out", str(saved))
        assert made.returncode == 0, made.stderr
        assert not any(secret in saved.read_text() for secret in SECRETS.values())
        with url_client(url) as client:
            client.put("/asterisk/pjsip/system", {"options": {"timer_t1": "600"}})
        stale = run_cli("apply", "--plan", str(saved), *_conn(url), "--auto-approve")
        assert stale.returncode == 1
        assert "stale" in stale.stderr
        remade = run_cli("plan", STACK, *_conn(url), "--out", str(saved))
        assert remade.returncode == 0
        fresh = run_cli("apply", "--plan", str(saved), *_conn(url), "--auto-approve")
        assert fresh.returncode == 0, fresh.stderr
        assert run_cli("plan", STACK, *_conn(url), "--detailed-exitcode").returncode == 0


def test_apply_without_terminal_or_auto_approve_refuses() -> None:
    result = run_cli("apply", STACK, "--sandbox")
    assert result.returncode == 1
    assert "--auto-approve" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_plan_formats_on_sandbox(fmt: str) -> None:
    result = run_cli("plan", STACK, "--sandbox", "--format", fmt, "--detailed-exitcode")
    assert result.returncode == 2, result.stderr
    if fmt == "json":
        assert json.loads(result.stdout)["summary"]["create"] == 5
    elif fmt == "markdown":
        assert "<details>" in result.stdout
    else:
        assert "Plan: 5 to create, 4 to update, 0 to delete" in result.stdout

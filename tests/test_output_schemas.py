"""The JSON outputs (plan, drift, apply report, status) follow their published JSON Schemas."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator

from support import (
    EXAMPLE_NAMES,
    EXAMPLES,
    SECRETS,
    apply,
    client_for,
    plan,
    run_cli,
    served_sandbox,
)
from wazo_reconcile.apply import apply_plan
from wazo_reconcile.render import RenderOptions, plan_dict, report_dict
from wazo_reconcile.sandbox import FaultConfig, FaultRule, Sandbox
from wazo_reconcile.stack import load_stack

ROOT = Path(__file__).resolve().parent.parent


def _validator(name: str) -> Draft202012Validator:
    text = resources.files("wazo_reconcile").joinpath(f"schemas/{name}.schema.json").read_text()
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.mark.parametrize("name", ["plan", "report", "status"])
def test_schema_copies_are_identical(name: str) -> None:
    packaged = resources.files("wazo_reconcile").joinpath(f"schemas/{name}.schema.json").read_text()
    assert (ROOT / "schemas" / f"{name}.schema.json").read_text() == packaged


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_plan_and_report_follow_their_schemas(example: str) -> None:
    stack = load_stack(EXAMPLES / example)
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    planned = plan(stack, client)
    document = plan_dict(planned, RenderOptions())
    errors = [e.message for e in _validator("plan").iter_errors(document)]
    assert errors == []
    # A partly failed apply, so that failed and not-attempted outcomes are covered too.
    every_post_fails = FaultRule(kind="error", status=500, method="POST", rate=1.0)
    sandbox.configure_faults(FaultConfig(rules=(every_post_fails,)))
    report = apply_plan(planned, client)
    assert report.counts["failed"] >= 1
    report_errors = [e.message for e in _validator("report").iter_errors(report_dict(report))]
    assert report_errors == []
    sandbox.configure_faults(FaultConfig())
    apply(stack, client)
    drift = plan_dict(plan(stack, client), RenderOptions(title="drift"))
    assert list(_validator("plan").iter_errors(drift)) == []
    assert not any(s in json.dumps(document) for s in SECRETS.values())


def test_health_outputs_follow_their_schemas(tmp_path: Path) -> None:
    """`apply --wait-healthy --report`, `drift --health` and `status`, with a trunk down."""
    report = tmp_path / "report.json"
    stack = str(EXAMPLES / "nat-provider")
    with served_sandbox() as url:
        httpx.post(f"{url}/_sandbox/calld", json={"trunks": {"acme": {"registered": False}}})
        environ = {"WAZO_URL": url, "WAZO_TOKEN": "t"}
        applied = run_cli(
            "apply", stack, "--auto-approve", "--wait-healthy", "0", "--report", str(report),
            env=environ,
        )  # fmt: skip
        assert applied.returncode == 5, applied.stderr
        outputs = {
            "plan": run_cli("drift", stack, "--health", "--format", "json", env=environ),
            "status": run_cli("status", stack, "--format", "json", env=environ),
        }
    assert [r.returncode for r in outputs.values()] == [5, 2]
    for name, result in outputs.items():
        document = json.loads(result.stdout)
        assert document["health"]["unhealthy"] if name == "plan" else document["unhealthy"]
        assert list(_validator(name).iter_errors(document)) == [], name
    document = json.loads(report.read_text())
    assert document["health"]["unhealthy"] == ["acme"]
    assert list(_validator("report").iter_errors(document)) == []

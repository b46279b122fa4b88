"""The JSON outputs (plan, drift, apply report) follow their published JSON Schemas."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from support import EXAMPLE_NAMES, EXAMPLES, SECRETS, apply, client_for, plan
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


@pytest.mark.parametrize("name", ["plan", "report"])
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

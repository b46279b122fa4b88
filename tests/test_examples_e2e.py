"""Every example, end to end on a fresh sandbox: plan, apply, plan again empty, drift, hand edit."""

from __future__ import annotations

import json

import pytest

from support import (
    EXAMPLE_NAMES,
    EXAMPLES,
    SECRETS,
    apply,
    client_for,
    invariants,
    plan,
    run_cli,
    served_sandbox,
    url_client,
)
from wazo_reconcile.diff import Action
from wazo_reconcile.planner import KIND_ORDER
from wazo_reconcile.render import RenderOptions, render_json, render_markdown, render_text
from wazo_reconcile.sandbox import Sandbox
from wazo_reconcile.stack import load_stack


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_plan_apply_plan(name: str) -> None:
    stack = load_stack(EXAMPLES / name)
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    first = plan(stack, client)
    changes = first.changes
    assert changes, "a fresh PBX needs changes"
    assert any(c.action is Action.CREATE for c in changes) or name == "nat-provider"
    writes = [c for c in changes if c.action is not Action.DELETE]
    assert [KIND_ORDER[c.key.kind] for c in writes] == sorted(
        KIND_ORDER[c.key.kind] for c in writes
    )
    options = RenderOptions()
    outputs = [
        render_text(first, options),
        render_json(first, options),
        render_markdown(first, options),
    ]
    assert json.loads(outputs[1])["summary"]["create"] == first.counts["create"]
    _, report = apply(stack, client)
    assert report.ok, [(str(o.change.key), o.error) for o in report.outcomes if o.error]
    again = plan(stack, client)
    assert again.is_empty, render_text(again)
    assert invariants(sandbox) == []
    for text in outputs:
        assert not any(secret in text for secret in SECRETS.values())


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_through_cli_on_loopback(name: str) -> None:
    path = str(EXAMPLES / name)
    with served_sandbox() as url:
        conn = ["--url", url, "--token", "example-token"]
        assert run_cli("plan", path, *conn, "--detailed-exitcode").returncode == 2
        applied = run_cli("apply", path, *conn, "--auto-approve")
        assert applied.returncode == 0, applied.stderr
        assert run_cli("plan", path, *conn, "--detailed-exitcode").returncode == 0
        assert run_cli("drift", path, *conn).returncode == 0
        edited = _hand_edit(url)
        drift = run_cli("drift", path, *conn)
        if edited is not None:
            assert drift.returncode == 2, drift.stdout
            assert edited in drift.stdout
            assert run_cli("apply", path, *conn, "--auto-approve").returncode == 0
            assert run_cli("drift", path, *conn).returncode == 0
        for text in (applied.stdout, applied.stderr, drift.stdout, drift.stderr):
            assert not any(secret in text for secret in SECRETS.values())


def _hand_edit(url: str) -> str | None:
    """Change one managed thing by hand, as an admin would in the web UI; say what."""
    with url_client(url) as client:
        for trunk in client.list("/trunks", params={"recurse": "true"}):
            endpoint = trunk.get("endpoint_sip")
            if endpoint:
                (full,) = client.list(
                    "/endpoints/sip", params={"name": endpoint["name"], "recurse": "true"}
                )
                section = [p for p in full["aor_section_options"] if p[0] != "qualify_frequency"]
                client.put(
                    f"/endpoints/sip/{full['uuid']}",
                    {"aor_section_options": [*section, ["qualify_frequency", "17"]]},
                )
                return f"trunks/{endpoint['name']}"
        for outcall in client.list("/outcalls", params={"recurse": "true"}):
            if outcall["trunks"]:
                client.put(f"/outcalls/{outcall['id']}/trunks", {"trunks": []})
                return f"outcalls/{outcall['name']}"
    return None

"""Tenants by name: resolution through wazo-auth, located errors, export by slug."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import SECRETS, client_for, plan
from wazo_reconcile.errors import ConfigError
from wazo_reconcile.export import export_documents
from wazo_reconcile.live import fetch_live
from wazo_reconcile.sandbox import FRESH_MASTER, FRESH_SUB, Sandbox
from wazo_reconcile.stack import load_stack
from wazo_reconcile.tenants import Directory, TenantNameError, fetch_directory, resolve_names

TENANTS = [
    {"uuid": FRESH_MASTER, "name": "master", "slug": "master"},
    {"uuid": FRESH_SUB, "name": "Paris", "slug": "paris"},
    {"uuid": "33333333-3333-4333-8333-333333333333", "name": "Paris", "slug": "paris2"},
]


def test_directory_resolves_uuids_slugs_then_names() -> None:
    directory = Directory.of(TENANTS)
    assert directory.resolve(FRESH_SUB.upper()) == FRESH_SUB
    assert directory.resolve("paris") == FRESH_SUB  # the slug wins over the name "Paris"
    assert directory.resolve("PARIS2") == "33333333-3333-4333-8333-333333333333"
    with pytest.raises(TenantNameError, match="'Paris' is ambiguous: 2 tenants"):
        directory.resolve("Paris")
    with pytest.raises(TenantNameError, match=r"'lyon' is not visible .*visible tenants: master"):
        directory.resolve("lyon")


def test_stack_names_resolve_before_planning(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "version: 1\ntenant: Sub tenant\noutcalls:\n  sub-route: {trunks: []}\n"
        "---\nversion: 1\ntenant: master\noutcalls:\n  master-route: {trunks: []}\n",
        encoding="utf-8",
    )
    planned = plan(load_stack(tmp_path), client_for(Sandbox()))
    assert {(c.key.name, c.key.tenant) for c in planned.changes} == {
        ("sub-route", FRESH_SUB),
        ("master-route", FRESH_MASTER),
    }
    # Plans show the tenants as the stack wrote them; JSON keeps the UUIDs.
    from wazo_reconcile.render import render_json, render_markdown, render_text

    for rendered in (render_text(planned), render_markdown(planned)):
        assert "+ outcalls/sub-route (tenant Sub tenant)" in rendered
        assert "+ outcalls/master-route (tenant master)" in rendered
        assert FRESH_SUB not in rendered
    assert FRESH_SUB in render_json(planned)


def test_plan_time_messages_name_the_tenant_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wazo_reconcile.cli import main

    (tmp_path / "s.yaml").write_text(
        "version: 1\ntrunks:\n  acme: {context: from-extern}\n", encoding="utf-8"
    )
    assert main(["plan", "--sandbox", "--tenant", "sub", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "trunks.acme.context: unknown context 'from-extern' in tenant sub" in err
    assert FRESH_SUB not in err


def test_unknown_names_are_located_and_list_the_visible_tenants(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "version: 1\ntenant: nowhere\noutcalls:\n  o: {trunks: []}\n", encoding="utf-8"
    )
    client = client_for(Sandbox())
    with pytest.raises(ConfigError) as info:
        resolve_names(load_stack(tmp_path), None, client)
    (problem,) = info.value.problems
    assert str(problem) == (
        f"{tmp_path / 's.yaml'}:2:9: tenant: tenant 'nowhere' is not visible to this token "
        f"(visible tenants: master ({FRESH_MASTER}), sub ({FRESH_SUB}, name 'Sub tenant'))"
    )
    with pytest.raises(TenantNameError, match="--tenant / WAZO_TENANT: tenant 'x'"):
        resolve_names(load_stack(tmp_path / "s.yaml"), "x", client)


def test_a_stack_of_uuids_asks_nothing_of_wazo_auth(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(f"version: 1\ntenant: {FRESH_SUB.upper()}\n", "utf-8")
    sandbox = Sandbox()
    stack, tenant = resolve_names(load_stack(tmp_path), None, client_for(sandbox))
    assert stack.documents[0].tenant == FRESH_SUB and tenant is None
    assert sandbox.stats()["total"] == 0


def test_variables_are_shown_and_secrets_masked_in_plans(tmp_path: Path) -> None:
    from wazo_reconcile.render import render_text
    from wazo_reconcile.secrets import SecretResolver

    (tmp_path / "s.yaml").write_text(
        "version: 1\ntransports:\n  transport-udp:\n    external_media_address: ${var:ip}\n"
        "trunks:\n  acme:\n    context: from-extern\n"
        "    outbound_auth: {username: '${var:user}', password: '${var:pw}'}\n",
        encoding="utf-8",
    )
    from wazo_reconcile.lint import LintOptions, check_stack
    from wazo_reconcile.pipeline import fetch_and_compare
    from wazo_reconcile.secrets import SecretRegistry

    variables = {"ip": "198.51.100.77", "user": "acct-42", "pw": "var-Secret-99"}
    stack = load_stack(tmp_path)
    registry = SecretRegistry()
    check_stack(stack, options=LintOptions(env=SECRETS, variables=variables), secrets=registry)
    assert "var-Secret-99" in registry and "198.51.100.77" not in registry  # by the field
    resolver = SecretResolver(SECRETS, variables)
    text = render_text(fetch_and_compare(stack, client_for(Sandbox()), resolver=resolver))
    assert "external_media_address = 198.51.100.77" in text
    assert "username = acct-42" in text
    assert "var-Secret-99" not in text


def test_export_writes_slugs_unless_asked_for_uuids() -> None:
    sandbox = Sandbox()
    client = client_for(sandbox)
    live = fetch_live(client)
    labels = {t.uuid: t.slug for t in fetch_directory(client).tenants}
    by_slug = export_documents(live, kinds=["sip_templates"], everything=True, tenant_labels=labels)
    assert "\ntenant: sub\n" in by_slug.files["sip_templates.yaml"]
    assert FRESH_SUB not in by_slug.files["sip_templates.yaml"]
    by_uuid = export_documents(live, kinds=["sip_templates"], everything=True)
    assert f"\ntenant: {FRESH_SUB}\n" in by_uuid.files["sip_templates.yaml"]

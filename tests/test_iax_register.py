"""An IAX trunk's `register` (confd's /registers/iax): normalised alike on both sides, planned,
applied after its trunk, never duplicated, exported, linted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from support import SECRETS, apply, client_for, plan
from wazo_reconcile.apply import Status
from wazo_reconcile.confd import ConfdClient
from wazo_reconcile.diff import Action
from wazo_reconcile.errors import ConfigError
from wazo_reconcile.export import export_documents
from wazo_reconcile.lint import check_stack
from wazo_reconcile.live import fetch_live
from wazo_reconcile.pipeline import compare
from wazo_reconcile.registers import desired_register, live_register, register_body
from wazo_reconcile.render import render_text
from wazo_reconcile.sandbox import FaultConfig, FaultRule, Sandbox
from wazo_reconcile.secrets import SecretResolver
from wazo_reconcile.stack import Stack, load_stack, option_text

SECRET = SECRETS["HQ_IAX_SECRET"]
FULL = """\
    register:
      remote_host: hq.example.net
      remote_port: 4569
      auth_username: branch-paris
      auth_password: ${env:HQ_IAX_SECRET}
      callback_extension: 8000
      callback_context: from-extern
"""


def stack(tmp_path: Path, register: str = FULL, name: str = "s") -> Stack:
    directory = tmp_path / name
    directory.mkdir(exist_ok=True)
    text = (
        "version: 1\ntrunks:\n  hq-iax:\n    type: iax\n    host: hq.example.net\n"
        "    context: from-extern\n" + register
    )
    (directory / "stack.yaml").write_text(text)
    return load_stack(directory)


def registers(client: ConfdClient) -> list[dict[str, Any]]:
    return client.list("/registers/iax")


# ------------------------------------------------------------------------ normalisation


def test_both_sides_fold_what_confd_reads_back_as_no_value() -> None:
    live = live_register(
        {
            "id": 52,
            "remote_host": "h",
            "remote_port": None,
            "auth_username": "",  # a password alone reads back with username ""
            "auth_password": "pw",
            "callback_extension": None,
            "callback_context": None,
            "enabled": True,
        }
    )
    desired = desired_register(
        {"remote_host": "h", "auth_password": "pw", "remote_port": 0, "enabled": True},
        option_text,
    )
    assert live == desired == (("auth_password", "pw"), ("remote_host", "h"))
    assert desired_register(None, option_text) == ()
    disabled = desired_register({"remote_host": "h", "enabled": False}, option_text)
    assert disabled == (("enabled", "no"), ("remote_host", "h"))
    assert register_body(disabled) == {
        "remote_host": "h",
        "auth_username": None,
        "auth_password": None,
        "callback_extension": None,
        "callback_context": None,
        "remote_port": None,
        "enabled": False,
    }


# ---------------------------------------------------------------------- plan and apply


def test_apply_creates_it_after_the_trunk_then_plans_nothing(tmp_path: Path) -> None:
    client = client_for(Sandbox())
    planned, report = apply(stack(tmp_path), client)
    (change,) = planned.changes
    assert change.impact == ("reload:iax2",)
    assert planned.summaries(0)[-2:] == (
        "POST /registers/iax (hq-iax)",
        "PUT /trunks/{hq-iax}/registers/iax/{hq-iax}",
    )
    assert report.counts["done"] == 1
    (found,) = registers(client)
    assert found["trunk"] is not None and found["auth_password"] == SECRET
    assert found["remote_port"] == 4569 and found["callback_extension"] == "8000"
    assert plan(stack(tmp_path), client).is_empty
    text = render_text(planned)
    assert "register:" in text and SECRET not in text and "auth_password = (sensitive)" in text


def test_changes_are_one_put_of_the_whole_register(tmp_path: Path) -> None:
    client = client_for(Sandbox())
    apply(stack(tmp_path), client)
    fewer = stack(tmp_path, FULL.replace("      callback_context: from-extern\n", ""), "fewer")
    planned, report = apply(fewer, client)
    (change,) = planned.changes
    assert [d.field for d in change.fields] == ["register"]
    assert planned.summaries(0) == ("PUT /registers/iax/52 (hq-iax)",)
    assert report.ok and registers(client)[0]["callback_context"] is None
    assert plan(fewer, client).is_empty


def test_null_removes_it_and_undeclared_leaves_it(tmp_path: Path) -> None:
    client = client_for(Sandbox())
    apply(stack(tmp_path), client)
    assert plan(stack(tmp_path, "", "undeclared"), client).is_empty  # left alone
    removed = stack(tmp_path, "    register: null\n", "removed")
    planned, report = apply(removed, client)
    assert planned.summaries(0) == ("DELETE /registers/iax/52 (hq-iax)",)
    assert report.ok and registers(client) == []
    assert plan(removed, client).is_empty
    planned, report = apply(stack(tmp_path), client)  # added to an existing trunk
    assert planned.summaries(0) == (
        "POST /registers/iax (hq-iax)",
        "PUT /trunks/{hq-iax}/registers/iax/{hq-iax}",
    )
    assert report.ok and len(registers(client)) == 1


def test_a_pruned_trunk_takes_its_register_along(tmp_path: Path) -> None:
    client = client_for(Sandbox())
    apply(stack(tmp_path), client)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "stack.yaml").write_text("version: 1\npolicy: {prune: [trunks]}\n")
    planned, report = apply(load_stack(empty), client)
    assert [c.action for c in planned.changes] == [Action.DELETE] and report.ok
    assert registers(client) == []


def test_an_orphan_register_is_adopted_not_duplicated(tmp_path: Path) -> None:
    client = client_for(Sandbox())
    wanted = desired_register(
        {
            "remote_host": "hq.example.net",
            "remote_port": 4569,
            "auth_username": "branch-paris",
            "auth_password": SECRET,
            "callback_extension": 8000,
            "callback_context": "from-extern",
        },
        option_text,
    )
    client.post("/registers/iax", register_body(wanted))  # left by an interrupted apply
    planned, report = apply(stack(tmp_path), client)
    assert planned.summaries(0)[-1] == "PUT /trunks/{hq-iax}/registers/iax/52 (adopt it)"
    assert report.ok and [r["id"] for r in registers(client)] == [52]
    assert registers(client)[0]["trunk"] is not None


def test_an_unknown_outcome_is_read_back_not_posted_twice(tmp_path: Path) -> None:
    sandbox = Sandbox()
    client = client_for(sandbox)
    rule = FaultRule("saved_then_500", nth=(1,), method="POST", path="/registers/iax")
    sandbox.configure_faults(FaultConfig(rules=(rule,)))
    _, report = apply(stack(tmp_path), client)
    assert report.ok, [o.error for o in report.outcomes]
    assert len(registers(client)) == 1 and registers(client)[0]["trunk"] is not None


# --------------------------------------------------------------------- export and checks


def test_export_writes_it_with_its_secret_as_a_reference(tmp_path: Path) -> None:
    client = client_for(Sandbox())
    apply(stack(tmp_path), client)
    result = export_documents(fetch_live(client))
    text = result.files["trunks.yaml"]
    assert "register:" in text and SECRET not in text
    assert "${env:WAZO_TRUNK_HQ_IAX_REGISTER_AUTH_PASSWORD}" in text
    assert [v.name for v in result.env] == ["WAZO_TRUNK_HQ_IAX_REGISTER_AUTH_PASSWORD"]


def _problems(tmp_path: Path, register: str, env: dict[str, str] | None = None) -> list[str]:
    from wazo_reconcile.lint import LintOptions

    options = LintOptions(env={**SECRETS, **(env or {})})
    found = check_stack(stack(tmp_path, register), options=options)
    return [f"{p.path}: {p.message}" for p in found if p.severity == "error"]


def test_values_confd_would_refuse_are_found_offline(tmp_path: Path) -> None:
    bad = (
        "    register:\n      remote_host: hq.example.net:4569\n      auth_username: a b\n"
        "      callback_context: from-extern\n      auth_password: ${env:BAD_SECRET}\n"
    )
    found = _problems(tmp_path, bad, {"BAD_SECRET": "pa/ss"})
    assert found == [
        "trunks.hq-iax.register.remote_host: must not contain ':': the register line uses it",
        "trunks.hq-iax.register.auth_username: must not contain a space: the register line uses it",
        "trunks.hq-iax.register.auth_password: must not contain '/': the register line uses it",
        "trunks.hq-iax.register.callback_context: needs 'callback_extension' (confd refuses "
        "'callback_context' without it)",
    ]
    lonely = "    register:\n      remote_host: h\n      auth_username: acct\n"
    assert _problems(tmp_path, lonely) == [
        "trunks.hq-iax.register.auth_username: needs 'auth_password' (confd refuses "
        "'auth_username' without it)"
    ]
    long = f"    register:\n      remote_host: {'x' * 256}\n"
    assert _problems(tmp_path, long) == [
        "trunks.hq-iax.register: the register line would be 256 characters; at most 255"
    ]
    assert _problems(tmp_path, FULL) == []


@pytest.mark.parametrize(
    ("trunk", "message"),
    [
        ("type: sip", "'register' does not apply to a sip trunk (only to iax trunks)"),
        ("type: iax", "missing required key 'remote_host'"),
    ],
)
def test_the_schema(tmp_path: Path, trunk: str, message: str) -> None:
    directory = tmp_path / "schema"
    directory.mkdir()
    body = "{remote_port: 4569}" if trunk == "type: iax" else "{remote_host: h}"
    (directory / "s.yaml").write_text(
        f"version: 1\ntrunks:\n  t1:\n    {trunk}\n    register: {body}\n"
    )
    found = [p.message for p in check_stack(load_stack(directory))]
    assert any(message in m for m in found), found


def test_a_register_the_token_may_not_read_is_a_problem(tmp_path: Path) -> None:
    client = client_for(Sandbox())
    live = fetch_live(client)
    unreadable = replace(live, registers_iax=None)
    resolver = SecretResolver(SECRETS)
    with pytest.raises(ConfigError) as caught:
        compare(stack(tmp_path), unreadable, resolver=resolver)
    assert "confd.registers.iax.read" in str(caught.value)
    assert compare(stack(tmp_path, "", "bare"), unreadable, resolver=resolver).changes


def test_an_outcome_reports_the_register_requests(tmp_path: Path) -> None:
    client = client_for(Sandbox())
    _, report = apply(stack(tmp_path), client)
    (outcome,) = report.outcomes
    assert outcome.status is Status.DONE and outcome.requests[-1].startswith("PUT /trunks/")

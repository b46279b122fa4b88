"""Objects Wazo creates and owns (default templates, PJSIP global/system) are managed key by
key: following the guide never wipes Wazo's defaults (issue 24)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support import apply, client_for, plan
from wazo_reconcile.confd import ConfdClient
from wazo_reconcile.diff import Action, Change
from wazo_reconcile.render import field_delta
from wazo_reconcile.sandbox import Sandbox
from wazo_reconcile.sandbox.seed import FRESH_MASTER
from wazo_reconcile.stack import load_stack

NAT_STEP = """\
version: 1
sip_templates:
  global:
    endpoint:
      rtp_symmetric: yes
      rewrite_contact: yes
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def global_endpoint(client: ConfdClient) -> tuple[str, list[list[str]]]:
    uuid = client.get(f"/tenants/{FRESH_MASTER}")["global_sip_template_uuid"]
    template = client.get(f"/endpoints/sip/templates/{uuid}")
    return str(uuid), list(template["endpoint_section_options"])


def only_change(changes: tuple[Change, ...]) -> tuple[list[Any], list[Any]]:
    (change,) = changes
    assert change.action is Action.UPDATE and str(change.key) == "sip_templates/global"
    (delta,) = change.fields
    assert delta.field == "endpoint"
    return field_delta(delta)


def test_the_guide_nat_step_adds_two_options_to_global_and_removes_none(tmp_path: Path) -> None:
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    _, before = global_endpoint(client)
    stack = load_stack(write(tmp_path, NAT_STEP))
    added, removed = only_change(plan(stack, client).changes)
    assert sorted(added) == [("rewrite_contact", "yes"), ("rtp_symmetric", "yes")]
    assert removed == []
    assert apply(stack, client)[1].ok
    _, after = global_endpoint(client)
    assert sorted(map(tuple, after)) == sorted(
        [*map(tuple, before), ("rewrite_contact", "yes"), ("rtp_symmetric", "yes")]
    )
    assert plan(stack, client).is_empty


def test_a_hand_edit_of_an_undeclared_option_is_not_drift_of_a_declared_one_is(
    tmp_path: Path,
) -> None:
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    stack = load_stack(write(tmp_path, NAT_STEP))
    assert apply(stack, client)[1].ok
    uuid, options = global_endpoint(client)
    path = f"/endpoints/sip/templates/{uuid}"
    edited = [[k, "fr_FR" if k == "language" else v] for k, v in options]
    client.put(path, {"endpoint_section_options": edited})
    assert plan(stack, client).is_empty  # `language` is Wazo's: not declared, not drift
    edited = [[k, "no" if k == "rtp_symmetric" else v] for k, v in edited]
    client.put(path, {"endpoint_section_options": edited})
    added, removed = only_change(plan(stack, client).changes)
    assert (added, removed) == ([("rtp_symmetric", "yes")], [("rtp_symmetric", "no")])
    assert apply(stack, client)[1].ok
    _, options = global_endpoint(client)
    assert ["language", "fr_FR"] in options and ["rtp_symmetric", "yes"] in options


def test_a_key_set_to_null_is_removed_and_only_it(tmp_path: Path) -> None:
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    _, before = global_endpoint(client)
    assert ["dtmf_mode", "rfc4733"] in before
    text = "version: 1\nsip_templates:\n  global:\n    endpoint: {dtmf_mode: null}\n"
    stack = load_stack(write(tmp_path, text))
    added, removed = only_change(plan(stack, client).changes)
    assert (added, removed) == ([], [("dtmf_mode", "rfc4733")])
    assert apply(stack, client)[1].ok
    _, after = global_endpoint(client)
    assert sorted(map(tuple, after)) == sorted(set(map(tuple, before)) - {("dtmf_mode", "rfc4733")})
    assert plan(stack, client).is_empty


def test_pjsip_global_keeps_the_settings_it_does_not_declare(tmp_path: Path) -> None:
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    text = "version: 1\npjsip:\n  global: {user_agent: ACME PBX}\n"
    stack = load_stack(write(tmp_path, text))
    (change,) = plan(stack, client).changes
    assert field_delta(change.fields[0]) == (
        [("user_agent", "ACME PBX")],
        [("user_agent", "Wazo PBX")],
    )
    assert apply(stack, client)[1].ok
    assert client.get("/asterisk/pjsip/global")["options"] == {
        "user_agent": "ACME PBX",
        "endpoint_identifier_order": "auth_username,username,ip",
    }
    assert plan(stack, client).is_empty


def test_a_template_the_stack_creates_keeps_whole_section_authority(tmp_path: Path) -> None:
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    text = "version: 1\nsip_templates:\n  carrier: {endpoint: {allow: '!all,alaw', language: fr}}\n"
    assert apply(load_stack(write(tmp_path, text)), client)[1].ok
    text = "version: 1\nsip_templates:\n  carrier: {endpoint: {allow: '!all,alaw'}}\n"
    (change,) = plan(load_stack(write(tmp_path, text)), client).changes
    assert field_delta(change.fields[0]) == ([], [("language", "fr")])


def test_policy_authoritative_makes_a_default_template_section_exact(tmp_path: Path) -> None:
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    _, before = global_endpoint(client)
    text = NAT_STEP + "policy: {authoritative: [sip_templates/global]}\n"
    added, removed = only_change(plan(load_stack(write(tmp_path, text)), client).changes)
    assert sorted(added) == [("rewrite_contact", "yes"), ("rtp_symmetric", "yes")]
    assert sorted(removed) == sorted(map(tuple, before))  # the whole section is declared


def test_null_values_and_headers_in_a_default_template_validate(tmp_path: Path) -> None:
    from wazo_reconcile.cli import main

    text = (
        "version: 1\nsip_templates:\n  global:\n    endpoint: {dtmf_mode: null, language: fr_FR}\n"
        "trunks:\n  t: {templates: [global], headers: {X-Old: null}, endpoint: {allow: null}}\n"
        "transports:\n  transport-udp: {protocol: udp, local_net: null}\n"
        "pjsip:\n  global: {user_agent: null}\n"
    )
    assert main(["validate", "--strict", str(write(tmp_path, text))]) == 0


def test_a_plan_that_removes_inherited_options_says_so_loudly(tmp_path: Path) -> None:
    from wazo_reconcile.render import plan_dict, render_markdown, render_text

    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    trunks = "trunks:\n" + "".join(
        f"  t{i}: {{templates: [carrier], context: from-extern}}\n" for i in range(3)
    )
    text = "version: 1\nsip_templates:\n  carrier: {endpoint: {allow: '!all,alaw', language: fr}}\n"
    assert apply(load_stack(write(tmp_path, text + trunks)), client)[1].ok
    text = "version: 1\nsip_templates:\n  carrier: {endpoint: {allow: '!all,alaw'}}\n"
    planned = plan(load_stack(write(tmp_path, text + trunks)), client)
    warning = "sip_templates/carrier removes 1 option inherited by 3 trunks"
    assert planned.warnings == (warning,)
    assert f"Warning: {warning}" in render_text(planned)
    assert f"> **{warning}**" in render_markdown(planned)
    assert plan_dict(planned)["warnings"] == [warning]
    more = (
        "version: 1\nsip_templates:\n  carrier:\n"
        "    endpoint: {allow: '!all,alaw', language: fr, dtmf_mode: info}\n"
    )
    assert plan(load_stack(write(tmp_path, more + trunks)), client).warnings == ()  # only adds

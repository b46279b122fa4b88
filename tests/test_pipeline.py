"""The pipeline against the in-process sandbox: plan, apply, plan again, hand edits, secrets."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from support import (
    SECRETS,
    STACKS,
    apply,
    client_for,
    generated_stack,
    invariants,
    plan,
    run_cli,
    served_sandbox,
)
from wazo_reconcile.apply import Status
from wazo_reconcile.diff import Action
from wazo_reconcile.pipeline import fetch_and_compare
from wazo_reconcile.planner import Selection
from wazo_reconcile.render import RenderOptions, render_json, render_markdown, render_text
from wazo_reconcile.sandbox import Sandbox
from wazo_reconcile.secrets import SecretResolver
from wazo_reconcile.shapes import Context
from wazo_reconcile.stack import load_stack


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(profile="fresh")


def test_plan_apply_plan_is_empty(sandbox: Sandbox) -> None:
    stack = load_stack(STACKS / "full.yaml")
    client = client_for(sandbox)
    planned, report = apply(stack, client)
    assert report.ok, [o for o in report.outcomes if o.status is not Status.DONE]
    assert len(planned.changes) == 9
    sandbox.reset_stats()
    again = plan(stack, client)
    assert again.is_empty, render_text(again)
    assert again.in_sync == 9
    writes = {k: v for k, v in sandbox.stats()["requests"].items() if not k.startswith("GET")}
    assert writes == {}
    assert invariants(sandbox) == []


def test_generated_stack_converges(sandbox: Sandbox, tmp_path: Path) -> None:
    stack = generated_stack(tmp_path)
    client = client_for(sandbox)
    planned, report = apply(stack, client)
    assert len(planned.changes) >= 30
    assert report.ok
    assert plan(stack, client).is_empty
    assert invariants(sandbox) == []


def _hand_edit(sandbox: Sandbox) -> None:
    raw = client_for(sandbox)
    acme = raw.list("/endpoints/sip", params={"name": "acme"})[0]
    options = [p for p in acme["aor_section_options"] if p[0] != "contact"]
    options.append(["contact", "sip:elsewhere.example:5060"])
    raw.put(f"/endpoints/sip/{acme['uuid']}", {"aor_section_options": options})
    outcall = raw.list("/outcalls", params={"name": "national"})[0]
    kept = [{"id": t["id"]} for t in outcall["trunks"] if t["id"] != acme["trunk"]["id"]]
    raw.put(f"/outcalls/{outcall['id']}/trunks", {"trunks": kept})
    bob = raw.list("/users", params={"email": "bob@example.com"})[0]
    raw.put(f"/users/{bob['uuid']}", {"outgoing_caller_id": '"Robert" <5559999>'})


def test_hand_edits_show_exactly(sandbox: Sandbox) -> None:
    stack = load_stack(STACKS / "full.yaml")
    client = client_for(sandbox)
    apply(stack, client)
    _hand_edit(sandbox)
    planned = plan(stack, client)
    summary = {(str(c.key), c.action): [d.field for d in c.fields] for c in planned.changes}
    assert summary == {
        ("trunks/acme", Action.UPDATE): ["aor"],
        ("outcalls/national", Action.UPDATE): ["trunks"],
        ("users/bob@example.com", Action.UPDATE): ["outgoing_caller_id"],
    }
    (trunk,) = [c for c in planned.changes if c.key.name == "acme"]
    assert ("contact", "sip:elsewhere.example:5060") in trunk.fields[0].before
    _, report = apply(stack, client)
    assert report.ok
    assert plan(stack, client).is_empty


def test_plan_requests_grow_with_the_declared_sip_trunks_only(tmp_path: Path) -> None:
    """One list per kind, and one read of each declared SIP trunk's endpoint: never the list
    of SIP endpoints, never a read of a trunk the stack does not declare."""
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    apply(generated_stack(tmp_path / "big", sip=1000, iax=3, custom=2), client)
    counts = {}
    for size in (10, 1000):
        stack = generated_stack(tmp_path / str(size), sip=size, iax=3, custom=2)
        sandbox.reset_stats()
        planned = plan(stack, client)
        assert not [c for c in planned.changes if c.key.kind != "trunks"]
        counts[size] = sandbox.stats()["total"]
        listed = [k for k in sandbox.stats()["requests"] if k == "GET /endpoints/sip"]
        assert listed == [], listed
    assert counts == {10: 15 + 10, 1000: 15 + 1000}


def test_no_secret_in_any_rendering(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wazo_reconcile")
    stack = load_stack(STACKS / "full.yaml")
    client = client_for(sandbox)
    planned = plan(stack, client)
    options = RenderOptions()
    outputs = [
        render_text(planned, options),
        render_json(planned, options),
        render_markdown(planned, options),
    ]
    apply(stack, client)
    outputs.append(caplog.text)
    for text in outputs:
        for secret in SECRETS.values():
            assert secret not in text
    assert "(sensitive)" in outputs[0]
    data = json.loads(outputs[1])
    assert data["format_version"] == 1
    assert data["summary"]["create"] == 5


def test_plan_order_is_dependency_order(sandbox: Sandbox, tmp_path: Path) -> None:
    stack = generated_stack(tmp_path)
    planned = plan(stack, client_for(sandbox))
    keys = [str(c.key) for c in planned.changes]
    assert keys.index("transports/transport-tcp") < keys.index("sip_templates/gen-base")
    assert keys.index("sip_templates/gen-base") < keys.index("sip_templates/gen-mid")
    assert keys.index("sip_templates/gen-mid") < keys.index("sip_templates/gen-top")
    assert keys.index("sip_templates/gen-top") < keys.index("trunks/gen-sip-1")
    assert max(keys.index(f"trunks/gen-sip-{i}") for i in range(12)) < keys.index(
        "outcalls/gen-route-0"
    )
    assert plan(stack, client_for(sandbox)).changes == planned.changes


def test_target_includes_dependencies_exclude_drops_dependents(sandbox: Sandbox) -> None:
    stack = load_stack(STACKS / "full.yaml")
    client = client_for(sandbox)
    resolver = SecretResolver(SECRETS)
    targeted = fetch_and_compare(
        stack, client, resolver=resolver, selection=Selection(("trunks/acme",))
    )
    assert [str(c.key) for c in targeted.changes] == [
        "transports/transport-udp",
        "sip_templates/global",
        "sip_templates/carrier-base",
        "trunks/acme",
    ]
    excluded = fetch_and_compare(
        stack, client, resolver=resolver, selection=Selection((), ("trunks/acme",))
    )
    keys = {str(c.key) for c in excluded.changes}
    assert "trunks/acme" not in keys and "outcalls/national" not in keys  # it needs acme
    assert "users/alice" in keys


def test_saved_plan_keeps_its_selection(tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    with served_sandbox() as url:
        conn = ["--url", url, "--token", "t"]
        made = run_cli(
            "plan", str(STACKS / "full.yaml"), *conn, "--target", "users/*", "--out", str(saved)
        )
        assert made.returncode == 0, made.stderr
        applied = run_cli("apply", "--plan", str(saved), *conn, "--auto-approve")
        assert applied.returncode == 0, applied.stderr
        assert "Apply finished: 2 done" in applied.stdout
        rest = run_cli("plan", str(STACKS / "full.yaml"), *conn, "--format", "json")
        assert json.loads(rest.stdout)["summary"]["update"] == 2  # transport and global left


def test_prune_keeps_transports_in_use(sandbox: Sandbox, tmp_path: Path) -> None:
    client = client_for(sandbox)
    client.post("/sip/transports", {"name": "transport-old", "options": [["protocol", "tcp"]]})
    (tmp_path / "s.yaml").write_text(
        "version: 1\ntransports:\n  transport-tcp: {protocol: tcp}\npolicy: {prune: [transports]}\n"
    )
    planned = plan(load_stack(tmp_path), client)
    actions = {(c.action.value, str(c.key)) for c in planned.changes}
    assert actions == {
        ("create", "transports/transport-tcp"),
        ("delete", "transports/transport-old"),
    }
    kept = {str(k.resource.key): k.reason for k in planned.kept}
    assert kept == {
        "transports/transport-udp": "in use by global",
        "transports/transport-wss": "in use by webrtc",
    }
    _, report = apply(load_stack(tmp_path), client)
    assert report.ok


def test_options_this_pbx_does_not_know_are_located(sandbox: Sandbox, tmp_path: Path) -> None:
    """The live PJSIP doc may lack options ours has (an older Asterisk): every such key is
    reported where it is written, in a mapping or in [key, value] pairs, before any write."""
    from dataclasses import replace

    from wazo_reconcile.errors import ConfigError
    from wazo_reconcile.live import fetch_live
    from wazo_reconcile.pipeline import compare

    path = tmp_path / "stack.yaml"
    path.write_text(
        "version: 1\n"
        "sip_templates:\n"
        "  carrier:\n"
        "    templates: [global]\n"
        '    aor: [[max_contacts, "1"], [qualify_frequency, "60"]]\n'
        "trunks:\n"
        "  acme:\n"
        "    templates: [carrier]\n"
        "    endpoint: {direct_media: no, rtp_symmetric: yes}\n"
    )
    stack = load_stack(path)
    live = fetch_live(client_for(sandbox))
    assert compare(stack, live).changes  # the full doc knows every key
    doc = dict(live.pjsip_doc or {})
    doc["endpoint"] = {k: v for k, v in doc["endpoint"].items() if k != "direct_media"}
    doc["aor"] = {k: v for k, v in doc["aor"].items() if k != "max_contacts"}
    with pytest.raises(ConfigError) as caught:
        compare(stack, replace(live, pjsip_doc=doc))
    found = sorted(str(p) for p in caught.value.problems)
    assert found == [
        f"{path}:5:12: sip_templates.carrier.aor.max_contacts: option 'max_contacts' is not "
        "known to this PBX's PJSIP (aor section)",
        f"{path}:9:16: trunks.acme.endpoint.direct_media: option 'direct_media' is not known "
        "to this PBX's PJSIP (endpoint section)",
    ]


def test_contexts_are_found_by_name_or_label_in_the_tenant(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A trunk's context is a name, else a label (several: the incall one); an unknown or
    ambiguous one is reported where it is written, before any write."""
    from dataclasses import replace

    from wazo_reconcile.errors import ConfigError
    from wazo_reconcile.live import fetch_live
    from wazo_reconcile.pipeline import compare

    live = fetch_live(client_for(sandbox))
    tenant = live.token_tenant
    extra: list[Context] = [  # two more labelled "Shared"; one more labelled "Incalls", internal
        {"name": "shared-a", "label": "Shared", "type": "internal", "tenant_uuid": tenant},
        {"name": "shared-b", "label": "Shared", "type": "internal", "tenant_uuid": tenant},
        {"name": "more-in", "label": "Incalls", "type": "internal", "tenant_uuid": tenant},
    ]
    live = replace(live, contexts=(*live.contexts, *extra))
    path = tmp_path / "stack.yaml"
    trunks = {"by-name": "to-extern", "by-label": "Outcalls", "by-type": "Incalls"}
    path.write_text(
        "version: 1\ntrunks:\n"
        + "".join(f"  {name}:\n    context: {context}\n" for name, context in trunks.items())
    )
    planned = compare(load_stack(path), live)
    contexts = {c.key.name: c.after.fields["context"] for c in planned.changes if c.after}
    assert contexts == {"by-name": "to-extern", "by-label": "to-extern", "by-type": "from-extern"}
    path.write_text(
        "version: 1\ntrunks:\n"
        "  shared:\n    context: Shared\n"
        "  nowhere:\n    context: Nowhere\n"
        "  elsewhere:\n    context: ctx-sub-incall-3501bacb-94c0-4f38-b7dd-6d1fe1988ac7\n"
    )
    with pytest.raises(ConfigError) as caught:
        compare(load_stack(path), live)
    assert sorted(str(p) for p in caught.value.problems) == [
        f"{path}:4:14: trunks.shared.context: context label 'Shared' is ambiguous "
        "(shared-a, shared-b); use the name",
        f"{path}:6:14: trunks.nowhere.context: unknown context 'Nowhere' in tenant {tenant}",
        f"{path}:8:14: trunks.elsewhere.context: unknown context "
        f"'ctx-sub-incall-3501bacb-94c0-4f38-b7dd-6d1fe1988ac7' in tenant {tenant}",
    ]


def test_a_template_change_shows_every_trunk_inheriting_it(tmp_path: Path) -> None:
    """Only the declared trunks' endpoints are read, unless the plan changes a template:
    then every trunk's, to show what inherits it."""
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    everything = tmp_path / "all.yaml"
    everything.write_text(
        "version: 1\nsip_templates:\n  carrier: {endpoint: {allow: '!all,alaw'}}\n"
        "trunks:\n"
        + "".join(f"  t{i}: {{templates: [carrier], context: from-extern}}\n" for i in range(4))
    )
    assert apply(load_stack(everything), client)[1].ok
    one = tmp_path / "one.yaml"
    one.write_text("version: 1\ntrunks:\n  t0: {templates: [carrier], context: from-extern}\n")
    sandbox.reset_stats()
    assert plan(load_stack(one), client).is_empty
    assert sandbox.stats()["total"] == 15 + 1  # the lists, and t0's endpoint
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        "version: 1\nsip_templates:\n  carrier: {endpoint: {allow: '!all,ulaw'}}\n"
        "trunks:\n  t0: {templates: [carrier], context: from-extern}\n"
    )
    (template,) = plan(load_stack(changed), client).changes
    assert template.affects == tuple(f"trunks/t{i}" for i in range(4))


def test_an_unknown_document_tenant_is_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wazo_reconcile.cli import main

    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "version: 1\ntenant: 33333333-3333-4333-8333-333333333333\n"
        "outcalls:\n  o: {patterns: [{exten: '_0X.'}]}\n"
    )
    assert main(["plan", "--sandbox", str(stack)]) == 1
    err = capsys.readouterr().err
    assert f"{stack}:2:9: tenant: tenant 33333333-3333-4333-8333-333333333333 is not visible" in err

"""At plan time: references that exist neither in the stack nor on the PBX (with the nearest
names of both), and two declarations of one PBX object."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import SECRETS, client_for
from wazo_reconcile.confd import ConfdClient
from wazo_reconcile.errors import ConfigError
from wazo_reconcile.pipeline import fetch_and_compare
from wazo_reconcile.sandbox import FRESH_MASTER, Sandbox
from wazo_reconcile.secrets import SecretResolver
from wazo_reconcile.stack import load_stack


@pytest.fixture
def client() -> ConfdClient:
    client = client_for(Sandbox(profile="fresh"))
    client.post("/endpoints/sip/templates", {"name": "carrier", "label": "Carrier"})
    return client


def problems(client: ConfdClient, tmp_path: Path, *documents: str) -> list[str]:
    for index, text in enumerate(documents):
        (tmp_path / f"{index}.yaml").write_text("version: 1\n" + text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        fetch_and_compare(load_stack(tmp_path), client, resolver=SecretResolver(SECRETS))
    return [
        f"{p.location.file.rsplit('/', 1)[-1]}:{p.location.line}: {p.path}: {p.message}"
        for p in caught.value.problems
    ]


def test_unknown_references_name_the_nearest_names_of_the_stack_and_the_pbx(
    client: ConfdClient, tmp_path: Path
) -> None:
    text = (
        "sip_templates:\n  carrier-2: {templates: [global]}\n"
        "trunks:\n"
        "  acme:\n    templates: [carrier-x]\n    transport: transport-udpp\n"
        "    context: from-extrn\n"
        "  zzz: {templates: [nothing-like-it], context: from-extern}\n"
        "outcalls:\n  o: {trunks: [acme-sip]}\n"
    )
    assert problems(client, tmp_path, text) == [
        "0.yaml:6: trunks.acme.templates[0]: unknown SIP template 'carrier-x': not declared "
        "and not on the PBX; did you mean 'carrier-2' (in the stack) or 'carrier' (on the PBX)?",
        "0.yaml:7: trunks.acme.transport: unknown transport 'transport-udpp': not declared and "
        "not on the PBX; did you mean 'transport-udp' or 'transport-wss' (on the PBX)?",
        f"0.yaml:8: trunks.acme.context: unknown context 'from-extrn' in tenant {FRESH_MASTER}; "
        "did you mean 'from-extern' or 'to-extern' (on the PBX)?",
        "0.yaml:9: trunks.zzz.templates[0]: unknown SIP template 'nothing-like-it': not "
        "declared and not on the PBX",
        "0.yaml:11: outcalls.o.trunks[0]: unknown trunk 'acme-sip': not declared and not on "
        "the PBX; did you mean 'acme' (in the stack)?",
    ]


def test_an_unknown_user_names_the_closest_usernames_and_emails(
    client: ConfdClient, tmp_path: Path
) -> None:
    text = "users:\n  carole: {outgoing_caller_id: anonymous}\n  zed@nowhere.example: {}\n"
    assert problems(client, tmp_path, text) == [
        "0.yaml:3: users.carole: user 'carole' not found on the PBX (by uuid, email or "
        "username); did you mean 'carol' (on the PBX)?",
        "0.yaml:4: users.zed@nowhere.example: user 'zed@nowhere.example' not found on the PBX "
        "(by uuid, email or username)",
    ]


def test_a_user_declared_by_username_and_by_email(client: ConfdClient, tmp_path: Path) -> None:
    text = (
        "users:\n  bob: {outgoing_caller_id: '\"Bob\" <+33100000001>'}\n"
        "  BOB@example.com: {outgoing_caller_id: '\"Bob B.\" <+33100000002>'}\n"
    )
    found = problems(client, tmp_path, text)
    assert len(found) == 1
    assert found[0].startswith(
        f"0.yaml:4: users.BOB@example.com: the same PBX object as users.bob at "
        f"{tmp_path}/0.yaml:3:3 (the user "
    )
    assert found[0].endswith("): declare it once (two declarations of one object never converge)")


def test_a_default_template_by_its_label_and_by_its_live_name(
    client: ConfdClient, tmp_path: Path
) -> None:
    uuid = client.get(f"/tenants/{FRESH_MASTER}")["global_sip_template_uuid"]
    live_name = client.get(f"/endpoints/sip/templates/{uuid}")["name"]
    both = (
        "sip_templates:\n  global: {endpoint: {rtp_symmetric: yes}}\n"
        f"  {live_name}: {{endpoint: {{rtp_symmetric: no}}}}\n"
    )
    assert problems(client, tmp_path, both) == [
        f"0.yaml:4: sip_templates.{live_name}: the same PBX object as sip_templates.global "
        f"at {tmp_path}/0.yaml:3:3 (the 'global' template of tenant {FRESH_MASTER}): declare "
        "it once (two declarations of one object never converge)"
    ]
    alone = f"sip_templates:\n  {live_name}: {{endpoint: {{rtp_symmetric: no}}}}\n"
    assert problems(client, tmp_path, alone) == [
        f"0.yaml:3: sip_templates.{live_name}: '{live_name}' is the name of the default "
        f"'global' template of tenant {FRESH_MASTER} on the PBX: declare it as 'global'"
    ]


def test_the_global_template_for_one_tenant_in_two_documents(
    client: ConfdClient, tmp_path: Path
) -> None:
    """One document names the tenant, the other goes to the token's tenant: the same one."""
    found = problems(
        client,
        tmp_path,
        f"tenant: {FRESH_MASTER}\nsip_templates:\n  global: {{endpoint: {{rtp_symmetric: yes}}}}\n",
        "sip_templates:\n  global: {endpoint: {rewrite_contact: yes}}\n",
    )
    assert found == [
        f"1.yaml:3: sip_templates.global: the same PBX object as sip_templates.global at "
        f"{tmp_path}/0.yaml:4:3 (the 'global' template of tenant {FRESH_MASTER}): declare it "
        "once (two declarations of one object never converge)"
    ]

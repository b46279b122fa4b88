"""`reconcile export`: the live configuration as YAML that round-trips (export → validate → plan).

Golden files: tests/golden/export-nat-provider/*.yaml. After an intended change of the output,
regenerate them with `WAZO_RECONCILE_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/test_export.py`
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from yaml.emitter import Emitter

from support import EXAMPLE_NAMES, SECRETS, STACKS, apply, client_for, generated_stack, plan
from wazo_reconcile.cli import main
from wazo_reconcile.confd import ConfdClient
from wazo_reconcile.export import EXPORT_KINDS, ExportResult, Provenance, export_documents
from wazo_reconcile.export_yaml import quote_style, to_yaml
from wazo_reconcile.live import fetch_live
from wazo_reconcile.render import render_text
from wazo_reconcile.sandbox import FRESH_MASTER, FRESH_SUB, Sandbox
from wazo_reconcile.stack import load_stack, option_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
PROVENANCE = Provenance("https://wazo.example.com", "2024-06-01", "wazo-reconcile")
HAND_SECRETS = {
    "sip": "hand-Sip-Secret-41",
    "outbound": "hand-Out-Secret-42",
    "iax": "hand-Iax-Secret-43",
    "tls": "hand-Tls-Secret-44",
    "sub": "hand-Sub-Secret-45",
}
ALL_SECRETS = [*SECRETS.values(), *HAND_SECRETS.values()]


def example_env(directory: Path) -> dict[str, str]:
    """A value for every ${env:NAME} an example uses."""
    names = set()
    for path in directory.glob("*.yaml"):
        text = path.read_text()
        names |= {part.split("}")[0] for part in text.split("${env:")[1:]}
    return {name: f"example-{name.lower()}-value" for name in names}


def export_of(client: ConfdClient, **options: Any) -> ExportResult:
    return export_documents(fetch_live(client), provenance=PROVENANCE, **options)


def write(result: ExportResult, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in result.files.items():
        (directory / name).write_text(text)
    return directory


def env_of(result: ExportResult) -> dict[str, str]:
    return {var.name: var.value for var in result.env}


def assert_round_trip(
    result: ExportResult, client: ConfdClient, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(result, directory)
    for name, value in env_of(result).items():
        monkeypatch.setenv(name, value)
    assert main(["validate", str(directory)]) == 0
    planned = plan(load_stack(directory), client, env_of(result))
    assert planned.is_empty, render_text(planned)


# ------------------------------------------------------------------ a hand-made PBX


def _sip_endpoint(client: ConfdClient, body: dict[str, Any], tenant: str = FRESH_MASTER) -> Any:
    _, endpoint = client.post("/endpoints/sip", body, tenant=tenant)
    return endpoint


def _trunk(
    client: ConfdClient, kind: str, endpoint_id: Any, tenant: str = FRESH_MASTER, **fields: Any
) -> int:
    _, trunk = client.post("/trunks", fields, tenant=tenant)
    client.put(f"/trunks/{trunk['id']}/endpoints/{kind}/{endpoint_id}", tenant=tenant)
    client.put(f"/trunks/{trunk['id']}", {}, tenant=tenant)  # copies the context (IAX/custom)
    return int(trunk["id"])


def _template_uuid(client: ConfdClient, name: str) -> str:
    return str(client.list("/endpoints/sip/templates", params={"name": name})[0]["uuid"])


def build_hand_made(client: ConfdClient) -> None:
    """Objects created through the API the way a person would: what a stack seldom holds."""
    _, tls = client.post(
        "/sip/transports",
        {
            "name": "transport-tls",
            "options": [
                ["protocol", "tls"],
                ["bind", "0.0.0.0:5061"],
                ["local_net", "10.0.0.0/8"],
                ["local_net", "172.16.0.0/12"],
                ["local_net", "192.168.0.0/16"],
                ["method", "tlsv1_2"],
                ["password", HAND_SECRETS["tls"]],
            ],
        },
    )
    global_uuid = client.get(f"/tenants/{FRESH_MASTER}")["global_sip_template_uuid"]
    _, chain_a = client.post(
        "/endpoints/sip/templates",
        {
            "name": "chain-a",
            "label": "Chain: base",
            "templates": [{"uuid": global_uuid}],
            "endpoint_section_options": [
                ["language", "on"],
                ["set_var", "X=1"],
                ["set_var", "X=2"],
                ["callerid", '"Acme" <+33 1 23 45>'],
            ],
            "aor_section_options": [["@custom_flag", "0644"], ["mailboxes", "1e3"]],
        },
    )
    _, chain_b = client.post(
        "/endpoints/sip/templates",
        {"name": "chain-b", "templates": [{"uuid": chain_a["uuid"]}], "label": "chain-b"},
    )
    _, chain_c = client.post(
        "/endpoints/sip/templates",
        {
            "name": "chain-c",
            "templates": [{"uuid": chain_b["uuid"]}, {"uuid": global_uuid}],
            "transport": {"uuid": tls["uuid"]},
            "registration_section_options": [["contact_user", "~"], ["outbound_proxy", "null"]],
        },
    )
    sip = _sip_endpoint(
        client,
        {
            "name": "hand-sip",
            "label": "yes",
            "templates": [{"uuid": chain_c["uuid"]}],
            "endpoint_section_options": [
                ["set_var", "PJSIP_HEADER(add,X-Account)=0042"],
                ["set_var", "PJSIP_HEADER(add,X-Site)=paris: north"],
                ["set_var", "A=1"],
                ["identify_by", "header,username,ip"],
                ["from_domain", "sip.hand.example"],
            ],
            "identify_section_options": [
                ["match", "198.51.100.1"],
                ["match", "198.51.100.2"],
                ["match", "198.51.100.3"],
                ["match_header", "X-Dest: hand"],
            ],
            "auth_section_options": [["username", "in"], ["password", HAND_SECRETS["sip"]]],
            "outbound_auth_section_options": [
                ["username", "out"],
                ["password", HAND_SECRETS["outbound"]],
            ],
            "registration_outbound_auth_section_options": [
                ["username", "out"],
                ["password", HAND_SECRETS["outbound"]],
            ],
            "registration_section_options": [
                ["client_uri", "sip:out@sip.hand.example"],
                ["server_uri", "sip:sip.hand.example"],
            ],
        },
    )
    sip_trunk = _trunk(
        client, "sip", sip["uuid"], context="from-extern", outgoing_caller_id_format="national"
    )
    twice = _sip_endpoint(
        client,
        {
            "name": "hand-twice",
            "templates": [{"uuid": _template_uuid(client, "chain-a")}],
            "endpoint_section_options": [
                ["set_var", "PJSIP_HEADER(add,X-Tag)=a"],
                ["set_var", "PJSIP_HEADER(add,X-Tag)=b"],
            ],
        },
    )
    _trunk(client, "sip", twice["uuid"])
    _, iax = client.post(
        "/endpoints/iax",
        {
            "name": "hand-iax",
            "type": "peer",
            "host": "192.0.2.10",
            "options": [
                ["trunk", "yes"],
                ["qualify", "yes"],
                ["auth", "md5"],
                ["secret", HAND_SECRETS["iax"]],
                ["custom_x", "1e3"],
                ["sendani", "no"],
            ],
        },
    )
    iax_trunk = _trunk(client, "iax", iax["id"], context="from-extern")
    _, custom = client.post(
        "/endpoints/custom",
        {"interface": "Local/hand", "interface_suffix": "@hand-ctx", "enabled": False},
    )
    custom_trunk = _trunk(client, "custom", custom["id"])
    client.post("/trunks", {"context": "from-extern"})  # a trunk without endpoint
    _hand_outcall(client, [sip_trunk, iax_trunk, custom_trunk])
    _hand_sub_tenant(client)
    _hand_users_and_pjsip(client)


def _hand_outcall(client: ConfdClient, trunks: list[int]) -> None:
    _, context = client.post("/contexts", {"label": "Outcalls 2", "type": "outcall"})
    _, outcall = client.post(
        "/outcalls",
        {
            "name": "hand-route",
            "description": "null",
            "internal_caller_id": True,
            "enabled": False,
            "ring_time": 30,
            "preprocess_subroutine": "sub-hand",
        },
    )
    client.put(f"/outcalls/{outcall['id']}/trunks", {"trunks": [{"id": t} for t in trunks]})
    patterns = [
        ("_0XXX", "to-extern", {}),
        ("_+33.", "to-extern", {"strip_digits": 3, "prefix": "0", "external_prefix": "+33"}),
        ("1234", "to-extern", {"caller_id": '"HQ" <+33100000000>'}),
        ("_9.", context["name"], {"caller_id": "anonymous", "external_prefix": "00"}),
    ]
    for exten, context_name, extra in patterns:
        _, extension = client.post("/extensions", {"exten": exten, "context": context_name})
        client.put(f"/outcalls/{outcall['id']}/extensions/{extension['id']}", extra)


def _hand_sub_tenant(client: ConfdClient) -> None:
    sub_global = client.get(f"/tenants/{FRESH_SUB}")["global_sip_template_uuid"]
    client.put(
        f"/endpoints/sip/templates/{sub_global}",
        {"aor_section_options": [["qualify_frequency", "30"]]},
        tenant=FRESH_SUB,
    )
    incall = [c for c in client.list("/contexts", tenant=FRESH_SUB) if c["type"] == "incall"]
    sub = _sip_endpoint(
        client,
        {
            "name": "hand-sub",
            "templates": [{"uuid": sub_global}],
            "outbound_auth_section_options": [["username", "s"], ["password", HAND_SECRETS["sub"]]],
        },
        tenant=FRESH_SUB,
    )
    _trunk(client, "sip", sub["uuid"], tenant=FRESH_SUB, context=incall[0]["name"])


def _hand_users_and_pjsip(client: ConfdClient) -> None:
    dave = client.list("/users", params={"username": "dave", "recurse": "true"})[0]
    client.put(f"/users/{dave['uuid']}", {"outgoing_caller_id": '"Dave" <+33200000001>'})
    client.post(
        "/users", {"firstname": "Zed", "username": "zed", "outgoing_caller_id": "anonymous"}
    )
    client.put(
        "/asterisk/pjsip/global",
        {
            "options": {
                "user_agent": "Wazo PBX",
                "endpoint_identifier_order": "auth_username,username,ip",
                "keep_alive_interval": "90",
            }
        },
    )
    client.put("/asterisk/pjsip/system", {"options": {"timer_t1": "500"}})


def rich_sandbox(directory: Path) -> Sandbox:
    """The generated stack (written under `directory`) and tests/stacks/full.yaml applied,
    plus the hand-made objects."""
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    for stack in (generated_stack(directory / "generated"), load_stack(STACKS / "full.yaml")):
        _, report = apply(stack, client)
        assert report.ok
    build_hand_made(client)
    return sandbox


@pytest.fixture
def rich(tmp_path: Path) -> Sandbox:
    return rich_sandbox(tmp_path)


# ------------------------------------------------------------------------ round trips


def test_rich_pbx_round_trips(
    rich: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(rich)
    result = export_of(client)
    assert result.counts["trunks"] == 12 + 3 + 2 + 3 + 4 + 1  # generated, full, hand-made, sub
    assert_round_trip(result, client, tmp_path / "export", monkeypatch)


def test_rich_export_uses_names_shortcuts_and_leaves_defaults_out(rich: Sandbox) -> None:
    result = export_of(client_for(rich))
    trunks = yaml.safe_load(result.files["trunks.yaml"].split("---")[0])["trunks"]
    sip = trunks["hand-sip"]
    assert sip["label"] == "yes" and sip["templates"] == ["chain-c"]
    assert sip["headers"] == {"X-Account": "0042", "X-Site": "paris: north"}
    assert sip["match_header"] == "X-Dest: hand"
    assert "identify_by" not in sip["endpoint"]  # the match_header shortcut implies it
    assert sip["endpoint"]["set_var"] == "A=1"
    assert sip["identify"] == {"match": ["198.51.100.1", "198.51.100.2", "198.51.100.3"]}
    assert sip["outgoing_caller_id_format"] == "national"
    assert sip["outbound_auth"]["password"] == "${env:WAZO_TRUNK_HAND_SIP_PASSWORD}"
    assert sip["auth"]["password"] == "${env:WAZO_TRUNK_HAND_SIP_AUTH_PASSWORD}"
    assert "headers" not in trunks["hand-twice"]
    assert sorted(trunks["hand-twice"]["endpoint"]["set_var"]) == [
        "PJSIP_HEADER(add,X-Tag)=a",
        "PJSIP_HEADER(add,X-Tag)=b",
    ]
    assert trunks["hand-iax"] == {
        "type": "iax",
        "host": "192.0.2.10",
        "peer_type": "peer",
        "context": "from-extern",
        "options": {
            "auth": "md5",
            "custom_x": "1e3",
            "qualify": True,
            "secret": "${env:WAZO_TRUNK_HAND_IAX_SECRET}",
            "trunk": True,
        },
    }
    assert trunks["Local/hand"] == {
        "type": "custom",
        "interface": "Local/hand",
        "interface_suffix": "@hand-ctx",
        "enabled": False,
    }
    assert trunks["gen-iax-0"] == {
        "type": "iax",
        "host": "iax0.example.net",
        "options": {"trunk": True},
    }
    assert any("has no endpoint" in note for note in result.notes)


def test_rich_export_outcall_keeps_order_and_pattern_details(rich: Sandbox) -> None:
    result = export_of(client_for(rich))
    outcalls = yaml.safe_load(result.files["outcalls.yaml"])["outcalls"]
    route = outcalls["hand-route"]
    assert route["trunks"] == ["hand-sip", "hand-iax", "Local/hand"]
    assert {k: route[k] for k in list(route)[:5]} == {
        "description": "null",
        "internal_caller_id": True,
        "enabled": False,
        "ring_time": 30,
        "preprocess_subroutine": "sub-hand",
    }
    by_exten = {p["exten"]: p for p in route["patterns"]}
    assert by_exten["_0XXX"] == {"exten": "_0XXX", "context": "to-extern"}  # 2 outcall contexts
    assert by_exten["_+33."] == {
        "exten": "_+33.",
        "context": "to-extern",
        "strip_digits": 3,
        "prefix": "0",
        "external_prefix": "+33",
    }
    assert by_exten["1234"]["caller_id"] == '"HQ" <+33100000000>'
    assert by_exten["_9."]["context"].startswith("ctx-")
    assert outcalls["national"] == {
        "trunks": ["acme", "hq-iax"],
        "patterns": [
            {
                "exten": "_0XXXXXXXXX",
                "context": "to-extern",
                "strip_digits": 1,
                "external_prefix": "+33",
                "caller_id": '"ACME" <5551234>',
            }
        ],
    }


def test_rich_export_is_deterministic(rich: Sandbox) -> None:
    client = client_for(rich)
    assert export_of(client).files == export_of(client).files


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_every_example_round_trips(
    example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    env = example_env(EXAMPLES / example)
    planned = plan(load_stack(EXAMPLES / example), client, env)
    from wazo_reconcile.apply import apply_plan

    assert apply_plan(planned, client).ok
    result = export_of(client)
    assert_round_trip(result, client, tmp_path / "export", monkeypatch)
    # one variable per secret slot: a value used under two keys (iax-trunk: the peer's `secret`
    # and the register's `auth_password`) gets two variables
    assert sorted({v.value for v in result.env}) == sorted(set(env.values()))


def test_fresh_pbx_exports_only_comments_and_all_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(Sandbox(profile="fresh"))
    minimal = export_of(client)
    assert minimal.total == 0
    assert all(
        set(doc.data) == {"version"} or set(doc.data) == {"version", "tenant"}
        for doc in minimal.documents
    )
    everything = export_of(client, everything=True)
    assert everything.counts == {
        "pjsip": 2,
        "transports": 2,
        "sip_templates": 7,  # global per tenant; webrtc & co. once (the format's limit)
        "trunks": 0,
        "outcalls": 0,
        "users": 4,
        "policy": 0,
    }
    assert_round_trip(everything, client, tmp_path / "all", monkeypatch)


def test_tenant_restricts_to_one_tenant(
    rich: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(rich)
    result = export_of(client, tenant=FRESH_SUB)
    assert_round_trip(result, client, tmp_path / "sub", monkeypatch)
    tenants = {doc.tenant for doc in result.documents if doc.kind != "policy"}
    assert tenants == {FRESH_SUB}
    assert "pjsip.yaml" not in result.files and "transports.yaml" not in result.files
    trunks = [doc.data for doc in result.documents if doc.kind == "trunks"]
    assert list(trunks[0]["trunks"]) == ["hand-sub"]
    templates = [doc.data for doc in result.documents if doc.kind == "sip_templates"]
    assert templates[0]["sip_templates"] == {"global": {"aor": {"qualify_frequency": "30"}}}


def test_names_sort_naturally_when_one_extends_another() -> None:
    client = client_for(Sandbox(profile="fresh"))
    for name in ("acme2", "acme", "acme10"):
        _trunk(client, "sip", _sip_endpoint(client, {"name": name})["uuid"])
    trunks = yaml.safe_load(export_of(client).files["trunks.yaml"])["trunks"]
    assert list(trunks) == ["acme", "acme2", "acme10"]


def test_kinds_select_files(rich: Sandbox) -> None:
    result = export_of(client_for(rich), kinds=["outcalls", "users"])
    assert list(result.files) == ["outcalls.yaml", "users.yaml"]
    users = [doc.data.get("users") or {} for doc in result.documents if doc.kind == "users"]
    assert [list(u) for u in users] == [
        ["alice@example.com", "bob@example.com", "carol@example.com", "zed"],
        ["dave@sub.example.com"],
    ]
    assert users[0]["zed"] == {"outgoing_caller_id": "anonymous"}
    assert users[1]["dave@sub.example.com"] == {"outgoing_caller_id": '"Dave" <+33200000001>'}


# ----------------------------------------------------------------------------- secrets


def test_secrets_become_env_references_with_readable_unique_names(rich: Sandbox) -> None:
    result = export_of(client_for(rich))
    text = "".join(result.files.values())
    for secret in ALL_SECRETS:
        assert secret not in text
    names = {var.name: var for var in result.env}
    assert len(names) == len(result.env)
    assert names["WAZO_TRUNK_HAND_SIP_PASSWORD"].used_by == (
        "trunks.hand-sip.outbound_auth.password",
        "trunks.hand-sip.registration_outbound_auth.password",
    )
    assert names["WAZO_TRANSPORT_TRANSPORT_TLS_PASSWORD"].value == HAND_SECRETS["tls"]
    assert names["WAZO_TRUNK_GEN_SIP_3_OUTBOUND_AUTH_PASSWORD"].value == SECRETS["GEN_PASSWORD"]
    assert (
        "#   export WAZO_TRUNK_HAND_SUB_OUTBOUND_AUTH_PASSWORD='…'" in result.files["trunks.yaml"]
    )


def test_colliding_variable_names_are_numbered_in_export_order(rich: Sandbox) -> None:
    client = client_for(rich)
    for name in ("clash.1", "clash_1", "clash-1"):
        _, endpoint = client.post(
            "/endpoints/sip",
            {"name": name, "auth_section_options": [["username", name], ["password", "pw"]]},
        )
        _, trunk = client.post("/trunks", {})
        client.put(f"/trunks/{trunk['id']}/endpoints/sip/{endpoint['uuid']}")
    result = export_of(client)
    clashing = [(v.name, v.used_by) for v in result.env if v.name.startswith("WAZO_TRUNK_CLASH")]
    assert clashing == [
        ("WAZO_TRUNK_CLASH_1_AUTH_PASSWORD", ("trunks.clash-1.auth.password",)),
        ("WAZO_TRUNK_CLASH_1_AUTH_PASSWORD_2", ("trunks.clash.1.auth.password",)),
        ("WAZO_TRUNK_CLASH_1_AUTH_PASSWORD_3", ("trunks.clash_1.auth.password",)),
    ]
    assert "password: ${env:WAZO_TRUNK_CLASH_1_AUTH_PASSWORD_3}" in result.files["trunks.yaml"]


def test_include_secrets_writes_values(rich: Sandbox) -> None:
    result = export_of(client_for(rich), include_secrets=True)
    assert result.env == ()
    assert HAND_SECRETS["iax"] in result.files["trunks.yaml"]
    assert HAND_SECRETS["tls"] in result.files["transports.yaml"]


# ----------------------------------------------------------------------- hand-written look


def test_nat_provider_matches_golden_files(tmp_path: Path) -> None:
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    example = EXAMPLES / "nat-provider"
    planned = plan(load_stack(example), client, example_env(example))
    from wazo_reconcile.apply import apply_plan

    assert apply_plan(planned, client).ok
    result = export_of(client)
    golden = GOLDEN / "export-nat-provider"
    if os.environ.get("WAZO_RECONCILE_REGENERATE_GOLDEN"):
        write(result, golden)
    assert sorted(p.name for p in golden.glob("*.yaml")) == sorted(result.files)
    for name, text in result.files.items():
        assert text == (golden / name).read_text(), name


TRICKY = [
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "true",
    "null",
    "Null",
    "~",
    "",
    " lead",
    "trail ",
    "0644",
    "1e3",
    "1_000",
    "0x1F",
    "+33",
    "-1",
    ".5",
    "1.",
    ".inf",
    "-.INF",
    ".nan",
    "2024-01-01",
    "12:30",
    "!all,ulaw",
    "&anchor",
    "*alias",
    "@at",
    "%percent",
    "`tick",
    "a: b",
    "a #b",
    "a:",
    "key:value",
    "- item",
    "? q",
    "[x]",
    "{x}",
    "x, y",
    "'q'",
    '"dq"',
    'say "hi"',
    "it's",
    "multi\nline",
    "tab\there",
    "=",
    "<<",
    "${env:X}",
    "sip:u@h:5060",
    "PJSIP_HEADER(add,X-A)=1",
    "ünïcode",
    "A=1",
    "_0XXXXXXXXX",
    "_+33.",
    "1234",
    "0",
]


@pytest.mark.parametrize("text", TRICKY)
def test_every_string_reads_back_as_itself(text: str) -> None:
    block = to_yaml({"k": text, "l": [text, "x"], "m": {text: text}})
    assert yaml.safe_load(block) == {"k": text, "l": [text, "x"], "m": {text: text}}


@pytest.mark.parametrize("text", TRICKY)
def test_plain_only_where_every_reader_agrees(text: str) -> None:
    analysis = Emitter(None, allow_unicode=True).analyze_scalar(text)  # type: ignore[arg-type]
    for flow, allowed in ((False, analysis.allow_block_plain), (True, analysis.allow_flow_plain)):
        if quote_style(text, flow) is None:
            assert allowed and text and not analysis.multiline
            assert text.lower() not in ("yes", "no", "on", "off", "true", "false", "null", "y", "n")


def test_text_opening_like_a_document_end_is_quoted() -> None:
    for text in ("...", "...x", ".../a"):
        assert quote_style(text) == quote_style(text, flow=True) == '"'
        assert yaml.safe_load(to_yaml({"k": text, text: [text]})) == {"k": text, text: [text]}


def _random_texts(seed: int, count: int, min_length: int) -> list[str]:
    """Short texts over YAML's troublesome characters (indicators, quotes, `$`, words)."""
    import random

    rng = random.Random(seed)
    alphabet = "aZ09_-./:@,#!&*%'\"{}[]()=+<>~?| \tyesnoé$"
    return [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(min_length, 8)))
        for _ in range(count)
    ]


def test_random_strings_read_back_as_themselves() -> None:
    texts = _random_texts(6, 3000, 0)
    data = {"block": texts, "flow": _flow(texts[:500]), "keys": {t: t for t in texts[:500]}}
    loaded = yaml.safe_load(to_yaml(data))
    assert loaded == {"block": texts, "flow": texts[:500], "keys": {t: t for t in texts[:500]}}


def _flow(items: list[str]) -> list[str]:
    from wazo_reconcile.export_yaml import Flow  # the flow-style marker

    return Flow(items)


def test_option_words_stay_plain_and_read_back_through_option_text() -> None:
    from wazo_reconcile.export_yaml import option_word  # the marker of option values

    values = ["yes", "no", "60", "0", "060", "1e3", "on", "+33"]
    text = to_yaml({v: option_word(v) for v in values})
    assert text.splitlines()[:4] == ['"yes": yes', '"no": no', '"60": 60', '"0": 0']
    loaded = yaml.safe_load(text)
    assert [option_text(loaded[v]) for v in ["yes", "no"]] == ["yes", "no"]
    assert {v: loaded[v] for v in ["060", "1e3", "on", "+33"]} == {
        "060": "060",
        "1e3": "1e3",
        "on": "on",
        "+33": "+33",
    }


# -------------------------------------------------------------------------------- CLI


def test_cli_export_validate_plan_over_loopback(
    rich: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "stack"
    with rich.serve() as url:
        connection = ["--url", url, "--token", "t"]
        assert main(["export", *connection, "--output", str(out), "-vv"]) == 0
        exported = capsys.readouterr()
        assert sorted(p.name for p in out.iterdir()) == sorted(f"{k}.yaml" for k in EXPORT_KINDS)
        listed = [
            line.split()[1].split("=")[0]
            for line in exported.err.splitlines()
            if line.startswith("  export ")
        ]
        assert "WAZO_TRUNK_HAND_IAX_SECRET" in listed
        for secret in ALL_SECRETS:
            assert secret not in exported.out + exported.err
        values = env_of(export_of(client_for(rich)))
        assert sorted(listed) == sorted(values)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        assert main(["validate", str(out)]) == 0
        assert main(["plan", "--detailed-exitcode", *connection, str(out)]) == 0
        capsys.readouterr()
        assert main(["export", *connection, "--output", str(out)]) == 1
        assert "use --force" in capsys.readouterr().err
        assert main(["export", *connection, "--output", str(out), "--force"]) == 0


def test_cli_stream_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--sandbox", "--all", "--output", "-", "--kinds", "users"]) == 0
    captured = capsys.readouterr()
    documents = list(yaml.safe_load_all(captured.out))
    assert [d.get("tenant") for d in documents] == [None, "sub"]  # by slug: portable
    assert documents[0]["users"]["alice@example.com"] == {"outgoing_caller_id": None}
    assert captured.out.startswith("# yaml-language-server: $schema=")
    assert "Exported 4 users to stdout" in captured.err
    args = ["export", "--sandbox", "--all", "-o", "-", "--kinds", "users", "--tenant-uuids"]
    assert main(args) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d.get("tenant") for d in documents] == [None, FRESH_SUB]


def test_cli_include_secrets_warns(rich: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    with rich.serve() as url:
        args = ["export", "--url", url, "--token", "t", "--kinds", "trunks", "--include-secrets"]
        assert main(args) == 0
    captured = capsys.readouterr()
    assert HAND_SECRETS["sip"] in captured.out
    assert "WARNING: --include-secrets" in captured.err
    for secret in ALL_SECRETS:
        assert secret not in captured.err


def test_cli_unknown_tenant_and_bad_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "33333333-3333-4333-8333-333333333333"
    assert main(["export", "--sandbox", "--tenant", other]) == 1
    assert "not visible" in capsys.readouterr().err
    file = tmp_path / "file"
    file.write_text("x")
    assert main(["export", "--sandbox", "--output", str(file)]) == 1
    assert "not a directory" in capsys.readouterr().err

"""Sandbox semantics per resource, beyond what the recordings show (confd's rules and wording)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support import error, ok
from wazo_reconcile.sandbox import FRESH_MASTER, FRESH_SUB, Sandbox


def transport_uuid(api: httpx.Client, name: str) -> str:
    items = ok(api.get("/sip/transports", params={"name": name}))["items"]
    return str(items[0]["uuid"])


def global_template(api: httpx.Client, tenant: str = FRESH_MASTER) -> str:
    return str(ok(api.get(f"/tenants/{tenant}"))["global_sip_template_uuid"])


# -- transports -------------------------------------------------------------------------------


def test_transport_create_read_partial_update(api: httpx.Client) -> None:
    body = {
        "name": "transport-tcp",
        "options": [
            ["protocol", "tcp"],
            ["local_net", "10.0.0.0/8"],
            ["local_net", "192.168.0.0/16"],
        ],
    }
    created = api.post("/sip/transports", json=body)
    transport = ok(created, 201)
    assert (
        created.headers["Location"]
        == f"http://sandbox/api/confd/1.1/sip/transports/{transport['uuid']}"
    )
    assert list(transport) == ["uuid", "name", "options"]
    ok(api.put(f"/sip/transports/{transport['uuid']}", json={"name": "transport-tcp2"}), 204)
    again = ok(api.get(f"/sip/transports/{transport['uuid']}"))
    assert again == {**transport, "name": "transport-tcp2"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "global"}, "Input Error - name: ['Reserved Asterisk section name']"),
        ({"name": "x" * 80}, "Input Error - name: ['Longer than maximum length 79']"),
        ({"name": ""}, "Input Error - name: ['Shorter than minimum length 1']"),
        ({"name": 5}, "Input Error - name: ['Not a valid string.']"),
        (
            {"name": "t", "options": [["bind", "0.0.0.0 5060"]]},
            "Input Error - options: {0: {1: ['String does not match expected pattern.']}}",
        ),
        (
            {"name": "t", "options": [["bind", ""]]},
            "Input Error - options: {0: {1: ['Length must be between 1 and 4092.']}}",
        ),
        ({"name": "t", "options": "bind"}, "Input Error - options: ['Not a valid list.']"),
        (
            {"name": "t", "options": [["type", "transport"]]},
            "Input Error - 'options: invalid variable (type)' must be one of (async_operations, ",
        ),
        (
            {"name": "transport-udp"},
            "Resource Error - name already exists ('name': 'transport-udp')",
        ),
    ],
)
def test_transport_create_refused(api: httpx.Client, body: dict[str, Any], message: str) -> None:
    assert error(api.post("/sip/transports", json=body)).startswith(message)


def test_transport_names_share_the_sip_namespace(api: httpx.Client) -> None:
    wss = transport_uuid(api, "transport-wss")
    message = error(api.put(f"/sip/transports/{wss}", json={"name": "transport-udp"}))
    assert message == "Resource Error - Transport already exists ('name': 'transport-udp')"
    ok(api.post("/endpoints/sip", json={"name": "trunk-a"}), 201)
    assert error(api.post("/sip/transports", json={"name": "trunk-a"})) == (
        "Resource Error - name already exists ('name': 'trunk-a')"
    )
    assert error(api.put(f"/sip/transports/{wss}", json={"name": "trunk-a"})) == (
        "Resource Error - SIPEndpoint already exists ('name': 'trunk-a')"
    )


def test_transport_delete_in_use_needs_fallback(api: httpx.Client) -> None:
    udp, wss = transport_uuid(api, "transport-udp"), transport_uuid(api, "transport-wss")
    template = global_template(api)
    message = error(api.delete(f"/sip/transports/{udp}"))
    assert message == (
        f"Resource Error - Transport is associated with a EndpointSIP "
        f"('transport_uuid': UUID('{udp}'), 'endpoint_sip_uuid': UUID('{template}'))"
    )
    bad = api.delete(f"/sip/transports/{udp}", params={"fallback": "nope"})
    assert error(bad) == "Input Error - fallback: ['Not a valid UUID.']"
    ok(api.delete(f"/sip/transports/{udp}", params={"fallback": wss}), 204)
    assert ok(api.get(f"/endpoints/sip/templates/{template}"))["transport"] == {"uuid": wss}
    assert error(api.get(f"/sip/transports/{udp}"), 404).endswith(f"('uuid': UUID('{udp}'))")


def test_malformed_uuid_in_url_is_flask_html_404(api: httpx.Client) -> None:
    response = api.get("/sip/transports/not-a-uuid")
    assert response.status_code == 404
    assert response.text.startswith("<!doctype html>")


def test_invalid_json_body(api: httpx.Client) -> None:
    response = api.post("/sip/transports", content=b"{nope")
    assert error(response) == (
        "The browser (or proxy) sent a request that this server could not understand."
    )
    assert error(api.post("/sip/transports", content=b"")).startswith("The browser")


def test_method_not_allowed(api: httpx.Client) -> None:
    response = api.patch("/sip/transports")
    assert response.status_code == 405


# -- PJSIP global/system/doc, live reload -----------------------------------------------------


def test_pjsip_global_put_replaces_whole_section(api: httpx.Client) -> None:
    ok(api.put("/asterisk/pjsip/global", json={"options": {"debug": "yes"}}), 204)
    assert ok(api.get("/asterisk/pjsip/global")) == {"options": {"debug": "yes"}}
    ok(api.put("/asterisk/pjsip/system", json={"options": {"timer_t1": "500"}}), 204)
    assert ok(api.get("/asterisk/pjsip/system")) == {"options": {"timer_t1": "500"}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Input Error - options: ['Missing data for required field.']"),
        (
            {"options": [["debug", "yes"]]},
            "Input Error - options: {0: {'_schema': ['Invalid input type.']}}",
        ),
        (
            {"options": {"debug": 1}},
            "Input Error - options: {0: {'value': ['Not a valid string.']}}",
        ),
        (
            {"options": {"timer_t1": "500"}},
            "Input Error - 'options: invalid variable (timer_t1)' must be one of (max_forwards, ",
        ),
    ],
)
def test_pjsip_global_refused(api: httpx.Client, body: dict[str, Any], message: str) -> None:
    assert error(api.put("/asterisk/pjsip/global", json=body)).startswith(message)


def test_pjsip_doc_serves_names_defaults_choices_only(api: httpx.Client) -> None:
    doc = ok(api.get("/asterisk/pjsip/doc"))
    assert doc["transport"]["protocol"] == {
        "name": "protocol",
        "default": "udp",
        "choices": {"tcp": "", "tls": "", "udp": "", "ws": "", "wss": ""},
    }
    assert "type" not in doc["endpoint"]


def test_live_reload_flag(api: httpx.Client) -> None:
    assert ok(api.get("/configuration/live_reload")) == {"enabled": True}
    bad = api.put("/configuration/live_reload", json={"enabled": "false"})
    assert error(bad) == "Input Error - enabled: ['Not a valid boolean.']"
    ok(api.put("/configuration/live_reload", json={"enabled": False}), 204)
    assert ok(api.get("/configuration/live_reload")) == {"enabled": False}


# -- SIP templates and endpoints --------------------------------------------------------------


def test_fresh_tenants_have_the_five_default_templates(api: httpx.Client) -> None:
    for tenant in (FRESH_MASTER, FRESH_SUB):
        listed = ok(api.get("/endpoints/sip/templates", headers={"Wazo-Tenant": tenant}))
        assert [t["label"] for t in listed["items"]] == [
            "global",
            "meeting_guest",
            "registration_trunk",
            "twilio_trunk",
            "webrtc",
        ]
        glob = next(t for t in listed["items"] if t["label"] == "global")
        assert ["dtmf_mode", "rfc4733"] in glob["endpoint_section_options"]
        assert glob["uuid"] == global_template(api, tenant)
    assert ok(api.get("/endpoints/sip/templates", params={"recurse": "true"}))["total"] == 10


def test_template_post_location_is_the_endpoint_url(api: httpx.Client) -> None:
    response = api.post("/endpoints/sip/templates", json={"label": "carrier"})
    template = ok(response, 201)
    assert response.headers["Location"].endswith(f"/endpoints/sip/{template['uuid']}")
    assert template["links"][0]["rel"] == "endpoint_sip_templates"
    assert "trunk" not in template


def test_template_cycles_refused(api: httpx.Client) -> None:
    parent = ok(api.post("/endpoints/sip/templates", json={"label": "a"}), 201)["uuid"]
    child = ok(
        api.post("/endpoints/sip/templates", json={"label": "b", "templates": [{"uuid": parent}]}),
        201,
    )
    itself = api.put(f"/endpoints/sip/templates/{parent}", json={"templates": [{"uuid": parent}]})
    assert (
        error(itself) == "Resource Error - Operation not permitted. Cannot use itself as template"
    )
    loop = api.put(
        f"/endpoints/sip/templates/{parent}", json={"templates": [{"uuid": child["uuid"]}]}
    )
    assert error(loop) == (
        f"Resource Error - Operation not permitted. SIPEndpointTemplate({child['uuid']}) "
        "already include this template"
    )


def test_template_delete_unlinks_and_nulls_tenant_pointer(api: httpx.Client) -> None:
    glob = global_template(api)
    endpoint = ok(api.post("/endpoints/sip", json={"templates": [{"uuid": glob}]}), 201)
    ok(api.delete(f"/endpoints/sip/templates/{glob}"), 204)
    assert ok(api.get(f"/endpoints/sip/{endpoint['uuid']}"))["templates"] == []
    assert ok(api.get(f"/tenants/{FRESH_MASTER}"))["global_sip_template_uuid"] is None
    registration = ok(api.get("/endpoints/sip/templates", params={"label": "registration_trunk"}))
    assert registration["items"][0]["templates"] == []


def test_endpoint_view_merged_folds_templates(api: httpx.Client) -> None:
    glob = global_template(api)
    body = {
        "templates": [{"uuid": glob}],
        "endpoint_section_options": [["dtmf_mode", "inband"], ["from_domain", "x.example"]],
        "identify_section_options": [["match", "1.2.3.4"], ["match", "5.6.7.8"]],
    }
    uuid = ok(api.post("/endpoints/sip", json=body), 201)["uuid"]
    merged = ok(api.get(f"/endpoints/sip/{uuid}", params={"view": "merged"}))
    endpoint = dict(merged["endpoint_section_options"])
    assert endpoint["dtmf_mode"] == "inband" and endpoint["callerid"] == "wazo"
    assert merged["identify_section_options"] == [["match", "5.6.7.8"]]
    assert list(merged)[-7:] == [
        f"{s}_section_options"
        for s in (
            "aor",
            "auth",
            "endpoint",
            "identify",
            "registration",
            "registration_outbound_auth",
            "outbound_auth",
        )
    ]
    bad = api.get(f"/endpoints/sip/{uuid}", params={"view": "flat"})
    assert error(bad) == "Input Error - view: ['Must be one of: merged.']"


def test_endpoint_partial_put_replaces_only_sent_sections(api: httpx.Client) -> None:
    body = {
        "name": "ep1",
        "aor_section_options": [["contact", "sip:a@b"]],
        "auth_section_options": [["username", "u"], ["password", "p"]],
    }
    uuid = ok(api.post("/endpoints/sip", json=body), 201)["uuid"]
    ok(api.put(f"/endpoints/sip/{uuid}", json={"aor_section_options": []}), 204)
    endpoint = ok(api.get(f"/endpoints/sip/{uuid}"))
    assert endpoint["aor_section_options"] == []
    assert endpoint["auth_section_options"] == [["username", "u"], ["password", "p"]]
    assert error(api.put(f"/endpoints/sip/{uuid}", json={"name": None})) == (
        "Input Error - name: ['Field may not be null.']"
    )


def test_sip_names_share_one_namespace(api: httpx.Client) -> None:
    template_name = ok(api.get(f"/endpoints/sip/templates/{global_template(api)}"))["name"]
    assert error(api.post("/endpoints/sip", json={"name": "transport-udp"})) == (
        "Resource Error - Transport already exists ('name': 'transport-udp')"
    )
    assert error(api.post("/endpoints/sip", json={"name": template_name})) == (
        f"Resource Error - SIPEndpointTemplate already exists ('name': '{template_name}')"
    )
    sub = api.post("/endpoints/sip", json={"name": "shared"}, headers={"Wazo-Tenant": FRESH_SUB})
    ok(sub, 201)
    assert error(api.post("/endpoints/sip", json={"name": "shared"})) == (
        "Resource Error - SIPEndpoint already exists ('name': 'shared')"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"endpoint_section_options": [["type", "endpoint"]]},
            "Input Error - 'endpoint_section_options: invalid variable (type)' "
            "must be one of (100rel",
        ),
        (
            {"auth_section_options": [["@x", "y"]]},
            "Input Error - 'auth_section_options: invalid variable (@x)' "
            "must be one of (auth_type, ",
        ),
        (
            {"identify_section_options": [["contact", "x"]]},
            "Input Error - 'identify_section_options: invalid variable (contact)' must be one of "
            "(match, endpoint, srv_lookups, match_header)",
        ),
        (
            {"aor_section_options": [["contact", ""]]},
            "Input Error - aor_section_options: {0: {1: ['Length must be between 1 and 4092.']}}",
        ),
        (
            {"templates": [{}]},
            "Input Error - templates: {0: {'uuid': ['Missing data for required field.']}}",
        ),
        (
            {"transport": {"uuid": "zzz"}},
            "Input Error - transport: {'uuid': ['Not a valid UUID.']}",
        ),
        ({"label": "x" * 129}, "Input Error - label: ['Longer than maximum length 128.']"),
    ],
)
def test_endpoint_create_refused(api: httpx.Client, body: dict[str, Any], message: str) -> None:
    assert error(api.post("/endpoints/sip", json=body)).startswith(message)


def test_partial_update_stops_at_the_top_level(api: httpx.Client) -> None:
    """A PUT skips absent top-level keys, but a nested object sent is loaded whole (confd's
    Nested), its unknown keys dropped like the top level's."""
    uuid = ok(api.post("/endpoints/sip", json={"name": "nested-a"}), 201)["uuid"]
    assert error(api.put(f"/endpoints/sip/{uuid}", json={"templates": [{}]})) == (
        "Input Error - templates: {0: {'uuid': ['Missing data for required field.']}}"
    )
    assert error(api.put(f"/endpoints/sip/{uuid}", json={"transport": {"name": "x"}})) == (
        "Input Error - transport: {'uuid': ['Missing data for required field.']}"
    )
    udp = ok(api.get("/sip/transports", params={"name": "transport-udp"}))["items"][0]["uuid"]
    sent = {"transport": {"uuid": udp, "name": "ignored"}, "color": "blue"}
    ok(api.put(f"/endpoints/sip/{uuid}", json=sent), 204)
    assert ok(api.get(f"/endpoints/sip/{uuid}"))["transport"] == {"uuid": udp}


def test_endpoint_accepts_at_keys_in_aor_and_endpoint(api: httpx.Client) -> None:
    body = {"aor_section_options": [["@custom", "1"]], "endpoint_section_options": [["@x", "y"]]}
    ok(api.post("/endpoints/sip", json=body), 201)


def test_endpoint_templates_of_another_tenant_refused_on_post(api: httpx.Client) -> None:
    sub_global = global_template(api, FRESH_SUB)
    message = error(api.post("/endpoints/sip", json={"templates": [{"uuid": sub_global}]}))
    assert message == (
        "Input Error - field 'templates': endpoint_sip was not found "
        f"('templates': OrderedDict([('uuid', UUID('{sub_global}'))]))"
    )


def test_template_uuid_is_not_an_endpoint(api: httpx.Client) -> None:
    glob = global_template(api)
    assert error(api.get(f"/endpoints/sip/{glob}"), 404) == (
        f"Resource Not Found - SIPEndpoint was not found ('uuid': UUID('{glob}'))"
    )


def test_endpoint_list_filters_and_uuid_set(api: httpx.Client) -> None:
    uuids = [
        ok(api.post("/endpoints/sip", json={"name": f"ep{i}", "label": f"L{i}"}), 201)["uuid"]
        for i in range(3)
    ]
    wanted = ",".join(uuids[:2])
    assert ok(api.get("/endpoints/sip", params={"uuid": wanted}))["total"] == 2
    assert [e["name"] for e in ok(api.get("/endpoints/sip", params={"label": "L1"}))["items"]] == [
        "ep1"
    ]
    page = ok(api.get("/endpoints/sip", params={"order": "name", "direction": "desc", "limit": 1}))
    assert page["total"] == 3 and page["items"][0]["name"] == "ep2"


# -- IAX and custom endpoints -----------------------------------------------------------------


def test_iax_options_show_defaults_and_reset_on_put(api: httpx.Client) -> None:
    body = {"name": "hq", "options": [["trunk", "yes"], ["secret", "s"], ["x-extra", "1"]]}
    iax = ok(api.post("/endpoints/iax", json=body), 201)
    options = dict(map(tuple, iax["options"]))
    assert options["trunk"] == "yes" and options["amaflags"] == "default"
    assert options["qualifyfreqok"] == "60000" and options["x-extra"] == "1"
    assert iax["type"] == "friend" and iax["host"] == "dynamic"
    ok(api.put(f"/endpoints/iax/{iax['id']}", json={"options": [["username", "u"]]}), 204)
    after = dict(map(tuple, ok(api.get(f"/endpoints/iax/{iax['id']}"))["options"]))
    assert after["trunk"] == "no" and "secret" not in after and "x-extra" not in after
    assert after["username"] == "u"


def test_iax_refusals(api: httpx.Client) -> None:
    assert error(api.post("/endpoints/iax", json={"name": "a b"})) == (
        "Input Error - name: ['String does not match expected pattern.']"
    )
    assert error(api.post("/endpoints/iax", json={"options": [["a", "b", "c"]]})) == (
        "Input Error - options: {0: ['Length must be 2.']}"
    )
    broken = api.post("/endpoints/iax", json={"options": [["qualifyfreqok", "soon"]]})
    assert error(broken, 500).startswith("Unexpected error: ")


def test_custom_endpoint_suffix_and_uniqueness(api: httpx.Client) -> None:
    custom = ok(
        api.post("/endpoints/custom", json={"interface": "Local/x", "interface_suffix": None}), 201
    )
    assert custom["interface_suffix"] is None and custom["enabled"] is True
    assert error(api.post("/endpoints/custom", json={"interface": "Local/x"})) == (
        "Resource Error - CustomEndpoint already exists ('interface': 'Local/x')"
    )
    assert error(api.post("/endpoints/custom", json={"interface": "bad interface"})) == (
        "Input Error - interface: ['String does not match expected pattern.']"
    )
    assert error(api.put(f"/endpoints/custom/{custom['id']}", json={"enabled": "yes"})) == (
        "Input Error - enabled: ['Not a valid boolean.']"
    )


# -- trunks -----------------------------------------------------------------------------------


def make_trunk(api: httpx.Client, protocol: str, key: Any, **trunk: Any) -> int:
    trunk_id = int(ok(api.post("/trunks", json=trunk), 201)["id"])
    ok(api.put(f"/trunks/{trunk_id}/endpoints/{protocol}/{key}"), 204)
    return trunk_id


def test_trunk_name_and_label_filters(api: httpx.Client) -> None:
    sip = ok(api.post("/endpoints/sip", json={"name": "acme", "label": "ACME"}), 201)["uuid"]
    iax = ok(api.post("/endpoints/iax", json={"name": "hq"}), 201)["id"]
    custom = ok(api.post("/endpoints/custom", json={"interface": "Local/bridge"}), 201)["id"]
    ids = [
        make_trunk(api, "sip", sip),
        make_trunk(api, "iax", iax),
        make_trunk(api, "custom", custom),
    ]
    for name, trunk_id in zip(("acme", "hq", "Local/bridge"), ids, strict=True):
        found = ok(api.get("/trunks", params={"name": name}))
        assert [t["id"] for t in found["items"]] == [trunk_id]
    assert [t["id"] for t in ok(api.get("/trunks", params={"label": "ACME"}))["items"]] == ids[:1]
    assert ok(api.get("/trunks", params={"search": "bridge"}))["total"] == 1


def test_trunk_association_rules(api: httpx.Client) -> None:
    first = ok(api.post("/endpoints/sip", json={"name": "one"}), 201)["uuid"]
    second = ok(api.post("/endpoints/sip", json={"name": "two"}), 201)["uuid"]
    trunk = make_trunk(api, "sip", first)
    ok(api.put(f"/trunks/{trunk}/endpoints/sip/{first}"), 204)  # idempotent
    assert error(api.put(f"/trunks/{trunk}/endpoints/sip/{second}")) == (
        f"Resource Error - Trunk is associated with a Endpoint ('trunk_id': {trunk}, "
        f"'endpoint': 'sip', 'endpoint_id': UUID('{first}'))"
    )
    ok(api.delete(f"/trunks/{trunk}/endpoints/sip/{second}"), 204)  # not associated: no-op
    ok(api.delete(f"/trunks/{trunk}/endpoints/sip/{first}"), 204)
    assert ok(api.get(f"/endpoints/sip/{first}"))["trunk"] is None
    other = ok(api.post("/trunks", json={}, headers={"Wazo-Tenant": FRESH_SUB}), 201)["id"]
    assert error(api.put(f"/trunks/{other}/endpoints/sip/{first}")) == (
        f"Resource Error - different tenants ('trunk_tenant_uuid': '{FRESH_SUB}', "
        f"'endpoint_tenant_uuid': '{FRESH_MASTER}')"
    )
    assert error(api.put(f"/trunks/{trunk}/endpoints/iax/77"), 404) == (
        "Resource Not Found - IAXEndpoint was not found ('id': 77)"
    )


def test_trunk_delete_cascades_to_endpoint_and_outcalls(api: httpx.Client) -> None:
    sip = ok(api.post("/endpoints/sip", json={"name": "acme"}), 201)["uuid"]
    trunk = make_trunk(api, "sip", sip)
    outcall = ok(api.post("/outcalls", json={"name": "out"}), 201)["id"]
    ok(api.put(f"/outcalls/{outcall}/trunks", json={"trunks": [{"id": trunk}]}), 204)
    assert ok(api.get(f"/trunks/{trunk}"))["outcalls"][0]["id"] == outcall
    ok(api.delete(f"/trunks/{trunk}"), 204)
    assert api.get(f"/endpoints/sip/{sip}").status_code == 404
    assert ok(api.get(f"/outcalls/{outcall}"))["trunks"] == []


def test_trunk_context_rules_and_sync_to_custom(api: httpx.Client) -> None:
    assert error(api.post("/trunks", json={"context": "nowhere"})) == (
        "Input Error - field 'context': Context was not found ('context': 'nowhere')"
    )
    sub_incall = ok(
        api.get("/contexts", params={"type": "incall"}, headers={"Wazo-Tenant": FRESH_SUB})
    )["items"][0]["name"]
    assert error(api.post("/trunks", json={"context": sub_incall})).startswith(
        "Resource Error - different tenants ('trunk_tenant_uuid': "
    )
    custom = ok(api.post("/endpoints/custom", json={"interface": "Local/x"}), 201)["id"]
    trunk = make_trunk(api, "custom", custom)
    assert ok(api.get("/endpoints/custom", params={"context": "from-extern"}))["total"] == 0
    ok(api.put(f"/trunks/{trunk}", json={"context": "from-extern"}), 204)  # TrunkFixes
    assert ok(api.get("/endpoints/custom", params={"context": "from-extern"}))["total"] == 1
    assert error(api.put(f"/trunks/{trunk}", json={"outgoing_caller_id_format": "x"})) == (
        "Input Error - outgoing_caller_id_format: ['Must be one of: +E164, E164, national.']"
    )
    assert error(api.put(f"/trunks/{trunk}", json={"twilio_incoming": 1})) == (
        "Input Error - twilio_incoming: ['Not a valid boolean.']"
    )


# -- contexts and extensions ------------------------------------------------------------------


def test_context_create_generates_name(api: httpx.Client) -> None:
    created = ok(api.post("/contexts", json={"label": "Provider", "type": "incall"}), 201)
    assert created["name"] == f"ctx-master-incall-{created['uuid']}"
    assert created["tenant_uuid"] == FRESH_MASTER and created["enabled"] is True
    assert error(api.post("/contexts", json={})) == (
        "Input Error - label: ['Missing data for required field.']"
    )
    ranges = {"label": "x", "user_ranges": [{"start": "100", "end": "99"}]}
    assert error(api.post("/contexts", json=ranges)) == (
        "Input Error - user_ranges: {0: {'_schema': ['Start and end must be of the same length']}}"
    )


def test_context_includes_replace_whole_list(api: httpx.Client) -> None:
    contexts = {c["name"]: c["id"] for c in ok(api.get("/contexts"))["items"]}
    default, incall = contexts["default"], contexts["from-extern"]
    ok(api.put(f"/contexts/{default}/contexts", json={"contexts": [{"id": incall}]}), 204)
    assert [c["name"] for c in ok(api.get(f"/contexts/{default}"))["contexts"]] == ["from-extern"]
    same = {"contexts": [{"id": incall}, {"id": incall}]}
    assert error(api.put(f"/contexts/{default}/contexts", json=same)) == (
        "Resource Error - Operation not permitted. Cannot include same context more than once"
    )
    itself = {"contexts": [{"id": default}]}
    assert error(api.put(f"/contexts/{default}/contexts", json=itself)).endswith(
        "Cannot include context inside itself"
    )


def test_extension_rules(api: httpx.Client) -> None:
    pattern = ok(api.post("/extensions", json={"exten": "_0XXXX.", "context": "to-extern"}), 201)
    assert pattern["tenant_uuid"] == FRESH_MASTER and pattern["outcall"] is None
    assert error(api.post("/extensions", json={"exten": "_0XXXX.", "context": "to-extern"})) == (
        "Resource Error - Extension already exists ('exten': '_0XXXX.', 'context': 'to-extern')"
    )
    assert error(api.post("/extensions", json={"exten": "+33.", "context": "default"})) == (
        "Input Error - exten: ['String does not match expected pattern.']"
    )
    found = ok(api.get("/extensions", params={"type": "outcall"}))
    assert [e["exten"] for e in found["items"]] == ["_0XXXX."]
    context = ok(api.get("/contexts", params={"name": "to-extern"}))["items"][0]["id"]
    assert error(api.delete(f"/contexts/{context}")) == (
        f"Resource Error - Context is associated with a Extension ('context_id': {context}, "
        f"'extension_id': {pattern['id']})"
    )


# -- outcalls ---------------------------------------------------------------------------------


def test_outcall_dial_pattern_lifecycle(api: httpx.Client) -> None:
    outcall = ok(api.post("/outcalls", json={"name": "national"}), 201)
    assert (outcall["internal_caller_id"], outcall["ring_time"], outcall["enabled"]) == (
        False,
        None,
        True,
    )
    exten = ok(api.post("/extensions", json={"exten": "_0XXXX.", "context": "to-extern"}), 201)[
        "id"
    ]
    url = f"/outcalls/{outcall['id']}/extensions/{exten}"
    ok(api.put(url, json={"caller_id": '"A" <1>', "strip_digits": 1}), 204)
    ok(api.put(url, json={"prefix": "0"}), 204)  # merge on an associated extension
    (pattern,) = ok(api.get(f"/outcalls/{outcall['id']}"))["extensions"]
    assert {k: pattern[k] for k in ("caller_id", "strip_digits", "prefix", "external_prefix")} == {
        "caller_id": '"A" <1>',
        "strip_digits": 1,
        "prefix": "0",
        "external_prefix": None,
    }
    assert error(api.delete(f"/extensions/{exten}")) == (
        f"Resource Error - Extension is associated with a outcall ('extension_id': {exten}, "
        f"'associated_id': '{outcall['id']}')"
    )
    other = ok(api.post("/outcalls", json={"name": "other"}), 201)["id"]
    assert error(api.put(f"/outcalls/{other}/extensions/{exten}", json={})) == (
        f"Resource Error - Extension is associated with a outcall ('extension_id': {exten}, "
        f"'associated_id': '{outcall['id']}')"
    )
    ok(api.delete(f"/outcalls/{outcall['id']}"), 204)
    assert ok(api.get(f"/extensions/{exten}"))["outcall"] is None
    ok(api.delete(f"/extensions/{exten}"), 204)


def test_outcall_trunks_ordered_and_validated(api: httpx.Client) -> None:
    outcall = ok(api.post("/outcalls", json={"name": "o"}), 201)["id"]
    first = ok(api.post("/trunks", json={}), 201)["id"]
    second = ok(api.post("/trunks", json={}), 201)["id"]
    url = f"/outcalls/{outcall}/trunks"
    ok(api.put(url, json={"trunks": [{"id": second}, {"id": first}]}), 204)
    assert [t["id"] for t in ok(api.get(f"/outcalls/{outcall}"))["trunks"]] == [second, first]
    assert error(api.put(url, json={"trunks": [{"id": first}, {"id": first}]})) == (
        "Resource Error - Operation not permitted. Cannot associate same trunk more than once"
    )
    assert (
        error(api.put(url, json={})) == "Input Error - trunks: ['Missing data for required field.']"
    )
    sub_trunk = ok(api.post("/trunks", json={}, headers={"Wazo-Tenant": FRESH_SUB}), 201)["id"]
    assert error(api.put(url, json={"trunks": [{"id": sub_trunk}]})).startswith(
        "Resource Error - different tenants ('outcall_tenant_uuid': "
    )
    assert error(api.post("/outcalls", json={"name": "o"})) == (
        "Resource Error - Outcall already exists ('name': 'o')"
    )
    assert error(api.post("/outcalls", json={"name": "p", "ring_time": -1})) == (
        "Input Error - ring_time: ['Must be greater than or equal to 0.']"
    )


# -- users ------------------------------------------------------------------------------------


def test_users_search_filters_and_partial_put(api: httpx.Client) -> None:
    users = ok(api.get("/users"))
    assert [u["username"] for u in users["items"]] == ["alice", "bob", "carol"]  # by lastname
    bob = ok(api.get("/users", params={"email": "bob@example.com"}))["items"][0]
    assert ok(api.get("/users", params={"search": "BOB"}))["total"] == 1
    uuids = f"{bob['uuid']},{users['items'][0]['uuid']}"
    assert ok(api.get("/users", params={"uuid": uuids}))["total"] == 2
    ok(api.put(f"/users/{bob['uuid']}", json={"outgoing_caller_id": "anonymous"}), 204)
    again = ok(api.get(f"/users/{bob['id']}"))
    assert again["outgoing_caller_id"] == "anonymous" and again["lastname"] == bob["lastname"]
    assert error(api.put(f"/users/{bob['id']}", json={"outgoing_caller_id": "x" * 81})) == (
        "Input Error - outgoing_caller_id: ['Longer than maximum length 80.']"
    )
    assert ok(api.get(f"/users/{bob['uuid']}/callerids/outgoing")) == {
        "total": 1,
        "items": [{"type": "anonymous"}],
    }
    assert (
        error(api.get("/users/4242"), 404) == "Resource Not Found - User was not found ('id': 4242)"
    )
    assert ok(api.get("/users", params={"recurse": "true"}))["total"] == 4


def test_user_create_defaults(api: httpx.Client) -> None:
    user = ok(api.post("/users", json={"firstname": "Eve"}), 201)
    assert user["caller_id"] == '"Eve"' and user["outgoing_caller_id"] is None
    assert user["ring_seconds"] == 30 and user["supervision_enabled"] is True
    assert error(api.post("/users", json={"firstname": "E", "email": "alice@example.com"})) == (
        "Resource Error - User already exists ('email': 'alice@example.com')"
    )
    ok(api.delete(f"/users/{user['uuid']}"), 204)
    assert api.get(f"/users/{user['id']}").status_code == 404


# -- collection parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "Input Error - field 'limit': wrong type. Should be a positive number"),
        # xivo.mallow's messages as marshmallow files them: a field's own failure is the
        # dict itself, a validator's is listed (and xivo's Range puts the message last)
        (
            {"limit": "x"},
            "Input Error - limit: {'message': 'Not a valid integer.', "
            "'constraint_id': 'type', 'constraint': 'integer'}",
        ),
        (
            {"offset": "-1"},
            "Input Error - offset: [{'constraint_id': 'range', 'constraint': {'min': 0}, "
            "'message': 'Must be greater than or equal to 0.'}]",
        ),
        ({"direction": "up"}, "Input Error - direction: must be 'asc' or 'desc'"),
        ({"order": "color"}, "Input Error - order: column 'color' was not found"),
    ],
)
def test_list_parameters_refused(api: httpx.Client, params: dict[str, str], message: str) -> None:
    assert error(api.get("/trunks", params=params)) == message


def test_list_query_messages_are_xivo_dicts(api: httpx.Client) -> None:
    assert error(api.get("/trunks", params={"recurse": "maybe"})) == (
        "Input Error - recurse: {'message': 'Not a valid boolean.', "
        "'constraint_id': 'type', 'constraint': 'boolean'}"
    )
    assert ok(api.get("/trunks", params={"recurse": "yes", "limit": "2"}))["total"] == 0


def test_total_counts_before_pagination(api: httpx.Client) -> None:
    for _ in range(5):
        ok(api.post("/trunks", json={}), 201)
    page = ok(api.get("/trunks", params={"limit": 2, "offset": 3}))
    assert page["total"] == 5 and [t["id"] for t in page["items"]] == [4, 5]
    assert ok(api.get("/trunks", params={"id": "abc"}))["total"] == 0


def test_search_is_an_ilike_with_wildcards(api: httpx.Client) -> None:
    ok(api.post("/endpoints/sip", json={"name": "sub-trunk", "label": "Réseau Est"}), 201)
    assert ok(api.get("/endpoints/sip", params={"search": "SUB_TRUNK"}))["total"] == 1
    assert ok(api.get("/endpoints/sip", params={"search": "reseau"}))["total"] == 1
    assert ok(api.get("/endpoints/sip", params={"search": "sub\\_trunk"}))["total"] == 0


# -- indexes (store) ---------------------------------------------------------------------------


def test_store_indexes_follow_every_change(sandbox: Sandbox, api: httpx.Client) -> None:
    """Names and trunk links are indexed (writes look them up at every request): every
    route that changes them keeps the indexes equal to a fresh scan of the tables."""
    store = sandbox.store
    steps: list[Any] = []

    def step(response: httpx.Response, status: int) -> Any:
        body = ok(response, status)
        assert store.indexes_consistent(), steps
        steps.append(response.request.url.path)
        return body

    assert store.named("transport-udp") and not store.named("nothing")  # builds the indexes
    tcp = step(api.post("/sip/transports", json={"name": "tcp", "options": []}), 201)["uuid"]
    step(api.put(f"/sip/transports/{tcp}", json={"name": "tcp2"}), 204)
    assert store.named("tcp") == [] and [t for t, _ in store.named("tcp2")] == ["transports"]
    sip = step(api.post("/endpoints/sip", json={"name": "ep-a"}), 201)["uuid"]
    tpl = step(api.post("/endpoints/sip/templates", json={"name": "tpl-a"}), 201)["uuid"]
    step(api.put(f"/endpoints/sip/{sip}", json={"name": "ep-b"}), 204)
    error(api.post("/endpoints/sip", json={"name": "tpl-a"}))
    error(api.post("/sip/transports", json={"name": "ep-b", "options": []}))
    step(api.post("/endpoints/sip", json={"name": "ep-a"}), 201)  # the old name is free
    iax = step(api.post("/endpoints/iax", json={"name": "iax-a"}), 201)["id"]
    trunks = [step(api.post("/trunks", json={}), 201)["id"] for _ in range(3)]
    step(api.put(f"/trunks/{trunks[0]}/endpoints/sip/{sip}"), 204)
    step(api.put(f"/trunks/{trunks[1]}/endpoints/iax/{iax}"), 204)
    assert "'trunk_id': 1," in error(api.put(f"/trunks/{trunks[2]}/endpoints/sip/{sip}"))
    assert ok(api.get(f"/endpoints/sip/{sip}"))["trunk"]["id"] == trunks[0]
    step(api.delete(f"/trunks/{trunks[0]}/endpoints/sip/{sip}"), 204)
    step(api.put(f"/trunks/{trunks[2]}/endpoints/sip/{sip}"), 204)
    step(api.delete(f"/endpoints/sip/{sip}"), 204)  # unlinks its trunk
    assert ok(api.get(f"/trunks/{trunks[2]}"))["endpoint_sip"] is None
    step(api.delete(f"/trunks/{trunks[1]}"), 204)  # and its IAX endpoint
    step(api.delete(f"/endpoints/sip/templates/{tpl}"), 204)
    step(api.delete(f"/sip/transports/{tcp}"), 204)
    assert store.named("tpl-a") == [] and store.trunk_with("endpoint_iax_id", iax) is None

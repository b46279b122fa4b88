"""The health stage (pure): what confd says a trunk should do, what wazo-calld says it does,
the verdict, the wait loop, the call guard, and how it all reads."""

from __future__ import annotations

import argparse
import json
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from wazo_reconcile.calld import TrunkStatus
from wazo_reconcile.commands.health import duration, shown_duration
from wazo_reconcile.health import (
    HealthReport,
    TrunkHealth,
    TrunkRef,
    busy_refusal,
    busy_trunks,
    declared_refs,
    judge,
    tenants_of,
    trunk_ref,
    unchecked_refusal,
    wait_for,
)
from wazo_reconcile.render import health_dict, health_lines, health_markdown, health_verdict
from wazo_reconcile.shapes import Trunk

MASTER = "11111111-1111-4111-8111-111111111111"
SUB = "22222222-2222-4222-8222-222222222222"


def sip_trunk(trunk_id: int, name: str, *, client_uri: bool, tenant: str = MASTER) -> Trunk:
    registration = [["client_uri", f"sip:{name}@example.net"]] if client_uri else []
    return {
        "id": trunk_id,
        "tenant_uuid": tenant,
        "endpoint_sip": {
            "uuid": f"u-{name}",
            "name": name,
            "registration_section_options": registration,
        },
        "endpoint_iax": None,
        "endpoint_custom": None,
        "register_iax": None,
    }


def iax_trunk(trunk_id: int, name: str, *, register: bool) -> Trunk:
    return {
        "id": trunk_id,
        "tenant_uuid": MASTER,
        "endpoint_sip": None,
        "endpoint_iax": {"id": trunk_id, "name": name},
        "endpoint_custom": None,
        "register_iax": {"id": 52} if register else None,
    }


def custom_trunk(trunk_id: int, interface: str) -> Trunk:
    return {
        "id": trunk_id,
        "tenant_uuid": MASTER,
        "endpoint_custom": {"id": trunk_id, "interface": interface},
        "register_iax": None,
    }


def status(trunk_id: int, registered: bool | None, calls: int | None = 0) -> TrunkStatus:
    return TrunkStatus(trunk_id, f"t{trunk_id}", "sip", registered, calls)


# ------------------------------------------------------------------------ confd's side


def test_trunk_ref_expects_a_registration_from_client_uri_or_iax_register() -> None:
    refs = [
        trunk_ref(sip_trunk(1, "acme", client_uri=True)),
        trunk_ref(sip_trunk(2, "peer", client_uri=False)),
        trunk_ref(iax_trunk(3, "hq", register=True)),
        trunk_ref(iax_trunk(4, "branch", register=False)),
        trunk_ref(custom_trunk(5, "Local/bridge")),
        trunk_ref({"id": 6, "tenant_uuid": MASTER}),
    ]
    assert [(r.name, r.technology, r.expects_registration) for r in refs] == [
        ("acme", "sip", True),
        ("peer", "sip", False),
        ("hq", "iax", True),
        ("branch", "iax", False),
        ("Local/bridge", "custom", False),
        ("#6", "none", False),
    ]
    assert refs[4].identity == ("custom", "Local/bridge")
    named = trunk_ref(custom_trunk(5, "Local/bridge"), {("custom", "Local/bridge"): "bridge"})
    assert named.name == "bridge" and named.ref == "trunks/bridge"


def test_declared_refs_match_by_identity_and_say_what_the_stack_expects() -> None:
    live = [
        trunk_ref(sip_trunk(1, "acme", client_uri=True, tenant=SUB)),
        trunk_ref(sip_trunk(2, "peer", client_uri=False)),
    ]
    declared = [
        (TrunkRef("acme", MASTER, "sip", ("sip", "acme"), False), None),  # not said: the PBX's
        (TrunkRef("peer", MASTER, "sip", ("sip", "peer"), False), True),  # the stack says so
        (TrunkRef("new", MASTER, "sip", ("sip", "new"), False), True),  # not on the PBX
    ]
    acme, peer, new = declared_refs(declared, live)
    assert (acme.id, acme.tenant, acme.expects_registration) == (1, SUB, True)
    assert (peer.id, peer.expects_registration) == (2, True)
    assert (new.id, new.expects_registration) == (None, True)
    assert tenants_of([acme, peer, new]) == sorted({SUB, MASTER})


# ------------------------------------------------------------------------------ verdict


@pytest.mark.parametrize(
    ("expects", "registered", "state", "healthy"),
    [
        (True, True, "registered", True),
        (True, False, "not registered", False),
        (True, None, "unknown", True),  # unknown is never an alert by itself
        (False, False, "no registration", True),
        (False, None, "no registration", True),
    ],
)
def test_only_a_trunk_that_should_register_and_is_not_is_unhealthy(
    expects: bool, registered: bool | None, state: str, healthy: bool
) -> None:
    ref = TrunkRef("acme", MASTER, "sip", ("sip", "acme"), expects, 1)
    (trunk,) = judge([ref], {1: status(1, registered)}).trunks
    assert (trunk.state, trunk.healthy) == (state, healthy)


def test_a_trunk_missing_from_the_pbx_or_from_calld() -> None:
    absent = TrunkRef("new", MASTER, "sip", ("sip", "new"), True)
    quiet = TrunkRef("new2", MASTER, "sip", ("sip", "new2"), False)
    unlisted = TrunkRef("acme", MASTER, "sip", ("sip", "acme"), True, 1)
    report = judge([absent, quiet, unlisted], {})
    assert [(t.state, t.healthy) for t in report.trunks] == [
        ("absent", False),
        ("absent", True),
        ("unknown", True),  # calld does not list it: unknown, no alert
    ]
    assert [t.trunk.name for t in report.unhealthy] == ["new"] and not report.ok


# -------------------------------------------------------------------------------- waiting


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_for_reads_at_once_then_backs_off_up_to_the_deadline() -> None:
    clock = FakeClock()
    reads: list[float] = []

    def read() -> int:
        reads.append(clock.now)
        return len(reads)

    value, waited = wait_for(read, lambda _: False, timeout=12, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [0.5, 1.0, 2.0, 5.0, 3.5]  # the last pause stops at the deadline
    assert reads[0] == 100.0 and value == 6 and waited == 12


def test_wait_for_stops_when_done_and_never_sleeps_with_no_time() -> None:
    clock = FakeClock()
    values = iter([False, False, True])
    value, waited = wait_for(lambda: next(values), bool, timeout=60, clock=clock, sleep=clock.sleep)
    assert value is True and clock.sleeps == [0.5, 1.0] and waited == 1.5
    clock = FakeClock()
    _, waited = wait_for(lambda: 0, lambda _: False, timeout=0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [] and waited == 0


# --------------------------------------------------------------------------- call guard


def test_busy_trunks_are_the_deleted_ones_carrying_calls() -> None:
    statuses = {1: status(1, True, 2), 2: status(2, None, 0), 3: status(3, None, None)}
    deleted = [("trunks/a", 1), ("trunks/b", 2), ("trunks/c", 3), ("trunks/d", 4)]
    busy = busy_trunks(deleted, statuses)
    assert [(b.ref, b.calls) for b in busy] == [("trunks/a", 2)]
    assert busy_refusal(busy[0]).startswith("trunks/a would be deleted with 2 calls in progress")
    text = unchecked_refusal(["trunks/a"], "GET /api/calld/1.0/trunks: HTTP 502")
    assert "trunks/a" in text and "--skip-call-check" in text and "HTTP 502" in text


# ------------------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("2m", 120), ("1h", 3600), ("1m30s", 90), ("45", 45), ("0.5", 0.5), ("0", 0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "2x", "1m1", "-1s", "25h", "1 m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_durations_are_shown_as_written() -> None:
    assert [shown_duration(s) for s in (90, 120, 3600, 0.5)] == ["90s", "2m", "1h", "0.5s"]


# ------------------------------------------------------------------------------ rendering


def sample() -> HealthReport:
    refs = [
        trunk_ref(sip_trunk(1, "acme", client_uri=True)),
        trunk_ref(iax_trunk(2, "hq", register=True)),
        trunk_ref(custom_trunk(3, "Local/bridge")),
    ]
    return judge(refs, {1: status(1, True, 1), 2: status(2, False), 3: status(3, None, None)})


def test_health_text_is_a_table_with_the_verdict() -> None:
    lines = health_lines(sample())
    assert lines[0].split() == ["trunk", "type", "registration", "registered", "calls"]
    assert lines[1].split() == ["acme", "sip", "expected", "yes", "1"]
    assert lines[2].split() == ["hq", "iax", "expected", "no", "0", "!", "not", "registered"]
    assert lines[3].split() == ["Local/bridge", "custom", "-", "unknown", "-"]
    assert lines[-1] == "Not healthy: trunks/hq (not registered)."
    assert health_verdict(HealthReport(())) == "No trunk to check."
    healthy = HealthReport(sample().trunks[:1] + sample().trunks[2:])
    assert health_verdict(healthy) == (
        "Healthy: 2 trunks, every one that should register is registered."
    )


def test_health_shows_the_tenant_when_there_are_several() -> None:
    other = TrunkHealth(TrunkRef("sub", SUB, "sip", ("sip", "sub"), False, 9))
    lines = health_lines(HealthReport((*sample().trunks, other)))
    assert "tenant" in lines[0].split() and "22222222" in lines[4].split()


def test_health_markdown_flags_what_is_down() -> None:
    text = "\n".join(health_markdown(sample()))
    assert text.startswith("#### Trunk health\n\n| trunk | type |")
    assert "| `hq` | iax | expected | no | 0 | **not registered** |" in text
    assert "**Not healthy: trunks/hq (not registered).**" in text


def _schema(name: str) -> dict[str, Any]:
    text = resources.files("wazo_reconcile").joinpath(f"schemas/{name}.schema.json").read_text()
    return dict(json.loads(text))


def test_health_json_follows_the_schemas() -> None:
    document = health_dict(sample())
    assert document["unhealthy"] == ["hq"] and document["healthy"] is False
    assert "waited_seconds" not in document  # only after a wait
    waited = health_dict(HealthReport(sample().trunks, seconds=3.25, timeout=60))
    assert (waited["waited_seconds"], waited["timeout_seconds"]) == (3.25, 60)
    report_schema = _schema("report")
    health = Draft202012Validator({**report_schema["$defs"]["health"], "$defs": {}})
    assert list(health.iter_errors(document)) == list(health.iter_errors(waited)) == []
    assert _schema("plan")["$defs"]["health"] == report_schema["$defs"]["health"]
    status_doc = {
        "format_version": 1,
        "kind": "status",
        "tool": {"name": "wazo-reconcile", "version": "0"},
        "source": "x",
        **document,
    }
    assert list(Draft202012Validator(_schema("status")).iter_errors(status_doc)) == []


@pytest.mark.parametrize(
    ("trunk", "expected"),
    [
        ({"registration": {"client_uri": "sip:u@h", "expiration": 120}}, True),
        ({"registration": [["client_uri", "sip:u@h"]]}, True),
        ({"registration": {"client_uri": None}}, False),  # null removes it
        ({"registration": None}, False),
        ({"registration": {"expiration": 120}}, False),
        ({}, None),  # not said: the PBX decides
        ({"type": "iax", "register": {"remote_host": "h"}}, True),
        ({"type": "iax", "register": None}, False),
        ({"type": "iax"}, None),
        ({"type": "custom", "interface": "Local/x"}, False),
    ],
)
def test_what_a_declaration_says_of_its_registration(
    trunk: dict[str, Any], expected: bool | None
) -> None:
    from wazo_reconcile.commands.health import _declared_registration

    assert _declared_registration(str(trunk.get("type", "sip")), trunk) is expected

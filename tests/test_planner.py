from __future__ import annotations

from dataclasses import dataclass, field

from wazo_reconcile.diff import Action, Change, DiffResult, diff
from wazo_reconcile.model import Pattern, Resource, ResourceKey, options
from wazo_reconcile.planner import Guards, Plan, impact_of, order_changes

T1 = "11111111-1111-4111-8111-111111111111"


@dataclass
class Policy:
    prune: tuple[str, ...] = ()
    protect: tuple[str, ...] = ()
    ignore: dict[str, tuple[str, ...]] = field(default_factory=dict)


def res(kind: str, name: str, identity: tuple[str, ...], **fields: object) -> Resource:
    tenant = "" if kind in ("transports", "pjsip") else T1
    return Resource.create(ResourceKey(kind, name, tenant), identity, fields)


def transport(name: str, **fields: str) -> Resource:
    return res("transports", name, ("transport", name), options=options(fields.items()))


def template(name: str, *parents: str, **fields: object) -> Resource:
    return res("sip_templates", name, ("template", "", name), templates=parents, **fields)


def trunk(name: str, **fields: object) -> Resource:
    return res("trunks", name, ("trunk", "sip", name), type="sip", **fields)


def outcall(name: str, *trunks: str, **fields: object) -> Resource:
    return res("outcalls", name, ("outcall", name), trunks=trunks, **fields)


def plan_for(
    desired: list[Resource],
    live: list[Resource],
    policy: Policy | None = None,
    *,
    guards: Guards | None = None,
) -> Plan:
    result = diff(desired, live, policy or Policy(), tenants=frozenset({T1}))
    return order_changes(result, desired=desired, live=live, guards=guards or Guards())


def test_plan_orders_creates_by_dependencies() -> None:
    desired = [
        outcall("national", "acme"),
        trunk("acme", templates=("child",), transport="udp2"),
        template("child", "parent"),
        template("parent"),
        transport("udp2", protocol="udp"),
    ]
    plan = plan_for(desired, [])
    assert [str(c.key) for c in plan.changes] == [
        "transports/udp2",
        "sip_templates/parent",
        "sip_templates/child",
        "trunks/acme",
        "outcalls/national",
    ]
    assert plan.levels == ((0, 1), (2,), (3,), (4,))  # transport and parent are independent


def test_plan_deletes_after_writes_children_first() -> None:
    live = [template("parent"), template("child", "parent"), trunk("old", templates=("child",))]
    plan = plan_for([], live, Policy(prune=("sip_templates", "trunks")))
    assert [(c.action.value, str(c.key)) for c in plan.changes] == [
        ("delete", "trunks/old"),
        ("delete", "sip_templates/child"),
        ("delete", "sip_templates/parent"),
    ]


def test_plan_is_deterministic() -> None:
    desired = [trunk(f"t{i}", label=str(i)) for i in range(20)]
    first = plan_for(desired, [])
    second = plan_for(list(reversed(desired)), [])
    assert [c.key for c in first.changes] == [c.key for c in second.changes]


def test_plan_independent_changes_share_a_level() -> None:
    plan = plan_for([trunk(f"t{i}") for i in range(5)], [])
    assert plan.levels == ((0, 1, 2, 3, 4),)


def test_plan_transport_change_requires_restart() -> None:
    plan = plan_for(
        [transport("udp", bind="0.0.0.0:5060")], [transport("udp", bind="0.0.0.0:5070")]
    )
    (change,) = plan.changes
    assert change.impact == ("restart",)
    assert plan.restart_required
    assert plan.restart_reasons == ("transports/udp",)


def test_plan_template_change_lists_affected_trunks() -> None:
    live = [
        template("base", label="a"),
        template("mid", "base"),
        trunk("acme", templates=("mid",)),
        trunk("other", templates=()),
    ]
    plan = plan_for([template("base", label="b")], live)
    (change,) = plan.changes
    assert change.affects == ("sip_templates/mid", "trunks/acme")
    assert change.impact == ("reload:pjsip", "reload:dialplan")


def test_impact_classes() -> None:
    def change(resource: Resource, action: Action = Action.CREATE) -> Change:
        return Change(action, resource.key, None, resource)

    assert impact_of(change(trunk("a"))) == ("reload:pjsip",)
    iax = res("trunks", "i", ("trunk", "iax", "i"), type="iax")
    assert impact_of(change(iax)) == ("reload:iax2",)
    custom = res("trunks", "c", ("trunk", "custom", "c"), type="custom")
    assert impact_of(change(custom)) == ("none",)
    assert impact_of(change(outcall("o"))) == ("none",)
    pattern = Pattern(context="to-extern", exten="_0X.")
    assert impact_of(change(outcall("o", patterns=(pattern,)))) == ("reload:dialplan",)


def test_guard_max_delete_percent() -> None:
    live = [trunk(f"t{i}") for i in range(10)]
    plan = plan_for(live[:6], live, Policy(prune=("trunks",)), guards=Guards(max_delete_percent=30))
    assert plan.counts["delete"] == 4
    assert plan.refusals and "max_delete_percent" in plan.refusals[0]
    ok = plan_for(live[:8], live, Policy(prune=("trunks",)), guards=Guards(max_delete_percent=30))
    assert ok.refusals == ()


def test_guard_protect_refuses_update() -> None:
    plan = plan_for([trunk("e", label="x")], [trunk("e", label="y")], Policy(protect=("trunks/e",)))
    assert plan.refusals == ("trunks/e is protected by policy and would be updated",)


def test_plan_empty_when_in_sync() -> None:
    plan = plan_for([trunk("a", label="x")], [trunk("a", label="x")])
    assert plan.is_empty and plan.in_sync == 1
    assert isinstance(plan.changes, tuple)
    assert DiffResult(()).changes == ()


def test_guard_is_per_kind_not_diluted_by_other_kinds() -> None:
    trunks = [trunk(f"t{i}") for i in range(10)]
    users = [res("users", f"u{i}", ("user", str(i)), outgoing_caller_id=None) for i in range(100)]
    plan = plan_for(trunks[:6], trunks + users, Policy(prune=("trunks",)), guards=Guards(30))
    assert plan.refusals == (
        "4 deletes of trunks = 40.0% of 10 live, over max_delete_percent (30%)",
    )


def test_pattern_note_only_when_an_exten_or_context_changes() -> None:
    old = Pattern("to-extern", "_0X.", '"A" <1>')
    live = [outcall("national", patterns=(old,))]
    in_place = plan_for(
        [outcall("national", patterns=(Pattern("to-extern", "_0X.", '"B" <2>'),))], live
    )
    assert [c.notes for c in in_place.changes] == [()]
    moved = plan_for(
        [outcall("national", patterns=(Pattern("to-extern", "_1X.", '"A" <1>'),))], live
    )
    assert [c.notes for c in moved.changes] == [
        ("dial patterns whose exten or context changes are dissociated and recreated",)
    ]

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from wazo_reconcile.diff import Action, diff, matches
from wazo_reconcile.model import Resource, ResourceKey, options

T1 = "11111111-1111-4111-8111-111111111111"
T2 = "22222222-2222-4222-8222-222222222222"


@dataclass
class Policy:
    prune: tuple[str, ...] = ()
    protect: tuple[str, ...] = ()
    ignore: dict[str, tuple[str, ...]] = field(default_factory=dict)


def trunk(name: str, tenant: str = T1, **fields: object) -> Resource:
    return Resource.create(
        ResourceKey("trunks", name, tenant), ("trunk", "sip", name), {"type": "sip", **fields}
    )


def test_diff_compares_only_declared_fields() -> None:
    want = trunk("acme", endpoint=options([("allow", "ulaw")]))
    have = trunk("acme", endpoint=options([("allow", "ulaw")]), label="ACME", context="x")
    result = diff([want], [have], Policy(), tenants=frozenset({T1}))
    assert result.changes == ()
    assert result.in_sync == 1


def test_diff_update_lists_changed_fields() -> None:
    want = trunk("acme", endpoint=options([("allow", "alaw")]), label="ACME")
    have = trunk("acme", endpoint=options([("allow", "ulaw")]), label="ACME")
    (change,) = diff([want], [have], Policy(), tenants=frozenset({T1})).changes
    assert change.action is Action.UPDATE
    assert [(d.field, d.before, d.after) for d in change.fields] == [
        ("endpoint", (("allow", "ulaw"),), (("allow", "alaw"),))
    ]


def test_diff_option_order_is_not_a_change() -> None:
    want = trunk(
        "acme", endpoint=options([("b", "2"), ("a", "1"), ("set_var", "X=1"), ("set_var", "A=2")])
    )
    have = trunk(
        "acme", endpoint=options([("set_var", "A=2"), ("a", "1"), ("set_var", "X=1"), ("b", "2")])
    )
    assert diff([want], [have], Policy(), tenants=frozenset({T1})).changes == ()


def test_diff_repeated_key_count_matters() -> None:
    want = trunk("acme", identify=options([("match", "1.1.1.1"), ("match", "2.2.2.2")]))
    have = trunk("acme", identify=options([("match", "1.1.1.1")]))
    assert len(diff([want], [have], Policy(), tenants=frozenset({T1})).changes) == 1


def test_diff_undeclared_live_is_unmanaged_unless_pruned() -> None:
    have = trunk("old")
    result = diff([], [have], Policy(), tenants=frozenset({T1}))
    assert result.changes == ()
    assert result.unmanaged == (have,)
    pruned = diff([], [have], Policy(prune=("trunks",)), tenants=frozenset({T1}))
    assert [c.action for c in pruned.changes] == [Action.DELETE]


def test_diff_prune_never_leaves_managed_tenants() -> None:
    other = trunk("theirs", tenant=T2)
    result = diff([], [other], Policy(prune=("trunks",)), tenants=frozenset({T1}))
    assert result.changes == ()
    assert result.unmanaged == ()


def test_diff_protected_object_is_kept_not_deleted() -> None:
    have = trunk("emergency")
    result = diff(
        [],
        [have],
        Policy(prune=("trunks",), protect=("trunks/emergency",)),
        tenants=frozenset({T1}),
    )
    assert result.changes == ()
    assert [k.reason for k in result.kept] == ["protected by policy"]


def test_diff_protected_update_is_flagged() -> None:
    want = trunk("emergency", label="new")
    have = trunk("emergency", label="old")
    result = diff([want], [have], Policy(protect=("trunks/*",)), tenants=frozenset({T1}))
    assert result.protected_updates == (want.key,)


def test_diff_default_objects_are_never_pruned() -> None:
    default = Resource.create(
        ResourceKey("sip_templates", "global", T1),
        ("template", T1, "global"),
        {},
        default_object=True,
    )
    result = diff([], [default], Policy(prune=("sip_templates",)), tenants=frozenset({T1}))
    assert result.changes == () and result.unmanaged == ()


def test_diff_ignore_option_keeps_live_value() -> None:
    want = trunk("acme", endpoint=options([("allow", "ulaw"), ("user_agent", "mine")]))
    have = trunk("acme", endpoint=options([("allow", "ulaw"), ("user_agent", "theirs")]))
    policy = Policy(ignore={"trunks/acme": ("endpoint.user_agent",)})
    assert diff([want], [have], policy, tenants=frozenset({T1})).changes == ()
    want2 = trunk("acme", endpoint=options([("allow", "alaw"), ("user_agent", "mine")]))
    (change,) = diff([want2], [have], policy, tenants=frozenset({T1})).changes
    assert change.after is not None
    assert ("user_agent", "theirs") in change.after.fields["endpoint"]


def test_diff_ignore_whole_field() -> None:
    want = trunk("acme", label="mine")
    have = trunk("acme", label="theirs")
    policy = Policy(ignore={"trunks/*": ("label",)})
    assert diff([want], [have], policy, tenants=frozenset({T1})).changes == ()


@pytest.mark.parametrize(
    ("ref", "patterns", "expected"),
    [
        ("trunks/acme", ["trunks/acme"], True),
        ("trunks/acme", ["trunks/*"], True),
        ("trunks/acme", ["outcalls/*"], False),
        ("trunks/acme", [], False),
    ],
)
def test_matches(ref: str, patterns: list[str], expected: bool) -> None:
    assert matches(ref, patterns) is expected

"""The plan's "Caller ID" section: which changes alter what a route presents, in every format."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from support import EXAMPLES, apply, client_for, plan
from wazo_reconcile.callerid import (
    ANONYMOUS,
    CALLERS_OWN,
    INTERNAL_OFF_NOTE,
    INTERNAL_ON_NOTE,
    ROUTE_OR_OWN,
    CallerIdChange,
    UserCallerIdChange,
    plan_caller_id_changes,
)
from wazo_reconcile.diff import Action, Change, FieldChange
from wazo_reconcile.model import Pattern, Resource, ResourceKey
from wazo_reconcile.planner import Plan
from wazo_reconcile.render import plan_dict, render_markdown, render_text
from wazo_reconcile.sandbox import Sandbox
from wazo_reconcile.stack import load_stack

T1 = "11111111-1111-4111-8111-111111111111"
CTX = "to-extern"
ACME = '"ACME" <5551234>'
OTHER = '"ACME" <5559999>'


def pat(exten: str = "_0XXXXXXXXX", caller_id: str | None = None, **kw: Any) -> Pattern:
    return Pattern(CTX, exten, caller_id, **kw)


def outcall(name: str = "national", **fields: Any) -> Resource:
    return Resource.create(ResourceKey("outcalls", name, T1), ("outcall", name), fields)


def user(value: str | None, name: str = "alice@example.com") -> Resource:
    fields = {} if value == "<undeclared>" else {"outgoing_caller_id": value}
    return Resource.create(ResourceKey("users", name, T1), ("user", "uuid-a"), fields)


def change(action: Action, before: Resource | None, after: Resource | None) -> Change:
    resource = after or before
    assert resource is not None
    deltas: tuple[FieldChange, ...] = ()
    if before is not None and after is not None:
        deltas = tuple(
            FieldChange(k, before.fields.get(k), v)
            for k, v in after.fields.items()
            if before.fields.get(k) != v
        )
    return Change(action, resource.key, before, after, deltas)


LIVE = outcall(
    internal_caller_id=False,
    trunks=("acme",),
    patterns=(pat(caller_id=ACME), pat("_00X.")),
    description="national",
)
R1, R2 = f"_0XXXXXXXXX@{CTX}", f"_00X.@{CTX}"

# (what the plan does, the Caller ID entries expected)
CASES = [
    pytest.param(
        change(Action.CREATE, None, outcall(trunks=("acme",), patterns=(pat(caller_id=ACME),))),
        [CallerIdChange("national", R1, None, ACME)],
        id="outcall-created",
    ),
    pytest.param(
        change(Action.DELETE, LIVE, None),
        [
            CallerIdChange("national", R2, CALLERS_OWN, None),
            CallerIdChange("national", R1, ACME, None),
        ],
        id="outcall-deleted",
    ),
    pytest.param(
        change(Action.UPDATE, LIVE, outcall(patterns=(pat(caller_id=OTHER), pat("_00X.")))),
        [CallerIdChange("national", R1, ACME, OTHER)],
        id="pattern-caller-id-changed",
    ),
    pytest.param(
        change(Action.UPDATE, LIVE, outcall(patterns=(pat(caller_id=ACME),))),
        [CallerIdChange("national", R2, CALLERS_OWN, None)],
        id="pattern-removed",
    ),
    pytest.param(
        change(Action.UPDATE, LIVE, outcall(patterns=(*LIVE.fields["patterns"], pat("_1X")))),
        [CallerIdChange("national", f"_1X@{CTX}", None, CALLERS_OWN)],
        id="pattern-added",
    ),
    pytest.param(
        change(Action.UPDATE, LIVE, outcall(patterns=(pat(caller_id='"ACME"'), pat("_00X.")))),
        [CallerIdChange("national", R1, ACME, '"ACME" <the caller\'s own number>')],
        id="number-part-dropped",
    ),
    pytest.param(
        # patterns not declared: the live ones are kept, and internal_caller_id decides
        change(Action.UPDATE, LIVE, outcall(internal_caller_id=True)),
        [
            CallerIdChange("national", R2, CALLERS_OWN, CALLERS_OWN, INTERNAL_ON_NOTE),
            CallerIdChange("national", R1, ACME, CALLERS_OWN, INTERNAL_ON_NOTE),
        ],
        id="internal-caller-id-on",
    ),
    pytest.param(
        change(
            Action.UPDATE,
            outcall(internal_caller_id=True, patterns=(pat("_00X."),)),
            outcall(internal_caller_id=False),
        ),
        [CallerIdChange("national", R2, CALLERS_OWN, CALLERS_OWN, INTERNAL_OFF_NOTE)],
        id="internal-caller-id-off",
    ),
    pytest.param(
        change(Action.UPDATE, LIVE, outcall(description="changed", trunks=("backup", "acme"))),
        [],
        id="description-and-trunks-only",
    ),
    pytest.param(
        change(Action.UPDATE, user(None), user('"Alice" <5550001>')),
        [
            UserCallerIdChange(
                "alice@example.com",
                ROUTE_OR_OWN,
                '"Alice" <5550001>',
                "overrides the pattern caller IDs on every route of the tenant; routes with "
                "internal_caller_id forward the caller's own caller ID instead",
            )
        ],
        id="user-override",
    ),
    pytest.param(
        change(Action.UPDATE, user('"Alice" <5550001>'), user("anonymous")),
        [
            UserCallerIdChange(
                "alice@example.com",
                '"Alice" <5550001>',
                ANONYMOUS,
                "overrides the pattern caller IDs on every route of the tenant; routes with "
                "internal_caller_id forward the caller's own caller ID instead",
            )
        ],
        id="user-anonymous",
    ),
    pytest.param(
        change(Action.UPDATE, user("anonymous"), user("default")),
        [
            UserCallerIdChange(
                "alice@example.com",
                ANONYMOUS,
                ROUTE_OR_OWN,
                "the pattern caller IDs apply to this user's calls again; routes with "
                "internal_caller_id forward the caller's own caller ID instead",
            )
        ],
        id="user-back-to-default",
    ),
    pytest.param(
        change(Action.UPDATE, user(None), user("default")), [], id="user-unset-is-default"
    ),
    pytest.param(
        change(Action.UPDATE, user("anonymous"), user("<undeclared>")), [], id="user-undeclared"
    ),
    pytest.param(
        change(
            Action.CREATE,
            None,
            Resource.create(ResourceKey("trunks", "acme", T1), ("trunk", "sip", "acme"), {}),
        ),
        [],
        id="other-kinds",
    ),
]


@pytest.mark.parametrize(("planned", "expected"), CASES)
def test_plan_caller_id_changes(
    planned: Change, expected: list[CallerIdChange | UserCallerIdChange]
) -> None:
    assert plan_caller_id_changes([planned]) == expected


def test_user_value_wazo_cannot_read() -> None:
    (entry,) = plan_caller_id_changes([change(Action.UPDATE, user(None), user("<5550001>"))])
    assert isinstance(entry, UserCallerIdChange)
    assert entry.after == f"{CALLERS_OWN} (Wazo cannot read `<5550001>`)"


# ------------------------------------------------------------------------- rendering


def a_plan(*changes: Change) -> Plan:
    return Plan(changes=changes)


def test_text_section() -> None:
    text = render_text(
        a_plan(
            change(Action.UPDATE, LIVE, outcall(internal_caller_id=True)),
            change(Action.UPDATE, user(None), user("anonymous")),
        )
    )
    section = text.split("Caller ID (", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert section == [
        f"  outcalls/national {R2}: {CALLERS_OWN} → {CALLERS_OWN}",
        f"      note: {INTERNAL_ON_NOTE}",
        f"  outcalls/national {R1}: {ACME} → {CALLERS_OWN}",
        f"      note: {INTERNAL_ON_NOTE}",
        f"  users/alice@example.com (every route): {ROUTE_OR_OWN} → {ANONYMOUS}",
        "      note: overrides the pattern caller IDs on every route of the tenant; routes with "
        "internal_caller_id forward the caller's own caller ID instead",
    ]


def test_new_and_removed_patterns_are_named() -> None:
    text = render_text(a_plan(change(Action.UPDATE, LIVE, outcall(patterns=(pat("_1X"),)))))
    assert f"  outcalls/national _1X@{CTX}: (new pattern) → {CALLERS_OWN}" in text
    assert f"  outcalls/national {R1}: {ACME} → (pattern removed)" in text


def test_markdown_section() -> None:
    markdown = render_markdown(
        a_plan(
            change(Action.UPDATE, LIVE, outcall(patterns=(pat(caller_id=OTHER), pat("_00X.")))),
            change(Action.UPDATE, user(None), user('"Al|ce" <1>')),
        )
    )
    section = markdown.split("#### Caller ID\n", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[0] == "| route | pattern | before | after | note |"
    assert rows[1] == f"| `national` | `{R1}` | `{ACME}` | `{OTHER}` |  |"
    assert rows[2].startswith(
        f'| user `alice@example.com` | every route | {ROUTE_OR_OWN} | `"Al\\|ce" <1>` | '
    )


def test_values_cannot_break_out_of_the_output() -> None:
    hostile = '"A`B\x1b[2K\u202e" <1>'
    planned = a_plan(change(Action.UPDATE, LIVE, outcall(patterns=(pat(caller_id=hostile),))))
    text, markdown = render_text(planned), render_markdown(planned)
    assert "\x1b" not in text + markdown and "\u202e" not in text + markdown
    assert '`` "A`B\\x1b[2K\\u202e" <1> ``' in markdown


def test_json_lists_the_entries() -> None:
    planned = a_plan(
        change(Action.UPDATE, LIVE, outcall(internal_caller_id=True)),
        change(Action.UPDATE, user(None), user("anonymous")),
    )
    entries = plan_dict(planned)["caller_id"]
    assert entries[1] == {
        "outcall": "national",
        "pattern": R1,
        "before": ACME,
        "after": CALLERS_OWN,
        "note": INTERNAL_ON_NOTE,
    }
    assert entries[2]["user"] == "alice@example.com"
    assert entries[2]["after"] == ANONYMOUS


def test_no_section_without_caller_id_change() -> None:
    planned = a_plan(change(Action.UPDATE, LIVE, outcall(description="changed")))
    assert "Caller ID" not in render_text(planned) + render_markdown(planned)
    assert plan_dict(planned)["caller_id"] == []


# --------------------------------------------------------------- against the sandbox


def test_plan_after_apply_shows_what_an_edit_of_the_policy_changes(tmp_path: Path) -> None:
    stack_dir = tmp_path / "stack"
    shutil.copytree(EXAMPLES / "caller-id-policy", stack_dir)
    sandbox = Sandbox(profile="fresh")
    client = client_for(sandbox)
    apply(load_stack(stack_dir), client)
    routes = stack_dir / "20-routes-and-users.yaml"
    text = routes.read_text(encoding="utf-8")
    edited = text.replace("internal_caller_id: false", "internal_caller_id: true").replace(
        "outgoing_caller_id: anonymous ", "outgoing_caller_id: '\"Bob\" <+33123456702>'"
    )
    assert edited != text
    routes.write_text(edited, encoding="utf-8")
    planned = plan(load_stack(stack_dir), client)
    entries = plan_dict(planned)["caller_id"]
    acme = '"ACME Corp" <+33123456789>'
    assert entries == [
        {
            "outcall": "public-network",
            "pattern": f"_00.@{CTX}",
            "before": acme,
            "after": CALLERS_OWN,
            "note": INTERNAL_ON_NOTE,
        },
        {
            "outcall": "public-network",
            "pattern": f"_0XXXXXXXXX@{CTX}",
            "before": acme,
            "after": CALLERS_OWN,
            "note": INTERNAL_ON_NOTE,
        },
        {
            "user": "bob@example.com",
            "before": ANONYMOUS,
            "after": '"Bob" <+33123456702>',
            "note": "overrides the pattern caller IDs on every route of the tenant; routes with "
            "internal_caller_id forward the caller's own caller ID instead",
        },
    ]
    assert f"outcalls/public-network _00.@{CTX}: {acme} → {CALLERS_OWN}" in render_text(planned)

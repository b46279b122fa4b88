from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wazo_reconcile.callerid import (
    ANONYMOUS,
    CALLERS_OWN,
    CallerIdChange,
    OutcallView,
    UserView,
    caller_id_changes,
    caller_id_problems,
    explain,
    parse_caller_id,
    presented_by_route,
    user_problems,
)
from wazo_reconcile.dialpattern import (
    Finding,
    best_pattern,
    compile_pattern,
    dialed_number,
    match,
    pattern_problems,
    sort_patterns,
    specificity,
)
from wazo_reconcile.model import Pattern, Resource, ResourceKey

CTX = "to-extern"
T1 = "11111111-1111-4111-8111-111111111111"

USER_CID = '"Bob" <5550001>'
PATTERN_CID = '"ACME" <5551234>'
NAME_ONLY = '"ACME"'
OWN_NUMBER = '"ACME" <the caller\'s own number>'


def pattern(exten: str = "_0XXXXXXXXX", *, context: str = CTX, **kw: Any) -> Pattern:
    return Pattern(context=context, exten=exten, **kw)


def outcall(
    *patterns: Pattern,
    name: str = "national",
    internal: bool = False,
    enabled: bool = True,
    trunks: tuple[str, ...] = ("acme", "backup"),
) -> OutcallView:
    return OutcallView(name, patterns or (pattern(),), trunks, internal, enabled)


# ------------------------------------------------------------------- caller-ID values


@pytest.mark.parametrize(
    ("text", "kind", "name", "number"),
    [
        ('"Bob" <5550001>', "full", "Bob", "5550001"),
        ('"Bob"<5550001>', "full", "Bob", "5550001"),
        ('"Bob Smith" <+33123456789>', "full", "Bob Smith", "+33123456789"),
        ("Bob <5550001>", "full", "Bob", "5550001"),
        ('"A" <*12#>', "full", "A", "*12#"),
        ("5551234", "full", "5551234", "5551234"),  # a bare number is name and number
        ("+335551234", "full", "+335551234", "+335551234"),
        ('"5551234"', "name_only", "5551234", None),  # quoted: only a name
        ('"Bob"', "name_only", "Bob", None),
        ("Bob", "name_only", "Bob", None),
        ("<5550001>", "number_only", None, "5550001"),
        ("anonymous", "anonymous", None, None),
        ("default", "default", None, None),
        ("Anonymous", "name_only", "Anonymous", None),
        ("Bob Smith <5550001>", "invalid", None, None),
        ('"Bob"  <5550001>', "invalid", None, None),
        (' "Bob" <5550001>', "invalid", None, None),
        ('"Bob" <555-0001>', "invalid", None, None),
        ('"" <5550001>', "invalid", None, None),
        ("", "invalid", None, None),
    ],
)
def test_parse_caller_id(text: str, kind: str, name: str | None, number: str | None) -> None:
    cid = parse_caller_id(text)
    assert (cid.kind, cid.name, cid.number) == (kind, name, number)
    assert cid.has_number is (kind == "full")


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ('"Bob" <5550001>', True),
        ('"Bob"', True),
        ("anonymous", True),
        ("default", True),
        ("<5550001>", False),
        ("Bob Smith <1>", False),
    ],
)
def test_caller_id_is_valid(text: str, valid: bool) -> None:
    assert parse_caller_id(text).is_valid is valid


@pytest.mark.parametrize("word", ["anonymous", "default"])
def test_special_words_are_names_in_a_pattern(word: str) -> None:
    cid = parse_caller_id(word, for_user=False)
    assert (cid.kind, cid.name) == ("name_only", word)


@pytest.mark.parametrize(
    ("text", "for_user", "expected"),
    [
        ('"Bob" <5550001>', True, []),
        ("anonymous", True, []),
        ("default", True, []),
        ("5551234", True, []),
        ('"Bob"', True, [("warning", "no number part; the guide says")]),
        ("Bob", False, [("warning", "the dialplan's number will be used instead")]),
        ("<5550001>", True, [("error", 'write "5550001" <5550001>')]),
        ("Bob Smith <5550001>", True, [("error", "quote the name")]),
        ('"Bob"  <5550001>', True, [("error", "at most one space")]),
        ('"Bob" <55a>', True, [("error", "may only hold digits")]),
        ('"Bob', True, [("error", "quote is not closed")]),
        (" anonymous", True, [("error", "leading/trailing spaces")]),
        ("Anonymous", True, [("warning", "only the lower-case `anonymous` is special")]),
        ("anonymous", False, [("warning", "only special in a user's outgoing_caller_id")]),
        ('"' + "x" * 70 + '" <12345>', True, []),  # exactly 80 characters
        ('"' + "x" * 71 + '" <12345>', True, [("error", "81 characters long")]),
        ('"' + "x" * 90 + '"', True, [("error", "accepts at most 80"), ("warning", "no number")]),
    ],
)
def test_caller_id_problems(text: str, for_user: bool, expected: list[tuple[str, str]]) -> None:
    problems = caller_id_problems(text, for_user=for_user)
    assert [sev for sev, _ in problems] == [sev for sev, _ in expected]
    for (_, message), (_, fragment) in zip(problems, expected, strict=True):
        assert fragment in message


# ----------------------------------------------------------------- pattern matching


@pytest.mark.parametrize(
    ("exten", "number", "matches"),
    [
        # literal extensions: exact match, `-` ignored on both sides
        ("112", "112", True),
        ("112", "1120", False),
        ("112", "11", False),
        ("0-800", "0800", True),
        ("0800", "0-800", True),
        ("0XXX", "0123", False),  # no `_`: X is a letter
        ("0XXX", "0XXX", True),
        # X / Z / N boundaries
        ("_X", "0", True),
        ("_X", "9", True),
        ("_Z", "0", False),
        ("_Z", "1", True),
        ("_N", "1", False),
        ("_N", "2", True),
        ("_N", "9", True),
        ("_X", "*", False),
        ("_X", "12", False),
        ("_X", "", False),
        # case-insensitive wildcards
        ("_x", "5", True),
        ("_z", "0", False),
        ("_n", "2", True),
        # classes and ranges
        ("_[1-5]", "1", True),
        ("_[1-5]", "5", True),
        ("_[1-5]", "6", False),
        ("_[13-5]", "1", True),
        ("_[13-5]", "2", False),
        ("_[13-5]", "4", True),
        ("_[1-]", "-", False),  # `-` in the number is ignored, leaving nothing
        ("_[*#]X", "#1", True),
        ("_[X]", "5", False),  # inside brackets X is a letter
        ("_[5-1]", "3", False),  # reversed range: empty
        ("_1[]2", "12", True),  # `[]` is skipped when a digit follows
        ("_12[]", "12", False),  # ... and fails at the end
        ("_12[]", "123", False),
        ("_1[", "1", False),  # unclosed `[`
        ("_1[", "12", False),
        # `.` one or more, `!` zero or more
        ("_0X.", "01", False),
        ("_0X.", "012", True),
        ("_0X.", "0123456789", True),
        ("_0X!", "01", True),
        ("_0X!", "012345", True),
        ("_0X!", "0", False),
        ("_X.", "", False),
        ("_!", "", True),
        ("_1.5", "1999", True),  # everything after `.` is ignored
        ("_1!5", "1", True),
        ("_1[]!", "1", False),  # `[]!` behaves like `.`
        ("_1[]!", "12", True),
        ("_1.[", "12", True),
        # `-` is decoration in patterns
        ("_0X-XX", "0123", True),
        ("_NXX-XXXX", "555-1234", True),
        ("_0X-XX", "012", False),
        # `+`, `*`, `#` literals
        ("_+33.", "+33612345678", True),
        ("_+33.", "0033612345678", False),
        ("_00.", "+33612345678", False),
        ("_*XX", "*12", True),
        ("_#X", "#5", True),
        # realistic routes
        ("_0XXXXXXXXX", "0612345678", True),
        ("_0XXXXXXXXX", "061234567", False),
        ("_0XXXXXXXXX", "06123456789", False),
        ("_00X.", "0044123", True),
        ("_1[58]", "15", True),
        ("_1[58]", "16", False),
    ],
)
def test_match(exten: str, number: str, matches: bool) -> None:
    assert match(exten, number) is matches


_TOKENS = {
    "0": "0",
    "7": "7",
    "X": "[0-9]",
    "Z": "[1-9]",
    "N": "[2-9]",
    "[2-4]": "[2-4]",
    "[08]": "[08]",
}


@given(
    body=st.lists(st.sampled_from(sorted(_TOKENS)), max_size=5),
    tail=st.sampled_from(["", ".", "!"]),
    number=st.text(alphabet="0123456789", max_size=7),
)
def test_match_agrees_with_a_regular_expression(body: list[str], tail: str, number: str) -> None:
    regex = "".join(_TOKENS[t] for t in body) + {"": "", ".": ".+", "!": ".*"}[tail]
    assert match("_" + "".join(body) + tail, number) is bool(re.fullmatch(regex, number))


# ---------------------------------------------------------- Asterisk's ordering


@pytest.mark.parametrize(
    "ordered",
    [
        ["112", "_112"],  # literal extensions come first
        ["_01", "_0[12]", "_0N", "_0Z", "_0X"],  # literal < class by size < N < Z < X
        ["_0[12]", "_0[23]"],  # same size: lowest first character first
        ["_0[12]", "_0[13]"],  # same size and lowest character: the other characters decide
        ["_0[1-3]", "_0[124]"],
        ["_0XX", "_0X.", "_0X!", "_0X"],  # a position < `.` < `!` < end of pattern
        ["_00X.", "_0[1-9]XXXXXXXX", "_0XXXXXXXXX", "_X."],
        ["_+33.", "_0X."],  # `+` is an ordinary character
    ],
)
def test_sort_patterns(ordered: list[str]) -> None:
    assert sort_patterns(list(reversed(ordered))) == ordered


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("_0X", "_0x"),
        ("_X", "_[0-9]"),
        ("_N", "_[2-9]"),
        ("_Z", "_[1-9]"),
        ("_0-X", "_0X"),
        ("_[123]", "_[1-3]"),
        ("_1[]2", "_12"),  # `[]` is skipped when sorting too
        ("0-800", "0800"),
    ],
)
def test_specificity_equal_for_the_same_extension(left: str, right: str) -> None:
    assert specificity(left) == specificity(right)


@pytest.mark.parametrize(
    ("patterns", "number", "expected"),
    [
        (["_X.", "_0X.", "_00X."], "0044123", "_00X."),
        (["_X.", "_0X.", "_00X."], "0612", "_0X."),
        (["_X.", "_0X.", "_00X."], "612", "_X."),
        (["_0XXXXXXXXX", "_0[67]XXXXXXXX"], "0612345678", "_0[67]XXXXXXXX"),
        (["_0XXXXXXXXX", "_0[67]XXXXXXXX"], "0112345678", "_0XXXXXXXXX"),
        (["_1X", "_1!"], "12", "_1X"),
        (["_1", "_1!"], "1", "_1!"),  # `!` sorts before the end of a pattern
        (["_X.", "112"], "112", "112"),
        (["_0X", "_0x"], "01", "_0X"),  # same extension: lowest text
        (["_0X."], "112", None),
        ([], "112", None),
    ],
)
def test_best_pattern(patterns: list[str], number: str, expected: str | None) -> None:
    assert best_pattern(patterns, number) == expected


def test_best_pattern_returns_the_pattern_object() -> None:
    wide, narrow = pattern("_0X."), pattern("_06XXXXXXXX", caller_id=PATTERN_CID)
    assert best_pattern([wide, narrow], "0612345678") is narrow


# ----------------------------------------------------------------- the number sent


@pytest.mark.parametrize(
    ("kw", "number", "dialed"),
    [
        ({}, "0612345678", "0612345678"),
        ({"strip_digits": 1}, "0612345678", "612345678"),
        ({"strip_digits": 1, "external_prefix": "+33"}, "0612345678", "+33612345678"),
        ({"external_prefix": "9"}, "0612345678", "90612345678"),
        ({"strip_digits": 2, "external_prefix": "+"}, "0044123", "+44123"),
        ({"strip_digits": 12}, "0612345678", ""),
        ({"prefix": "0", "strip_digits": 1}, "0612345678", "612345678"),  # prefix unused
    ],
)
def test_dialed_number(kw: dict[str, Any], number: str, dialed: str) -> None:
    assert dialed_number(pattern(**kw), number) == dialed


# -------------------------------------------------------------- precedence engine

# Every case of the guide: internal_caller_id x user caller ID x pattern caller ID.
PRECEDENCE = [
    # internal_caller_id on: always the caller's own caller ID
    (True, USER_CID, PATTERN_CID, "internal_caller_id", CALLERS_OWN),
    (True, USER_CID, None, "internal_caller_id", CALLERS_OWN),
    (True, USER_CID, NAME_ONLY, "internal_caller_id", CALLERS_OWN),
    (True, "anonymous", PATTERN_CID, "internal_caller_id", CALLERS_OWN),
    (True, "anonymous", None, "internal_caller_id", CALLERS_OWN),
    (True, "anonymous", NAME_ONLY, "internal_caller_id", CALLERS_OWN),
    (True, "default", PATTERN_CID, "internal_caller_id", CALLERS_OWN),
    (True, "default", None, "internal_caller_id", CALLERS_OWN),
    (True, "default", NAME_ONLY, "internal_caller_id", CALLERS_OWN),
    (True, None, PATTERN_CID, "internal_caller_id", CALLERS_OWN),
    (True, None, None, "internal_caller_id", CALLERS_OWN),
    (True, None, NAME_ONLY, "internal_caller_id", CALLERS_OWN),
    # off: the user's own setting wins
    (False, USER_CID, PATTERN_CID, "user", USER_CID),
    (False, USER_CID, None, "user", USER_CID),
    (False, USER_CID, NAME_ONLY, "user", USER_CID),
    (False, "anonymous", PATTERN_CID, "user", ANONYMOUS),
    (False, "anonymous", None, "user", ANONYMOUS),
    (False, "anonymous", NAME_ONLY, "user", ANONYMOUS),
    # `default` (or no user) falls through to the pattern, then the default
    (False, "default", PATTERN_CID, "pattern", PATTERN_CID),
    (False, "default", None, "default", CALLERS_OWN),
    (False, "default", NAME_ONLY, "pattern", OWN_NUMBER),
    (False, None, PATTERN_CID, "pattern", PATTERN_CID),
    (False, None, None, "default", CALLERS_OWN),
    (False, None, NAME_ONLY, "pattern", OWN_NUMBER),
]


@pytest.mark.parametrize(("internal", "user_cid", "pattern_cid", "source", "presented"), PRECEDENCE)
def test_explain_precedence(
    internal: bool, user_cid: str | None, pattern_cid: str | None, source: str, presented: str
) -> None:
    user = None if user_cid is None else UserView("bob", user_cid)
    route = outcall(pattern(caller_id=pattern_cid), internal=internal)
    result = explain(user=user, outcall=route, number="0612345678")
    assert result.routed
    assert (result.source, result.caller_id) == (source, presented)
    assert [step.source for step in result.chain] == [
        "internal_caller_id",
        "user",
        "pattern",
        "default",
    ]
    assert [step.applied for step in result.chain].count(True) == 1
    assert next(s for s in result.chain if s.applied).source == source


def test_explain_chain_tells_what_lower_rules_would_give() -> None:
    route = outcall(pattern(caller_id=PATTERN_CID), internal=True)
    result = explain(user=UserView("bob", USER_CID), outcall=route, number="0612345678")
    assert [(s.applied, s.value, s.gives) for s in result.chain] == [
        (True, "yes", CALLERS_OWN),
        (False, USER_CID, USER_CID),
        (False, PATTERN_CID, PATTERN_CID),
        (False, None, CALLERS_OWN),
    ]
    assert [s.note for s in result.chain][1:] == ["overridden by internal_caller_id"] * 3


@pytest.mark.parametrize(
    ("user_cid", "pattern_cid", "index", "note"),
    [
        ("default", PATTERN_CID, 1, "`default`: falls through to the pattern"),
        (None, PATTERN_CID, 1, "no user: skipped"),
        ("default", None, 2, "the pattern has no caller_id"),
        ("default", NAME_ONLY, 2, "the dialplan's number (the caller's own) is kept"),
        ('"Bob"', None, 1, "has no number part"),
        ("Bob Smith <1>", PATTERN_CID, 1, "Wazo cannot read"),
    ],
)
def test_explain_chain_notes(
    user_cid: str | None, pattern_cid: str | None, index: int, note: str
) -> None:
    user = None if user_cid is None else UserView("bob", user_cid)
    route = outcall(pattern(caller_id=pattern_cid))
    assert note in explain(user=user, outcall=route, number="0612345678").chain[index].note


@pytest.mark.parametrize(
    ("internal", "user_cid", "pattern_cid", "presented"),
    [
        (True, "default", None, '"Alice" <1001>'),
        (False, "default", None, '"Alice" <1001>'),
        (False, "default", NAME_ONLY, '"ACME" <1001>'),
        (False, '"Bob"', PATTERN_CID, '"Bob" <1001>'),
        (False, "Bob <5550001>", None, USER_CID),  # presented as Wazo sets it
        (False, "5550001", None, '"5550001" <5550001>'),
        (False, "<5550001>", PATTERN_CID, '"Alice" <1001>'),  # unreadable: unchanged
    ],
)
def test_explain_with_the_callers_own_caller_id(
    internal: bool, user_cid: str, pattern_cid: str | None, presented: str
) -> None:
    route = outcall(pattern(caller_id=pattern_cid), internal=internal)
    result = explain(
        user=UserView("bob", user_cid),
        outcall=route,
        number="0612345678",
        default_caller_id='"Alice" <1001>',
    )
    assert result.caller_id == presented


def test_explain_route_details() -> None:
    route = outcall(
        pattern("_0XXXXXXXXX", caller_id=PATTERN_CID, strip_digits=1, external_prefix="+33"),
        pattern("_00X.", strip_digits=2, external_prefix="+"),
    )
    result = explain(user=UserView("bob"), outcall=route, number="0044123")
    assert (result.pattern, result.context, result.dialed) == ("_00X.", CTX, "+44123")
    assert result.trunks == ("acme", "backup")
    assert (result.source, result.caller_id) == ("default", CALLERS_OWN)


@pytest.mark.parametrize(
    ("pattern_cid", "fragment"),
    [
        (PATTERN_CID, "P-Asserted-Identity with the pattern caller ID's number 5551234"),
        (None, "the trunk endpoint's callerid number"),
        (NAME_ONLY, "the trunk endpoint's callerid number"),
    ],
)
def test_explain_anonymous_notes(pattern_cid: str | None, fragment: str) -> None:
    route = outcall(pattern(caller_id=pattern_cid))
    result = explain(user=UserView("bob", "anonymous"), outcall=route, number="0612345678")
    assert any(fragment in note for note in result.notes)


def test_explain_internal_caller_id_defeats_anonymous() -> None:
    route = outcall(internal=True)
    result = explain(user=UserView("bob", "anonymous"), outcall=route, number="0612345678")
    assert result.caller_id == CALLERS_OWN
    assert any("NOT anonymous" in note for note in result.notes)


def test_explain_no_matching_pattern() -> None:
    result = explain(user=UserView("bob"), outcall=outcall(), number="112")
    assert not result.routed
    assert (result.pattern, result.dialed, result.caller_id, result.source) == (None,) * 4
    assert result.chain == ()
    assert "does not go through this outcall" in result.notes[0]


@pytest.mark.parametrize(
    ("route", "fragment"),
    [
        (outcall(enabled=False), "is disabled"),
        (outcall(trunks=()), "has no trunk"),
    ],
)
def test_explain_outcall_refusing_calls(route: OutcallView, fragment: str) -> None:
    result = explain(user=UserView("bob"), outcall=route, number="0612345678")
    assert not result.routed
    assert result.pattern == "_0XXXXXXXXX"
    assert (result.caller_id, result.source) == (None, None)
    assert any(fragment in note for note in result.notes)


@pytest.mark.parametrize(
    ("rival", "routed"),
    [
        (pattern("_06XXXXXXXX"), False),  # more specific, same context: takes the call
        (pattern("_06XXXXXXXX", context="other"), True),  # another context: no effect
        (pattern("_X."), True),  # less specific: loses
    ],
)
def test_explain_other_outcalls_in_the_same_context(rival: Pattern, routed: bool) -> None:
    other = OutcallView("mobile", (rival,), ("acme",))
    result = explain(user=UserView("bob"), outcall=outcall(), number="0612345678", others=[other])
    assert result.routed is routed
    assert any("of outcall mobile is more specific" in n for n in result.notes) is not routed


def test_explanation_to_dict() -> None:
    route = outcall(pattern(caller_id=PATTERN_CID, strip_digits=1, external_prefix="+33"))
    data = explain(user=UserView("bob"), outcall=route, number="0612345678").to_dict()
    assert set(data) == {"caller_id", "source", "pattern", "dialed", "trunks", "chain", "notes"}
    assert data["caller_id"] == PATTERN_CID
    assert data["source"] == "pattern"
    assert data["dialed"] == "+33612345678"
    assert data["trunks"] == ["acme", "backup"]
    assert data["chain"][2] == {
        "source": "pattern",
        "applied": True,
        "value": PATTERN_CID,
        "gives": PATTERN_CID,
        "note": "the caller_id is presented",
    }


def test_explanation_to_text() -> None:
    route = outcall(pattern(caller_id=PATTERN_CID))
    text = explain(user=UserView("bob", USER_CID), outcall=route, number="0612345678").to_text()
    assert text.splitlines()[:5] == [
        "Caller ID for 0612345678 through outcall national, user bob",
        f"  pattern:   _0XXXXXXXXX@{CTX}",
        "  dialed:    0612345678",
        "  trunks:    acme, backup",
        f"  caller ID: {USER_CID}  (source: user)",
    ]
    assert f"    3. pattern = {PATTERN_CID} -> {PATTERN_CID}  [-] overridden by user" in text


# ------------------------------------------------------------ views from the model


def test_views_from_resources() -> None:
    user = Resource.create(
        ResourceKey("users", "bob@example.com", T1), ("user", "u1"), {"outgoing_caller_id": ""}
    )
    p = pattern(caller_id=PATTERN_CID)
    route = Resource.create(
        ResourceKey("outcalls", "national", T1),
        ("outcall", "national"),
        {"internal_caller_id": True, "trunks": ("acme",), "patterns": (p,), "enabled": False},
    )
    assert UserView.from_resource(user) == UserView("bob@example.com", "default")
    assert OutcallView.from_resource(route) == OutcallView("national", (p,), ("acme",), True, False)


def test_outcall_view_from_partial_desired_resource() -> None:
    route = Resource.create(ResourceKey("outcalls", "n", T1), ("outcall", "n"), {})
    assert OutcallView.from_resource(route) == OutcallView("n")


@pytest.mark.parametrize("value", ["", "default"])
def test_user_view_reads_empty_as_default(value: str) -> None:
    assert UserView("bob", value).outgoing_caller_id == "default"


# ------------------------------------------------------------------ plan support


def test_presented_by_route() -> None:
    route = outcall(
        pattern("_0XXXXXXXXX", caller_id=PATTERN_CID),
        pattern("_00X."),
        pattern("_1X", caller_id=NAME_ONLY, context="other"),
    )
    assert presented_by_route(route) == {
        f"_0XXXXXXXXX@{CTX}": PATTERN_CID,
        f"_00X.@{CTX}": CALLERS_OWN,
        "_1X@other": OWN_NUMBER,
    }
    internal = OutcallView("n", route.patterns, internal_caller_id=True)
    assert set(presented_by_route(internal).values()) == {CALLERS_OWN}


def test_caller_id_changes() -> None:
    before = outcall(pattern("_0XXXXXXXXX", caller_id=PATTERN_CID), pattern("_00X."))
    after = outcall(pattern("_0XXXXXXXXX", caller_id='"ACME" <5559999>'), pattern("_1X"))
    assert caller_id_changes(before, after) == [
        CallerIdChange("national", f"_00X.@{CTX}", CALLERS_OWN, None),
        CallerIdChange("national", f"_0XXXXXXXXX@{CTX}", PATTERN_CID, '"ACME" <5559999>'),
        CallerIdChange("national", f"_1X@{CTX}", None, CALLERS_OWN),
    ]
    assert caller_id_changes(before, before) == []
    assert caller_id_changes(None, before)[0].before is None


def test_caller_id_changes_when_internal_caller_id_is_switched_on() -> None:
    before = outcall(pattern(caller_id=PATTERN_CID))
    after = outcall(pattern(caller_id=PATTERN_CID), internal=True)
    (change,) = caller_id_changes(before, after)
    assert (change.before, change.after) == (PATTERN_CID, CALLERS_OWN)


# ------------------------------------------------------------------------- lint


def codes(findings: list[Finding]) -> list[tuple[str, str | None]]:
    return [(f.code, f.exten) for f in findings]


@pytest.mark.parametrize(
    ("extens", "expected"),
    [
        (["_0XXXXXXXXX", "_00X.", "_X."], []),
        (["_0[]"], [("never-matches", "_0[]")]),
        (["_0["], [("never-matches", "_0[")]),
        (["_0[5-1]X"], [("never-matches", "_0[5-1]X")]),
        (["_[X]X"], [("never-matches", "_[X]X")]),
        (["_0[]X"], [("empty-class", "_0[]X")]),
        (["_1.5"], [("ignored-characters", "_1.5")]),
        (["0XXXX"], [("literal-not-pattern", "0XXXX")]),
        (["_00/X"], [("invalid-exten", "_00/X")]),
        (["_0X", "_0X"], [("duplicate", "_0X")]),
        (["_0X", "_0x"], [("duplicate", "_0x")]),
        (["_X", "_[0-9]"], [("duplicate", "_[0-9]")]),
        (["_1", "_1!"], [("shadowed", "_1")]),
        (["_0123", "0123"], [("shadowed", "_0123")]),
        (["_0XX", "_0X!"], []),  # overlap: the more specific wins, nothing is shadowed
        (["_0[1-5]X", "_0[6-9]X", "_0XX"], []),  # union shadowing is not looked for
        (["_0X."], []),
    ],
)
def test_pattern_problems(extens: list[str], expected: list[tuple[str, str]]) -> None:
    patterns = [pattern(e) for e in extens]
    if extens == ["_0X", "_0X"]:
        patterns = [pattern("_0X"), pattern("_0X", caller_id=PATTERN_CID)]
    assert codes(pattern_problems(patterns)) == expected


def test_pattern_problems_only_compare_within_a_context() -> None:
    patterns = [pattern("_1!"), pattern("_1", context="other")]
    assert pattern_problems(patterns) == []


def test_shadowed_finding_names_the_winner() -> None:
    (finding,) = pattern_problems([pattern("_12"), pattern("_1[2]!")])
    assert (finding.severity, finding.related, finding.field) == ("warning", "_1[2]!", "exten")
    assert "never takes a call" in finding.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("default", []),
        (USER_CID, [("info", "caller-id-irrelevant", "forwarded")]),
        ("anonymous", [("info", "anonymous-forwarded", "forwarded")]),
        ('"Bob"', [("warning", "caller-id", None), ("info", "caller-id-irrelevant", "forwarded")]),
    ],
)
def test_user_problems(value: str, expected: list[tuple[str, str, str | None]]) -> None:
    routes = [OutcallView("forwarded", internal_caller_id=True), OutcallView("national")]
    findings = user_problems(UserView("bob", value), routes)
    assert [(f.severity, f.code, f.related) for f in findings] == expected
    assert {f.field for f in findings} <= {"outgoing_caller_id"}


def test_compile_pattern_min_length() -> None:
    assert [compile_pattern(e).min_length for e in ("_0XX", "_0X.", "_0X!", "112")] == [3, 3, 2, 3]


# ------------------------------------------------------------------- the doc's examples

DOC = Path(__file__).resolve().parent.parent / "docs" / "caller-id.md"


class Caller(TypedDict):
    """The arguments of `explain` shared by several calls."""

    user: UserView | None
    outcall: OutcallView


def test_doc_text_examples_are_real_output() -> None:
    national = OutcallView(
        "national",
        (
            Pattern(CTX, "_0XXXXXXXXX", PATTERN_CID, 1, None, "+33"),
            Pattern(CTX, "_00X.", None, 2, None, "+"),
        ),
        ("acme", "hq-iax"),
    )
    carol: Caller = {"user": UserView("carol"), "outcall": national}
    outputs = [
        explain(user=UserView("alice", "anonymous"), outcall=national, number="0612345678"),
        explain(**carol, number="0044201234567", default_caller_id='"Carol" <1003>'),
        explain(**carol, number="112"),
    ]
    blocks = re.findall(r"```text\n(.*?)\n```", DOC.read_text(), flags=re.S)
    assert blocks == [e.to_text() for e in outputs]

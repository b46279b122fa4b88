from __future__ import annotations

from typing import Any

import pytest

from wazo_reconcile.diff import FieldChange
from wazo_reconcile.model import Pattern
from wazo_reconcile.render import field_delta, field_lines

A = Pattern("to-extern", "_0X.", '"A" <1>', 1)
B = Pattern("to-extern", "_0X.", '"B" <2>', 1)
C = Pattern("ctx", "_1X.", None, 0, None, "+33")


@pytest.mark.parametrize(
    ("before", "after", "added", "removed"),
    [
        ((("a", "1"), ("b", "2")), (("a", "1"), ("b", "3")), [("b", "3")], [("b", "2")]),
        ((("a", "1"),), (("a", "1"), ("a", "1")), [("a", "1")], []),  # a repetition more
        ((("a", "1"),) * 3, (("a", "1"),), [], [("a", "1"), ("a", "1")]),
        (None, (("x", "y"),), [("x", "y")], []),
        ((A,), (B,), [B], [A]),
        ((A, C), (C, B), [B], [A]),
        ((A,), (A,), [], []),
    ],
)
def test_field_delta_is_a_multiset_difference(
    before: Any, after: Any, added: list[Any], removed: list[Any]
) -> None:
    assert field_delta(FieldChange("f", before, after)) == (added, removed)


def test_a_changed_pattern_shows_as_removed_and_added() -> None:
    lines = field_lines(FieldChange("patterns", (A,), (B,)))
    assert lines[0] == "patterns:" and len(lines) == 3
    assert lines[1].startswith("  - ") and "A" in lines[1]
    assert lines[2].startswith("  + ") and "B" in lines[2]


def test_unhashable_items_still_compare() -> None:
    assert field_delta(FieldChange("f", [["a", "1"]], [["a", "2"]])) == ([["a", "2"]], [["a", "1"]])

"""Caller-ID lint wired into `validate`: located problems from callerid.py's findings."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from wazo_reconcile.callerid import (
    _covers,
    _never_reason,
    compile_pattern,
    context_problems,
    sort_patterns,
)
from wazo_reconcile.model import Pattern

CTX = "to-extern"

# ------------------------------------------------- the pair search equals every pair compared


def naive_pairs(patterns: list[Pattern]) -> list[tuple[str, str, str | None]]:
    """Every pair in Asterisk's order, the first hiding pattern wins (the reference)."""
    ordered = sort_patterns(dict.fromkeys(patterns))
    found = []
    for i, later in enumerate(ordered):
        second = compile_pattern(later.exten)
        for earlier in ordered[:i]:
            first = compile_pattern(earlier.exten)
            if first.key == second.key:
                found.append(("duplicate", later.exten, earlier.exten))
                break
            if _never_reason(second) is None and _covers(first, second):
                found.append(("shadowed", later.exten, earlier.exten))
                break
    return found


PIECES = ["0", "1", "6", "X", "Z", "N", "[0-5]", "[13]", "[X]", "[]", ".", "!", "-", "["]
extens = st.lists(st.sampled_from(PIECES), min_size=1, max_size=5).map(
    lambda parts: "_" + "".join(parts)
)
literals = st.text("016", min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(extens, literals), min_size=1, max_size=12))
def test_context_problems_match_the_pairwise_reference(texts: list[str]) -> None:
    patterns = [Pattern(CTX, text) for text in texts]
    found = [(f.code, f.exten, f.related) for f in context_problems(patterns)]
    assert found == naive_pairs(patterns)


def test_context_problems_on_many_patterns_match_the_reference() -> None:
    rng = random.Random(7)
    texts = {
        "_" + "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 4))) for _ in range(300)
    }
    patterns = [Pattern(CTX, text) for text in sorted(texts)]
    found = [(f.code, f.exten, f.related) for f in context_problems(patterns)]
    assert found == naive_pairs(patterns)
    assert {code for code, _, _ in found} == {"duplicate", "shadowed"}
